// The module tree: tensors grouped by dotted name prefix, with per-group totals, flattened into
// the visible rows for a filter and a set of expanded groups. Pure (no DOM), fast for 10^4+ tensors.
import type { TensorRow, TensorStats } from '../../analysis/protocol';
import { StorageSharing } from '../../analysis/core/storageSharing';

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

export interface TensorNode {
  kind: 'tensor';
  /** `t:` + the full name. */
  id: string;
  label: string;
  row: TensorRow;
  /** Position in file order. */
  index: number;
  parent: GroupNode;
  flagged: boolean;
  hasStats: boolean;
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
  readonly byName = new Map<string, TensorNode>();
  readonly groups = new Map<string, GroupNode>();
  /** Which tensors share a storage (rows name the others only for small groups). */
  readonly sharing: StorageSharing;
  private readonly lowerNames: string[];
  private readonly leaves: TensorNode[];

  constructor(rows: TensorRow[]) {
    this.sharing = new StorageSharing(rows);
    this.root = newGroup('', '', null);
    const all = new Map<string, GroupNode>([['', this.root]]);
    this.leaves = [];
    rows.forEach((row, index) => {
      const parts = row.name.split('.');
      let g = this.root;
      let prefix = '';
      for (let i = 0; i < parts.length - 1; i++) {
        prefix = i === 0 ? parts[0] : `${prefix}.${parts[i]}`;
        let next = all.get(prefix);
        if (!next) {
          next = newGroup(prefix, parts[i], g);
          all.set(prefix, next);
          g.children.push(next);
        }
        g = next;
      }
      const leaf: TensorNode = { kind: 'tensor', id: `t:${row.name}`, label: parts[parts.length - 1], row, index, parent: g, flagged: false, hasStats: false };
      g.children.push(leaf);
      this.byName.set(row.name, leaf);
      this.leaves.push(leaf);
    });
    compress(this.root);
    totals(this.root);
    const visit = (g: GroupNode): void => {
      if (g !== this.root) this.groups.set(g.id, g);
      for (const c of g.children) if (c.kind === 'group') visit(c);
    };
    visit(this.root);
    this.lowerNames = this.leaves.map((l) => l.row.name.toLowerCase());
  }

  get size(): number {
    return this.leaves.length;
  }

  /** Records that statistics arrived for a tensor (updates the groups' flag counts). */
  noteStats(name: string, stats: TensorStats | null): void {
    const leaf = this.byName.get(name);
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
    const leaf = this.byName.get(name);
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

function totals(g: GroupNode): void {
  const seen = new Set<string>();
  const add = (leaf: TensorNode): void => {
    g.tensors++;
    const r = leaf.row;
    const key = r.storageId !== undefined ? `${r.storageId}|${r.dtype}|${r.shape.join(',')}` : undefined;
    if (key !== undefined) {
      if (seen.has(key)) return;
      seen.add(key);
    }
    g.params += r.numel;
    g.bytes += r.nbytes;
  };
  const walk = (n: TreeNode): void => {
    if (n.kind === 'tensor') add(n);
    else n.children.forEach(walk);
  };
  g.children.forEach(walk);
  for (const c of g.children) if (c.kind === 'group') totals(c);
}
