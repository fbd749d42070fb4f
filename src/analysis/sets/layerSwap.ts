// Layer swaps (Zhao et al. 2021, "Of Non-Linearity and Commutativity in BERT"; anchors.md §6.2,
// methods.md §8.3) for any residual stack the IR knows: blocks i and j exchange places — done by
// exchanging their weights, so block i's position now computes block j's function and vice
// versa (the network with the order changed, as their run_swap.py builds it). Two blocks are
// swappable when both are residual (droppable) blocks made of the same ops with the same weight
// shapes (transformer layers, same-width ResNet blocks). Windows of three or more contiguous
// blocks are reversed, as their script does for three or more layers.
import type { Block, ModelGraph } from '../model/ir';
import type { StateDict, TensorValues } from '../model/stateDict';

/** The state-dict names a node reads, in a fixed order (every string field naming a tensor). */
function nodeParams(node: Record<string, unknown>, sd: StateDict): [string, string][] {
  return Object.entries(node).filter((e): e is [string, string] => e[0] !== 'id' && typeof e[1] === 'string' && sd.has(e[1])).sort((a, b) => a[0].localeCompare(b[0]));
}

/** The block's weights as (signature, name) pairs, in node order. */
function blockParams(g: ModelGraph, b: Block, sd: StateDict): { key: string; name: string }[] {
  const byId = new Map(g.nodes.map((n) => [n.id, n as unknown as Record<string, unknown>]));
  return b.nodes.flatMap((id, k) => {
    const node = byId.get(id)!;
    return nodeParams(node, sd).map(([field, name]) => ({ key: `${k}:${String(node.op)}.${field}[${sd.get(name)!.shape.join('x')}]`, name }));
  });
}

/** A block's structural signature: equal signatures can exchange weights. */
function signature(g: ModelGraph, b: Block, sd: StateDict): string {
  const byId = new Map(g.nodes.map((n) => [n.id, n as unknown as Record<string, unknown>]));
  return b.nodes.map((id) => String(byId.get(id)!.op)).join(',') + '|' + blockParams(g, b, sd).map((p) => p.key).join(',');
}

export interface SwapGroup {
  /** Blocks in network order, all of one signature. */
  blocks: string[];
}

/** Residual blocks grouped by signature (groups of two or more), in network order. */
export function swapGroups(g: ModelGraph, sd: StateDict): SwapGroup[] {
  const groups = new Map<string, string[]>();
  for (const b of g.blocks.filter((x) => x.droppable)) {
    const s = signature(g, b, sd);
    groups.set(s, [...(groups.get(s) ?? []), b.name]);
  }
  return [...groups.values()].filter((x) => x.length >= 2).map((blocks) => ({ blocks }));
}

/**
 * The state dict with the blocks reordered: order[k] is the block whose weights go to position
 * blocks[k] (a permutation of `blocks`, all of one signature). Tensors are shared, not copied.
 */
export function reorderBlocks(g: ModelGraph, sd: StateDict, blocks: readonly string[], order: readonly string[]): StateDict {
  const byName = new Map(g.blocks.map((b) => [b.name, b]));
  const params = blocks.map((n) => blockParams(g, byName.get(n)!, sd));
  const sig = params[0].map((p) => p.key).join();
  if (params.some((p) => p.map((x) => x.key).join() !== sig)) throw new Error(`blocks ${blocks.join(', ')} differ in structure: they cannot be swapped`);
  const out: StateDict = new Map(sd);
  order.forEach((src, k) => {
    const from = params[blocks.indexOf(src)];
    if (!from) throw new Error(`block ${src} is not among ${blocks.join(', ')}`);
    params[k].forEach((p, i) => out.set(p.name, sd.get(from[i].name) as TensorValues));
  });
  return out;
}

/** Blocks i and j exchanged. */
export function swapBlocks(g: ModelGraph, sd: StateDict, a: string, b: string): StateDict {
  return reorderBlocks(g, sd, [a, b], [b, a]);
}

/** The contiguous window blocks[start .. start+size−1] reversed. */
export function reverseWindow(g: ModelGraph, sd: StateDict, blocks: readonly string[], start: number, size: number): StateDict {
  const win = blocks.slice(start, start + size);
  return reorderBlocks(g, sd, win, [...win].reverse());
}
