// What a pickle-based checkpoint holds beside its tensors, in the editor header: the risk
// banner (what torch.load would call), the imports with their risk badges, inert Python objects
// as trees, and TorchScript code files as read-only text. Everything from the file is set as
// text (textContent), never as HTML.
import type { JsonValue, RiskReport, SourceFile } from '../../analysis/protocol';
import { formatInt } from './format';

function h(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

const RISK_LABELS: Record<string, [string, string]> = {
  tensor: ['tensor', 'Tensor rebuild: on torch.load(weights_only=True)\'s allow-list'],
  data: ['data', 'A known plain-data class (argparse.Namespace, numpy arrays, OmegaConf, Lightning AttributeDict…)'],
  unknown: ['unknown', 'A class or function this viewer knows nothing about: never "safe", only unknown. torch.load(weights_only=True) refuses it.'],
  dangerous: ['dangerous', 'Runs code or touches the system when torch.load resolves or calls it'],
};

/** The banner over the header when loading the file elsewhere would run code; undefined otherwise. */
export function renderRiskBanner(risk: RiskReport): HTMLElement | undefined {
  if (risk.verdict !== 'dangerous' && risk.verdict !== 'calls-unknown') return undefined;
  const dangerous = risk.verdict === 'dangerous';
  const banner = h('div', `risk-banner ${dangerous ? 'risk-danger' : 'risk-caution'}`);
  banner.setAttribute('role', 'alert');
  const calls = risk.calls.filter((c) => (dangerous ? c.severity === 'dangerous' : true));
  const title = dangerous
    ? calls.length
      ? `Dangerous: loading this file with torch.load would call ${calls[0].callable}(${calls[0].args})`
      : `Dangerous: this file names ${risk.globals.filter((g) => g.risk === 'dangerous').map((g) => g.name).join(', ')}, which run code if torch.load resolves them`
    : `Loading this file with torch.load would call code this viewer does not know: ${calls[0]?.callable}(${calls[0]?.args ?? ''})`;
  banner.append(h('strong', undefined, title));
  banner.append(h('p', undefined, 'Nothing was executed here: the file was read by Checkpoint Lens\'s own pickle reader, which never imports or calls anything. Tensors are still shown.'));
  if (calls.length > 1 || risk.callsNotListed) {
    const d = h('details') as HTMLDetailsElement;
    d.append(h('summary', undefined, `All calls (${formatInt(calls.length + risk.callsNotListed)})`));
    const ul = h('ul', 'risk-calls');
    for (const c of calls) ul.append(h('li', 'mono', `${c.callable}(${c.args})  — ${c.via} in ${c.where}`));
    if (risk.callsNotListed) ul.append(h('li', 'muted', `…and ${formatInt(risk.callsNotListed)} more`));
    d.append(ul);
    banner.append(d);
  }
  return banner;
}

/** "Imports": every global the pickle names, with its risk badge. */
export function renderImports(risk: RiskReport): HTMLElement {
  const d = h('details', 'section imports');
  const bad = risk.globals.filter((g) => g.risk === 'dangerous' || g.risk === 'unknown').length;
  d.append(h('summary', undefined, `Pickle imports (${risk.globals.length}${bad ? `, ${bad} outside the allow-list` : ''})`));
  const table = h('table', 'kv');
  const order = ['dangerous', 'unknown', 'data', 'tensor'];
  for (const g of [...risk.globals].sort((a, b) => order.indexOf(a.risk) - order.indexOf(b.risk) || a.name.localeCompare(b.name))) {
    const tr = h('tr');
    const [label, help] = RISK_LABELS[g.risk] ?? [g.risk, ''];
    const badge = h('span', `risk-badge risk-${g.risk}`, label);
    badge.title = help;
    const td = h('td');
    td.append(badge);
    const name = h('th', 'mono', g.name);
    if (g.written) name.title = `written as ${g.written}`;
    tr.append(name, td);
    table.append(tr);
  }
  d.append(table);
  return d;
}

/** TorchScript code files, read-only text. */
export function renderSourceFiles(files: SourceFile[]): HTMLElement {
  const d = h('details', 'section source-files');
  d.append(h('summary', undefined, `TorchScript code (${files.length} file${files.length === 1 ? '' : 's'}, shown as text, never run)`));
  for (const f of files) {
    const one = h('details', 'source-file');
    one.append(h('summary', 'mono', f.name + (f.truncated ? ' (truncated)' : '')));
    const pre = h('pre', 'code');
    pre.textContent = f.text;
    one.append(pre);
    d.append(one);
  }
  return d;
}

/** True when a value holds an inert Python object somewhere (shown as a tree, not as JSON text). */
export function holdsObject(v: JsonValue): boolean {
  if (v === null || typeof v !== 'object') return false;
  if (!Array.isArray(v) && (typeof v.$object === 'string' || typeof v.$call === 'string')) return true;
  return (Array.isArray(v) ? v : Object.values(v)).some(holdsObject);
}

const MAX_TREE_NODES = 5000;

/**
 * An inert object as a tree: each object or list a collapsible node, the class of an object as a
 * chip ("argparse.Namespace"), a call as "calls os.system". Bounded in nodes.
 */
export function renderObjectTree(v: JsonValue): HTMLElement {
  let budget = MAX_TREE_NODES;
  const node = (val: JsonValue, depth: number): HTMLElement => {
    if (--budget < 0) return h('span', 'muted', '…');
    if (val === null || typeof val !== 'object') return h('span', 'mono', JSON.stringify(val) ?? String(val));
    const entries: Array<[string, JsonValue]> = Array.isArray(val) ? val.map((x, i) => [String(i), x]) : Object.entries(val);
    const d = h('details', 'obj-node') as HTMLDetailsElement;
    d.open = depth < 2;
    const sum = h('summary');
    if (!Array.isArray(val) && typeof val.$object === 'string') {
      sum.append(h('span', 'obj-class', val.$object));
    } else if (!Array.isArray(val) && typeof val.$call === 'string') {
      sum.append(h('span', 'obj-call', `calls ${val.$call}`));
    } else sum.append(h('span', 'muted', Array.isArray(val) ? `list (${val.length})` : `dict (${entries.length})`));
    d.append(sum);
    const ul = h('ul', 'obj-children');
    for (const [k, x] of entries) {
      if (k === '$object' || k === '$call') continue;
      const li = h('li');
      li.append(h('span', 'obj-key mono', `${k}: `), node(x, depth + 1));
      ul.append(li);
    }
    d.append(ul);
    return d;
  };
  const wrap = h('div', 'obj-tree');
  wrap.append(node(v, 0));
  return wrap;
}
