/**
 * A few DOM helpers instead of a framework. Everything the broker reports (client ids, topics, payloads)
 * goes in through text nodes, never as HTML, so a hostile client id cannot inject markup.
 */

export type Child = Node | string | number | null | undefined | false;
type Attr = string | number | boolean | undefined | ((event: Event) => void);

/** Make an element: `on*` attributes become listeners, `true` an empty attribute, `false`/undefined nothing. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Readonly<Record<string, Attr>> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's content. */
export function fill(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A table with a header row; `rows` are lists of cells. */
export function table(
  headers: readonly string[],
  rows: readonly (readonly Child[])[],
  empty = 'Nothing to show',
): HTMLElement {
  const body = h('tbody');
  for (const row of rows) body.appendChild(h('tr', {}, ...row.map((cell) => h('td', {}, cell))));
  if (rows.length === 0)
    body.appendChild(h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, empty)));
  return h('table', {}, h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', {}, x)))), body);
}

/** Label/value pairs as a definition list. */
export function facts(pairs: readonly (readonly [string, Child])[]): HTMLElement {
  const dl = h('dl', { class: 'facts' });
  for (const [label, value] of pairs) append(dl, [h('dt', {}, label), h('dd', {}, value ?? '—')]);
  return dl;
}

const UNITS = ['', 'k', 'M', 'G', 'T'];

/** 1234 -> 1.23k; small numbers keep up to two decimals. */
export function compact(value: number): string {
  if (!Number.isFinite(value)) return '—';
  let v = Math.abs(value);
  let unit = 0;
  while (v >= 1000 && unit < UNITS.length - 1) {
    v /= 1000;
    unit++;
  }
  const digits = v >= 100 || (unit === 0 && Number.isInteger(v)) ? 0 : v >= 10 ? 1 : 2;
  return `${value < 0 ? '-' : ''}${v.toFixed(digits)}${UNITS[unit]}`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(value: number): string {
  let v = value;
  let unit = 0;
  while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(unit === 0 ? 0 : 1)} ${BYTE_UNITS[unit]}`;
}

/** 3725 s -> "1h 2m". */
export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.floor(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
  return `${Math.floor(seconds / 86_400)}d ${Math.floor((seconds % 86_400) / 3600)}h`;
}

export function since(ms: number): string {
  return `${duration((Date.now() - ms) / 1000)} ago`;
}

export function time(ms: number | undefined): string {
  return ms === undefined ? '—' : new Date(ms).toLocaleString();
}

export function protocolName(version: number): string {
  return version === 5 ? '5.0' : version === 4 ? '3.1.1' : version === 3 ? '3.1' : String(version);
}

/** Runs `fn` once input has been quiet for `ms`. */
export function debounce(fn: () => void, ms: number): () => void {
  let timer: number | undefined;
  return () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = window.setTimeout(fn, ms);
  };
}
