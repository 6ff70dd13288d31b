// The router's HTTP API as the page uses it: models, decisions, streamed answers, metrics.

// The page is served at <root>/ui and this module at <root>/ui/api.js, so the API root is
// one level up; this keeps the page working behind a path prefix.
const ROOT = new URL('../', import.meta.url);

/** Absolute URL of an API path such as `v1/models`. */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), ROOT).toString();
}

/** An error the router (or the network) reported, with a message fit for the chat. */
export class ApiError extends Error {
  constructor(message, status = 0, code = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Message of an OpenAI-shaped error body `{"error":{"message"}}`, else of the raw text. */
export function errorMessage(body, fallback) {
  if (body && typeof body === 'object') {
    const e = body.error;
    if (typeof e === 'string') return e;
    if (e && typeof e.message === 'string') return e.message;
    if (typeof body.message === 'string') return body.message;
  }
  return fallback;
}

async function failure(resp) {
  const text = await resp.text().catch(() => '');
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const msg = errorMessage(body, text.trim().slice(0, 300) || resp.statusText || 'request failed');
  const code = body && body.error && typeof body.error === 'object' ? body.error.code ?? null : null;
  return new ApiError(`${resp.status}: ${msg}`, resp.status, code);
}

async function request(path, init) {
  let resp;
  try {
    resp = await fetch(apiUrl(path), init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(`network error: ${err && err.message ? err.message : err}`);
  }
  if (!resp.ok) throw await failure(resp);
  return resp;
}

async function json(resp) {
  try {
    return await resp.json();
  } catch {
    throw new ApiError(`${resp.status}: the router's answer is not JSON`, resp.status);
  }
}

/** `GET /v1/models` → `{policies: [id], models: [id]}` (ids as listed). */
export async function listModels(signal) {
  const body = await json(await request('v1/models', { signal }));
  const data = Array.isArray(body && body.data) ? body.data : [];
  const ids = data.map((m) => (m && typeof m.id === 'string' ? m.id : null)).filter(Boolean);
  return {
    policies: ids.filter((id) => id.startsWith('switchyard/')),
    models: ids.filter((id) => !id.startsWith('switchyard/')),
  };
}

function postJson(body, signal) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(body),
    signal,
  };
}

/** `POST /v1/route` → the decision object. */
export async function route(body, signal) {
  return json(await request('v1/route', postJson(body, signal)));
}

/** `GET /metrics` → the exposition text. */
export async function metricsText(signal) {
  const resp = await request('metrics', { signal, headers: { accept: 'text/plain' } });
  return resp.text();
}

/**
 * Incremental Server-Sent Events parser: `feed(text)` returns the `data` payloads of the
 * events completed by that text (multi-line data joined with "\n").
 */
export class SseParser {
  constructor() {
    this.buf = '';
    this.data = [];
  }

  feed(text) {
    this.buf += text;
    const out = [];
    for (;;) {
      const nl = this.buf.search(/\r\n|\r|\n/);
      // A trailing "\r" may be the first half of "\r\n": wait for the next chunk.
      if (nl < 0 || (nl === this.buf.length - 1 && this.buf[nl] === '\r')) break;
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + (this.buf.startsWith('\r\n', nl) ? 2 : 1));
      if (line === '') {
        if (this.data.length) out.push(this.data.join('\n'));
        this.data = [];
      } else if (line.startsWith('data:')) {
        this.data.push(line.slice(line[5] === ' ' ? 6 : 5));
      }
      // Other fields (event:, id:, retry:) and comments are not needed here.
    }
    return out;
  }

  /** Payload of a last event that was not followed by a blank line, if any. */
  end() {
    if (this.buf.startsWith('data:')) this.data.push(this.buf.slice(this.buf[5] === ' ' ? 6 : 5));
    this.buf = '';
    const out = this.data.length ? [this.data.join('\n')] : [];
    this.data = [];
    return out;
  }
}

/** Routing headers of a response (absent ones are null). */
export function routingHeaders(resp) {
  const ms = resp.headers.get('x-switchyard-decision-ms');
  return {
    model: resp.headers.get('x-switchyard-model'),
    route: resp.headers.get('x-switchyard-route'),
    policy: resp.headers.get('x-switchyard-policy'),
    decisionMs: ms != null && ms !== '' && Number.isFinite(Number(ms)) ? Number(ms) : null,
  };
}

/**
 * `POST /v1/chat/completions` with `stream: true`. Calls `onHeaders(routingHeaders)` once
 * the response starts and `onDelta(text)` per content delta. Resolves to
 * `{model, finishReason}`; rejects with ApiError on HTTP or in-stream errors.
 */
export async function streamChat(body, { signal, onHeaders, onDelta }) {
  const resp = await request('v1/chat/completions', postJson(body, signal));
  onHeaders(routingHeaders(resp));
  const result = { model: null, finishReason: null };
  const handle = (payload) => {
    if (payload.trim() === '[DONE]') return true;
    let chunk;
    try {
      chunk = JSON.parse(payload);
    } catch {
      return false; // Not JSON (a keep-alive or a comment-like line): ignore.
    }
    if (chunk && chunk.error) throw new ApiError(`stream error: ${errorMessage(chunk, 'unknown error')}`);
    if (chunk && typeof chunk.model === 'string' && !result.model) result.model = chunk.model;
    const choice = chunk && Array.isArray(chunk.choices) ? chunk.choices[0] : null;
    if (!choice) return false;
    const text = (choice.delta && choice.delta.content) ?? (choice.message && choice.message.content);
    if (typeof text === 'string' && text) onDelta(text);
    if (choice.finish_reason) result.finishReason = choice.finish_reason;
    return false;
  };

  const type = resp.headers.get('content-type') || '';
  if (!type.includes('text/event-stream')) {
    // A router or upstream that ignored `stream`: one JSON completion.
    handle(JSON.stringify(await json(resp)));
    return result;
  }
  if (!resp.body) throw new ApiError('the response has no body');
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const events = done ? parser.end() : parser.feed(value);
      for (const e of events) {
        if (handle(e)) return result;
      }
      if (done) return result;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
