// Checkpoint editor webview entry (browser only; bundled to dist/webviews/editor.js).
// Handshake: post `ready`, receive `init` with the listing; statistics then stream in.
import {
  isHostToWebview,
  type HostToWebview,
  type InitMessage,
  type StatsEntry,
  type StatsProgressMessage,
} from '../../analysis/protocol';
import { button, progressRing, registerToolkit, setDisabled, textField, type TextFieldHandle } from '../ui/toolkit';
import { watchTheme } from './charts';
import { DetailPane } from './detail';
import { Splitter } from './splitter';
import { formatInt } from './format';
import { renderHeader, updateFetched } from './header';
import { DiagnosticsSection } from './diagnostics';
import { TensorTree } from './treeModel';
import { tableOf } from '../../analysis/core/tensorTable';
import { TreeView } from './treeView';
import { loadState, post, saveState, type PersistedState } from './vscodeApi';

registerToolkit();

const app = document.getElementById('app') as HTMLElement;
const stats = new Map<string, StatsEntry>();
let persisted: PersistedState = loadState() ?? { filter: '', expanded: [], logScale: false, scrollTop: 0 };
let hadState = loadState() !== undefined;
let tree: TensorTree | undefined;
let treeView: TreeView | undefined;
let detail: DetailPane | undefined;
let statusEl: HTMLElement | undefined;
let matchEl: HTMLElement | undefined;
let banner: HTMLElement | undefined;
let lastProgress: StatsProgressMessage | undefined;

function h(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function persist(): void {
  if (!treeView) return;
  persisted = {
    ...persisted,
    expanded: treeView.expandedIds,
    active: treeView.activeNodeId,
    scrollTop: treeView.scrollTop,
  };
  saveState(persisted);
}

function showError(message: string): void {
  if (!banner) return;
  banner.hidden = false;
  banner.replaceChildren(h('span', undefined, message), button('Dismiss', { appearance: 'secondary', onClick: () => (banner!.hidden = true) }));
}

// --- init --------------------------------------------------------------------------------------

let diagnostics: DiagnosticsSection | undefined;

function onInit(m: InitMessage): void {
  stats.clear();
  for (const e of m.stats) stats.set(e.name, e);
  app.replaceChildren();
  app.removeAttribute('aria-busy');
  banner = h('div', 'banner');
  banner.setAttribute('role', 'alert');
  banner.hidden = true;
  app.append(banner);

  if (!m.listing) {
    const box = h('div', 'open-error');
    box.setAttribute('role', 'alert');
    box.append(h('h1', undefined, `Cannot open ${m.fileName}`), h('p', 'error-text', m.error?.message ?? 'Unknown error.'));
    box.append(h('p', 'muted', 'Checkpoint Lens reads safetensors (and sharded indexes), PyTorch zip and legacy files, NumPy .npy/.npz and GGUF, locally or over HTTP, without running any pickled code.'));
    app.append(box);
    return;
  }
  const l = m.listing;
  tree = new TensorTree(tableOf(l.tensors));
  for (const e of m.stats) tree.noteStats(e.name, e.stats);

  const header = renderHeader(m.fileName, l);
  const weights = DiagnosticsSection.weights(l);
  diagnostics = weights.matrices ? new DiagnosticsSection(weights.matrices, weights.bytes, m.diagnostics ?? { maxAutoBytes: 256_000_000, budgetSeconds: 20 }) : undefined;
  if (diagnostics) {
    let sections = header.querySelector('.sections');
    if (!sections) header.append((sections = h('div', 'sections')));
    sections.append(diagnostics.el);
  }
  app.append(header);

  // Toolbar: filter, expand/collapse, statistics status, table export.
  const toolbar = h('div', 'toolbar');
  toolbar.setAttribute('role', 'toolbar');
  toolbar.setAttribute('aria-label', 'Table tools');
  let filterTimer: number | undefined;
  const filter: TextFieldHandle = textField({
    placeholder: 'Filter tensors (e.g. attn weight)',
    ariaLabel: 'Filter tensors by name',
    value: persisted.filter,
    className: 'filter',
    onInput: (v) => {
      if (filterTimer !== undefined) clearTimeout(filterTimer);
      filterTimer = window.setTimeout(() => {
        persisted.filter = v;
        treeView?.setFilter(v);
        updateMatchCount();
      }, 120);
    },
  });
  filter.el.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'Enter') {
      e.preventDefault();
      treeView?.focus();
    } else if (e.key === 'Escape' && filter.value) {
      filter.value = '';
      persisted.filter = '';
      treeView?.setFilter('');
      updateMatchCount();
    }
  });
  matchEl = h('span', 'match-count muted');
  matchEl.setAttribute('aria-live', 'polite');
  const expandAll = button('Expand all', { title: 'Expand all groups (*)', onClick: () => treeView?.expandAll() });
  const collapseAll = button('Collapse all', { title: 'Collapse all groups', onClick: () => treeView?.collapseAll() });
  statusEl = h('div', 'stats-status');
  statusEl.setAttribute('aria-live', 'polite');
  const csv = button('Export CSV', { title: 'Save the tensor table with statistics as CSV', onClick: () => post({ type: 'exportData', kind: 'table', format: 'csv' }) });
  const json = button('Export JSON', { title: 'Save metadata, totals, tensors and full statistics as JSON', onClick: () => post({ type: 'exportData', kind: 'table', format: 'json' }) });
  toolbar.append(filter.el, matchEl, expandAll, collapseAll, h('span', 'spacer'), statusEl, csv, json);
  app.append(toolbar);

  // Table and detail side by side.
  const split = h('div', 'split');
  const expanded = hadState ? new Set(persisted.expanded) : tree.defaultExpanded();
  treeView = new TreeView(tree, stats, {
    expanded,
    filter: persisted.filter,
    active: persisted.active,
    selected: persisted.selected,
    scrollTop: persisted.scrollTop,
    onSelect: (name) => select(name, false),
    onStateChange: persist,
  });
  detail = new DetailPane({
    logScale: persisted.logScale,
    onLogScale: (on) => {
      persisted.logScale = on;
      saveState(persisted);
    },
    onSelect: (name) => select(name, true),
    onExport: (msg) => post(msg),
    sharing: (name) => {
      const leaf = tree?.leaf(name);
      return leaf ? tree?.sharing(leaf) : undefined;
    },
  });
  const splitter = new Splitter({
    split,
    natural: () => treeView?.naturalWidth ?? 900,
    chosen: persisted.tableWidth,
    onChange: (w) => {
      persisted.tableWidth = w;
      saveState(persisted);
    },
    onSettled: () => detail?.redraw(),
  });
  treeView.onWidthChange = () => splitter.apply();
  split.append(treeView.el, splitter.el, detail.el);
  app.append(split);
  splitter.apply();
  updateMatchCount();
  if (lastProgress) renderStatus(lastProgress);

  const sel = persisted.selected;
  if (sel && tree.leaf(sel)) select(sel, false);
  hadState = true;
  persist();
}

function updateMatchCount(): void {
  if (!matchEl || !treeView || !tree) return;
  matchEl.textContent = persisted.filter.trim() ? `${formatInt(treeView.matchCount)} of ${formatInt(tree.size)} tensors` : `${formatInt(tree.size)} tensors`;
}

function select(name: string, reveal: boolean): void {
  const node = tree?.leaf(name);
  if (!node || !treeView || !detail) return;
  persisted.selected = name;
  if (reveal) treeView.reveal(name);
  treeView.setSelected(name);
  detail.show(node.row);
  detail.setStats(stats.get(name));
  post({ type: 'selectTensor', name });
  persist();
}

// --- statistics status -------------------------------------------------------------------------

function renderStatus(p: StatsProgressMessage): void {
  lastProgress = p;
  if (!statusEl) return;
  statusEl.replaceChildren();
  const text = h('span');
  let action: HTMLElement | undefined;
  switch (p.state) {
    case 'idle':
      return;
    case 'running':
      statusEl.append(progressRing('Computing statistics'));
      text.textContent = `Statistics ${formatInt(p.done)}/${formatInt(p.total)} (${Math.floor(p.fraction * 100)}%)`;
      action = button('Cancel', { title: 'Stop computing statistics', onClick: (e) => {
        setDisabled(e.currentTarget as HTMLElement, true);
        post({ type: 'cancelStats' });
      } });
      break;
    case 'done':
      text.textContent = `Statistics of ${formatInt(p.total)} tensors`;
      break;
    case 'cancelled':
      text.textContent = `Statistics cancelled (${formatInt(p.done)}/${formatInt(p.total)})`;
      action = button('Resume', { title: 'Compute the remaining statistics', onClick: () => post({ type: 'computeStats' }) });
      break;
    case 'skipped':
      text.textContent = 'Statistics not computed automatically';
      if (p.reason) text.title = p.reason;
      action = button('Compute statistics', { appearance: 'primary', title: p.reason, onClick: () => post({ type: 'computeStats' }) });
      break;
    case 'failed':
      text.textContent = 'Statistics failed';
      if (p.reason) text.title = p.reason;
      action = button('Retry', { onClick: () => post({ type: 'computeStats' }) });
      break;
  }
  statusEl.append(text);
  if (action) statusEl.append(action);
}

// --- messages ----------------------------------------------------------------------------------

function onMessage(m: HostToWebview): void {
  switch (m.type) {
    case 'init':
      onInit(m);
      return;
    case 'statsUpdate':
      for (const e of m.entries) {
        stats.set(e.name, e);
        tree?.noteStats(e.name, e.stats);
        if (e.name === detail?.current) detail.setStats(e);
      }
      treeView?.statsChanged();
      return;
    case 'statsProgress':
      renderStatus(m);
      return;
    case 'tensorProgress':
      detail?.setProgress(m.name, m.fraction);
      return;
    case 'sliceData':
      detail?.setSlice(m.name, m.slice, m.error);
      return;
    case 'error':
      showError(m.message);
      return;
    case 'diagnostics':
      diagnostics?.show(m.view, m.error, m.cancelled);
      return;
    case 'diagnosticsProgress':
      diagnostics?.progress(m);
      return;
    case 'remoteBytes':
      updateFetched(document, m.bytes);
      return;
  }
}

window.addEventListener('message', (ev: MessageEvent) => {
  const m: unknown = ev.data;
  if (!isHostToWebview(m)) {
    console.warn('Checkpoint Lens: dropped a malformed message', m);
    return;
  }
  onMessage(m);
});

watchTheme(() => {
  detail?.redraw();
  diagnostics?.redraw();
});
let resizeTimer: number | undefined;
window.addEventListener('resize', () => {
  if (resizeTimer !== undefined) clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => detail?.redraw(), 250);
});

post({ type: 'ready' });
