// The decision panel: chosen model, route, and every candidate's score and cost as bars.
import { $, fmtMs, fmtNum, h } from './dom.js';

function bar(kind, frac, valueText, label, cut) {
  const f = Math.max(0, Math.min(1, Number.isFinite(frac) ? frac : 0));
  const fill = h('div', { class: `fill ${kind}` });
  fill.style.width = `${(f * 100).toFixed(1)}%`;
  const track = h('div', { class: 'track' }, fill);
  if (cut != null) {
    const c = h('div', { class: 'cut', title: 'acceptance line: best score − tolerance' });
    c.style.left = `${(Math.max(0, Math.min(1, cut)) * 100).toFixed(1)}%`;
    track.append(c);
  }
  return h('div', { class: 'bar-row', role: 'img', 'aria-label': `${label} ${valueText}` },
    h('span', { class: 'bar-label', 'aria-hidden': 'true', text: label }),
    track,
    h('span', { class: 'bar-value', 'aria-hidden': 'true', text: valueText }));
}

function fact(term, value) {
  if (value == null || value === '') return null;
  return h('div', { class: 'fact' }, h('dt', { text: term }), h('dd', { text: String(value) }));
}

/** Draws decision `d` (a `/v1/route` answer plus header facts), or the placeholder for null. */
export function renderDecision(d) {
  const host = $('decision');
  if (!d) {
    host.replaceChildren(h('p', { class: 'placeholder', text: 'Send a message to see how it is routed.' }));
    return;
  }
  const chosen = d.answeredBy || d.selected_model;
  const candidates = Array.isArray(d.candidates) ? d.candidates.filter((c) => c && typeof c === 'object') : [];
  const scores = candidates.map((c) => (typeof c.score === 'number' ? c.score : null));
  const costs = candidates.map((c) => (typeof c.cost === 'number' && Number.isFinite(c.cost) ? c.cost : null));
  const maxScore = Math.max(0, ...scores.filter((s) => s != null));
  // Probabilities stay on a 0..1 scale; other scores (similarities, logits) are scaled to the best.
  const scoreScale = maxScore > 1 ? maxScore : 1;
  const maxCost = Math.max(0, ...costs.filter((c) => c != null));
  // The router accepts a candidate whose score reaches the best eligible score minus the
  // tolerance (or its own threshold); the cheapest accepted one wins.
  const bestEligible = Math.max(0, ...scores.filter((s, i) => s != null && candidates[i].eligible !== false));
  const cut = d.strategy === 'auto' && d.tolerance != null && bestEligible > 0
    ? Math.max(0, bestEligible - d.tolerance) / scoreScale : null;

  const head = h('div', { class: 'dec-head' },
    h('span', { class: 'dec-label', text: d.manual ? 'Model (manual routing)' : 'Chosen model' }),
    h('strong', { class: 'dec-model', text: chosen || 'none' }),
    d.endpoint ? h('span', { class: 'dec-sub', text: `endpoint ${d.endpoint}` }) : null);

  const facts = h('dl', { class: 'facts' },
    fact('Policy', d.policy),
    fact('Strategy', d.strategy),
    fact(d.intent ? 'Intent' : 'Route', d.intent || d.route || d.headerRoute),
    fact('Confidence', typeof d.confidence === 'number' ? d.confidence.toFixed(2) : null),
    fact('Decision', d.decision_ms != null ? fmtMs(d.decision_ms) : null),
    fact('Classifier', d.classifier),
    fact('Tolerance', !d.manual && d.tolerance != null ? d.tolerance.toFixed(2) : null));

  const notes = [];
  if (d.note) notes.push(h('p', { class: 'dec-note', text: d.note }));
  if (d.answeredBy && d.selected_model && d.answeredBy !== d.selected_model) {
    notes.push(h('p', { class: 'dec-note warn', text: `Answered by ${d.answeredBy}; the decision call chose ${d.selected_model} (fallback or a different classification).` }));
  }
  if (d.routeError) notes.push(h('p', { class: 'dec-note warn', text: `Decision details unavailable: ${d.routeError}` }));
  if (d.manual) notes.push(h('p', { class: 'dec-note', text: 'A concrete model was named, so no classification happens; the request goes straight to it.' }));

  let list = null;
  if (candidates.length) {
    const order = candidates.map((c, i) => i);
    list = h('ul', { class: 'cands', 'aria-label': 'Candidates' }, order.map((i) => {
      const c = candidates[i];
      const selected = (d.endpoint && c.endpoint === d.endpoint) || (!d.endpoint && c.model === d.selected_model);
      const eligible = c.eligible !== false;
      const status = selected ? h('span', { class: 'badge chosen', text: 'chosen' })
        : eligible ? null : h('span', { class: 'badge off', text: 'ineligible' });
      return h('li', { class: `cand${selected ? ' selected' : ''}${eligible ? '' : ' ineligible'}` },
        h('div', { class: 'cand-name' },
          h('span', { class: 'name', text: c.model || c.endpoint || '?' }),
          c.endpoint && c.endpoint !== c.model ? h('span', { class: 'cand-ep', text: c.endpoint }) : null,
          status),
        h('div', { class: 'cand-bars' },
          bar('score', scores[i] != null ? scores[i] / scoreScale : 0, scores[i] != null ? fmtNum(scores[i]) : 'n/a', 'score', cut),
          bar('cost', costs[i] != null && maxCost > 0 ? costs[i] / maxCost : 0, costs[i] != null ? `${fmtNum(costs[i])}/M` : 'n/a', 'cost')),
        c.reason ? h('p', { class: 'reason', text: c.reason }) : null);
    }));
  }

  host.replaceChildren(head, facts, ...notes,
    list ? h('h3', { class: 'chart-title', text: `Candidates (${candidates.length})` }) : null,
    list,
    list ? h('p', { class: 'hint legend-note', text: 'score: the classifier\'s probability or similarity · cost: blended price per million tokens' }) : null);
}
