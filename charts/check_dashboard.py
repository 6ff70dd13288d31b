#!/usr/bin/env python3
"""Checks the Grafana dashboard of the chart (called by charts/test.sh): valid JSON, the panels
the chart promises, and every metric it queries registered by the router or the operator
(read from their metrics modules, so that a renamed metric fails here instead of showing an
empty panel)."""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DASHBOARD = os.path.join(ROOT, "charts", "switchyard", "files", "dashboard.json")
SOURCES = {  # metrics module -> prefix of its registry
    os.path.join(ROOT, "router", "src", "metrics.rs"): "switchyard_",
    os.path.join(ROOT, "operator", "src", "metrics.rs"): "switchyard_operator_",
}
PANELS = ["Request rate", "Decision latency", "Per-model share", "Fallbacks",
          "Upstream time to first byte", "Upstream duration", "Errors"]


def registered(problems):
    names = set()
    for path, prefix in SOURCES.items():
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            problems.append(f"cannot read the metric names from {path}: {e}")
            continue
        for m in re.finditer(r'\.register\(\s*"([a-z_]+)"', text):
            names.add(prefix + m.group(1))
    return names


def main():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    problems = []
    titles = [p["title"] for p in dash["panels"]]
    for t in PANELS:
        if t not in titles:
            problems.append(f"no panel titled {t!r}")
    ids = [p["id"] for p in dash["panels"]]
    if len(set(ids)) != len(ids):
        problems.append("panel ids are not unique")
    used = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            for m in re.findall(r"switchyard_[a-z_]+", t["expr"]):
                used.add(re.sub(r"_(bucket|total|sum|count)$", "", m))
    known = registered(problems)
    for m in sorted(used - known):
        problems.append(f"metric {m} is queried but neither router nor operator registers it")
    if problems:
        for p in problems:
            print(f"  - {p}")
        sys.exit(1)
    print(f"{len(titles)} panels, {len(used)} metrics, all registered")


if __name__ == "__main__":
    main()
