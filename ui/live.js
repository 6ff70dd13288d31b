// The live panel: polls the router's /metrics and draws requests per model and decision
// latency over the last five minutes.
import * as api from './api.js';
import { lineChart } from './charts.js';
import { $, fmtMs, h } from './dom.js';
import { LiveWindow, parsePrometheus, snapshot } from './metrics.js';

const POLL_MS = 3000;
const POLL_BACKOFF_MS = 10000;
const WINDOW_MS = 5 * 60 * 1000;

const live = new LiveWindow(WINDOW_MS);
const palette = new Map();
let pollTimer = null;
let polling = false;

function colorOf(model) {
  if (!palette.has(model)) palette.set(model, palette.size % 8);
  return `c${palette.get(model)}`;
}

/** Polls now, then every few seconds (backing off while /metrics fails). */
export async function poll() {
  clearTimeout(pollTimer);
  if (polling) return;
  polling = true;
  let next = POLL_MS;
  try {
    const text = await api.metricsText();
    live.push(Date.now(), snapshot(parsePrometheus(text)));
    const pts = live.points;
    $('live-status').textContent = spanText(pts.length > 1 ? pts[pts.length - 1].t - pts[0].t : 0);
    $('live-status').classList.remove('warn');
    renderLive();
  } catch (err) {
    $('live-status').textContent = `metrics unavailable (${err.message})`;
    $('live-status').classList.add('warn');
    next = POLL_BACKOFF_MS;
  } finally {
    polling = false;
    pollTimer = setTimeout(poll, next);
  }
}

/** Polls shortly (after a request, so the panel catches up quickly). */
export function pollSoon() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(poll, 150);
}

function renderLive() {
  const tot = live.totals();
  if (!tot) return;
  const models = live.models();
  let total = 0;
  for (const v of tot.requests.values()) total += v;
  $('stat-total').textContent = String(Math.round(total));
  $('stat-mean').textContent = fmtMs(tot.mean != null ? tot.mean * 1000 : null);
  $('stat-p50').textContent = fmtMs(tot.p50 != null ? tot.p50 * 1000 : null);
  $('stat-p99').textContent = fmtMs(tot.p99 != null ? tot.p99 * 1000 : null);

  const maxReq = Math.max(1, ...models.map((m) => tot.requests.get(m) || 0));
  $('req-legend').replaceChildren(...models.map((m) => {
    const n = Math.round(tot.requests.get(m) || 0);
    const fill = h('span', { class: `lfill ${colorOf(m)}` });
    fill.style.width = `${((n / maxReq) * 100).toFixed(1)}%`;
    return h('li', { class: 'lrow' },
      h('span', { class: `swatch ${colorOf(m)}`, 'aria-hidden': 'true' }),
      h('span', { class: 'lname', text: m === 'none' ? 'none (unrouted)' : m }),
      h('span', { class: 'ltrack', 'aria-hidden': 'true' }, fill),
      h('span', { class: 'lcount', text: `${n} req` }));
  }));
  if (!models.length) $('req-legend').replaceChildren(h('li', { class: 'hint', text: 'No requests yet.' }));
  drawCharts();
}

// Charts span the data collected so far (at least 30 s), up to the full window.
function chartStart(now) {
  const first = live.points.length ? live.points[0].t : now;
  return Math.max(now - WINDOW_MS, Math.min(first, now - 30_000));
}

function spanText(ms) {
  return ms >= WINDOW_MS - 1000 ? 'last 5 min' : `last ${ms >= 60_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`}`;
}

function axisMs(v) {
  if (v === 0) return '0';
  return v >= 1000 ? `${Number((v / 1000).toPrecision(2))} s` : `${Number(v.toPrecision(2))} ms`;
}

/** Redraws both charts at the hosts' current width. */
export function drawCharts() {
  const now = Date.now();
  const t0 = chartStart(now);
  const series = live.series();
  const models = live.models();
  lineChart($('req-chart'), models.map((m) => ({
    cls: colorOf(m),
    points: series.map((s) => ({ t: s.t, v: s.rates.get(m) ?? 0 })),
  })), {
    t0,
    t1: now,
    fmt: (v) => (v === 0 ? '0' : `${Number(v.toPrecision(2))}/s`),
    empty: series.length ? 'no requests yet' : 'collecting…',
  });
  const ms = (k) => series.map((s) => ({ t: s.t, v: s[k] != null ? s[k] * 1000 : null }));
  lineChart($('lat-chart'), [
    { cls: 's-p99', points: ms('p99') },
    { cls: 's-p50', points: ms('p50') },
    { cls: 's-mean', points: ms('mean') },
  ], {
    t0,
    t1: now,
    fmt: axisMs,
    empty: series.length ? 'no decisions yet' : 'collecting…',
  });
}
