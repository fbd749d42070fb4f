// The module tree: tensors grouped by dotted name prefix, with per-group totals, flattened into
// the visible rows for a filter and a set of expanded groups. Pure (no DOM). Leaves read their
// row from the packed table when shown, so a million tensors cost a node each, not a row each.
import type { TensorStats } from '../../analysis/protocol';
import type { Sharing, TensorRow, TensorTable } from '../../analysis/core/tensorTable';

export interface GroupNode {
  kind: 'group';
  /** `g:` + the dotted prefix, e.g. `g:model.layers.0`. */
  id: string;
  /** Shown label: one or more name segments (single-child chains are merged: `layers.0`). */
  label: string;
  prefix: string;
  parent: GroupNode | null;
  children: TreeNode[];
  /** Tensors below, params and bytes below (tied storages counted once). */
  tensors: number;
  params: number;
  bytes: number;
  /** Tensors below whose statistics found NaN or Inf. */
  flagged: number;
  /** Tensors below with statistics known. */
  withStats: number;
}

export class TensorNode {
  readonly kind = 'tensor';
  flagged = false;
  hasStats = false;

  constructor(
    private readonly table: TensorTable,
    /** Position in file order. */
    readonly index: number,
    readonly label: string,
    public parent: GroupNode,
  ) {}

  get name(): string {
    return this.table.name(this.index);
  }

  /** `t:` + the full name. */
  get id(): string {
    return `t:${this.name}`;
  }

  /** The row, made from the table on each call (only shown rows ask). */
  get row(): TensorRow {
    return this.table.row(this.index);
  }
}

export type TreeNode = GroupNode | TensorNode;

export interface VisibleRow {
  node: TreeNode;
  depth: number;
  /** 1-based position among its siblings, and the sibling count (aria-posinset / aria-setsize). */
  pos: number;
  size: number;
  expanded: boolean;
}

export class TensorTree {
  readonly root: GroupNode;
  readonly groups = new Map<string, GroupNode>();
  private lowerNames?: string[];
  private readonly leaves: TensorNode[];

  constructor(readonly table: TensorTable) {
    this.root = newGroup('', '', null);
    const all = new Map<string, GroupNode>([['', this.root]]);
    this.leaves = new Array<TensorNode>(table.length);
    for (let index = 0; index < table.length; index++) {
      const name = table.name(index);
      // Walk the dots without splitting: the group of `a.b.c` is found from its prefix `a.b`.
      let g = this.root;
      let from = 0;
      for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', from)) {
        const prefix = name.slice(0, dot);
        let next = all.get(prefix);
        if (!next) {
          next = newGroup(prefix, name.slice(from, dot), g);
          all.set(prefix, next);
          g.children.push(next);
        }
        g = next;
        from = dot + 1;
      }
      const leaf = new TensorNode(table, index, name.slice(from), g);
      g.children.push(leaf);
      this.leaves[index] = leaf;
    }
    compress(this.root);
    this.totals();
    const visit = (g: GroupNode): void => {
      if (g !== this.root) this.groups.set(g.id, g);
      for (const c of g.children) if (c.kind === 'group') visit(c);
    };
    visit(this.root);
  }

  /** The leaf of a tensor name. */
  leaf(name: string): TensorNode | undefined {
    const i = this.table.indexOf(name);
    return i < 0 ? undefined : this.leaves[i];
  }

  /** The other tensors on a leaf's storage (tied weights, views), or undefined. */
  sharing(leaf: TensorNode): Sharing | undefined {
    return this.table.sharing(leaf.index);
  }

  isShared(leaf: TensorNode): boolean {
    return this.table.isShared(leaf.index);
  }

  /** Tensors, params and bytes below each group; a storage's same-typed, same-shaped views once. */
  private totals(): void {
    const t = this.table;
    const seen = new Map<GroupNode, Set<string>>();
    for (const leaf of this.leaves) {
      const i = leaf.index;
      const key = t.isShared(i) ? `${t.storageKey(i)}|${t.dtype(i)}|${t.shape(i).join(',')}` : undefined;
      for (let g: GroupNode | null = leaf.parent; g; g = g.parent) {
        g.tensors++;
        if (key !== undefined) {
          let s = seen.get(g);
          if (!s) seen.set(g, (s = new Set()));
          if (s.has(key)) continue;
          s.add(key);
        }
        g.params += t.numel(i);
        g.bytes += t.nbytes(i);
      }
    }
  }

  get size(): number {
    return this.leaves.length;
  }

  /** Records that statistics arrived for a tensor (updates the groups' flag counts). */
  noteStats(name: string, stats: TensorStats | null): void {
    const leaf = this.leaf(name);
    if (!leaf) return;
    if (!leaf.hasStats) {
      leaf.hasStats = true;
      for (let g: GroupNode | null = leaf.parent; g; g = g.parent) g.withStats++;
    }
    const flagged = !!stats && (stats.nan > 0 || stats.inf > 0);
    if (flagged !== leaf.flagged) {
      leaf.flagged = flagged;
      for (let g: GroupNode | null = leaf.parent; g; g = g.parent) g.flagged += flagged ? 1 : -1;
    }
  }

  /**
   * Tensors matching `filter`: every whitespace-separated term must occur in the name (case-
   * insensitive). Returns null for an empty filter (everything matches).
   */
  match(filter: string): Set<TensorNode> | null {
    const terms = filter.toLowerCase().split(/\s+/).filter(Boolean);
    if (terms.length === 0) return null;
    const out = new Set<TensorNode>();
    this.lowerNames ??= this.leaves.map((l) => l.name.toLowerCase());
    for (let i = 0; i < this.leaves.length; i++) {
      const n = this.lowerNames[i];
      if (terms.every((t) => n.includes(t))) out.add(this.leaves[i]);
    }
    return out;
  }

  /**
   * The rows to show. Without a filter, a group's children show when it is in `expanded`.
   * With a filter, only matching tensors and their ancestors show, expanded unless in
   * `collapsedWhileFiltering`.
   */
  visibleRows(expanded: ReadonlySet<string>, matches: Set<TensorNode> | null, collapsedWhileFiltering: ReadonlySet<string>): VisibleRow[] {
    const out: VisibleRow[] = [];
    let keep: Set<GroupNode> | null = null;
    if (matches) {
      keep = new Set();
      for (const leaf of matches) for (let g: GroupNode | null = leaf.parent; g && !keep.has(g); g = g.parent) keep.add(g);
    }
    const walk = (g: GroupNode, depth: number): void => {
      const kids = matches ? g.children.filter((c) => (c.kind === 'group' ? keep!.has(c) : matches.has(c))) : g.children;
      kids.forEach((c, i) => {
        if (c.kind === 'group') {
          const open = matches ? !collapsedWhileFiltering.has(c.id) : expanded.has(c.id);
          out.push({ node: c, depth, pos: i + 1, size: kids.length, expanded: open });
          if (open) walk(c, depth + 1);
        } else {
          out.push({ node: c, depth, pos: i + 1, size: kids.length, expanded: false });
        }
      });
    };
    walk(this.root, 1);
    return out;
  }

  /** Group ids that are expanded by default: all of them for small checkpoints, else the top level. */
  defaultExpanded(): Set<string> {
    const out = new Set<string>();
    if (this.leaves.length <= 200) {
      for (const id of this.groups.keys()) out.add(id);
    } else {
      for (const c of this.root.children) if (c.kind === 'group') out.add(c.id);
    }
    return out;
  }

  /** All ancestor group ids of a tensor (to reveal it). */
  ancestors(name: string): string[] {
    const leaf = this.leaf(name);
    const out: string[] = [];
    for (let g: GroupNode | null = leaf?.parent ?? null; g && g !== this.root; g = g.parent) out.push(g.id);
    return out;
  }
}

function newGroup(prefix: string, label: string, parent: GroupNode | null): GroupNode {
  return { kind: 'group', id: `g:${prefix}`, label, prefix, parent, children: [], tensors: 0, params: 0, bytes: 0, flagged: 0, withStats: 0 };
}

/** Merges a group whose only child is a group into one row (`a` → `b` becomes `a.b`). */
function compress(g: GroupNode): void {
  for (let i = 0; i < g.children.length; i++) {
    let c = g.children[i];
    if (c.kind !== 'group') continue;
    while (c.children.length === 1 && c.children[0].kind === 'group') {
      const only: GroupNode = c.children[0];
      only.label = `${c.label}.${only.label}`;
      only.parent = g;
      g.children[i] = only;
      c = only;
    }
    compress(c);
  }
}
