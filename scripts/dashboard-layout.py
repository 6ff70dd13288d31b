#!/usr/bin/env python3
"""Draws the layout of the chart's Grafana dashboard (charts/switchyard/files/dashboard.json)
as an SVG wireframe: every panel at its grid position with its title, type and queries.

It is a picture of the layout, not a screenshot: no Grafana or Prometheus runs here. To see
the real dashboard, import the JSON into Grafana (see docs/operations.md).

    scripts/dashboard-layout.py            # writes docs/images/dashboard-layout.svg
    scripts/dashboard-layout.py --check    # fails when that file is stale
"""

import html
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "charts/switchyard/files/dashboard.json"
TARGET = ROOT / "docs/images/dashboard-layout.svg"

COL = 40  # pixels per grid column (Grafana's grid is 24 columns wide)
ROW = 30  # pixels per grid row
PAD = 6
HEADER = 56
ICONS = {"timeseries": "time series", "piechart": "pie chart", "stat": "stat", "table": "table"}


def wrap(text, width):
    """Splits text into lines of at most `width` characters, on spaces where possible."""
    lines, line = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if len(line) + len(word) + (1 if line else 0) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def panel_svg(p):
    g = p["gridPos"]
    x, y = g["x"] * COL + PAD, g["y"] * ROW + HEADER + PAD
    w, h = g["w"] * COL - 2 * PAD, g["h"] * ROW - 2 * PAD
    out = [
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" class="panel"/>',
        f'<text x="{x + 12}" y="{y + 24}" class="title">{html.escape(p.get("title", ""))}</text>',
        f'<text x="{x + w - 12}" y="{y + 24}" class="kind" text-anchor="end">'
        f'{html.escape(ICONS.get(p.get("type"), p.get("type", "")))}</text>',
    ]
    ty = y + 48
    chars = max(20, int((w - 24) / 6.2))
    for t in p.get("targets", []):
        for line in wrap(t.get("expr", ""), chars):
            if ty > y + h - 10:
                break
            out.append(f'<text x="{x + 12}" y="{ty}" class="expr">{html.escape(line)}</text>')
            ty += 14
        ty += 6
    return "\n".join(out)


def render(dashboard):
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width, height = 24 * COL, rows * ROW + HEADER + 2 * PAD
    variables = ", ".join(f"${v['name']}" for v in dashboard.get("templating", {}).get("list", []))
    title = html.escape(dashboard.get("title", "dashboard"))
    body = "\n".join(panel_svg(p) for p in panels)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
<style>
  .bg {{ fill: #f4f5f7; }}
  .panel {{ fill: #ffffff; stroke: #c7ccd6; }}
  .title {{ font-size: 15px; font-weight: bold; fill: #1f2430; }}
  .kind {{ font-size: 12px; fill: #6b7280; }}
  .expr {{ font-size: 10.5px; fill: #3b4252; font-family: DejaVu Sans Mono, Menlo, monospace; }}
  .head {{ font-size: 20px; font-weight: bold; fill: #1f2430; }}
  .note {{ font-size: 12px; fill: #6b7280; }}
</style>
<rect width="{width}" height="{height}" class="bg"/>
<text x="{PAD + 4}" y="28" class="head">{title}</text>
<text x="{PAD + 4}" y="46" class="note">Layout of charts/switchyard/files/dashboard.json (variables: {html.escape(variables)}), drawn by scripts/dashboard-layout.py; not a screenshot.</text>
{body}
</svg>
"""


def main():
    svg = render(json.loads(SOURCE.read_text()))
    if sys.argv[1:] == ["--check"]:
        if not TARGET.exists() or TARGET.read_text() != svg:
            print(f"{TARGET.relative_to(ROOT)} is stale: run scripts/dashboard-layout.py", file=sys.stderr)
            return 1
        return 0
    if sys.argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(svg)
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
