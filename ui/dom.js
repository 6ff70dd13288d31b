// Small DOM and formatting helpers shared by the page's modules.

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

/**
 * Creates an element: `props` sets attributes (`class`, `text` for textContent, `on<event>`
 * for listeners); children may be nodes, strings, arrays or null (skipped).
 */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c != null && c !== false) node.append(c);
  return node;
}

/** Milliseconds as text with sensible precision ('–' when unknown). */
export function fmtMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** A number with `digits` decimals ('–' when unknown). */
export function fmtNum(v, digits = 2) {
  return v == null || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}

/** A byte count in KB or MB. */
export function fmtBytes(n) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
}
