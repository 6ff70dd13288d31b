#!/usr/bin/env bash
# Builds the cargo-fuzz targets and runs each for a bounded time (see fuzz/README.md).
#   fuzz/run.sh [--dev] [SECONDS_PER_TARGET] [TARGET...]
# SECONDS_PER_TARGET defaults to 60. --dev builds without optimisation: the build takes a
# third of the time and inputs run several times slower (what CI uses for its short runs). Installs cargo-fuzz into .tools/ (idempotent). Stable Rust runs it through RUSTC_BOOTSTRAP=1 (cargo-fuzz passes nightly
# flags); no sanitizer (`-s none`): the code under test is safe Rust, and ASan would double
# the build. New corpus entries go to .cache/fuzz/corpus/<target>/ (the committed seeds in
# fuzz/corpus/ stay as they are); a crash is saved under fuzz/artifacts/<target>/ and fails
# the run (turn it into a regression test, then delete the artifact).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECS=60
TARGETS=()
PROFILE=()
for a in "$@"; do
  case "$a" in
    --dev) PROFILE=(--dev) ;;
    ''|*[!0-9]*) TARGETS+=("$a") ;;
    *) SECS="$a" ;;
  esac
done
CARGO_FUZZ_VERSION=0.13.2
FUZZ="$ROOT/.tools/bin/cargo-fuzz"
if ! { [ -x "$FUZZ" ] && "$FUZZ" --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; }; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/"
  (unset CARGO_TARGET_DIR; cargo install -q --locked --root "$ROOT/.tools" cargo-fuzz --version "$CARGO_FUZZ_VERSION")
fi
export RUSTC_BOOTSTRAP=1
# The instrumented build goes under <target dir>/x86_64-unknown-linux-gnu/, next to (and
# sharing nothing with) the normal builds, so one target dir serves both.
TARGET_DIR="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/fuzz/target}}"
unset CARGO_TARGET_DIR
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=(chat_request content_parts sse_usage config_yaml)

cd fuzz
start=$(date +%s)
"$FUZZ" build "${PROFILE[@]}" -s none --target-dir "$TARGET_DIR"
echo "fuzz build: $(( $(date +%s) - start )) s"

status=0
summary=()
for t in "${TARGETS[@]}"; do
  work="$ROOT/.cache/fuzz/corpus/$t"
  mkdir -p "$work" "artifacts/$t"
  log="$ROOT/.cache/fuzz/$t.log"
  echo "==> $t for ${SECS}s"
  if ! "$FUZZ" run "${PROFILE[@]}" -s none --target-dir "$TARGET_DIR" "$t" "$work" "corpus/$t" -- \
      -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
      -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1; then
    status=1
    echo "CRASH in $t: see $log and fuzz/artifacts/$t/"
    grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 || true
  fi
  runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
  summary+=("$t: ${runs:-?} execs in ${SECS}s ($(( ${runs:-0} / (SECS > 0 ? SECS : 1) ))/s), coverage ${cov:-?}, corpus $(ls "$work" | wc -l)")
done
rmdir artifacts/* 2>/dev/null || true
rmdir artifacts 2>/dev/null || true
printf '%s\n' "${summary[@]}"
exit "$status"
