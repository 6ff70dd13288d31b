#!/usr/bin/env bash
# Tests of the demo page: unit tests of its pure modules, then the headless-Chromium test.
# Idempotent: installs Debian's chromium only when /usr/bin/chromium is missing (or
# $CHROMIUM_PATH points elsewhere) and playwright-core from package-lock.json only when needed.
# Runs against $SWITCHYARD_UI_URL (the router's base URL) when set, else against the mock server.
set -euo pipefail
cd "$(dirname "$0")"

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

node --test --test-reporter=spec tests/unit.test.mjs
node --test --test-reporter=spec --test-timeout=180000 tests/ui.test.mjs
