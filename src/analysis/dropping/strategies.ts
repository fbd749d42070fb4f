// Which blocks each layer-dropping strategy removes. Blocks are the droppable ones (residual
// blocks with an identity shortcut, transformer layers) in network order, bottom first.
//   single      each block alone (Veit, Wilber, Belongie 2016, lesion study)
//   top         the last k (Sajjad et al. 2023, "top-layer dropping")
//   bottom      the first k
//   alternate   every other block starting from the top: n−1, n−3, …, k of them (Sajjad et al.'s
//               odd-alternate dropping), k up to ⌈n/2⌉
//   similarity  the k blocks whose output is most like their input (lowest angular distance or
//               block influence; Gromov et al. 2025, ShortGPT), k = 1…n
import type { ModelGraph } from '../model/ir';

export const STRATEGIES = ['single', 'top', 'bottom', 'alternate', 'similarity'] as const;
export type DropStrategy = (typeof STRATEGIES)[number];

export interface DropSet {
  strategy: DropStrategy;
  /** Blocks dropped. */
  k: number;
  /** In network order. */
  dropped: string[];
}

/** Names of the blocks that can be removed, bottom first. */
export function droppableBlocks(graph: ModelGraph): string[] {
  return graph.blocks.filter((b) => b.droppable).map((b) => b.name);
}

/**
 * The drop sets of one strategy over `blocks` (bottom first). `ranking` (most droppable first)
 * is needed by 'similarity' only.
 */
export function dropSets(blocks: readonly string[], strategy: DropStrategy, ranking: readonly string[] = []): DropSet[] {
  const n = blocks.length;
  const inOrder = (names: string[]): string[] => [...names].sort((a, b) => blocks.indexOf(a) - blocks.indexOf(b));
  const ks = (max: number): number[] => Array.from({ length: max }, (_, i) => i + 1);
  switch (strategy) {
    case 'single':
      return blocks.map((b) => ({ strategy, k: 1, dropped: [b] }));
    case 'top':
      return ks(n).map((k) => ({ strategy, k, dropped: blocks.slice(n - k) }));
    case 'bottom':
      return ks(n).map((k) => ({ strategy, k, dropped: blocks.slice(0, k) }));
    case 'alternate':
      return ks(Math.ceil(n / 2)).map((k) => ({ strategy, k, dropped: inOrder(Array.from({ length: k }, (_, j) => blocks[n - 1 - 2 * j])) }));
    case 'similarity': {
      if (ranking.length !== n || ranking.some((b) => !blocks.includes(b))) throw new Error(`the similarity ranking must order exactly the droppable blocks (${blocks.join(', ')})`);
      return ks(n).map((k) => ({ strategy, k, dropped: inOrder(ranking.slice(0, k)) }));
    }
  }
}
