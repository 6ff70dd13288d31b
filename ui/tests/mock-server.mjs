// A stand-in for the Switchyard router, enough for the demo page: serves ui/ at /ui and fakes
// /v1/models, /v1/route, streaming /v1/chat/completions and /metrics. No dependencies.
//
//   node tests/mock-server.mjs [port]      # run it by hand, then open http://127.0.0.1:<port>/ui
//
// With `api` (env SWITCHYARD_API_URL when run by hand), everything but /ui is proxied to that
// router instead of faked: the page's files from this checkout against a real router's API.
//
// Tests import startMockServer() and read `requests` (every JSON body received, by path).
import { createServer, request as httpRequest } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const ENDPOINTS = [
  { model: 'meta/llama-3.1-70b-instruct', endpoint: 'llama-3.1-70b', cost: 1.76, vision: false },
  { model: 'meta/llama-3.1-8b-instruct', endpoint: 'llama-3.1-8b', cost: 0.36, vision: false },
  { model: 'meta/llama-3.2-11b-vision-instruct', endpoint: 'llama-3.2-11b-vision', cost: 0.7, vision: true },
];
const POLICIES = { quickstart: 'intent', 'cost-aware': 'auto' };
/** A content security policy the page works under (no inline script or style, no CDN). */
export const CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
  + "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const BUCKETS = Array.from({ length: 21 }, (_, i) => 0.0001 * 2 ** i);

function textOf(messages) {
  const last = [...messages].reverse().find((m) => m && m.role === 'user');
  if (!last) return '';
  if (typeof last.content === 'string') return last.content;
  return (last.content || []).filter((p) => p.type === 'text').map((p) => p.text).join(' ');
}

function hasImage(messages) {
  return messages.some((m) => Array.isArray(m.content) && m.content.some((p) => p.type === 'image_url'));
}

/** A deterministic decision shaped like the router's `/v1/route` answer. */
function decide(policy, messages, tolerance) {
  const image = hasImage(messages);
  const text = textOf(messages).toLowerCase();
  const strategy = POLICIES[policy];
  const hard = /prove|explain|why|hard|derive|complex/.test(text);
  const intent = image ? 'image_question' : hard ? 'hard_question' : 'chit_chat';
  const scores = image ? [0.31, 0.12, 0.86] : hard ? [0.83, 0.41, 0.22] : [0.58, 0.64, 0.18];
  const candidates = ENDPOINTS.map((e, i) => {
    const c = { model: e.model, endpoint: e.endpoint, score: scores[i], cost: e.cost, eligible: true };
    if (image && !e.vision) {
      c.eligible = false;
      c.reason = 'no vision capability';
    }
    return c;
  });
  const eligible = candidates.filter((c) => c.eligible);
  const best = Math.max(...eligible.map((c) => c.score));
  const ok = eligible.filter((c) => c.score >= best - tolerance);
  const chosen = ok.sort((a, b) => a.cost - b.cost)[0];
  const decisionMs = 2 + (text.length % 7) * 0.9 + (image ? 6 : 0);
  const out = {
    selected_model: chosen.model,
    endpoint: chosen.endpoint,
    policy,
    strategy,
    route: strategy === 'intent' ? intent : 'auto',
    candidates,
    decision_ms: decisionMs,
    classifier: strategy === 'intent' ? 'placeholder' : 'mlp',
  };
  if (strategy === 'intent') {
    out.intent = intent;
    out.confidence = 0.9;
  }
  return out;
}

function metricsState() {
  return { requests: new Map(), dec: new Map() };
}

function record(m, { policy, route, model, status, strategy, decisionMs }) {
  const key = JSON.stringify([policy, route, model, status]);
  m.requests.set(key, (m.requests.get(key) || 0) + 1);
  if (decisionMs == null) return;
  const dkey = JSON.stringify([policy, strategy]);
  const h = m.dec.get(dkey) || { sum: 0, count: 0, buckets: BUCKETS.map(() => 0) };
  const s = decisionMs / 1000;
  h.sum += s;
  h.count += 1;
  BUCKETS.forEach((le, i) => { if (s <= le) h.buckets[i] += 1; });
  m.dec.set(dkey, h);
}

// OpenMetrics text as prometheus-client writes it.
function exposition(m) {
  const lines = ['# HELP switchyard_requests Routed requests.', '# TYPE switchyard_requests counter'];
  for (const [key, v] of m.requests) {
    const [policy, route, model, status] = JSON.parse(key);
    lines.push(`switchyard_requests_total{policy="${policy}",route="${route}",model="${model}",status="${status}"} ${v}`);
  }
  lines.push('# HELP switchyard_decision_duration_seconds Time to classify and decide.');
  lines.push('# TYPE switchyard_decision_duration_seconds histogram');
  for (const [key, h] of m.dec) {
    const [policy, strategy] = JSON.parse(key);
    const l = `policy="${policy}",strategy="${strategy}"`;
    lines.push(`switchyard_decision_duration_seconds_sum{${l}} ${h.sum}`);
    lines.push(`switchyard_decision_duration_seconds_count{${l}} ${h.count}`);
    BUCKETS.forEach((le, i) => lines.push(`switchyard_decision_duration_seconds_bucket{le="${le}",${l}} ${h.buckets[i]}`));
    lines.push(`switchyard_decision_duration_seconds_bucket{le="+Inf",${l}} ${h.count}`);
  }
  lines.push('# HELP switchyard_inflight_requests Requests in flight.', '# TYPE switchyard_inflight_requests gauge', 'switchyard_inflight_requests 0', '# EOF');
  return `${lines.join('\n')}\n`;
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function error(res, status, message, code) {
  sendJson(res, status, { error: { message, type: status >= 500 ? 'upstream_error' : 'invalid_request_error', code } });
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Forwards a request to the router at `api` and streams the answer back unchanged.
function proxy(api, req, res) {
  const target = new URL(req.url, api);
  const headers = { ...req.headers, host: target.host };
  const up = httpRequest(target, { method: req.method, headers }, (upRes) => {
    res.writeHead(upRes.statusCode || 502, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', (err) => {
    if (!res.headersSent) error(res, 502, `proxy: ${err.message}`, 'bad_gateway');
    else res.destroy();
  });
  req.pipe(up);
}

/**
 * Starts the mock on 127.0.0.1:`port` (0 = any free port); with `api`, proxies the API there.
 * Resolves to `{url, requests, close()}`; `requests` is `[{path, body}]` (mocked requests only).
 */
export async function startMockServer({ port = 0, chunkDelayMs = 45, api = null } = {}) {
  const requests = [];
  const metrics = metricsState();
  // A little history so the live panel has something to draw from the first poll.
  record(metrics, { policy: 'quickstart', route: 'chit_chat', model: 'llama-3.1-8b', status: '2xx', strategy: 'intent', decisionMs: 3.1 });

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const path = url.pathname;
    try {
      if (req.method === 'GET' && path === '/ui/') {
        // The page's links are relative to /ui, so /ui/ is sent there.
        res.writeHead(308, { location: '/ui' });
        return res.end();
      }
      if (req.method === 'GET' && (path === '/ui' || path.startsWith('/ui/'))) {
        const name = path === '/ui' ? 'index.html' : path.slice(4);
        const ext = name.slice(name.lastIndexOf('.'));
        if (!/^[A-Za-z0-9_-]+\.[a-z]+$/.test(name) || !TYPES[ext]) return error(res, 404, `no asset ${name}`, 'not_found');
        const body = await readFile(join(UI_DIR, name)).catch(() => null);
        if (!body) return error(res, 404, `no asset ${name}`, 'not_found');
        const headers = { 'content-type': TYPES[ext], 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
        // The strict policy the router may send with the page; a violation would fail the test
        // (it is a console error).
        if (ext === '.html') headers['content-security-policy'] = CSP;
        res.writeHead(200, headers);
        return res.end(body);
      }
      if (api) return proxy(api, req, res);
      if (req.method === 'GET' && path === '/v1/models') {
        const ids = [...Object.keys(POLICIES).map((p) => `switchyard/${p}`), ...ENDPOINTS.map((e) => e.model)];
        return sendJson(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'switchyard' })) });
      }
      if (req.method === 'GET' && path === '/metrics') {
        res.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
        return res.end(exposition(metrics));
      }
      if (req.method === 'POST' && path === '/v1/route') {
        const body = await readJson(req);
        requests.push({ path, body });
        const policy = body.policy;
        if (!POLICIES[policy]) return error(res, 404, `policy ${JSON.stringify(policy)} does not exist; GET /v1/models lists them`, 'policy_not_found');
        if (!Array.isArray(body.messages) || !body.messages.length) return error(res, 400, 'messages is required', 'invalid_request');
        const d = decide(policy, body.messages, typeof body.tolerance === 'number' ? body.tolerance : 0.3);
        record(metrics, { policy, route: d.route, model: d.endpoint, status: '2xx', strategy: d.strategy, decisionMs: d.decision_ms });
        return sendJson(res, 200, d);
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        const body = await readJson(req);
        requests.push({ path, body });
        const model = String(body.model || '');
        let d;
        if (model.startsWith('switchyard/')) {
          const policy = model.slice('switchyard/'.length);
          if (!POLICIES[policy]) return error(res, 404, `policy ${JSON.stringify(policy)} does not exist`, 'policy_not_found');
          d = decide(policy, body.messages || [], body.switchyard?.tolerance ?? 0.3);
        } else {
          const e = ENDPOINTS.find((x) => x.model === model);
          if (!e) return error(res, 404, `model ${JSON.stringify(model)} is not served`, 'model_not_found');
          d = { selected_model: e.model, endpoint: e.endpoint, policy: 'none', route: 'manual', strategy: 'manual', decision_ms: 0.02 };
        }
        record(metrics, { policy: d.policy, route: d.route, model: d.endpoint, status: '2xx', strategy: d.strategy, decisionMs: d.decision_ms });
        res.on('error', () => {}); // The page may stop reading (the Stop button).
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'x-switchyard-policy': d.policy,
          'x-switchyard-model': d.selected_model,
          'x-switchyard-route': d.route,
          'x-switchyard-decision-ms': d.decision_ms.toFixed(3),
        });
        const answer = `This is ${d.selected_model}, chosen by the ${d.policy} policy (${d.route}). The mock streams this reply in small chunks so the page can show it growing.`;
        const words = answer.match(/\S+\s*/g);
        const base = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: d.selected_model };
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })}\n\n`);
        for (const w of words) {
          if (res.destroyed) return undefined;
          await sleep(chunkDelayMs);
          res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }] })}\n\n`);
        }
        res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
        res.write('data: [DONE]\n\n');
        return res.end();
      }
      return error(res, 404, `no route for ${req.method} ${path}`, 'not_found');
    } catch (err) {
      if (!res.headersSent) return error(res, 400, `bad request: ${err.message}`, 'invalid_request');
      res.destroy();
      return undefined;
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const api = process.env.SWITCHYARD_API_URL || null;
  const mock = await startMockServer({ port: Number(process.argv[2] || 8787), api });
  console.log(`demo page on ${mock.url}/ui${api ? ` (API proxied to ${api})` : ' (mocked API)'}`);
}
