// A fake OpenAI-compatible LLM server for the demo-page test against the real router: answers
// POST /v1/chat/completions (JSON, or server-sent events word by word when `stream: true`)
// with a reply that names the model it was asked for and the images it received, and records
// every request. No dependencies.
//
//   node tests/fake-upstream.mjs [port]     # run it by hand
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function imagesIn(messages) {
  let n = 0;
  for (const m of Array.isArray(messages) ? messages : []) {
    if (Array.isArray(m?.content)) n += m.content.filter((p) => p?.type === 'image_url').length;
  }
  return n;
}

/** The reply the fake gives for a request body (tests compare the page's answer with it). */
export function replyFor(body) {
  const n = imagesIn(body?.messages);
  const seen = n ? ` I received ${n} image${n > 1 ? 's' : ''}.` : '';
  return `Hello from ${body?.model}!${seen} This reply is streamed word by word by the fake upstream of the demo-page test.`;
}

/**
 * Starts the fake on 127.0.0.1:`port` (0 = any free port). Resolves to
 * `{url, requests, close()}`; `url` is the base URL to put in a ModelEndpoint (`.../v1`),
 * `requests` is `[{path, headers, body}]`.
 */
export async function startFakeUpstream({ port = 0, chunkDelayMs = 30 } = {}) {
  const requests = [];
  const server = createServer(async (req, res) => {
    res.on('error', () => {}); // The router may hang up (the page's Stop button).
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let body = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
    } catch {
      body = null;
    }
    requests.push({ path: req.url, headers: req.headers, body });
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions' || !body) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `fake upstream: no ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
      return;
    }
    const text = replyFor(body);
    const base = { id: `chatcmpl-fake-${requests.length}`, created: Math.floor(Date.now() / 1000), model: body.model };
    const usage = { prompt_tokens: 12, completion_tokens: text.split(' ').length, total_tokens: 12 + text.split(' ').length };
    if (!body.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        ...base,
        object: 'chat.completion',
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage,
      }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const event = (choices, extra = {}) => `data: ${JSON.stringify({ ...base, object: 'chat.completion.chunk', choices, ...extra })}\n\n`;
    res.write(event([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    for (const word of text.match(/\S+\s*/g)) {
      await sleep(chunkDelayMs);
      if (res.destroyed) return;
      res.write(event([{ index: 0, delta: { content: word }, finish_reason: null }]));
    }
    res.write(event([{ index: 0, delta: {}, finish_reason: 'stop' }]));
    if (body.stream_options?.include_usage) res.write(event([], { usage }));
    res.end('data: [DONE]\n\n');
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}/v1`,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fake = await startFakeUpstream({ port: Number(process.argv[2] || 8788) });
  console.log(`fake upstream on ${fake.url}`);
}
