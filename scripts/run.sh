#!/usr/bin/env bash
# Sets up a fresh machine (idempotent) and runs the router on its embedded default config
# (the quickstart policy), serving on http://127.0.0.1:8080. Extra arguments go to
# `switchyard-router serve`, e.g. `scripts/run.sh -f manifests/examples/quickstart.yaml`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --no-tools
# shellcheck disable=SC1091
source .tools/env.sh
exec cargo run --release -p switchyard-router --bin switchyard-router -- serve "$@"
