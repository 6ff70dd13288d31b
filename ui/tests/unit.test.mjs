// Unit tests of the page's pure modules (Prometheus parsing, the live window, SSE parsing).
// Run: node --test tests/unit.test.mjs
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SseParser, errorMessage } from '../api.js';
import { niceMax } from '../charts.js';
import { LiveWindow, delta, parsePrometheus, quantile, snapshot } from '../metrics.js';

const EXPO = `# HELP switchyard_requests Routed requests.
# TYPE switchyard_requests counter
switchyard_requests_total{policy="p",route="chat",model="small",status="2xx"} 3
switchyard_requests_total{policy="p",route="hard",model="big",status="2xx"} 2
switchyard_requests_total{policy="q",route="chat",model="small",status="5xx"} 1
switchyard_requests_total{route="x"} 4
weird_metric{a="quote \\" and \\\\ backslash",b="line\\nbreak"} 7 1700000000000
# TYPE switchyard_decision_duration_seconds histogram
switchyard_decision_duration_seconds_sum{policy="p",strategy="intent"} 0.03
switchyard_decision_duration_seconds_count{policy="p",strategy="intent"} 6
switchyard_decision_duration_seconds_bucket{le="0.001",policy="p",strategy="intent"} 0
switchyard_decision_duration_seconds_bucket{le="0.004",policy="p",strategy="intent"} 2
switchyard_decision_duration_seconds_bucket{le="0.008",policy="p",strategy="intent"} 6
switchyard_decision_duration_seconds_bucket{le="+Inf",policy="p",strategy="intent"} 6
switchyard_decision_duration_seconds_sum{policy="q",strategy="auto"} 0.01
switchyard_decision_duration_seconds_count{policy="q",strategy="auto"} 2
switchyard_decision_duration_seconds_bucket{policy="q",strategy="auto",le="1.0e-3"} 0
switchyard_decision_duration_seconds_bucket{policy="q",strategy="auto",le="4.0e-3"} 0
switchyard_decision_duration_seconds_bucket{policy="q",strategy="auto",le="8.0e-3"} 2
switchyard_decision_duration_seconds_bucket{policy="q",strategy="auto",le="+Inf"} 2
switchyard_inflight_requests 1
broken line without value
# EOF
`;

test('parses samples, labels with escapes and skips bad lines', () => {
  const s = parsePrometheus(EXPO);
  const weird = s.find((x) => x.name === 'weird_metric');
  assert.deepEqual(weird.labels, { a: 'quote " and \\ backslash', b: 'line\nbreak' });
  assert.equal(weird.value, 7);
  assert.ok(!s.some((x) => x.name === 'broken'));
  const inf = s.find((x) => x.labels.le === '+Inf');
  assert.equal(inf.value, 6);
});

test('snapshot sums requests by model and merges histograms across label sets', () => {
  const snap = snapshot(parsePrometheus(EXPO));
  assert.equal(snap.requests.get('small'), 4);
  assert.equal(snap.requests.get('big'), 2);
  assert.equal(snap.requests.get('unknown'), 4);
  assert.equal(snap.count, 8);
  assert.ok(Math.abs(snap.sum - 0.04) < 1e-12);
  assert.deepEqual(snap.buckets.map((b) => [b.le, b.count]), [[0.001, 0], [0.004, 2], [0.008, 8], [Infinity, 8]]);
  assert.equal(snap.inflight, 1);
});

test('quantile interpolates inside the bucket like histogram_quantile', () => {
  const b = [{ le: 0.001, count: 0 }, { le: 0.004, count: 2 }, { le: 0.008, count: 8 }, { le: Infinity, count: 8 }];
  // rank 4 lies 2/6 into (0.004, 0.008].
  assert.ok(Math.abs(quantile(0.5, b) - (0.004 + 0.004 * (2 / 6))) < 1e-12);
  // rank 1 lies half-way into (0.001, 0.004].
  assert.ok(Math.abs(quantile(0.125, b) - 0.0025) < 1e-12);
  // Everything beyond the last finite bound reports that bound.
  assert.equal(quantile(0.99, [{ le: 0.002, count: 1 }, { le: Infinity, count: 5 }]), 0.002);
  assert.equal(quantile(0.5, []), null);
  assert.equal(quantile(0.5, [{ le: Infinity, count: 0 }]), null);
});

test('delta subtracts counters and treats a drop as a restart', () => {
  const a = { requests: new Map([['x', 5], ['y', 2]]), sum: 1, count: 10, buckets: [{ le: 1, count: 10 }] };
  const b = { requests: new Map([['x', 8], ['y', 1], ['z', 4]]), sum: 1.5, count: 12, buckets: [{ le: 1, count: 12 }] };
  const d = delta(a, b);
  assert.equal(d.requests.get('x'), 3);
  assert.equal(d.requests.get('y'), 1);
  assert.equal(d.requests.get('z'), 4);
  assert.equal(d.count, 2);
  assert.equal(d.buckets[0].count, 2);
  const restarted = delta(b, { ...a, count: 3, sum: 0.3, buckets: [{ le: 1, count: 3 }] });
  assert.equal(restarted.count, 3);
  assert.equal(restarted.buckets[0].count, 3);
});

test('live window keeps about the window and derives totals and series', () => {
  const w = new LiveWindow(10_000);
  const snap = (n, count) => ({ requests: new Map([['m', n]]), sum: count * 0.002, count, buckets: [{ le: 0.004, count }, { le: Infinity, count }] });
  w.push(0, snap(0, 0));
  assert.equal(w.totals().count, 0);
  w.push(3000, snap(6, 2));
  w.push(6000, snap(6, 2));
  w.push(9000, snap(9, 5));
  w.push(15000, snap(12, 5));
  // The point at 3000 is the last one at or before the cutoff (5000) and is kept.
  assert.deepEqual(w.points.map((p) => p.t), [3000, 6000, 9000, 15000]);
  const tot = w.totals();
  assert.equal(tot.requests.get('m'), 6);
  assert.equal(tot.count, 3);
  assert.ok(Math.abs(tot.mean - 0.002) < 1e-12);
  const series = w.series();
  assert.equal(series.length, 3);
  assert.equal(series[0].rates.get('m'), 0);
  assert.equal(series[0].mean, null);
  assert.ok(Math.abs(series[1].rates.get('m') - 1) < 1e-12);
  assert.deepEqual(w.models(), ['m']);
});

test('SSE parser handles split chunks, CRLF, multi-line data and a missing final blank line', () => {
  const p = new SseParser();
  assert.deepEqual(p.feed('data: {"a":'), []);
  assert.deepEqual(p.feed('1}\n\nda'), ['{"a":1}']);
  assert.deepEqual(p.feed('ta: x\r\ndata: y\r\n\r\n: comment\n\nevent: e\ndata:[DONE]\n\n'), ['x\ny', '[DONE]']);
  assert.deepEqual(p.feed('data: tail'), []);
  assert.deepEqual(p.end(), ['tail']);
  const q = new SseParser();
  assert.deepEqual(q.feed('data: a\r'), []);
  assert.deepEqual(q.feed('\ndata: b\r\n\r\n'), ['a\nb']);
});

test('error messages come from OpenAI-shaped bodies', () => {
  assert.equal(errorMessage({ error: { message: 'nope', type: 't', code: 'c' } }, 'fb'), 'nope');
  assert.equal(errorMessage({ error: 'plain' }, 'fb'), 'plain');
  assert.equal(errorMessage(null, 'fb'), 'fb');
});

test('axis maxima are nice numbers', () => {
  assert.equal(niceMax(0), 1);
  assert.equal(niceMax(0.7), 1);
  assert.equal(niceMax(3.2), 5);
  assert.equal(niceMax(12), 20);
  assert.equal(niceMax(0.0021), 0.0025);
});
