// Switchyard demo page: chat, per-message routing decision, live metrics.
import * as api from './api.js';
import { renderDecision } from './decision.js';
import { $, fmtBytes, fmtMs, h } from './dom.js';
import { drawCharts, poll, pollSoon } from './live.js';

const MAX_IMAGE_BYTES = 8 * 1024 * 1024;
const MAX_IMAGES = 4;
const STORE_KEY = 'switchyard-ui';

// ---------------------------------------------------------------- state

const state = {
  history: [], // OpenAI messages sent so far
  attachments: [], // {id, name, size, url}
  turns: [], // {id, decision, chip}
  selectedTurn: null,
  busy: null, // AbortController of the request in flight
  nextId: 1,
};

function loadPrefs() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function savePrefs() {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify({ target: $('policy').value, tolerance: tolerance(), mode: mode() }));
  } catch {
    // Storage may be disabled; preferences are a convenience only.
  }
}

const tolerance = () => Number($('tolerance').value);
const mode = () => (document.querySelector('input[name="mode"]:checked') || {}).value || 'recommend';
const isPolicy = (id) => id.startsWith('switchyard/');

// ---------------------------------------------------------------- settings

function setConn(kind, text, detail = '') {
  $('conn').dataset.state = kind;
  $('conn-text').textContent = text;
  $('conn-detail').textContent = detail;
}

async function loadModels() {
  const sel = $('policy');
  try {
    const { policies, models } = await api.listModels();
    const prefs = loadPrefs();
    const groups = [];
    if (policies.length) {
      groups.push(h('optgroup', { label: 'Policies (routed)' },
        policies.map((id) => h('option', { value: id, text: id.slice('switchyard/'.length) }))));
    }
    if (models.length) {
      groups.push(h('optgroup', { label: 'Models (manual)' }, models.map((id) => h('option', { value: id, text: id }))));
    }
    if (!groups.length) {
      sel.replaceChildren(h('option', { value: '', text: 'No policies served' }));
      setConn('warn', 'Connected, but the router serves no policies');
      return;
    }
    sel.replaceChildren(...groups);
    const all = [...policies, ...models];
    if (prefs.target && all.includes(prefs.target)) sel.value = prefs.target;
    sel.disabled = false;
    setConn('ok', 'Connected', ` · ${policies.length} ${policies.length === 1 ? 'policy' : 'policies'}, ${models.length} ${models.length === 1 ? 'model' : 'models'}`);
    syncControls();
  } catch (err) {
    setConn('err', `Router unreachable (${err.message}); retrying…`);
    setTimeout(loadModels, 5000);
  }
}

function syncControls() {
  $('tolerance-value').value = tolerance().toFixed(2);
  $('tolerance-value').textContent = tolerance().toFixed(2);
  const manual = $('policy').value && !isPolicy($('policy').value);
  $('tolerance').disabled = Boolean(manual);
  $('send').disabled = Boolean(state.busy) || $('policy').disabled || !$('policy').value;
}

// ---------------------------------------------------------------- attachments

function attachError(msg) {
  const p = $('attach-error');
  p.textContent = msg || '';
  p.hidden = !msg;
}

function readDataUrl(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error || new Error('could not read the file'));
    r.readAsDataURL(file);
  });
}

async function addFiles(files) {
  const problems = [];
  for (const file of files) {
    if (!file.type.startsWith('image/')) {
      problems.push(`${file.name || 'file'} is not an image`);
      continue;
    }
    if (file.size > MAX_IMAGE_BYTES) {
      problems.push(`${file.name || 'image'} is ${fmtBytes(file.size)}; the limit is ${fmtBytes(MAX_IMAGE_BYTES)}`);
      continue;
    }
    if (state.attachments.length >= MAX_IMAGES) {
      problems.push(`at most ${MAX_IMAGES} images per message`);
      break;
    }
    try {
      const url = await readDataUrl(file);
      state.attachments.push({ id: state.nextId++, name: file.name || 'pasted image', size: file.size, url });
    } catch (err) {
      problems.push(`${file.name || 'image'}: ${err.message}`);
    }
  }
  attachError(problems.length ? `Not attached: ${problems.join('; ')}.` : '');
  renderAttachments();
}

function renderAttachments() {
  $('attachments').replaceChildren(...state.attachments.map((a) => h('li', { class: 'thumb' },
    h('img', { src: a.url, alt: a.name }),
    h('span', { class: 'thumb-name', text: `${a.name} · ${fmtBytes(a.size)}` }),
    h('button', {
      type: 'button',
      class: 'thumb-remove',
      'aria-label': `Remove ${a.name}`,
      title: 'Remove',
      text: '×',
      onclick: () => {
        state.attachments = state.attachments.filter((x) => x.id !== a.id);
        renderAttachments();
        $('prompt').focus();
      },
    }))));
}

function setupDrop() {
  const zone = $('dropzone');
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  zone.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth += 1;
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
  });
  zone.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) zone.classList.remove('dragging');
  });
  zone.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    zone.classList.remove('dragging');
    addFiles([...e.dataTransfer.files]);
  });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

// ---------------------------------------------------------------- chat

function scrollToEnd(force = false) {
  const box = $('dropzone');
  if (force || box.scrollHeight - box.scrollTop - box.clientHeight < 120) box.scrollTop = box.scrollHeight;
}

function addUserMessage(text, images) {
  $('empty').hidden = true;
  const li = h('li', { class: 'msg user' },
    h('span', { class: 'visually-hidden', text: 'You: ' }),
    text ? h('div', { class: 'bubble', text }) : null,
    images.length ? h('div', { class: 'msg-images' }, images.map((a) => h('img', { src: a.url, alt: a.name }))) : null);
  $('messages').append(li);
  scrollToEnd(true);
}

function addBotTurn(answer) {
  const turn = { id: state.nextId++, decision: null };
  turn.chip = h('button', {
    type: 'button',
    class: 'chip pending',
    'aria-pressed': 'false',
    onclick: () => selectTurn(turn),
  }, h('span', { class: 'chip-text', text: 'Routing…' }));
  turn.body = answer ? h('div', { class: 'bubble answer', 'aria-busy': 'true' }) : null;
  turn.li = h('li', { class: 'msg bot' },
    h('span', { class: 'visually-hidden', text: 'Switchyard: ' }), turn.chip, turn.body);
  $('messages').append(turn.li);
  state.turns.push(turn);
  scrollToEnd(true);
  return turn;
}

function showError(turn, err) {
  const msg = err && err.message ? err.message : String(err);
  turn.li.append(h('p', { class: 'msg-error', role: 'alert' }, h('strong', { text: 'Error ' }), msg));
  scrollToEnd();
}

function chipLabel(d) {
  const parts = [d.answeredBy || d.selected_model || d.endpoint || 'no model'];
  const route = d.intent || d.route;
  if (route) parts.push(route);
  if (d.decision_ms != null) parts.push(fmtMs(d.decision_ms));
  return parts.join(' · ');
}

function updateChip(turn) {
  const d = turn.decision;
  if (!d) return;
  turn.chip.classList.remove('pending');
  turn.chip.replaceChildren(h('span', { class: 'chip-arrow', 'aria-hidden': 'true', text: '→' }),
    h('span', { class: 'chip-text', text: chipLabel(d) }));
  turn.chip.setAttribute('aria-label', `Show decision: ${chipLabel(d)}`);
}

function selectTurn(turn, announce = false) {
  state.selectedTurn = turn;
  for (const t of state.turns) {
    t.chip.setAttribute('aria-pressed', String(t === turn));
    t.li.classList.toggle('selected', t === turn);
  }
  renderDecision(turn.decision);
  if (announce && turn.decision) {
    $('decision-announce').textContent = `Routed to ${turn.decision.answeredBy || turn.decision.selected_model || 'no model'}${turn.decision.decision_ms != null ? ` in ${fmtMs(turn.decision.decision_ms)}` : ''}.`;
  }
}

function setDecision(turn, patch) {
  turn.decision = { ...(turn.decision || {}), ...patch };
  updateChip(turn);
  if (state.selectedTurn === turn || state.turns[state.turns.length - 1] === turn) {
    // Announce a turn's decision once, not again when the second half of it arrives.
    selectTurn(turn, !turn.announced);
    turn.announced = true;
  }
}

function userContent(text, images) {
  if (!images.length) return text;
  const parts = [];
  if (text) parts.push({ type: 'text', text });
  for (const a of images) parts.push({ type: 'image_url', image_url: { url: a.url } });
  return parts;
}

async function send() {
  const target = $('policy').value;
  const text = $('prompt').value.trim();
  const images = state.attachments;
  if (state.busy || !target || (!text && !images.length)) return;

  state.history.push({ role: 'user', content: userContent(text, images) });
  addUserMessage(text, images);
  $('prompt').value = '';
  autoGrow();
  state.attachments = [];
  renderAttachments();
  attachError('');

  const answer = mode() === 'answer';
  const messages = state.history.slice();
  const ctrl = new AbortController();
  state.busy = ctrl;
  $('stop').hidden = !answer;
  syncControls();
  const turn = addBotTurn(answer);
  const tasks = [];

  if (isPolicy(target)) {
    const policy = target.slice('switchyard/'.length);
    tasks.push(api.route({ messages, policy, tolerance: tolerance() }, ctrl.signal)
      .then((d) => setDecision(turn, { ...d, tolerance: tolerance() }))
      .catch((err) => {
        if (err.name === 'AbortError') return;
        if (answer) setDecision(turn, { routeError: err.message });
        else showError(turn, err);
      }));
  } else {
    setDecision(turn, { selected_model: target, strategy: 'manual', route: 'manual', manual: true, candidates: [] });
  }

  if (answer) {
    let text = '';
    const caret = h('span', { class: 'caret', 'aria-hidden': 'true' });
    turn.body.append(caret);
    const body = {
      model: target,
      stream: true,
      messages,
      ...(isPolicy(target) ? { switchyard: { tolerance: tolerance() } } : {}),
    };
    tasks.push(api.streamChat(body, {
      signal: ctrl.signal,
      onHeaders: (hd) => {
        const patch = { answeredBy: hd.model || null };
        if (hd.route) patch.headerRoute = hd.route;
        if (hd.decisionMs != null) patch.headerMs = hd.decisionMs;
        if (!turn.decision || turn.decision.manual) {
          if (hd.decisionMs != null) patch.decision_ms = hd.decisionMs;
          if (hd.route) patch.route = hd.route;
        }
        setDecision(turn, patch);
      },
      onDelta: (t) => {
        text += t;
        caret.before(t);
        scrollToEnd();
      },
    }).then(() => {
      state.history.push({ role: 'assistant', content: text });
    }).catch((err) => {
      if (err.name === 'AbortError') {
        if (text) state.history.push({ role: 'assistant', content: text });
        turn.li.append(h('p', { class: 'msg-note', text: 'Stopped.' }));
      } else {
        showError(turn, err);
      }
    }).finally(() => {
      caret.remove();
      turn.body.normalize();
      turn.body.setAttribute('aria-busy', 'false');
      if (!turn.body.textContent) turn.body.remove();
    }));
  }

  await Promise.allSettled(tasks);
  if (!turn.decision) turn.chip.replaceChildren(h('span', { class: 'chip-text', text: 'No decision' }));
  state.busy = null;
  $('stop').hidden = true;
  syncControls();
  pollSoon();
}

function clearChat() {
  if (state.busy) state.busy.abort();
  state.history = [];
  state.turns = [];
  state.selectedTurn = null;
  $('messages').replaceChildren();
  $('empty').hidden = false;
  renderDecision(null);
  $('prompt').focus();
}

function autoGrow() {
  const ta = $('prompt');
  ta.style.height = 'auto';
  ta.style.height = `${Math.min(ta.scrollHeight, 200)}px`;
}

// ---------------------------------------------------------------- wiring

function init() {
  const prefs = loadPrefs();
  if (typeof prefs.tolerance === 'number' && prefs.tolerance >= 0 && prefs.tolerance <= 1) $('tolerance').value = String(prefs.tolerance);
  if (prefs.mode === 'answer') $('mode-answer').checked = true;

  $('tolerance').addEventListener('input', () => { syncControls(); savePrefs(); });
  $('policy').addEventListener('change', () => { syncControls(); savePrefs(); });
  for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener('change', savePrefs);
  $('settings').addEventListener('submit', (e) => e.preventDefault());

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  $('prompt').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      send();
    }
  });
  $('prompt').addEventListener('input', autoGrow);
  $('prompt').addEventListener('paste', (e) => {
    const files = [...(e.clipboardData ? e.clipboardData.files : [])].filter((f) => f.type.startsWith('image/'));
    if (files.length) {
      e.preventDefault();
      addFiles(files);
    }
  });
  $('attach').addEventListener('click', () => $('file').click());
  $('file').addEventListener('change', () => {
    addFiles([...$('file').files]);
    $('file').value = '';
  });
  $('stop').addEventListener('click', () => state.busy && state.busy.abort());
  $('clear').addEventListener('click', clearChat);
  setupDrop();

  let raf = 0;
  let lastWidth = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(raf);
    raf = requestAnimationFrame(() => {
      const w = $('req-chart').clientWidth;
      if (w !== lastWidth) {
        lastWidth = w;
        drawCharts();
      }
    });
  });

  syncControls();
  drawCharts();
  loadModels();
  poll();
}

init();
