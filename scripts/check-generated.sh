#!/usr/bin/env bash
# Fails when a generated, committed file differs from what the code generates now.
# (The CRD drift check also runs as a Rust test; this catches files produced by scripts.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

cargo run -q -p switchyard-crds --bin crdgen -- "$tmp" "$tmp/crds.md" >/dev/null
if ! diff -q "$tmp/crds.md" docs/reference/crds.md >/dev/null; then
  echo "docs/reference/crds.md is stale: run 'cargo run -p switchyard-crds --bin crdgen'" >&2
  exit 1
fi
for f in "$tmp"/*.yaml; do
  if ! diff -q "$f" "crds/$(basename "$f")" >/dev/null; then
    echo "crds/$(basename "$f") is stale: run 'cargo run -p switchyard-crds --bin crdgen'" >&2
    exit 1
  fi
done
# docs/reference/{cli.md,metrics.md,openapi.json} from the clap definitions, the metric
# registries and the router's OpenAPI document (also checked by `cargo test -p switchyard-docgen`).
cargo run -q -p switchyard-docgen -- --check
# docs/images/dashboard-layout.svg from the chart's Grafana dashboard.
python3 scripts/dashboard-layout.py --check
echo "generated files are current"
