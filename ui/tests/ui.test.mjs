// Headless-Chromium test of the demo page, in one of four modes:
//  - SWITCHYARD_ROUTER_BIN=<path to switchyard-router>: starts that binary over the quickstart
//    policy (plus an auto policy) with every endpoint on a fake upstream (tests/router.mjs,
//    tests/fake-upstream.mjs), and checks what reached the upstream too;
//  - SWITCHYARD_UI_URL=<base URL or page URL ending in /ui>: a router someone else started;
//  - SWITCHYARD_API_URL=<router base URL>: the mock serves this checkout's page and proxies the
//    API to that router;
//  - none of these: tests/mock-server.mjs on a free port.
// Screenshots go to $SWITCHYARD_UI_ARTIFACTS, else $ARTIFACTS_DIR/ui, else ui/artifacts, in a
// folder named after the mode (mock/, router/, ...).
//
//   node --test tests/ui.test.mjs      (or ./run-tests.sh, which also installs what it needs)
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

import { chromium } from 'playwright-core';

import { replyFor, startFakeUpstream } from './fake-upstream.mjs';
import { startMockServer } from './mock-server.mjs';
import { UPSTREAM_KEY, startRouter } from './router.mjs';

const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODE = process.env.SWITCHYARD_ROUTER_BIN ? 'router'
  : process.env.SWITCHYARD_UI_URL ? 'external'
    : process.env.SWITCHYARD_API_URL ? 'proxy' : 'mock';
const ARTIFACTS = join(process.env.SWITCHYARD_UI_ARTIFACTS
  || (process.env.ARTIFACTS_DIR ? join(process.env.ARTIFACTS_DIR, 'ui') : join(UI_DIR, 'artifacts')), MODE);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = { timeout: 15_000 };

// ------------------------------------------------------------------ helpers

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A small valid RGB PNG: a diagonal two-colour pattern. */
function tinyPng(size = 16) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < size; y += 1) {
    rows.push(0); // filter: none
    for (let x = 0; x < size; x += 1) rows.push(...(x > y ? [47, 111, 222] : [224, 121, 58]));
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function pageUrl(base) {
  const b = base.replace(/\/+$/, '');
  return b.endsWith('/ui') ? b : `${b}/ui`;
}

const isJsonPost = (path) => (r) => r.url().endsWith(path) && r.request().method() === 'POST';

// ------------------------------------------------------------------ fixture

let mock = null;
let router = null; // the real router (router mode)
let upstream = null; // its fake upstream (router mode)
let context = null;
let page = null;
let userDataDir = null;
let policy = null;
const problems = []; // console errors and page errors
const expectedErrors = []; // console errors a step provoked on purpose
const usingMock = MODE === 'mock';
const usingRouter = MODE === 'router';
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The upstream requests received since `n` (router mode). */
const upstreamSince = (n) => upstream.requests.slice(n);

before(async () => {
  if (usingRouter) {
    upstream = await startFakeUpstream();
    router = await startRouter({ bin: process.env.SWITCHYARD_ROUTER_BIN, upstreamUrl: upstream.url });
  } else if (!process.env.SWITCHYARD_UI_URL) {
    mock = await startMockServer({ api: process.env.SWITCHYARD_API_URL || null });
  }
  const base = process.env.SWITCHYARD_UI_URL || router?.url || mock.url;
  userDataDir = await mkdtemp(join(tmpdir(), 'switchyard-ui-'));
  await mkdir(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
  });
  page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(WAIT.timeout);
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const i = expectedErrors.findIndex((re) => re.test(text));
    if (i >= 0) expectedErrors.splice(i, 1);
    else problems.push(`console: ${text}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  await page.goto(pageUrl(base));
});

after(async () => {
  await context?.close();
  await mock?.close();
  await router?.close();
  await upstream?.close();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

async function send(text, how = 'click') {
  await page.fill('#prompt', text);
  if (how === 'enter') {
    await page.focus('#prompt');
    await page.keyboard.press('Enter');
  } else {
    await page.click('#send');
  }
}

async function waitIdle() {
  await page.waitForFunction(() => document.getElementById('stop').hidden && !document.querySelector('.chip.pending'));
}

async function setMode(mode) {
  await page.click(`label[for="mode-${mode}"]`);
  assert.equal(await page.isChecked(`#mode-${mode}`), true);
}

/** Checks the decision panel against a `/v1/route` answer. */
async function assertDecision(d) {
  await page.waitForFunction((n) => document.querySelectorAll('#decision .cand').length === n, d.candidates.length);
  assert.equal((await page.textContent('#decision .dec-model')).trim(), d.selected_model);
  const cands = page.locator('#decision .cand');
  assert.equal(await cands.count(), d.candidates.length, 'one row per candidate');
  for (let i = 0; i < d.candidates.length; i += 1) {
    const c = d.candidates[i];
    const row = cands.nth(i);
    assert.equal((await row.locator('.name').textContent()).trim(), c.model);
    assert.equal(await row.locator('.bar-row').count(), 2, 'score and cost bars');
    assert.equal(await row.evaluate((el) => el.classList.contains('ineligible')), c.eligible === false);
    if (c.reason) assert.equal((await row.locator('.reason').textContent()).trim(), c.reason);
    if (typeof c.score === 'number') {
      const label = await row.locator('.bar-row').first().getAttribute('aria-label');
      assert.equal(label, `score ${c.score.toFixed(2)}`);
    }
  }
  assert.equal(await page.locator('#decision .cand.selected').count(), 1, 'exactly one chosen candidate');
  const route = d.intent || d.route;
  if (route) assert.match(await page.textContent('#decision .facts'), new RegExp(route));
}

// ------------------------------------------------------------------ tests

test('loads the page and lists policies and models', async () => {
  await page.waitForSelector('#policy:not([disabled])');
  const policies = await page.$$eval('#policy optgroup:first-child option', (os) => os.map((o) => o.value));
  assert.ok(policies.length >= 1, 'at least one policy');
  assert.ok(policies.every((p) => p.startsWith('switchyard/')));
  policy = usingMock || usingRouter ? 'switchyard/quickstart' : policies[0];
  await page.selectOption('#policy', policy);
  assert.equal(await page.inputValue('#policy'), policy);
  if (usingRouter) assert.deepEqual(policies, ['switchyard/quickstart', 'switchyard/learned']);
  if (usingMock || usingRouter) {
    const models = await page.$$eval('#policy optgroup:nth-child(2) option', (os) => os.map((o) => o.value));
    assert.ok(models.includes('meta/llama-3.1-8b-instruct'));
  }
  assert.match(await page.textContent('#conn-text'), /Connected/);
});

test('every control has a label and every button a name', async () => {
  const missing = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
      if (el.id === 'file') continue; // opened through the labelled Attach button
      if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) out.push(el.id || el.outerHTML);
    }
    for (const b of document.querySelectorAll('button')) {
      if (!(b.getAttribute('aria-label') || b.textContent.trim())) out.push(b.outerHTML);
    }
    return out;
  });
  assert.deepEqual(missing, []);
  await page.fill('#tolerance', '0.45');
  assert.equal((await page.textContent('#tolerance-value')).trim(), '0.45');
  await page.fill('#tolerance', '0.3');
});

test('recommend mode draws the decision with one bar pair per candidate', async () => {
  await setMode('recommend');
  const resp = page.waitForResponse(isJsonPost('/v1/route'));
  await send('Explain why the sky is blue, in depth.');
  const r = await resp;
  assert.equal(r.status(), 200);
  const sent = r.request().postDataJSON();
  assert.equal(sent.policy, policy.slice('switchyard/'.length));
  assert.equal(sent.tolerance, 0.3);
  assert.equal(sent.messages.at(-1).content, 'Explain why the sky is blue, in depth.');
  const d = await r.json();
  await assertDecision(d);
  await waitIdle();
  assert.match(await page.textContent('.msg.bot:last-child .chip'), new RegExp(d.selected_model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  assert.equal(await page.locator('.msg.bot:last-child .bubble.answer').count(), 0, 'no answer in recommend mode');
  if (usingMock || usingRouter) {
    assert.equal(await page.locator('#decision .cand .cut').count(), 0, 'no acceptance line for intent policies');
    // An auto policy: the score bars carry the acceptance line at best - tolerance.
    await page.selectOption('#policy', usingMock ? 'switchyard/cost-aware' : 'switchyard/learned');
    const auto = page.waitForResponse(isJsonPost('/v1/route'));
    await send('Explain why the sky is blue, in depth.');
    const ad = await (await auto).json();
    assert.equal(ad.strategy, 'auto');
    await assertDecision(ad);
    await waitIdle();
    assert.equal(await page.locator('#decision .cand .cut').count(), ad.candidates.length);
    const left = await page.locator('#decision .cand .cut').first().evaluate((el) => el.style.left);
    const best = Math.max(...ad.candidates.filter((c) => c.eligible).map((c) => c.score));
    assert.ok(Math.abs(parseFloat(left) - Math.max(0, best - 0.3) * 100) < 0.06, `acceptance line at ${left}, best ${best}`);
    if (usingRouter) {
      // Probabilities from the built-in head, costs from the quickstart's prices.
      assert.deepEqual(ad.candidates.map((c) => c.endpoint).sort(), ['llama-3.1-70b', 'llama-3.1-8b']);
      assert.ok(ad.candidates.every((c) => c.score > 0 && c.score < 1 && c.cost > 0), JSON.stringify(ad.candidates));
    }
    await page.selectOption('#policy', policy);
  }
});

test('keyboard: Enter sends, Shift+Enter inserts a new line', async () => {
  const before = await page.locator('.msg.user').count();
  await page.focus('#prompt');
  await page.keyboard.type('first line');
  await page.keyboard.press('Shift+Enter');
  await page.keyboard.type('second line');
  assert.equal(await page.inputValue('#prompt'), 'first line\nsecond line');
  assert.equal(await page.locator('.msg.user').count(), before, 'Shift+Enter did not send');
  const resp = page.waitForResponse(isJsonPost('/v1/route'));
  await page.keyboard.press('Enter');
  const r = await resp;
  assert.equal(r.request().postDataJSON().messages.at(-1).content, 'first line\nsecond line');
  await assertDecision(await r.json());
  await waitIdle();
  assert.equal(await page.locator('.msg.user').count(), before + 1);
  assert.equal(await page.inputValue('#prompt'), '', 'input cleared after sending');
  assert.equal((await page.locator('.msg.user .bubble').last().textContent()), 'first line\nsecond line');
});

test('answer mode streams the reply token by token and still draws the decision', async () => {
  await setMode('answer');
  // Record the answer's length on every DOM change, to see it grow.
  await page.evaluate(() => {
    window.__lengths = [];
    const ob = new MutationObserver(() => {
      const el = document.querySelector('.msg.bot:last-child .bubble.answer');
      if (el) window.__lengths.push(el.textContent.length);
    });
    ob.observe(document.getElementById('messages'), { subtree: true, childList: true, characterData: true });
    window.__lengthObserver = ob;
  });
  const routeResp = page.waitForResponse(isJsonPost('/v1/route'));
  const chatResp = page.waitForResponse(isJsonPost('/v1/chat/completions'));
  const upstreamBefore = upstream?.requests.length;
  await send('Hi! How are you today?', 'enter');
  const chat = await chatResp;
  assert.equal(chat.status(), 200);
  const body = chat.request().postDataJSON();
  assert.equal(body.model, policy);
  assert.equal(body.stream, true);
  assert.equal(body.switchyard.tolerance, 0.3);
  assert.equal(body.messages.at(-1).content, 'Hi! How are you today?');
  await page.waitForSelector('.msg.bot:last-child .bubble.answer[aria-busy="false"]');
  await page.evaluate(() => window.__lengthObserver.disconnect());
  const lengths = await page.evaluate(() => window.__lengths);
  const answer = await page.textContent('.msg.bot:last-child .bubble.answer');
  assert.ok(answer.length > 10, `an answer arrived: ${answer}`);
  const partial = new Set(lengths.filter((n) => n > 0 && n < answer.length));
  assert.ok(partial.size >= 2, `the answer grew incrementally (partial lengths seen: ${[...partial]})`);
  const d = await (await routeResp).json();
  await assertDecision(d);
  await waitIdle();
  const headerModel = chat.headers()['x-switchyard-model'];
  if (headerModel) assert.match(await page.textContent('.msg.bot:last-child .chip'), new RegExp(headerModel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  if (usingRouter) {
    // The router forwarded one streaming request, with its own key and the chosen model,
    // without the switchyard extension; the page shows exactly what the upstream streamed.
    const sent = upstreamSince(upstreamBefore);
    assert.equal(sent.length, 1, 'one upstream call');
    assert.equal(sent[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`);
    assert.equal(sent[0].body.model, headerModel);
    assert.equal(sent[0].body.model, d.selected_model, 'the decision panel names the model that answered');
    assert.equal(sent[0].body.stream, true);
    assert.equal(sent[0].body.switchyard, undefined);
    assert.equal(answer, replyFor(sent[0].body));
  }
  // The answer joins the history of the next request.
  const next = page.waitForResponse(isJsonPost('/v1/route'));
  const nextChat = page.waitForResponse(isJsonPost('/v1/chat/completions'));
  await send('Thanks.');
  const hist = (await next).request().postDataJSON().messages;
  assert.deepEqual(hist.slice(-2).map((m) => m.role), ['assistant', 'user']);
  assert.equal(hist.at(-2).content, answer);
  await nextChat;
  await page.waitForSelector('.msg.bot:last-child .bubble.answer[aria-busy="false"]');
  await waitIdle();
});

test('images: picker, drop, remove, size limit, and the request carries the image part', async () => {
  const png = tinyPng();
  await page.setInputFiles('#file', { name: 'pattern.png', mimeType: 'image/png', buffer: png });
  await page.waitForSelector('#attachments .thumb img');
  // Drop a second image onto the conversation.
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    const zone = document.getElementById('dropzone');
    zone.dispatchEvent(new DragEvent('dragenter', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, png.toString('base64'));
  await page.waitForFunction(() => document.querySelectorAll('#attachments .thumb').length === 2);
  await page.click('#attachments .thumb-remove[aria-label="Remove dropped.png"]');
  await page.waitForFunction(() => document.querySelectorAll('#attachments .thumb').length === 1);
  // Too large: refused with a clear message, nothing attached.
  await page.setInputFiles('#file', { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(9 * 1024 * 1024) });
  await page.waitForSelector('#attach-error:not([hidden])');
  assert.match(await page.textContent('#attach-error'), /huge\.png.*limit is 8\.0 MB/);
  assert.equal(await page.locator('#attachments .thumb').count(), 1);

  await setMode('recommend');
  const resp = page.waitForResponse(isJsonPost('/v1/route'));
  await send('What is in this picture?');
  const r = await resp;
  const last = r.request().postDataJSON().messages.at(-1);
  assert.ok(Array.isArray(last.content), 'multi-part content');
  assert.deepEqual(last.content[0], { type: 'text', text: 'What is in this picture?' });
  const img = last.content.find((p) => p.type === 'image_url');
  assert.equal(img.image_url.url, `data:image/png;base64,${png.toString('base64')}`);
  if (usingMock) {
    const rec = mock.requests.filter((x) => x.path === '/v1/route').at(-1);
    assert.ok(rec.body.messages.at(-1).content.some((p) => p.type === 'image_url' && p.image_url.url.startsWith('data:image/png;base64,')), 'mock recorded the image part');
  }
  const d = await r.json();
  await assertDecision(d);
  await waitIdle();
  assert.equal(await page.locator('#attachments .thumb').count(), 0, 'attachments cleared after sending');
  assert.equal(await page.locator('.msg.user').last().locator('.msg-images img').count(), 1);
  if (usingMock) {
    assert.equal(d.selected_model, 'meta/llama-3.2-11b-vision-instruct');
    assert.ok(await page.locator('#decision .cand.ineligible .reason').count() >= 1, 'ineligible candidates show their reason');
  }
});

test('answer mode with an image: the vision model answers, streamed, and saw the image', async (t) => {
  if (!usingRouter) {
    t.skip('checks the fake upstream behind the real router');
    return;
  }
  const png = tinyPng(24);
  // A fresh conversation: the earlier image message would otherwise travel along too.
  await page.click('#clear');
  await setMode('answer');
  await page.setInputFiles('#file', { name: 'chart.png', mimeType: 'image/png', buffer: png });
  await page.waitForSelector('#attachments .thumb img');
  const routeResp = page.waitForResponse(isJsonPost('/v1/route'));
  const chatResp = page.waitForResponse(isJsonPost('/v1/chat/completions'));
  const upstreamBefore = upstream.requests.length;
  await send('Describe the chart in this screenshot.');
  const d = await (await routeResp).json();
  // The quickstart sends every image to its image_understanding route, whose only endpoint is
  // the vision model.
  assert.equal(d.route, 'image_understanding');
  assert.equal(d.selected_model, 'nvidia/nemotron-nano-12b-v2-vl');
  await assertDecision(d);
  const chat = await chatResp;
  assert.equal(chat.status(), 200);
  assert.equal(chat.headers()['x-switchyard-route'], 'image_understanding');
  await page.waitForSelector('.msg.bot:last-child .bubble.answer[aria-busy="false"]');
  await waitIdle();
  const sent = upstreamSince(upstreamBefore);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].body.model, 'nvidia/nemotron-nano-12b-v2-vl');
  assert.equal(sent[0].body.messages.length, 1);
  const parts = sent[0].body.messages[0].content.filter((p) => p.type === 'image_url');
  assert.equal(parts.length, 1);
  assert.equal(parts[0].image_url.url, `data:image/png;base64,${png.toString('base64')}`, 'the image reached the upstream unchanged');
  const answer = await page.textContent('.msg.bot:last-child .bubble.answer');
  assert.equal(answer, replyFor(sent[0].body));
  assert.match(answer, /I received 1 image\./);
  assert.match(await page.textContent('.msg.bot:last-child .chip'), new RegExp(esc('nemotron-nano-12b-v2-vl')));
  await setMode('recommend');
});

test('router errors show inline in the chat', async () => {
  await setMode('answer');
  await page.route('**/v1/chat/completions', (route) => route.fulfill({
    status: 503,
    contentType: 'application/json',
    body: JSON.stringify({ error: { message: 'every candidate is unavailable', type: 'upstream_error', code: 'unavailable' } }),
  }), { times: 1 });
  expectedErrors.push(/status of 503/);
  await send('This one fails.');
  await page.waitForSelector('.msg.bot:last-child .msg-error');
  assert.match(await page.textContent('.msg.bot:last-child .msg-error'), /503: every candidate is unavailable/);
  await waitIdle();
  assert.equal(await page.isEnabled('#send'), true, 'the page recovers');
  await setMode('recommend');
});

test('Stop ends a streaming answer and keeps the partial text', async () => {
  await setMode('answer');
  await send('Tell me a long story.');
  await page.waitForFunction(() => {
    const el = document.querySelector('.msg.bot:last-child .bubble.answer');
    return el && el.textContent.length > 0;
  });
  assert.equal(await page.isVisible('#stop'), true);
  await page.click('#stop');
  await page.waitForSelector('.msg.bot:last-child .msg-note');
  assert.equal((await page.textContent('.msg.bot:last-child .msg-note')).trim(), 'Stopped.');
  const partial = await page.textContent('.msg.bot:last-child .bubble.answer');
  assert.ok(partial.length > 0, 'the partial answer stays');
  await waitIdle();
  assert.equal(await page.isVisible('#stop'), false);
  assert.equal(await page.isEnabled('#send'), true);
  await setMode('recommend');
});

test('a concrete model is manual routing: no decision call', async () => {
  const models = await page.$$eval('#policy optgroup:nth-child(2) option', (os) => os.map((o) => o.value));
  if (!models.length) return;
  await page.selectOption('#policy', models[0]);
  assert.equal(await page.isDisabled('#tolerance'), true, 'tolerance does not apply');
  let routeCalls = 0;
  const count = (r) => { if (r.url().endsWith('/v1/route')) routeCalls += 1; };
  page.on('request', count);
  await send('Straight to the model, please.');
  await page.waitForFunction(() => /manual/.test(document.querySelector('#decision .dec-label')?.textContent || ''));
  assert.equal((await page.textContent('#decision .dec-model')).trim(), models[0]);
  if (usingMock || usingRouter) {
    await setMode('answer');
    const chatResp = page.waitForResponse(isJsonPost('/v1/chat/completions'));
    const upstreamBefore = upstream?.requests.length;
    await send('And an answer from it.');
    const chat = await chatResp;
    const body = chat.request().postDataJSON();
    assert.equal(body.model, models[0]);
    assert.equal(body.switchyard, undefined);
    await page.waitForSelector('.msg.bot:last-child .bubble.answer[aria-busy="false"]');
    if (usingRouter) {
      assert.equal(chat.headers()['x-switchyard-route'], 'manual');
      const sent = upstreamSince(upstreamBefore);
      assert.equal(sent.length, 1);
      assert.equal(sent[0].body.model, models[0]);
      assert.equal(await page.textContent('.msg.bot:last-child .bubble.answer'), replyFor(sent[0].body));
    }
    await setMode('recommend');
  }
  await waitIdle();
  page.off('request', count);
  assert.equal(routeCalls, 0);
  await page.selectOption('#policy', policy);
  assert.equal(await page.isEnabled('#tolerance'), true);
});

test('the live panel shows requests per model and decision latency', async () => {
  await page.waitForFunction(() => document.querySelectorAll('#req-legend .lrow').length >= 1);
  const total = Number(await page.textContent('#stat-total'));
  assert.ok(total >= 1, `requests counted: ${total}`);
  await page.waitForFunction(() => /\d/.test(document.getElementById('stat-p50').textContent));
  assert.ok(await page.locator('#req-chart svg').count() === 1);
  assert.ok(await page.locator('#lat-chart svg').count() === 1);
  if (usingRouter) {
    // The router's own switchyard_requests_total, by endpoint: the vision model answered.
    await page.waitForFunction(() => [...document.querySelectorAll('#req-legend .lname')].some((e) => e.textContent === 'nemotron-nano-12b-vl'));
    const metrics = await (await fetch(`${router.url}/metrics`)).text();
    assert.match(metrics, /switchyard_requests_total\{policy="quickstart",route="image_understanding",model="nemotron-nano-12b-vl",status="2xx"\} [1-9]/);
    assert.match(metrics, /switchyard_decision_duration_seconds_count\{policy="quickstart",strategy="intent"\} [1-9]/);
  }
  if (usingMock) {
    // The legend follows the metrics poll: wait for the poll that saw the image request.
    await page.waitForFunction(() => [...document.querySelectorAll('#req-legend .lname')].some((e) => e.textContent === 'llama-3.2-11b-vision'));
    // Two polls after the requests make at least one drawn interval.
    await page.waitForSelector('#req-chart path.line, #req-chart circle.dot');
  }
});

test('screenshots: desktop, dark, and 375 px without horizontal overflow', async () => {
  // Show the image message's decision (the most telling one) in the panel.
  const chip = usingMock ? page.locator('.msg.bot .chip', { hasText: 'image_question' }).first()
    : usingRouter ? page.locator('.msg.bot .chip', { hasText: 'image_understanding' }).first()
      : page.locator('.msg.bot .chip').last();
  await chip.click();
  assert.equal(await chip.getAttribute('aria-pressed'), 'true');
  await page.evaluate(() => { document.activeElement.blur(); });
  await page.screenshot({ path: join(ARTIFACTS, 'screenshot.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(ARTIFACTS, 'screenshot-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 375, height: 812 });
  await page.waitForFunction(() => document.documentElement.clientWidth === 375);
  // The page redraws its charts for the new width in the animation frame after the resize
  // event; measure once that frame has run.
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.equal(overflow, 0, 'no horizontal scrolling at 375 px');
  await page.screenshot({ path: join(ARTIFACTS, 'screenshot-mobile.png'), fullPage: true });
  await page.setViewportSize({ width: 1440, height: 900 });
});

test('New chat clears the conversation and the decision', async () => {
  await page.click('#clear');
  assert.equal(await page.locator('#messages li').count(), 0);
  assert.equal(await page.isVisible('#empty'), true);
  assert.match(await page.textContent('#decision'), /Send a message/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'prompt');
  // The next request starts a fresh history.
  const resp = page.waitForResponse(isJsonPost('/v1/route'));
  await page.keyboard.type('Fresh start');
  await page.keyboard.press('Enter');
  assert.equal((await resp).request().postDataJSON().messages.length, 1);
  await waitIdle();
});

test('no console errors or page errors', () => {
  assert.deepEqual(problems, []);
  assert.deepEqual(expectedErrors, [], 'the provoked error was seen');
});
