// The header: file, format, totals (params, bytes, by dtype, by top-level module), warnings,
// and collapsible metadata / values. Everything from the file is set as text, never as HTML.
import { tableOf } from '../../analysis/core/tensorTable';
import type { JsonValue, Listing } from '../../analysis/protocol';
import { formatBytes, formatCount, formatInt } from './format';
import { holdsObject, renderImports, renderObjectTree, renderRiskBanner, renderSourceFiles } from './objects';

const SHORT = 160;

const FORMAT_NAMES: Record<string, string> = {
  safetensors: 'safetensors',
  'safetensors-sharded': 'safetensors (sharded)',
  'pytorch-zip': 'PyTorch (zip)',
  'pytorch-legacy': 'PyTorch (legacy)',
  'pytorch-sharded': 'PyTorch (sharded)',
  npy: 'NumPy .npy',
  npz: 'NumPy .npz',
  gguf: 'GGUF',
};

function h(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function renderHeader(fileName: string, l: Listing): HTMLElement {
  const root = h('header', 'header');
  const title = h('div', 'title-line');
  const name = h('h1', 'file-name', fileName);
  name.title = l.path;
  title.append(name, h('span', 'format-badge', FORMAT_NAMES[l.format] ?? l.format));
  root.append(title);
  const banner = l.risk && renderRiskBanner(l.risk);
  if (banner) root.append(banner);

  const t = l.totals;
  const summary = h('div', 'summary');
  const table = tableOf(l.tensors);
  let shared = false;
  for (let i = 0; i < table.length && !shared; i++) shared = table.isShared(i);
  summary.append(
    stat('Tensors', formatInt(t.tensors)),
    // NumPy files are as often data as weights: their elements are not called parameters.
    stat(/^np[yz]$/.test(l.format) ? 'Elements' : 'Parameters', formatCount(t.params), `${formatInt(t.params)} elements${shared ? ' (tied storages counted once)' : ''}`),
    stat('Size', formatBytes(t.bytes), `${formatInt(t.bytes)} bytes`),
  );
  if (l.stateDictPrefix) summary.append(stat('State dict', l.stateDictPrefix));
  if (l.values['Model family'] !== undefined && l.format === 'gguf') summary.append(stat('Model family', String(l.values['Model family'])));
  // The network the analyses will run, recognised from the names and shapes (the whole line on hover).
  else if (l.model) summary.append(stat('Model', l.model.description.split(/[,;]/)[0].trim(), l.model.description));
  if (l.remote) {
    const fetched = stat('Fetched', formatBytes(l.remote.bytesFetched), fetchedTitle(l.remote.bytesFetched, l.remote.url));
    fetched.classList.add('stat-fetched');
    fetched.dataset.url = l.remote.url;
    summary.append(fetched);
  }
  root.append(summary);

  if (t.byDtype.length) {
    const dt = h('div', 'chips');
    dt.setAttribute('aria-label', 'By element type');
    for (const d of t.byDtype) {
      const c = h('span', 'dtype-chip');
      c.append(h('strong', undefined, d.dtype), document.createTextNode(` ${formatInt(d.tensors)} · ${formatCount(d.params)} · ${formatBytes(d.bytes)}`));
      c.title = `${d.dtype}: ${formatInt(d.tensors)} tensors, ${formatInt(d.params)} parameters, ${formatInt(d.bytes)} bytes`;
      dt.append(c);
    }
    root.append(dt);
  }

  if (l.warnings.length) {
    const w = h('details', 'warnings') as HTMLDetailsElement;
    w.open = l.warnings.length <= 3;
    w.append(h('summary', undefined, `${l.warnings.length} warning${l.warnings.length === 1 ? '' : 's'}`));
    const ul = h('ul');
    for (const msg of l.warnings) ul.append(h('li', undefined, msg));
    w.append(ul);
    root.append(w);
  }

  const sections = h('div', 'sections');
  if (t.byPrefix.length > 1) {
    const d = h('details', 'section');
    d.append(h('summary', undefined, `Top-level modules (${t.byPrefix.length})`));
    const table = h('table', 'kv prefix-table');
    const head = h('tr');
    for (const c of ['Module', 'Tensors', 'Parameters', 'Size', 'Share']) head.append(h('th', undefined, c));
    table.append(head);
    for (const p of t.byPrefix) {
      const tr = h('tr');
      tr.append(
        h('td', 'mono', p.prefix),
        h('td', 'num', formatInt(p.tensors)),
        h('td', 'num', formatCount(p.params)),
        h('td', 'num', formatBytes(p.bytes)),
        h('td', 'num', t.params ? `${((100 * p.params) / t.params).toFixed(1)}%` : '–'),
      );
      table.append(tr);
    }
    d.append(table);
    sections.append(d);
  }
  const meta = Object.keys(l.metadata);
  if (meta.length) sections.append(kvSection('Metadata', l.metadata));
  const values = Object.keys(l.values);
  if (values.length) sections.append(kvSection('Values', l.values));
  if (l.risk && l.risk.globals.length) sections.append(renderImports(l.risk));
  if (l.sourceFiles?.length) sections.append(renderSourceFiles(l.sourceFiles));
  if (sections.childElementCount) root.append(sections);
  return root;
}

function fetchedTitle(bytes: number, url: string): string {
  return `${formatInt(bytes)} bytes read so far from ${url} by range requests: the headers when it was opened, then what statistics, heatmaps and analyses needed (the file is not downloaded)`;
}

/** Updates the header's byte counter of a remote checkpoint. */
export function updateFetched(root: ParentNode, bytes: number): void {
  const s = root.querySelector<HTMLElement>('.stat-fetched');
  if (!s) return;
  s.querySelector('.stat-value')!.textContent = formatBytes(bytes);
  s.title = fetchedTitle(bytes, s.dataset.url ?? '');
}

function stat(label: string, value: string, title?: string): HTMLElement {
  const s = h('div', 'stat');
  s.append(h('span', 'stat-label', label), h('span', 'stat-value', value));
  if (title) s.title = title;
  return s;
}

function kvSection(title: string, rec: Record<string, JsonValue>): HTMLElement {
  const keys = Object.keys(rec);
  const d = h('details', 'section');
  d.append(h('summary', undefined, `${title} (${keys.length})`));
  const table = h('table', 'kv');
  for (const k of keys) {
    const tr = h('tr');
    const th = h('th', 'mono', k);
    const td = h('td');
    // Inert Python objects ({"$object": …}) as a tree; other values as text or JSON.
    td.append(holdsObject(rec[k]) ? renderObjectTree(rec[k]) : renderValue(rec[k]));
    tr.append(th, td);
    table.append(tr);
  }
  d.append(table);
  return d;
}

/** Parses a string that looks like a JSON object or array; undefined otherwise. */
export function parseJsonLike(s: string): JsonValue | undefined {
  const t = s.trim();
  if (t.length < 2 || !((t[0] === '{' && t.endsWith('}')) || (t[0] === '[' && t.endsWith(']')))) return undefined;
  try {
    return JSON.parse(t) as JsonValue;
  } catch {
    return undefined;
  }
}

/** A value: long strings truncated with a toggle, JSON-looking strings pretty-printed. */
export function renderValue(v: JsonValue): HTMLElement {
  if (typeof v === 'string') {
    const parsed = parseJsonLike(v);
    if (parsed !== undefined && typeof parsed === 'object' && parsed !== null) return collapsible(JSON.stringify(parsed, null, 2), true);
    return collapsible(v, false);
  }
  if (v === null || typeof v !== 'object') return h('span', 'mono', String(v));
  return collapsible(JSON.stringify(v, null, 2), true);
}

function collapsible(text: string, pre: boolean): HTMLElement {
  const lines = text.split('\n');
  const long = text.length > SHORT || lines.length > 6;
  const wrap = h('div', 'value');
  const body = h(pre ? 'pre' : 'span', pre ? 'json' : 'mono');
  if (!long) {
    body.textContent = text;
    wrap.append(body);
    return wrap;
  }
  const short = pre ? lines.slice(0, 6).join('\n').slice(0, SHORT * 3) + '\n…' : text.slice(0, SHORT) + '…';
  body.textContent = short;
  const more = h('button', 'link-button', `Show all (${formatInt(text.length)} characters)`);
  more.setAttribute('type', 'button');
  more.setAttribute('aria-expanded', 'false');
  let open = false;
  more.addEventListener('click', () => {
    open = !open;
    body.textContent = open ? text : short;
    more.textContent = open ? 'Show less' : `Show all (${formatInt(text.length)} characters)`;
    more.setAttribute('aria-expanded', String(open));
  });
  wrap.append(body, more);
  return wrap;
}
