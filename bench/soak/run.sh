#!/usr/bin/env bash
# Soak and overload runs of the release router (see bench/soak/README.md):
#   bench/soak/run.sh --duration 10m          # soak 10 minutes, then the overload run
#   bench/soak/run.sh --duration 60s --no-overload
# Fails (exit 1) when the soak test's checks fail: a request not answered exactly once, RSS
# growth beyond SWITCHYARD_SOAK_MAX_GROWTH_MIB (default 16), descriptors not back to their
# baseline, a panic in the router's log. Reports: .cache/soak/{soak,overload}.json, and a
# Markdown summary on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
DURATION=10m
OVERLOAD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --no-overload) OVERLOAD=0; shift ;;
    *) echo "usage: $0 [--duration 10m|600s] [--no-overload]" >&2; exit 2 ;;
  esac
done
case "$DURATION" in
  *m) SECS=$(( ${DURATION%m} * 60 )) ;;
  *s) SECS=${DURATION%s} ;;
  *) SECS=$DURATION ;;
esac
OUT="$ROOT/.cache/soak"
mkdir -p "$OUT"
# shellcheck disable=SC1091
[ -f .tools/env.sh ] && source .tools/env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

echo "building the release router and the (debug) soak driver"
cargo build --release -q -p switchyard-router --bin switchyard-router
export SWITCHYARD_ROUTER_BIN="$CARGO_TARGET_DIR/release/switchyard-router"

echo "soak: $SECS s"
SWITCHYARD_SOAK_SECS="$SECS" SWITCHYARD_SOAK_REPORT="$OUT/soak.json" \
  cargo test -q -p switchyard-router --test soak -- --exact \
  soak_under_faults_answers_every_request_once_without_leaks --nocapture 2> "$OUT/soak.stderr" \
  || { tail -40 "$OUT/soak.stderr"; exit 1; }

if [ "$OVERLOAD" = 1 ]; then
  echo "overload: 0.5x and 2x capacity, 30 s each"
  SWITCHYARD_OVERLOAD_SECS=30 SWITCHYARD_OVERLOAD_SERVICE_MS=100 SWITCHYARD_OVERLOAD_INFLIGHT=32 \
  SWITCHYARD_OVERLOAD_REPORT="$OUT/overload.json" \
    cargo test -q -p switchyard-router --test soak -- --exact \
    overload_sheds_the_excess_and_bounds_admitted_latency --nocapture 2> "$OUT/overload.stderr" \
    || { tail -40 "$OUT/overload.stderr"; exit 1; }
fi

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
s = json.load(open(os.path.join(out, "soak.json")))
c, r, u = s["client"], s["router"], s["upstream"]
print(f"## Soak ({s['duration_s']:.0f} s, {c['concurrency']} clients, release router)\n")
print(f"- requests sent {c['sent']}, answered {c['answered']} ({c['requests_per_s']:.0f}/s); "
      f"counted by the router {r['requests_total']}; upstream attempts {u['attempts']}")
print("- client outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(c["outcomes"].items())))
print("- injected at the upstreams: " + ", ".join(f"{k} {v}" for k, v in sorted(u["by_fault"].items())))
print(f"- RSS: baseline {r['rss_baseline_kib']//1024} MiB, early peak {r['rss_early_peak_kib']//1024} MiB, "
      f"late peak {r['rss_late_peak_kib']//1024} MiB (growth {r['rss_growth_kib']} KiB)")
print(f"- open fds: baseline {r['fds_baseline']}, max {r['fds_max']}, after {r['fds_after']}; panics {r['panics']}")
samples = s["samples"]
step = max(1, len(samples) // 10)
print("\n| t (s) | RSS (MiB) | fds | requests sent |\n|---:|---:|---:|---:|")
for t, rss, fds, sent in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
    print(f"| {t:.0f} | {rss/1024:.1f} | {fds} | {sent} |")
p = os.path.join(out, "overload.json")
if os.path.exists(p):
    o = json.load(open(p))
    print(f"\n## Overload (service {o['service_ms']} ms, maxInflight {o['max_inflight']}, "
          f"capacity {o['capacity_rps']:.0f} req/s, open loop)\n")
    print("| offered | requests | admitted | p50 ms | p99 ms | max ms | shed (429) | 429 p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in o["runs"]:
        a, sh = run["admitted"], run["shed_429"]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"
        print(f"| {run['offered_factor']}x ({run['offered_rps']:.0f}/s) | {run['requests']} | {a['count']} | "
              f"{fmt(a['p50_ms'])} | {fmt(a['p99_ms'])} | {fmt(a['max_ms'])} | {sh['count']} | {fmt(sh['p99_ms'])} |")
PY
