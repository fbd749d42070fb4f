// The tensor table: an ARIA treegrid, virtualized (only the rows in view are in the DOM), so it
// stays fast with tens of thousands of tensors. Keyboard: ↑/↓, PageUp/PageDown, Home/End,
// → expands or enters a group, ← collapses or goes to the parent, Enter/Space toggles a group
// or selects a tensor, typing jumps to the next row whose name starts with the typed text.
// Focus stays on the treegrid; the active row is announced through aria-activedescendant.
import { fitColumns, type ColumnFit } from './columns';
import type { StatsEntry } from '../../analysis/protocol';
import { formatBytes, formatCount, formatPercent, formatShape, formatStat } from './format';
import type { TensorTree, TreeNode, VisibleRow } from './treeModel';

const ROW_HEIGHT = 22;
const OVERSCAN = 8;
/**
 * Tallest the rows' container gets. Browsers cap an element's height (Chromium near 33.5M px,
 * Firefox near 17.9M): 1.6 million rows of 22 px would pass it and the last ones be unreachable.
 * Past this the scrollbar maps onto the rows proportionally instead of pixel for pixel.
 */
const MAX_BODY_PX = 15_000_000;
const INDENT = 14;

interface Column {
  key: string;
  title: string;
  /** Tooltip of the header. */
  help: string;
  numeric?: boolean;
}

const COLUMNS: Column[] = [
  { key: 'name', title: 'Name', help: 'Tensor name, grouped by dotted prefix' },
  { key: 'shape', title: 'Shape', help: 'Shape (for a group: how many tensors it holds)' },
  { key: 'dtype', title: 'DType', help: 'Element type' },
  { key: 'params', title: '#Params', help: 'Number of elements (groups: tied storages counted once)', numeric: true },
  { key: 'bytes', title: 'Size', help: 'Bytes of the values', numeric: true },
  { key: 'mean', title: 'Mean', help: 'Mean of the finite values', numeric: true },
  { key: 'std', title: 'Std', help: 'Sample standard deviation of the finite values', numeric: true },
  { key: 'min', title: 'Min', help: 'Smallest finite value', numeric: true },
  { key: 'max', title: 'Max', help: 'Largest finite value', numeric: true },
  { key: 'zeros', title: 'Zeros', help: 'Share of elements equal to zero', numeric: true },
  { key: 'flags', title: 'Flags', help: 'NaN / Inf counts, errors, tied storage' },
];

export interface TreeViewOptions {
  expanded: Set<string>;
  filter: string;
  active?: string;
  selected?: string;
  scrollTop: number;
  onSelect(name: string): void;
  onStateChange(): void;
}

export class TreeView {
  readonly el: HTMLElement;
  private readonly body: HTMLElement;
  private readonly empty: HTMLElement;
  private rows: VisibleRow[] = [];
  private indexById = new Map<string, number>();
  private expanded: Set<string>;
  private collapsedWhileFiltering = new Set<string>();
  private matches: ReturnType<TensorTree['match']> = null;
  private shapeFit?: { longestShape: number; dtypes: Set<string>; anyShared: boolean };
  private filter = '';
  private activeId: string | undefined;
  private selected: string | undefined;
  private renderQueued = false;
  private typeAhead = '';
  private typeAheadTimer: number | undefined;
  private fit: ColumnFit | undefined;
  /** Called when the table's natural width changes (a Flags column appeared). */
  onWidthChange: ((width: number) => void) | undefined;

  constructor(
    private readonly tree: TensorTree,
    private readonly stats: Map<string, StatsEntry>,
    private readonly opts: TreeViewOptions,
  ) {
    this.expanded = opts.expanded;
    this.selected = opts.selected;
    this.activeId = opts.active;

    this.el = document.createElement('div');
    this.el.className = 'tree';
    this.el.setAttribute('role', 'treegrid');
    this.el.setAttribute('aria-label', 'Tensors');
    this.el.setAttribute('aria-multiselectable', 'false');
    this.el.tabIndex = 0;

    const header = document.createElement('div');
    header.className = 'tree-row tree-header';
    header.setAttribute('role', 'row');
    header.setAttribute('aria-rowindex', '1');
    for (const c of COLUMNS) {
      const cell = document.createElement('div');
      cell.setAttribute('role', 'columnheader');
      cell.className = `cell c-${c.key}${c.numeric ? ' num' : ''}`;
      cell.textContent = c.title;
      cell.title = c.help;
      header.append(cell);
    }
    this.body = document.createElement('div');
    this.body.className = 'tree-body';
    this.body.setAttribute('role', 'rowgroup');
    this.empty = document.createElement('div');
    this.empty.className = 'tree-empty';
    this.empty.hidden = true;
    this.el.append(header, this.body, this.empty);

    this.el.addEventListener('scroll', () => {
      this.queueRender();
      this.opts.onStateChange();
    });
    this.el.addEventListener('keydown', (e) => this.onKey(e));
    this.el.addEventListener('click', (e) => this.onClick(e));
    this.el.addEventListener('dblclick', (e) => {
      const i = this.rowIndexOf(e.target);
      if (i !== undefined && this.rows[i].node.kind === 'group') this.toggle(i);
    });
    new ResizeObserver(() => this.queueRender()).observe(this.el);

    this.fitColumns();
    this.setFilter(opts.filter, false);
    requestAnimationFrame(() => {
      this.el.scrollTop = opts.scrollTop;
      this.render();
    });
  }

  // --- public ----------------------------------------------------------------------------

  get expandedIds(): string[] {
    return [...this.expanded];
  }
  get activeNodeId(): string | undefined {
    return this.activeId;
  }
  get scrollTop(): number {
    return this.el.scrollTop;
  }
  get visibleCount(): number {
    return this.rows.length;
  }

  focus(): void {
    this.el.focus({ preventScroll: true });
  }

  setFilter(filter: string, notify = true): void {
    this.filter = filter;
    this.matches = this.tree.match(filter);
    this.collapsedWhileFiltering.clear();
    this.recompute();
    if (notify) this.opts.onStateChange();
  }

  /** The number of tensors matching the filter (all when there is none). */
  get matchCount(): number {
    return this.matches ? this.matches.size : this.tree.size;
  }

  setSelected(name: string | undefined): void {
    this.selected = name;
    this.queueRender();
  }

  /** Expands the tensor's ancestors, makes it the active row and scrolls to it. */
  reveal(name: string): void {
    for (const id of this.tree.ancestors(name)) {
      this.expanded.add(id);
      this.collapsedWhileFiltering.delete(id);
    }
    this.recompute();
    const i = this.indexById.get(`t:${name}`);
    if (i !== undefined) this.setActive(i);
    this.opts.onStateChange();
  }

  expandAll(): void {
    if (this.matches) this.collapsedWhileFiltering.clear();
    else for (const id of this.tree.groups.keys()) this.expanded.add(id);
    this.recompute();
    this.opts.onStateChange();
  }

  collapseAll(): void {
    if (this.matches) for (const id of this.tree.groups.keys()) this.collapsedWhileFiltering.add(id);
    else this.expanded.clear();
    this.recompute();
    this.opts.onStateChange();
  }

  /** Statistics changed: repaint the rows in view (batched to one frame). */
  statsChanged(): void {
    this.fitColumns();
    this.queueRender();
  }

  /** The width the table needs to show every column unclipped (px, borders included). */
  get naturalWidth(): number {
    return (this.fit?.width ?? 900) + 2;
  }

  /** Column widths from the file's shapes and types, and whether any tensor has a flag yet. */
  private fitColumns(): void {
    // The shapes and types once (a million rows: no row objects, no spread of a million
    // arguments); the flags again as statistics arrive.
    if (!this.shapeFit) {
      const table = this.tree.table;
      let longestShape = 0;
      let anyShared = false;
      const dtypes = new Set<string>();
      for (let i = 0; i < table.length; i++) {
        longestShape = Math.max(longestShape, formatShape(table.shape(i)).length);
        dtypes.add(table.dtype(i));
        anyShared ||= table.isShared(i);
      }
      this.shapeFit = { longestShape, dtypes, anyShared };
    }
    const { longestShape, dtypes, anyShared } = this.shapeFit;
    let flagChars = anyShared ? 'tied'.length : 0;
    for (const e of this.stats.values()) {
      if (!e.stats?.nan && !e.stats?.inf && !e.error) continue;
      const leaf = this.tree.leaf(e.name);
      const chips = [leaf && this.tree.isShared(leaf) ? 'tied' : '', e.stats?.nan ? 'NaN 1.2K' : '', e.stats?.inf ? 'Inf 1.2K' : '', e.error ? 'error' : ''];
      flagChars = Math.max(flagChars, chips.filter(Boolean).join('  ').length);
    }
    const fit = fitColumns(longestShape, dtypes, flagChars > 0, flagChars);
    if (this.fit && this.fit.template === fit.template) return;
    const grew = this.fit !== undefined && this.fit.width !== fit.width;
    this.fit = fit;
    this.el.style.setProperty('--tree-cols', fit.template);
    this.el.style.setProperty('--tree-min', `${fit.width}px`);
    this.el.classList.toggle('no-dtype', !fit.dtype);
    this.el.classList.toggle('no-flags', !fit.flags);
    if (grew) this.onWidthChange?.(this.naturalWidth);
  }

  // --- model -----------------------------------------------------------------------------

  private recompute(): void {
    this.rows = this.tree.visibleRows(this.expanded, this.matches, this.collapsedWhileFiltering);
    this.indexById = new Map(this.rows.map((r, i) => [r.node.id, i]));
    this.body.style.height = `${Math.min(this.rows.length * ROW_HEIGHT, MAX_BODY_PX)}px`;
    this.el.setAttribute('aria-rowcount', String(this.rows.length + 1));
    this.empty.hidden = this.rows.length > 0;
    this.empty.textContent = this.filter ? 'No tensor name matches the filter.' : 'This checkpoint holds no tensors.';
    if (this.activeId !== undefined && !this.indexById.has(this.activeId)) {
      // The active row was hidden (collapsed or filtered out): move to its nearest visible ancestor.
      this.activeId = this.nearestVisible(this.activeId);
    }
    this.render();
  }

  private nearestVisible(id: string): string | undefined {
    const start: TreeNode | undefined = id.startsWith('t:') ? this.tree.leaf(id.slice(2)) : this.tree.groups.get(id);
    for (let n: TreeNode | null | undefined = start; n; n = n.parent) if (this.indexById.has(n.id)) return n.id;
    return this.rows[0]?.node.id;
  }

  private toggle(i: number): void {
    const r = this.rows[i];
    if (r.node.kind !== 'group') return;
    const id = r.node.id;
    if (this.matches) {
      if (r.expanded) this.collapsedWhileFiltering.add(id);
      else this.collapsedWhileFiltering.delete(id);
    } else if (r.expanded) this.expanded.delete(id);
    else this.expanded.add(id);
    this.activeId = id;
    this.recompute();
    this.opts.onStateChange();
  }

  private setActive(i: number, scroll = true): void {
    if (this.rows.length === 0) return;
    i = Math.max(0, Math.min(this.rows.length - 1, i));
    this.activeId = this.rows[i].node.id;
    if (scroll) this.scrollIntoView(i);
    this.render();
    this.opts.onStateChange();
  }

  private activeIndex(): number {
    const i = this.activeId !== undefined ? this.indexById.get(this.activeId) : undefined;
    return i ?? -1;
  }

  /** Height of the rows' view (below the sticky header). */
  private viewHeight(): number {
    return Math.max(ROW_HEIGHT, (this.el.clientHeight || 600) - ROW_HEIGHT);
  }

  /** Content pixels (row i at i × ROW_HEIGHT) per scrolled pixel: 1 unless the rows pass MAX_BODY_PX. */
  private scrollScale(): number {
    const content = this.rows.length * ROW_HEIGHT;
    if (content <= MAX_BODY_PX) return 1;
    const view = this.viewHeight();
    return (content - view) / Math.max(1, MAX_BODY_PX - view);
  }

  private scrollIntoView(i: number): void {
    const k = this.scrollScale();
    const top = i * ROW_HEIGHT;
    const viewTop = this.el.scrollTop * k;
    const viewH = this.viewHeight();
    if (top < viewTop) this.el.scrollTop = top / k;
    else if (top + ROW_HEIGHT > viewTop + viewH) this.el.scrollTop = (top + ROW_HEIGHT - viewH) / k;
  }

  private activate(i: number): void {
    const r = this.rows[i];
    if (!r) return;
    if (r.node.kind === 'group') this.toggle(i);
    else {
      this.activeId = r.node.id;
      this.opts.onSelect(r.node.name);
    }
  }

  // --- events ----------------------------------------------------------------------------

  private onKey(e: KeyboardEvent): void {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const n = this.rows.length;
    if (n === 0) return;
    let i = this.activeIndex();
    const page = Math.max(1, Math.floor((this.el.clientHeight - ROW_HEIGHT) / ROW_HEIGHT) - 1);
    const r = i >= 0 ? this.rows[i] : undefined;
    switch (e.key) {
      case 'ArrowDown':
        this.setActive(i + 1);
        break;
      case 'ArrowUp':
        this.setActive(i < 0 ? 0 : i - 1);
        break;
      case 'PageDown':
        this.setActive(i + page);
        break;
      case 'PageUp':
        this.setActive(i - page);
        break;
      case 'Home':
        this.setActive(0);
        break;
      case 'End':
        this.setActive(n - 1);
        break;
      case 'ArrowRight':
        if (!r) this.setActive(0);
        else if (r.node.kind === 'group') {
          if (!r.expanded) this.toggle(i);
          else if (i + 1 < n && this.rows[i + 1].depth > r.depth) this.setActive(i + 1);
        }
        break;
      case 'ArrowLeft':
        if (!r) this.setActive(0);
        else if (r.node.kind === 'group' && r.expanded) this.toggle(i);
        else {
          const parent = r.node.parent;
          const pi = parent ? this.indexById.get(parent.id) : undefined;
          if (pi !== undefined) this.setActive(pi);
        }
        break;
      case 'Enter':
      case ' ':
        if (i < 0) this.setActive(0);
        else this.activate(i);
        break;
      case '*':
        this.expandAll();
        break;
      default:
        if (e.key.length === 1 && e.key !== ' ') {
          this.typeAheadFind(e.key);
          break;
        }
        return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  private typeAheadFind(ch: string): void {
    if (this.typeAheadTimer !== undefined) clearTimeout(this.typeAheadTimer);
    this.typeAheadTimer = window.setTimeout(() => (this.typeAhead = ''), 700);
    this.typeAhead += ch.toLowerCase();
    const n = this.rows.length;
    const from = this.activeIndex();
    const startOffset = this.typeAhead.length === 1 ? 1 : 0;
    for (let k = 0; k < n; k++) {
      const i = (Math.max(0, from) + startOffset + k) % n;
      if (this.rows[i].node.label.toLowerCase().startsWith(this.typeAhead)) {
        this.setActive(i);
        return;
      }
    }
  }

  private rowIndexOf(target: EventTarget | null): number | undefined {
    const rowEl = (target as HTMLElement | null)?.closest?.('.tree-row[data-index]') as HTMLElement | null;
    if (!rowEl) return undefined;
    const i = Number(rowEl.dataset.index);
    return Number.isInteger(i) && i >= 0 && i < this.rows.length ? i : undefined;
  }

  private onClick(e: MouseEvent): void {
    const i = this.rowIndexOf(e.target);
    if (i === undefined) return;
    this.focus();
    const r = this.rows[i];
    if (r.node.kind === 'group') {
      // A single click on the twisty toggles; on the rest of the row it activates (double-click toggles).
      if ((e.target as HTMLElement).closest('.twisty')) this.toggle(i);
      else this.setActive(i, false);
    } else {
      this.setActive(i, false);
      this.activate(i);
    }
  }

  // --- rendering -------------------------------------------------------------------------

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  private render(): void {
    const scrollTop = this.el.scrollTop;
    const height = this.el.clientHeight || 600;
    // Rows sit at their content offset, shifted so the one at the scaled scroll position shows.
    const contentTop = scrollTop * this.scrollScale();
    const shift = scrollTop - contentTop;
    const first = Math.max(0, Math.floor(contentTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((contentTop + height) / ROW_HEIGHT) + OVERSCAN);
    const frag = document.createDocumentFragment();
    const active = this.activeIndex();
    for (let i = first; i < last; i++) frag.append(this.renderRow(i, i === active, shift));
    this.body.replaceChildren(frag);
    if (active >= 0) this.el.setAttribute('aria-activedescendant', `ckpt-row-${active}`);
    else this.el.removeAttribute('aria-activedescendant');
  }

  private renderRow(i: number, active: boolean, shift: number): HTMLElement {
    const r = this.rows[i];
    const node = r.node;
    const row = document.createElement('div');
    row.id = `ckpt-row-${i}`;
    row.dataset.index = String(i);
    row.setAttribute('role', 'row');
    row.setAttribute('aria-level', String(r.depth));
    row.setAttribute('aria-posinset', String(r.pos));
    row.setAttribute('aria-setsize', String(r.size));
    row.setAttribute('aria-rowindex', String(i + 2));
    row.style.top = `${i * ROW_HEIGHT + shift}px`;
    const isSelected = node.kind === 'tensor' && node.name === this.selected;
    row.setAttribute('aria-selected', String(isSelected));
    row.className = `tree-row ${node.kind}${active ? ' active' : ''}${isSelected ? ' selected' : ''}`;

    const cells: HTMLElement[] = COLUMNS.map((c) => {
      const cell = document.createElement('div');
      cell.setAttribute('role', 'gridcell');
      cell.className = `cell c-${c.key}${c.numeric ? ' num' : ''}`;
      return cell;
    });
    const [name, shape, dtype, params, bytes, mean, std, min, max, zeros, flags] = cells;

    name.style.paddingLeft = `${4 + (r.depth - 1) * INDENT}px`;
    const twisty = document.createElement('span');
    twisty.className = 'twisty';
    twisty.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = node.label;
    name.append(twisty, label);

    if (node.kind === 'group') {
      row.setAttribute('aria-expanded', String(r.expanded));
      twisty.textContent = r.expanded ? '▾' : '▸';
      name.title = node.prefix;
      shape.textContent = `${node.tensors} tensor${node.tensors === 1 ? '' : 's'}`;
      shape.classList.add('muted');
      params.textContent = formatCount(node.params);
      params.title = node.params.toLocaleString('en-US');
      bytes.textContent = formatBytes(node.bytes);
      if (node.flagged > 0) {
        flags.append(chip(`⚠ ${node.flagged}`, 'bad', `${node.flagged} tensor${node.flagged === 1 ? '' : 's'} below contain NaN or Inf`));
      }
      if (node.withStats > 0 && node.withStats < node.tensors) {
        mean.textContent = `${node.withStats}/${node.tensors}`;
        mean.classList.add('muted');
        mean.title = 'Tensors with statistics so far';
      }
    } else {
      const t = node.row;
      name.title = t.name;
      shape.textContent = formatShape(t.shape);
      dtype.textContent = t.dtype;
      params.textContent = formatCount(t.numel);
      params.title = t.numel.toLocaleString('en-US');
      bytes.textContent = formatBytes(t.nbytes);
      const e = this.stats.get(t.name);
      const s = e?.stats;
      if (s) {
        mean.textContent = formatStat(s.mean, 3);
        mean.title = s.mean === null ? '' : String(s.mean);
        std.textContent = formatStat(s.std, 3);
        std.title = s.std === null ? '' : String(s.std);
        min.textContent = formatStat(s.min, 3);
        min.title = s.min === null ? '' : String(s.min);
        max.textContent = formatStat(s.max, 3);
        max.title = s.max === null ? '' : String(s.max);
        zeros.textContent = formatPercent(s.zeros, s.count);
        if (s.nan > 0) flags.append(chip(`NaN ${formatCount(s.nan)}`, 'bad', `${s.nan.toLocaleString('en-US')} NaN values`));
        if (s.inf > 0) flags.append(chip(`Inf ${formatCount(s.inf)}`, 'bad', `${s.inf.toLocaleString('en-US')} infinite values`));
      } else if (e?.error) {
        flags.append(chip('error', 'bad', e.error));
      }
      const shared = this.tree.sharing(node);
      if (shared) {
        const others = shared.others;
        const tip = `Shares storage with ${others.slice(0, 5).join(', ')}${shared.count > 5 ? ` and ${(shared.count - 5).toLocaleString('en-US')} more` : ''}`;
        const tied = chip('tied', 'tied', tip);
        flags.append(tied);
        label.after(Object.assign(document.createElement('span'), { className: 'tied-mark', textContent: '⇄', title: tip }));
      }
    }
    row.append(...cells);
    return row;
  }
}

function chip(text: string, kind: 'bad' | 'tied', title: string): HTMLElement {
  const c = document.createElement('span');
  c.className = `chip chip-${kind}`;
  c.textContent = text;
  c.title = title;
  return c;
}
