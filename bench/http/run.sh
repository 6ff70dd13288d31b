#!/usr/bin/env bash
# HTTP load harness: the latency a client sees calling a fake upstream (a) directly, (b) through
# nginx as a plain reverse proxy, (c) through Switchyard (release build, concrete model id, so no
# classification), (d) through LiteLLM's proxy (skipped with a note if it does not install).
# Writes docs/benchmarks-http.md. See bench/http/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-10s}"
REPEAT="${BENCH_REPEAT:-3}"
WORK="$ROOT/.cache/bench-http"
OUT="${BENCH_OUT:-$ROOT/docs/benchmarks-http.md}"
BENCH_KEY="sk-bench-5f0c2a9e8b7d4c3a1f6e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a"
UP_PORT=18181; NGINX_PORT=18182; SY_PORT=18183; LITELLM_PORT=18184; SY_RELEASE_PORT=18185
mkdir -p "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need wrk; then
  echo "installing nginx and wrk (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX="$(command -v nginx)"

# shellcheck source=bench/http/common.sh
source "$ROOT/bench/http/common.sh"
start_upstream_and_nginx

# Switchyard with one endpoint; requests name its model id (manual routing). Measured as shipped
# (the `dist` profile with profile-guided optimisation, scripts/build-pgo.sh; SWITCHYARD_BIN
# names another binary instead) and as a plain `release` build, for comparison.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${SWITCHYARD_BIN:-}" ]; then
  scripts/build-pgo.sh
  SWITCHYARD_BIN="$CARGO_TARGET_DIR/pgo/switchyard-router"
fi
cargo build --release -q -p switchyard-router --bin switchyard-router
write_switchyard_config
RUST_LOG=warn "$SWITCHYARD_BIN" serve -f "$WORK/switchyard.yaml" \
  --listen "127.0.0.1:$SY_PORT" --no-watch & SY_PID=$!; PIDS+=("$SY_PID")
RUST_LOG=warn "$CARGO_TARGET_DIR/release/switchyard-router" serve -f "$WORK/switchyard.yaml" \
  --listen "127.0.0.1:$SY_RELEASE_PORT" --no-watch & PIDS+=($!)

# LiteLLM in its own venv under .cache/.
LITELLM_OK=0; LITELLM_NOTE=""
LVENV="$ROOT/.cache/litellm-venv"
if [ ! -x "$LVENV/bin/litellm" ]; then
  echo "installing litellm[proxy] into $LVENV (one time)"
  if ! { python3 -m venv "$LVENV" && "$LVENV/bin/pip" install -q 'litellm[proxy]'; } >"$WORK/litellm-install.log" 2>&1; then
    LITELLM_NOTE="LiteLLM did not install (see .cache/bench-http/litellm-install.log); skipped"
  fi
fi
if [ -x "$LVENV/bin/litellm" ]; then
  cat > "$WORK/litellm.yaml" <<YAML
model_list:
  - model_name: bench-model
    litellm_params: {model: openai/bench-model, api_base: 'http://127.0.0.1:$UP_PORT/v1', api_key: bench}
litellm_settings: {telemetry: false}
YAML
  LITELLM_MASTER_KEY="$BENCH_KEY" LITELLM_TELEMETRY=False "$LVENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 \
    --port "$LITELLM_PORT" >"$WORK/litellm.log" 2>&1 & PIDS+=($!)
  if wait_http "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions"; then LITELLM_OK=1
  else LITELLM_NOTE="LiteLLM did not start (see .cache/bench-http/litellm.log); skipped"; fi
fi

write_post_lua "$WORK/post.lua" "$BENCH_REQUEST" Authorization "Bearer $BENCH_KEY"

wait_http "http://127.0.0.1:$UP_PORT/v1/chat/completions"
wait_http "http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
wait_http "http://127.0.0.1:$SY_PORT/v1/chat/completions"
wait_http "http://127.0.0.1:$SY_RELEASE_PORT/v1/chat/completions"

# run NAME URL CONNECTIONS THREADS -> "p50_ms p99_ms rps errors"
measure() {
  local out; out="$(wrk -t"$4" -c"$3" -d"$DURATION" --latency -s "$WORK/post.lua" "$2")"
  echo "$out" > "$WORK/wrk-$1-$3.txt"
  local ms='function ms(v){ if (v ~ /us$/) {sub(/us$/,"",v); return v/1000} if (v ~ /ms$/) {sub(/ms$/,"",v); return v+0} if (v ~ /s$/) {sub(/s$/,"",v); return v*1000} return v }'
  local p50 p99 rps errs
  p50="$(echo "$out" | awk "$ms"' $1=="50%" {printf "%.3f", ms($2)}')"
  p99="$(echo "$out" | awk "$ms"' $1=="99%" {printf "%.3f", ms($2)}')"
  rps="$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')"
  errs="$(echo "$out" | awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(",","");n+=$4+$6+$8+$10} END {print n+0}')"
  echo "$p50 $p99 $rps $errs"
}

declare -A R
TARGETS=("direct:http://127.0.0.1:$UP_PORT/v1/chat/completions"
         "nginx:http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
         "switchyard:http://127.0.0.1:$SY_PORT/v1/chat/completions"
         "switchyard-release:http://127.0.0.1:$SY_RELEASE_PORT/v1/chat/completions")
[ "$LITELLM_OK" = 1 ] && TARGETS+=("litellm:http://127.0.0.1:$LITELLM_PORT/v1/chat/completions")
# Each cell is measured REPEAT times, the rounds interleaved so that a noisy moment of the shared
# machine hits every path alike; the table reports the median of each column (errors: the sum).
declare -A RUNS
for round in $(seq 1 "$REPEAT"); do
  for t in "${TARGETS[@]}"; do
    name="${t%%:*}"; url="${t#*:}"
    wrk -t1 -c4 -d2s -s "$WORK/post.lua" "$url" >/dev/null   # warm-up
    for c in 1 64; do
      threads=1; [ "$c" = 64 ] && threads=2
      run="$(measure "$name" "$url" "$c" "$threads")"
      RUNS["$name,$c"]+="$run"$'\n'
      echo "round $round/$REPEAT $name c=$c: $run"
    done
  done
done
for key in "${!RUNS[@]}"; do
  runs="$(printf '%s' "${RUNS[$key]}")"
  R["$key"]="$(for i in 1 2 3; do echo "$runs" | awk -v i="$i" '{print $i}' | median; done | tr '\n' ' ')$(echo "$runs" | awk '{n+=$4} END {print n+0}')"
done
RSS_KB="$(awk '/VmHWM/ {print $2}' "/proc/$SY_PID/status")"

field() { echo "${R[$1,$2]}" | awk -v i="$3" '{print $i}'; }
{
  echo "# HTTP proxy overhead"
  echo
  echo "Generated by \`bench/http/run.sh\` on $(date -u +%Y-%m-%d) ($(nproc) CPUs: $(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | sed 's/^ *//'))."
  echo "Load: \`wrk\`, $DURATION per cell, one JSON chat completion per request, keep-alive; each cell is the"
  echo "median of $REPEAT interleaved runs (errors: their sum)."
  echo "The upstream is nginx returning a fixed completion; client, proxies and upstream share the machine,"
  echo "so absolute numbers depend on its load at the time (it is shared with other builds)."
  echo "\`switchyard\` is the router as shipped: the \`dist\` profile (fat LTO) with profile-guided"
  echo "optimisation (\`scripts/build-pgo.sh\`); \`switchyard-release\` is a plain \`cargo build --release\`."
  echo
  echo "| path | conc. | p50 ms | p99 ms | added p50 ms | req/s | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for t in "${TARGETS[@]}"; do
    name="${t%%:*}"
    for c in 1 64; do
      p50="$(field "$name" "$c" 1)"; d50="$(field direct "$c" 1)"
      added="$(awk -v a="$p50" -v b="$d50" 'BEGIN {printf "%.3f", a-b}')"
      echo "| $name | $c | $p50 | $(field "$name" "$c" 2) | $added | $(field "$name" "$c" 3) | $(field "$name" "$c" 4) |"
    done
  done
  echo
  echo "Switchyard peak RSS during the run: $((RSS_KB / 1024)) MiB (VmHWM, no models loaded)."
  echo
  for c in 1 64; do
    awk -v s="$(field switchyard "$c" 1)" -v n="$(field nginx "$c" 1)" -v c="$c" \
      'BEGIN {printf "Switchyard p50 / nginx p50 at %s connection(s): %.2f×\n", c, s / n}'
  done
  awk -v s="$(field switchyard 64 3)" -v n="$(field nginx 64 3)" \
    'BEGIN {printf "Switchyard throughput at 64 connections: %.1f %% of nginx'"'"'s\n", 100 * s / n}'
  [ -n "$LITELLM_NOTE" ] && echo && echo "$LITELLM_NOTE."
  echo
  echo "Targets: Switchyard p50 ≤ 1.3 × nginx p50 at both concurrencies; throughput ≥ 80 % of nginx at 64"
  echo "connections with zero errors; ≥ 10 × less added latency than LiteLLM; ≤ 50 MB RSS."
} > "$OUT"
cat "$OUT"
