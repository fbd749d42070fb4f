// Which blocks each layer-dropping strategy removes. Blocks are the droppable ones (residual
// blocks with an identity shortcut, transformer layers) in network order, bottom first.
//   single      each block alone (Veit, Wilber, Belongie 2016, lesion study)
//   top         the last k (Sajjad et al. 2023, "top-layer dropping")
//   bottom      the first k
//   alternate   every other block starting from the top: n−1, n−3, …, k of them (Sajjad et al.'s
//               odd-alternate dropping), k up to ⌈n/2⌉
//   similarity  the k blocks whose output is most like their input (lowest angular distance or
//               block influence; Gromov et al. 2025, ShortGPT), k = 1…n
//   symmetric   the middle k, keeping the top and bottom (Sajjad et al.'s symmetric dropping):
//               blocks ⌊(n−k)/2⌋ … ⌊(n−k)/2⌋+k−1
//   influence   the k blocks of lowest block influence (ShortGPT), whatever the similarity ranks by
//   span        every contiguous span of k blocks, at every start (Gromov et al.'s ℓ*..ℓ*+k−1)
//   random      k blocks drawn at random, for each of `seeds` seeds (Veit et al.'s random
//               deletions; the view shows the mean and spread over seeds)
import { mulberry32 } from '../core/random';
import type { ModelGraph } from '../model/ir';

export const STRATEGIES = ['single', 'top', 'bottom', 'alternate', 'similarity', 'symmetric', 'influence', 'span', 'random'] as const;
export type DropStrategy = (typeof STRATEGIES)[number];
/** What runs when no strategy is named. */
export const DEFAULT_STRATEGIES: readonly DropStrategy[] = ['single', 'top', 'bottom', 'alternate', 'similarity'];
export const DEFAULT_RANDOM_SEEDS = 5;

export interface DropSet {
  strategy: DropStrategy;
  /** Blocks dropped. */
  k: number;
  /** In network order. */
  dropped: string[];
  /** span: index of the first dropped block. */
  start?: number;
  /** random: the draw's seed. */
  seed?: number;
}

export interface DropSetOptions {
  /** Block-influence order, lowest first (for 'influence'). */
  influenceRanking?: readonly string[];
  /** Draws per k for 'random' (default 5, seeds 0…). */
  seeds?: number;
}

/** Names of the blocks that can be removed, bottom first. */
export function droppableBlocks(graph: ModelGraph): string[] {
  return graph.blocks.filter((b) => b.droppable).map((b) => b.name);
}

/**
 * The drop sets of one strategy over `blocks` (bottom first). `ranking` (most droppable first)
 * is needed by 'similarity' only.
 */
export function dropSets(blocks: readonly string[], strategy: DropStrategy, ranking: readonly string[] = [], opts: DropSetOptions = {}): DropSet[] {
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
    case 'influence': {
      const r = opts.influenceRanking ?? [];
      if (r.length !== n || r.some((b) => !blocks.includes(b))) throw new Error(`the block-influence ranking must order exactly the droppable blocks (${blocks.join(', ')})`);
      return ks(n).map((k) => ({ strategy, k, dropped: inOrder(r.slice(0, k)) }));
    }
    case 'symmetric':
      return ks(n).map((k) => {
        const start = Math.floor((n - k) / 2);
        return { strategy, k, dropped: blocks.slice(start, start + k) };
      });
    case 'span':
      return ks(n).flatMap((k) => Array.from({ length: n - k + 1 }, (_, start) => ({ strategy, k, start, dropped: blocks.slice(start, start + k) })));
    case 'random':
      return ks(n).flatMap((k) => Array.from({ length: opts.seeds ?? DEFAULT_RANDOM_SEEDS }, (_, seed) => {
        // A partial Fisher–Yates shuffle with the seeded generator: the first k of a permutation.
        const rand = mulberry32(seed * 1009 + k);
        const idx = blocks.map((_, i) => i);
        for (let i = 0; i < k; i++) {
          const j = i + Math.floor(rand() * (n - i));
          [idx[i], idx[j]] = [idx[j], idx[i]];
        }
        return { strategy, k, seed, dropped: idx.slice(0, k).sort((a, b) => a - b).map((i) => blocks[i]) };
      }));
  }
}
