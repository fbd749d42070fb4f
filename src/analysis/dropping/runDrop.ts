// Layer dropping (issue #7, §8 of the methods notes): evaluate one checkpoint with blocks
// removed — each alone, the top / bottom / alternate k, and in the order of a similarity
// ranking measured on the data. A removed block keeps only its shortcut (y = x + f(x) → y = x).
// BatchNorm networks run in eval mode with their running statistics, or, on request, with
// statistics recomputed on training batches for every dropped configuration (removing a block
// shifts the distributions the later BatchNorms see).
import { CancelledError, CheckpointError } from '../core/errors';
import { type Dataset, type Split, loadDataset } from '../data/dataset';
import { inputSamples, planInputs } from '../data/inputs';
import type { AnalysisContext } from '../report/analysisView';
import { recomputeBatchNorm } from '../model/batchnorm';
import { evaluate } from '../model/evaluate';
import { createModel } from '../model/execute';
import { dropBlocks } from '../model/ir';
import { type OpenedModel, openModel } from '../model/openModel';
import { type BlockSimilarity, blockSimilarity, rankBlocks } from './blockSimilarity';
import { DEFAULT_STRATEGIES, type DropSet, type DropStrategy, dropSets, droppableBlocks } from './strategies';

export interface DropOptions {
  /** The checkpoint. */
  model: string;
  /** Evaluation data (and, without trainData, the data the ranking and BatchNorm use). */
  data: string;
  labels?: string;
  split?: Split;
  arch?: string;
  /** Strategies to run (default: single, top, bottom, alternate, similarity). */
  strategies?: DropStrategy[];
  /** Draws per k for the random strategy (default 5). */
  seeds?: number;
  /** Metric the similarity strategy ranks by (default angular distance). */
  rankBy?: 'angularDistance' | 'blockInfluence';
  /** Evaluate only the first N examples. */
  limit?: number;
  /** Examples the similarity ranking is measured on (default: the first 512 of the data). */
  rankExamples?: number;
  batchSize?: number;
  /** Recompute BatchNorm statistics on this many batches of 128 for every configuration (BatchNorm models). */
  recomputeBatchNorm?: number;
  /** Data for the BatchNorm recomputation (default: the train split of an MNIST folder, else data). */
  trainData?: string;
}

export interface DropMetrics {
  loss: number;
  accuracy: number;
}

export interface DropResult extends DropMetrics {
  strategy: DropStrategy;
  k: number;
  dropped: string[];
  /** span: index of the first dropped block; random: the draw's seed. */
  start?: number;
  seed?: number;
  /** Loss minus the baseline's (positive: worse). */
  deltaLoss: number;
  /** Accuracy minus the baseline's (negative: worse). */
  deltaAccuracy: number;
}

export interface DropRanking extends BlockSimilarity {
  /** 1 = dropped first by the similarity strategy. */
  rank: number;
}

export interface DropReport {
  model: string;
  family: string;
  description: string;
  data: string;
  n: number;
  baseline: DropMetrics;
  /** Droppable blocks, bottom first. */
  blocks: string[];
  strategies: DropStrategy[];
  results: DropResult[];
  /** Every droppable block with both similarity metrics, in ranking order (most droppable first). */
  ranking: DropRanking[];
  rankBy: 'angularDistance' | 'blockInfluence';
  /** 'running statistics' or how they were recomputed; null for networks without BatchNorm. */
  batchNorm: string | null;
  notes: string[];
  seconds: number;
}

/** The partial report sent through ctx.onPartial: the same shape, results so far. */
export type DropPartial = Omit<DropReport, 'seconds'>;

export async function runDrop(opts: DropOptions, ctx: AnalysisContext = {}): Promise<DropReport> {
  const t0 = performance.now();
  const isCancelled = ctx.isCancelled;
  const data = await loadDataset(opts.data, { labels: opts.labels, split: opts.split });
  const opened = await openModel(opts.model, { archFile: opts.arch, inputHint: data.x.shape.slice(1), isCancelled });
  try {
    return await dropAll(opened, data, opts, ctx, t0);
  } finally {
    opened.model.dispose();
  }
}

async function dropAll(opened: OpenedModel, data: Dataset, opts: DropOptions, ctx: AnalysisContext, t0: number): Promise<DropReport> {
  const { graph, stateDict, model } = opened;
  const isCancelled = ctx.isCancelled;
  const blocks = droppableBlocks(graph);
  if (blocks.length === 0) throw new CheckpointError(opts.model, `the ${graph.family} network has no droppable blocks (residual blocks with an identity shortcut or transformer layers)`);
  const strategies = opts.strategies?.length ? opts.strategies : [...DEFAULT_STRATEGIES];
  const rankBy = opts.rankBy ?? 'angularDistance';
  const hasBn = graph.nodes.some((n) => n.op === 'batchnorm');
  const notes: string[] = [];
  let bnData: Dataset | undefined;
  if (hasBn && opts.recomputeBatchNorm) {
    bnData = opts.trainData ? await loadDataset(opts.trainData, { labels: opts.labels }) : await trainSplitOr(data, opts);
    notes.push(`BatchNorm statistics recomputed for every configuration on ${opts.recomputeBatchNorm} batches of 128 from ${bnData.name}`);
  }
  const evalOpts = { count: opts.limit, batchSize: opts.batchSize, isCancelled };

  // The ranking is always measured: it is part of the report even without the similarity strategy.
  const sets: DropSet[] = [];
  const similarity = await blockSimilarity(model, data, blocks, { count: opts.rankExamples ?? 512, isCancelled });
  const order = rankBlocks(similarity, rankBy);
  const influenceRanking = rankBlocks(similarity, 'blockInfluence');
  for (const s of strategies) sets.push(...dropSets(blocks, s, order, { influenceRanking, seeds: opts.seeds }));
  const total = sets.length + 1;
  ctx.onProgress?.(0, 'baseline');

  // With recomputation the full network gets recomputed statistics too, so deltas show the drop alone.
  const base = await evaluateWith([], bnData);
  const ranking: DropRanking[] = order.map((b, i) => ({ ...similarity.find((s) => s.block === b)!, rank: i + 1 }));
  const partial: DropPartial = {
    model: opts.model,
    family: graph.family,
    description: graph.description,
    data: data.name,
    n: Math.min(data.n, opts.limit ?? Infinity),
    baseline: base,
    blocks,
    strategies,
    results: [],
    ranking,
    rankBy,
    batchNorm: hasBn ? (bnData ? `recomputed on ${opts.recomputeBatchNorm} batches of 128 from ${bnData.name}` : 'running statistics (eval mode)') : null,
    notes,
  };
  // The same configuration under two strategies is evaluated once.
  const cache = new Map<string, DropMetrics>();
  for (const [i, set] of sets.entries()) {
    if (isCancelled?.()) throw new CancelledError();
    ctx.onProgress?.((i + 1) / total, `${set.strategy} k=${set.k}: dropping ${set.dropped.join(', ')}`);
    const key = set.dropped.join('|');
    const m = cache.get(key) ?? (await evaluateWith(set.dropped, bnData));
    cache.set(key, m);
    partial.results.push({ ...set, ...m, deltaLoss: m.loss - base.loss, deltaAccuracy: m.accuracy - base.accuracy });
    ctx.onPartial?.({ ...partial, results: [...partial.results] });
  }
  ctx.onProgress?.(1, 'done');
  return { ...partial, seconds: (performance.now() - t0) / 1000 };

  async function evaluateWith(dropped: string[], bn: Dataset | undefined): Promise<DropMetrics> {
    const g = dropped.length ? dropBlocks(graph, dropped) : graph;
    // Each dropped configuration is an architecture of its own, evaluated once: its sessions go with it.
    const m = dropped.length || bn ? createModel(g, stateDict, { oneOff: dropped.length > 0 }) : model;
    try {
      if (bn) await recomputeBatchNorm(m, inputSamples(bn, planInputs(bn, g), { batchSize: 128, numBatches: opts.recomputeBatchNorm, seed: 0 }), { isCancelled });
      const r = await evaluate(m, data, evalOpts);
      return { loss: r.loss, accuracy: r.accuracy };
    } finally {
      if (m !== model) m.dispose();
    }
  }
}

/** The train split beside an MNIST-layout test folder, else the data itself. */
async function trainSplitOr(data: Dataset, opts: DropOptions): Promise<Dataset> {
  try {
    return await loadDataset(opts.data, { labels: opts.labels, split: 'train' });
  } catch {
    return data;
  }
}
