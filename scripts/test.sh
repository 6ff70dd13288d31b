#!/usr/bin/env bash
# Sets up a fresh machine (idempotent) and runs every test: formatting, lints, the Rust test
# suites of all crates (unit, mocked API server, hermetic end-to-end), and the repository checks.
# `.ci/run` calls exactly this.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

scripts/setup.sh
# shellcheck disable=SC1091
source .tools/env.sh

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test (workspace)"
cargo test --workspace

step "fuzz targets, 30 s each (fuzz/run.sh; a crash fails the run)"
fuzz/run.sh --dev 30

step "generated files are current"
scripts/check-generated.sh

step "Helm chart, install manifest, examples, Dockerfiles"
charts/test.sh

step "demo page (headless Chromium)"
ui/run-tests.sh

echo
echo "all tests passed"
