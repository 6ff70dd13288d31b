// Prometheus text exposition parsing and the live panel's time window.
// Pure functions and one small class, no DOM: unit-tested in tests/metrics.test.mjs.

/** Counter of routed requests; summed by its `model` label. */
export const REQUESTS = 'switchyard_requests_total';
/** Histogram of decision time in seconds. */
export const DECISION = 'switchyard_decision_duration_seconds';
/** Gauge of requests in flight. */
export const INFLIGHT = 'switchyard_inflight_requests';

const NAME = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/;

function parseValue(s) {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  const v = Number(s);
  return Number.isNaN(v) ? null : v;
}

// Reads `{a="x",b="y"}` starting at `i` (the `{`); returns [labels, index after `}`] or null.
function parseLabels(line, i) {
  const labels = {};
  i += 1;
  for (;;) {
    while (line[i] === ' ' || line[i] === ',') i += 1;
    if (line[i] === '}') return [labels, i + 1];
    const m = NAME.exec(line.slice(i));
    if (!m) return null;
    const key = m[1];
    i += key.length;
    while (line[i] === ' ') i += 1;
    if (line[i] !== '=') return null;
    i += 1;
    while (line[i] === ' ') i += 1;
    if (line[i] !== '"') return null;
    i += 1;
    let val = '';
    for (;;) {
      if (i >= line.length) return null;
      const c = line[i];
      if (c === '\\') {
        const n = line[i + 1];
        val += n === 'n' ? '\n' : n;
        i += 2;
      } else if (c === '"') {
        i += 1;
        break;
      } else {
        val += c;
        i += 1;
      }
    }
    labels[key] = val;
  }
}

/**
 * Parses Prometheus text exposition (0.0.4) or OpenMetrics text into samples
 * `{name, labels, value}`. Comments, blank lines and malformed lines are skipped.
 */
export function parsePrometheus(text) {
  const out = [];
  for (const raw of String(text).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = NAME.exec(line);
    if (!m) continue;
    const name = m[1];
    let i = name.length;
    let labels = {};
    if (line[i] === '{') {
      const r = parseLabels(line, i);
      if (!r) continue;
      [labels, i] = r;
    }
    const rest = line.slice(i).trim().split(/\s+/);
    const value = parseValue(rest[0]);
    if (value === null) continue;
    out.push({ name, labels, value });
  }
  return out;
}

/**
 * Reduces samples to what the live panel needs: requests summed by model,
 * the decision histogram summed over its label sets, and in-flight requests.
 */
export function snapshot(samples) {
  const requests = new Map();
  const buckets = new Map();
  let sum = 0;
  let count = 0;
  let inflight = null;
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    if (s.name === REQUESTS) {
      const model = s.labels.model || 'unknown';
      requests.set(model, (requests.get(model) || 0) + s.value);
    } else if (s.name === `${DECISION}_sum`) {
      sum += s.value;
    } else if (s.name === `${DECISION}_count`) {
      count += s.value;
    } else if (s.name === `${DECISION}_bucket`) {
      const le = parseValue(s.labels.le ?? '');
      if (le === null || Number.isNaN(le)) continue;
      buckets.set(le, (buckets.get(le) || 0) + s.value);
    } else if (s.name === INFLIGHT) {
      inflight = (inflight || 0) + s.value;
    }
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([le, c]) => ({ le, count: c }));
  return { requests, sum, count, buckets: sorted, inflight };
}

/**
 * Estimates quantile `q` from cumulative buckets `[{le, count}]` sorted by `le`,
 * interpolating linearly inside the bucket (as PromQL's histogram_quantile does).
 * Returns null when the histogram is empty.
 */
export function quantile(q, buckets) {
  if (!buckets.length) return null;
  const total = buckets[buckets.length - 1].count;
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      const inBucket = b.count - prevCount;
      if (inBucket <= 0) return b.le;
      return prevLe + (b.le - prevLe) * ((rank - prevCount) / inBucket);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// Counter increase between two readings; a drop means the process restarted.
function increase(before, after) {
  return after >= before ? after - before : after;
}

/** Difference of two snapshots (later minus earlier), tolerant of counter resets. */
export function delta(earlier, later) {
  const requests = new Map();
  for (const [model, v] of later.requests) {
    requests.set(model, increase(earlier.requests.get(model) || 0, v));
  }
  const reset = later.count < earlier.count;
  const before = new Map(earlier.buckets.map((b) => [b.le, b.count]));
  const buckets = later.buckets.map((b) => ({
    le: b.le,
    count: reset ? b.count : Math.max(0, b.count - (before.get(b.le) || 0)),
  }));
  return {
    requests,
    sum: reset ? later.sum : Math.max(0, later.sum - earlier.sum),
    count: reset ? later.count : later.count - earlier.count,
    buckets,
  };
}

/** Mean, p50 and p99 (seconds) of a histogram delta; nulls when it is empty. */
export function latencyStats(d) {
  if (!(d.count > 0)) return { mean: null, p50: null, p99: null };
  return { mean: d.sum / d.count, p50: quantile(0.5, d.buckets), p99: quantile(0.99, d.buckets) };
}

/**
 * Ring buffer of timestamped snapshots covering `windowMs`. Derives the window
 * totals and per-interval series the charts draw.
 */
export class LiveWindow {
  constructor(windowMs = 5 * 60 * 1000, maxPoints = 400) {
    this.windowMs = windowMs;
    this.maxPoints = maxPoints;
    this.points = [];
  }

  /** Adds a snapshot taken at time `t` (ms) and drops those older than the window. */
  push(t, snap) {
    this.points.push({ t, snap });
    const cutoff = t - this.windowMs;
    // Keep one point at or before the cutoff so the window's first interval is complete.
    while (this.points.length > 2 && this.points[1].t <= cutoff) this.points.shift();
    while (this.points.length > this.maxPoints) this.points.shift();
  }

  /** Latest snapshot, or null. */
  latest() {
    return this.points.length ? this.points[this.points.length - 1].snap : null;
  }

  /**
   * Totals over the window: requests per model and latency stats. With a single
   * point the cumulative values since the router started are used.
   */
  totals() {
    const n = this.points.length;
    if (!n) return null;
    const last = this.points[n - 1].snap;
    const d = n === 1
      ? { requests: new Map(last.requests), sum: last.sum, count: last.count, buckets: last.buckets }
      : delta(this.points[0].snap, last);
    return { requests: d.requests, count: d.count, ...latencyStats(d) };
  }

  /** Models seen in the window, busiest first. */
  models() {
    const tot = this.totals();
    if (!tot) return [];
    const seen = new Set();
    for (const p of this.points) for (const m of p.snap.requests.keys()) seen.add(m);
    return [...seen].sort((a, b) => (tot.requests.get(b) || 0) - (tot.requests.get(a) || 0) || a.localeCompare(b));
  }

  /**
   * Per-interval series: `[{t, rates: Map(model → req/s), mean, p50, p99}]`, one
   * entry per consecutive pair of points; latency fields are null when no
   * decision happened in the interval.
   */
  series() {
    const out = [];
    for (let i = 1; i < this.points.length; i += 1) {
      const a = this.points[i - 1];
      const b = this.points[i];
      const secs = Math.max(0.001, (b.t - a.t) / 1000);
      const d = delta(a.snap, b.snap);
      const rates = new Map();
      for (const [m, v] of d.requests) rates.set(m, v / secs);
      out.push({ t: b.t, rates, ...latencyStats(d) });
    }
    return out;
  }
}
