// What every interpolation analysis loads first: the checkpoints (one architecture, checked),
// the evaluation data, and — for networks with BatchNorm — the training examples the running
// statistics are recomputed on (by default the train split of the same dataset when it has one,
// e.g. an MNIST-layout folder or an .npz with x_train, else the evaluation data itself).
import { promises as fsp } from 'node:fs';
import { checkSameArchitecture } from '../align/alignCheckpoint';
import { CancelledError, CheckpointError } from '../core/errors';
import { type Dataset, type Split, loadDataset, subset } from '../data/dataset';
import { planInputs } from '../data/inputs';
import type { ArchSources } from '../model/archSpec';
import type { ModelGraph } from '../model/ir';
import { openModel } from '../model/openModel';
import type { StateDict } from '../model/stateDict';
import type { AnalysisContext } from '../report/analysisView';
import { type BatchNormSettings, hasBatchNorm } from './pointEvaluator';

/** Data and BatchNorm settings shared by the interpolation analyses (JSON-serialisable). */
export interface PathDataOptions {
  /** Evaluation data (as `ckpt-lens eval --data`). */
  data: string;
  labels?: string;
  split?: Split;
  /** Evaluate only the first N examples. */
  limit?: number;
  /** Architecture hints file for every checkpoint. */
  arch?: string;
  batchSize?: number;
  /** Recompute BatchNorm statistics at every point (default true; only acts with BatchNorm). */
  bnReset?: boolean;
  /** Data for the BatchNorm reset (default: the train split of `data` when it has one, else `data`). */
  trainData?: string;
  /** BatchNorm reset batches (default 32) of bnBatchSize examples (default 128). */
  bnBatches?: number;
  bnBatchSize?: number;
  /** Shuffle the BatchNorm examples with this seed (default: the first examples in order). */
  bnSeed?: number;
  /** Points evaluated in parallel threads (default: the cores; 1 = this thread). */
  threads?: number;
  /** The bundled pool worker (default: dist/pathWorker.js beside the caller's bundle). */
  workerScript?: string;
}

export const DEFAULT_BN_BATCHES = 32;
export const DEFAULT_BN_BATCH_SIZE = 128;

export interface LoadedCheckpoint {
  path: string;
  stateDict: StateDict;
}

export interface PathInputs {
  graph: ModelGraph;
  arch: ArchSources;
  checkpoints: LoadedCheckpoint[];
  data: Dataset;
  bnData?: Dataset;
  bn: BatchNormSettings;
  /** Whether the network has BatchNorm, and what is done about it (for reports). */
  batchNorm: BatchNormReport;
}

export interface BatchNormReport {
  present: boolean;
  /** Statistics were recomputed at every point. */
  reset: boolean;
  data?: string;
  batches?: number;
  batchSize?: number;
  note: string;
}

async function loadBatchNormData(opts: PathDataOptions, evalData: Dataset): Promise<Dataset> {
  if (opts.trainData) return loadDataset(opts.trainData, { split: 'train' });
  const dir = (await fsp.stat(opts.data)).isDirectory();
  if (dir) return loadDataset(opts.data, { split: 'train' });
  try {
    return await loadDataset(opts.data, { split: 'train', labels: opts.labels });
  } catch (e) {
    if (e instanceof CheckpointError && /no train split/.test(e.problem)) return evalData;
    throw e;
  }
}

/** Opens `paths` (all of one architecture) and the data. Needs a tfjs backend (initBackend). */
export async function loadPathInputs(paths: readonly string[], opts: PathDataOptions, ctx: AnalysisContext = {}): Promise<PathInputs> {
  const all = await loadDataset(opts.data, { labels: opts.labels, split: opts.split });
  const data = opts.limit !== undefined && opts.limit < all.n ? subset(all, 0, opts.limit) : all;
  let first: { graph: ModelGraph; arch: ArchSources } | undefined;
  const checkpoints: LoadedCheckpoint[] = [];
  for (const [i, path] of paths.entries()) {
    if (ctx.isCancelled?.()) throw new CancelledError();
    ctx.onProgress?.(0, `opening ${path}`);
    const m = await openModel(path, { archFile: opts.arch, inputHint: data.x.shape.slice(1), isCancelled: ctx.isCancelled });
    m.model.dispose();
    if (first) checkSameArchitecture(first.graph, m.graph, paths[0], path);
    else first = { graph: m.graph, arch: m.arch };
    checkpoints.push({ path: paths[i], stateDict: m.stateDict });
  }
  const { graph, arch } = first!;
  planInputs(data, graph);
  const present = hasBatchNorm(graph);
  const reset = present && opts.bnReset !== false;
  const batchSize = opts.bnBatchSize ?? DEFAULT_BN_BATCH_SIZE;
  const batches = opts.bnBatches ?? DEFAULT_BN_BATCHES;
  const bn: BatchNormSettings = { reset, batchSize, batches, seed: opts.bnSeed };
  if (!reset) {
    const note = present ? 'BatchNorm statistics NOT recomputed (--no-bn-reset): each point uses the combination of the stored running statistics' : 'no BatchNorm layers: nothing to recompute';
    return { graph, arch, checkpoints, data, bn, batchNorm: { present, reset, note } };
  }
  const source = await loadBatchNormData(opts, data);
  planInputs(source, graph);
  const size = Math.min(batchSize, source.n);
  const used = Math.min(batches, Math.floor(source.n / size));
  // Without shuffling only the first batches·size examples are read: hand over just those.
  const bnData = opts.bnSeed === undefined ? subset(source, 0, used * size) : source;
  const order = opts.bnSeed === undefined ? 'in order' : `shuffled with seed ${opts.bnSeed}`;
  const note = `BatchNorm statistics recomputed at every point: reset, then the cumulative average (momentum=None) over ${used} train-mode batches of ${size} examples of ${source.name} (${order})`;
  return { graph, arch, checkpoints, data, bnData, bn, batchNorm: { present, reset, data: source.name, batches: used, batchSize: size, note } };
}
