// Small hand-written SVG line charts for the live panel.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

/** A "nice" upper bound ≥ v for an axis (1, 2, 2.5, 5 × 10^n). */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const exp = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/**
 * Draws a line chart into `host` (replacing its content), sized to the host's width.
 * `lines`: `[{cls, points: [{t, v}]}]` where `v` may be null (a gap);
 * `opts`: `{t0, t1, height, fmt(v) → label, empty: text}`.
 */
export function lineChart(host, lines, opts) {
  const width = Math.max(200, Math.floor(host.clientWidth || 300));
  const height = opts.height || 110;
  const pad = { l: 46, r: 8, t: 8, b: 18 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true', focusable: 'false' });

  let max = 0;
  for (const line of lines) for (const p of line.points) if (p.v != null && p.v > max) max = p.v;
  const top = niceMax(max);
  const span = Math.max(1, opts.t1 - opts.t0);
  const x = (t) => pad.l + ((t - opts.t0) / span) * w;
  const y = (v) => pad.t + h - (v / top) * h;

  for (let i = 0; i <= 2; i += 1) {
    const v = (top * i) / 2;
    const yy = y(v);
    el('line', { x1: pad.l, x2: pad.l + w, y1: yy, y2: yy, class: 'grid' }, svg);
    const label = el('text', { x: pad.l - 6, y: yy + 3.5, class: 'axis', 'text-anchor': 'end' }, svg);
    label.textContent = opts.fmt(v);
  }
  const minutes = span / 60000;
  for (const [frac, anchor] of [[0, 'start'], [0.5, 'middle'], [1, 'end']]) {
    const t = el('text', { x: pad.l + frac * w, y: height - 4, class: 'axis', 'text-anchor': anchor }, svg);
    const ago = minutes * (1 - frac);
    t.textContent = ago < 0.01 ? 'now' : `−${ago >= 1 ? ago.toFixed(ago % 1 ? 1 : 0) : (ago * 60).toFixed(0)}${ago >= 1 ? 'm' : 's'}`;
  }

  let drawn = false;
  for (const line of lines) {
    let d = '';
    let run = [];
    const flush = () => {
      if (run.length === 1) {
        el('circle', { cx: x(run[0].t), cy: y(run[0].v), r: 2.2, class: `dot ${line.cls}` }, svg);
      } else if (run.length > 1) {
        d += run.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
      }
      if (run.length) drawn = true;
      run = [];
    };
    for (const p of line.points) {
      if (p.v == null || p.t < opts.t0) flush();
      else run.push(p);
    }
    flush();
    if (d) el('path', { d, class: `line ${line.cls}` }, svg);
  }
  if (!drawn && opts.empty) {
    const t = el('text', { x: pad.l + w / 2, y: pad.t + h / 2 + 4, class: 'axis empty-note', 'text-anchor': 'middle' }, svg);
    t.textContent = opts.empty;
  }
  host.replaceChildren(svg);
}
