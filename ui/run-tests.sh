#!/usr/bin/env bash
# Tests of the demo page: unit tests of its pure modules, then the headless-Chromium test twice:
#   mock    against tests/mock-server.mjs (no Rust build needed);
#   router  against the real `switchyard-router` binary serving its embedded page, with every
#           endpoint on a fake upstream LLM (tests/fake-upstream.mjs, tests/router.mjs).
# Usage: ui/run-tests.sh [all|mock|router]   (default: all)
#
# Idempotent: installs Debian's chromium only when /usr/bin/chromium is missing (or
# $CHROMIUM_PATH points elsewhere) and playwright-core from package-lock.json only when needed.
# The router mode builds the binary with `cargo build -p switchyard-operator -p switchyard-router
# --bins` (the very command the e2e harness runs, so after it this is a no-op) unless
# $SWITCHYARD_ROUTER_BIN names one, and needs the built-in models (scripts/setup.sh).
# Screenshots: $ARTIFACTS_DIR/ui/<mode>/ when ARTIFACTS_DIR is set, else ui/artifacts/<mode>/.
# With $SWITCHYARD_UI_URL set, the browser test runs once against that router instead.
set -euo pipefail
cd "$(dirname "$0")"
what="${1:-all}"
case "$what" in all|mock|router) ;; *) echo "usage: $0 [all|mock|router]" >&2; exit 2 ;; esac

CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_PATH" ]]; then
  echo "ui: installing chromium (apt)" >&2
  SUDO=""
  if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
export CHROMIUM_PATH

want="$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")"
have="$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")"
if [[ "$want" != "$have" ]]; then
  echo "ui: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

browser_test() {
  node --test --test-reporter=spec --test-timeout=180000 tests/ui.test.mjs
}

node --test --test-reporter=spec tests/unit.test.mjs
if [[ -n "${SWITCHYARD_UI_URL:-}" ]]; then
  browser_test
  exit 0
fi
if [[ "$what" != router ]]; then
  echo "==> demo page against the mock server"
  (unset SWITCHYARD_ROUTER_BIN; browser_test)
fi
if [[ "$what" != mock ]]; then
  if [[ -z "${ORT_DYLIB_PATH:-}" && -f ../.tools/env.sh ]]; then
    # shellcheck disable=SC1091
    source ../.tools/env.sh
  fi
  if [[ -z "${SWITCHYARD_ROUTER_BIN:-}" ]]; then
    echo "==> building switchyard-router"
    cargo build -q -p switchyard-operator -p switchyard-router --bins
    target="$(cargo metadata -q --format-version 1 --no-deps | node -e \
      'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
    SWITCHYARD_ROUTER_BIN="$target/debug/switchyard-router"
  fi
  echo "==> demo page served by the real router ($SWITCHYARD_ROUTER_BIN), fake upstreams"
  SWITCHYARD_ROUTER_BIN="$SWITCHYARD_ROUTER_BIN" browser_test
fi
