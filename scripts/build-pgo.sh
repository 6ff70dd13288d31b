#!/usr/bin/env bash
# Builds the shipped switchyard-router: the `dist` profile (fat LTO, one codegen unit) with
# profile-guided optimisation. The router's per-request work is spread thinly over hyper, axum,
# tokio and its own code, and at low load it runs with cold caches after every sleep; laying
# that code out by a measured profile cut its CPU per request at one connection from about 82
# to 48 µs (docs/benchmarks.md). The image (docker/router.Dockerfile) and bench/http/run.sh
# build with this script.
#
#   scripts/build-pgo.sh                # writes target/pgo/switchyard-router (or $CARGO_TARGET_DIR/pgo/)
#   PGO_OUT=/out/switchyard-router scripts/build-pgo.sh
#
# Steps: (1) an instrumented build; (2) a training run of that build, serving traffic through
# a local fake upstream (nginx): plain and streamed pass-through at 1 and 64 connections,
# requests the router refuses, and the read-only endpoints; (3) llvm-profdata merges the
# profile; (4) the optimised build. Both builds use `--target <host>` so that the profile flags
# reach the router and its dependencies but not build scripts, and each has its own target
# directory under $CARGO_TARGET_DIR/pgo, so that neither invalidates the other (or `release`).
# Needs: rustup's llvm-tools component (added when missing), nginx and wrk (Debian packages,
# installed when missing; needs root), free ports 18681-18683 on 127.0.0.1. Takes two
# release builds plus about 20 s of training.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PGO="$TARGET_DIR/pgo"
OUT="${PGO_OUT:-$PGO/switchyard-router}"
HOST="$(rustc -vV | sed -n 's/^host: //p')"
PROFILES="$PGO/profiles"
WORK="$PGO/work"
UP_PORT=18681; NGINX_PORT=18682; SY_PORT=18683

PROFDATA="$(rustc --print sysroot)/lib/rustlib/$HOST/bin/llvm-profdata"
if [ ! -x "$PROFDATA" ]; then
  echo "adding rustup's llvm-tools component (llvm-profdata matching rustc's LLVM)"
  rustup component add llvm-tools >/dev/null
fi
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  echo "installing nginx and wrk (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
NGINX="$(command -v nginx)"

build() { # target-dir rustflags
  CARGO_TARGET_DIR="$1" RUSTFLAGS="$2" cargo build -q --locked --profile dist --target "$HOST" \
    -p switchyard-router --bin switchyard-router
}

echo "1/4 instrumented build"
rm -rf "$PROFILES" "$WORK"; mkdir -p "$PROFILES" "$WORK"
build "$PGO/instrumented" "-Cprofile-generate=$PROFILES"

echo "2/4 training run"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# shellcheck source=bench/http/common.sh
source "$ROOT/bench/http/common.sh"
start_upstream_and_nginx
write_switchyard_config
cat >> "$WORK/switchyard.yaml" <<YAML
---
apiVersion: switchyard.dev/v1alpha1
kind: ModelEndpoint
metadata: {name: bench-stream}
spec: {model: bench-stream, baseURL: 'http://127.0.0.1:$UP_PORT/sse/v1'}
YAML
LLVM_PROFILE_FILE="$PROFILES/router-%p-%m.profraw" RUST_LOG=warn \
  "$PGO/instrumented/$HOST/dist/switchyard-router" serve -f "$WORK/switchyard.yaml" \
  --listen "127.0.0.1:$SY_PORT" --no-watch & SY_PID=$!; PIDS+=("$SY_PID")
URL="http://127.0.0.1:$SY_PORT"
chat="$URL/v1/chat/completions"
WAIT_HTTP_TRIES=150 wait_http "$chat" -f
write_post_lua "$WORK/plain.lua" "$BENCH_REQUEST"
write_post_lua "$WORK/stream.lua" \
  '{"model":"bench-stream","stream":true,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Count to three."}]}'
write_post_lua "$WORK/bad.lua" '{"model":"bench-model","messages":[{"role":"user"'
write_post_lua "$WORK/unknown.lua" '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}'
wrk -t1 -c1 -d5s -s "$WORK/plain.lua" "$chat" >/dev/null
wrk -t2 -c64 -d4s -s "$WORK/plain.lua" "$chat" >/dev/null
wrk -t1 -c1 -d2s -s "$WORK/stream.lua" "$chat" >/dev/null
wrk -t2 -c16 -d2s -s "$WORK/stream.lua" "$chat" >/dev/null
wrk -t1 -c4 -d1s -s "$WORK/bad.lua" "$chat" >/dev/null
wrk -t1 -c4 -d1s -s "$WORK/unknown.lua" "$chat" >/dev/null
for path in /v1/models /healthz /readyz /metrics; do wrk -t1 -c1 -d1s "$URL$path" >/dev/null; done
# The profile is written when the router exits: SIGTERM, then its graceful shutdown.
kill -TERM "$SY_PID"; wait "$SY_PID"
ls "$PROFILES"/router-*.profraw >/dev/null

echo "3/4 merging the profile"
"$PROFDATA" merge -o "$PGO/router.profdata" "$PROFILES"/router-*.profraw

echo "4/4 optimised build"
build "$PGO/optimized" "-Cprofile-use=$PGO/router.profdata"
mkdir -p "$(dirname "$OUT")"
cp "$PGO/optimized/$HOST/dist/switchyard-router" "$OUT"
echo "built $OUT"
