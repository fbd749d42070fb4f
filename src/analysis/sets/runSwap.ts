// The layer-swap matrix (Zhao et al.): the loss and accuracy of the network with blocks i and j
// exchanged, for every pair of one swappable group (an L×L matrix; the diagonal is the network
// itself), and with every window of `window` contiguous blocks reversed. Evaluated without
// retraining, as their --do_train=false runs. BatchNorm networks use their running statistics.
import { CancelledError, CheckpointError } from '../core/errors';
import { type Split, loadDataset, subset } from '../data/dataset';
import { evaluate } from '../model/evaluate';
import { currentBackend } from '../model/backend';
import { openModel } from '../model/openModel';
import type { AnalysisContext } from '../report/analysisView';
import { reverseWindow, swapBlocks, swapGroups } from './layerSwap';

export interface SwapOptions {
  model: string;
  data: string;
  labels?: string;
  split?: Split;
  arch?: string;
  limit?: number;
  batchSize?: number;
  /** Reverse windows of this many contiguous blocks too (default 3; 0 = none). */
  window?: number;
}

export interface SwapCell {
  i: number;
  j: number;
  loss: number;
  accuracy: number;
}

export interface SwapReport {
  kind: 'swap';
  complete: boolean;
  model: string;
  description: string;
  data: string;
  n: number;
  baseline: { loss: number; accuracy: number };
  /** The swappable blocks (the largest group), network order. */
  blocks: string[];
  /** L×L: loss / accuracy with blocks i and j exchanged (diagonal: the network). null while pending. */
  loss: (number | null)[][];
  accuracy: (number | null)[][];
  /** Every window of `window` blocks reversed: start index, loss, accuracy. */
  windows: { start: number; blocks: string[]; loss: number; accuracy: number }[];
  window: number;
  /** Other swappable groups, not in the matrix. */
  otherGroups: string[][];
  backend: string;
  seconds: number;
}

export async function runSwap(opts: SwapOptions, ctx: AnalysisContext = {}): Promise<SwapReport> {
  const t0 = performance.now();
  const all = await loadDataset(opts.data, { labels: opts.labels, split: opts.split });
  const data = opts.limit !== undefined && opts.limit < all.n ? subset(all, 0, opts.limit) : all;
  const opened = await openModel(opts.model, { archFile: opts.arch, inputHint: data.x.shape.slice(1), isCancelled: ctx.isCancelled });
  const { graph, stateDict, model } = opened;
  try {
    const groups = swapGroups(graph, stateDict).sort((a, b) => b.blocks.length - a.blocks.length);
    if (!groups.length) throw new CheckpointError(opts.model, `the ${graph.family} network has no two residual blocks of the same structure to swap`);
    const blocks = groups[0].blocks;
    const L = blocks.length;
    const window = Math.min(opts.window ?? 3, L);
    const evalOpts = { batchSize: opts.batchSize, isCancelled: ctx.isCancelled };
    const base = await evaluate(model, data, evalOpts);
    const report: SwapReport = {
      kind: 'swap', complete: false, model: opts.model, description: graph.description, data: data.name, n: base.n,
      baseline: { loss: base.loss, accuracy: base.accuracy }, blocks,
      loss: blocks.map((_, i) => blocks.map((_, j) => (i === j ? base.loss : null))),
      accuracy: blocks.map((_, i) => blocks.map((_, j) => (i === j ? base.accuracy : null))),
      windows: [], window: window >= 3 ? window : 0, otherGroups: groups.slice(1).map((g) => g.blocks),
      backend: currentBackend()?.name ?? 'unknown', seconds: 0,
    };
    const jobs: { label: string; sd: () => ReturnType<typeof swapBlocks>; done: (l: number, a: number) => void }[] = [];
    for (let i = 0; i < L; i++) {
      for (let j = i + 1; j < L; j++) {
        jobs.push({ label: `${blocks[i]} ↔ ${blocks[j]}`, sd: () => swapBlocks(graph, stateDict, blocks[i], blocks[j]), done: (l, a) => {
          report.loss[i][j] = report.loss[j][i] = l;
          report.accuracy[i][j] = report.accuracy[j][i] = a;
        } });
      }
    }
    if (report.window) {
      for (let s = 0; s + report.window <= L; s++) {
        const win = blocks.slice(s, s + report.window);
        jobs.push({ label: `reversed ${win.join(', ')}`, sd: () => reverseWindow(graph, stateDict, blocks, s, report.window), done: (l, a) => report.windows.push({ start: s, blocks: win, loss: l, accuracy: a }) });
      }
    }
    for (const [k, job] of jobs.entries()) {
      if (ctx.isCancelled?.()) throw new CancelledError();
      model.update(job.sd());
      const r = await evaluate(model, data, evalOpts);
      job.done(r.loss, r.accuracy);
      ctx.onProgress?.((k + 1) / jobs.length, job.label);
      ctx.onPartial?.(structuredClone(report));
    }
    return { ...report, complete: true, seconds: (performance.now() - t0) / 1000 };
  } finally {
    model.dispose();
  }
}
