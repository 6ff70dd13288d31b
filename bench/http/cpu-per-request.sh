#!/usr/bin/env bash
# CPU time a proxy spends per request: nginx as a plain reverse proxy versus Switchyard on a
# pass-through route (concrete model id, no classification), in front of the same fake upstream
# as bench/http/run.sh. Unlike wall-clock latency this barely moves when other processes compete
# for the cores, and on a saturated machine throughput is about inversely proportional to it.
#
#   bench/http/cpu-per-request.sh                    # the shipped build (scripts/build-pgo.sh)
#   SWITCHYARD_BIN=/path/to/switchyard-router bench/http/cpu-per-request.sh   # another binary
#   SWITCHYARD_ARGS='--workers 1' bench/http/cpu-per-request.sh   # extra `serve` flags
#   CONNS="1 64" BENCH_DURATION=10s REPEAT=3 bench/http/cpu-per-request.sh
#   PERF_OUT=/tmp/sy.data bench/http/cpu-per-request.sh   # also `perf record -g` the router
#                                                           # during its last run at PERF_CONNS
#                                                           # connections (default 64)
#
# For each proxy and connection count it runs `wrk` for BENCH_DURATION, reads the requests
# completed from wrk and the proxy's user+system CPU time from /proc/<pid>/stat (all threads;
# for nginx the master and its workers) before and after, and prints microseconds of CPU per
# request (the median of REPEAT runs) with the run's requests/s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DURATION="${BENCH_DURATION:-10s}"
REPEAT="${REPEAT:-3}"
CONNS="${CONNS:-1 64}"
WORK="$ROOT/.cache/bench-cpu"
UP_PORT=18191; NGINX_PORT=18192; SY_PORT=18193
mkdir -p "$WORK/up" "$WORK/px"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

for tool in nginx wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install nginx wrk curl)" >&2; exit 1; }
done
NGINX="$(command -v nginx)"
TCK="$(getconf CLK_TCK)"
for p in $UP_PORT $NGINX_PORT $SY_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "port $p is in use: stop what listens there first" >&2; exit 1
  fi
done

# shellcheck source=bench/http/common.sh
source "$ROOT/bench/http/common.sh"
start_upstream_and_nginx

if [ -z "${SWITCHYARD_BIN:-}" ]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
  scripts/build-pgo.sh
  SWITCHYARD_BIN="$CARGO_TARGET_DIR/pgo/switchyard-router"
fi
write_switchyard_config
read -r -a EXTRA_ARGS <<<"${SWITCHYARD_ARGS:-}"
RUST_LOG="${SWITCHYARD_LOG:-warn}" "$SWITCHYARD_BIN" serve -f "$WORK/switchyard.yaml" \
  --listen "127.0.0.1:$SY_PORT" --no-watch "${EXTRA_ARGS[@]}" & SY_PID=$!; PIDS+=("$SY_PID")

write_post_lua "$WORK/post.lua" "$BENCH_REQUEST"
for p in $UP_PORT $NGINX_PORT $SY_PORT; do
  WAIT_HTTP_TRIES=300 wait_http "http://127.0.0.1:$p/v1/chat/completions" -f
done

# CPU ticks (user + system, all threads) of a process and its direct children.
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}

# measure PID URL CONNS -> "us_per_request requests_per_s"
measure() {
  local threads=1; [ "$3" -ge 16 ] && threads=2
  local before after out reqs secs
  before="$(ticks "$1")"
  out="$(wrk -t"$threads" -c"$3" -d"$DURATION" -s "$WORK/post.lua" "$2")"
  after="$(ticks "$1")"
  if echo "$out" | grep -q -e 'Non-2xx' -e 'Socket errors'; then
    echo "errors during the run against $2:" >&2; echo "$out" >&2; exit 1
  fi
  reqs="$(echo "$out" | awk '/requests in/ {print $1}')"
  secs="$(echo "$out" | awk '/^Requests\/sec/ {printf "%.0f", $2}')"
  awk -v d="$((after - before))" -v t="$TCK" -v n="$reqs" -v r="$secs" \
    'BEGIN {printf "%.1f %s\n", d / t * 1e6 / n, r}'
}

echo "CPU per request (µs, median of $REPEAT × $DURATION; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-11s %6s %12s %10s\n' proxy conns 'cpu µs/req' 'req/s'
declare -A CPU
for c in $CONNS; do
  for target in "nginx:$NGINX_PID:$NGINX_PORT" "switchyard:$SY_PID:$SY_PORT"; do
    IFS=: read -r name pid port <<<"$target"
    url="http://127.0.0.1:$port/v1/chat/completions"
    wrk -t1 -c"$c" -d1s -s "$WORK/post.lua" "$url" >/dev/null # warm-up
    runs=()
    for i in $(seq 1 "$REPEAT"); do
      if [ -n "${PERF_OUT:-}" ] && [ "$name" = switchyard ] && [ "$c" = "${PERF_CONNS:-64}" ] && [ "$i" = "$REPEAT" ]; then
        perf record -q -g -p "$pid" -o "$PERF_OUT" >/dev/null 2>&1 & PERF_PID=$!
        runs+=("$(measure "$pid" "$url" "$c")")
        kill -INT "$PERF_PID"; wait "$PERF_PID" || true
      else
        runs+=("$(measure "$pid" "$url" "$c")")
      fi
    done
    cpu="$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | median)"
    rps="$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | median)"
    CPU["$name,$c"]="$cpu"
    printf '%-11s %6s %12s %10s   (runs: %s)\n' "$name" "$c" "$cpu" "$rps" \
      "$(printf '%s\n' "${runs[@]}" | awk '{printf "%s ", $1}')"
  done
  awk -v s="${CPU[switchyard,$c]}" -v n="${CPU[nginx,$c]}" -v c="$c" \
    'BEGIN {printf "switchyard / nginx CPU per request at %s connections: %.2f×\n", c, s / n}'
done
echo "switchyard RSS high-water mark: $(awk '/VmHWM/ {printf "%d MiB", $2 / 1024}' "/proc/$SY_PID/status")"
