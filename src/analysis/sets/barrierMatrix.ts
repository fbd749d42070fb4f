// Barrier matrix and basins over N checkpoints (Juneja et al. 2023, anchors.md §6.1): every
// pair's loss and error along θ(α) = (1−α)θ_i + αθ_j at `steps` points (10, as the paper), the
// pair barrier (their bump height by default, or the linear-baseline chord barrier), then basins
// by their spectral clustering and by a single-linkage threshold. With `align`, every model is
// first weight-matched onto the reference (the first) and the same is done on the aligned set.
// Pairs are independent: all their points go to one interpolation pool (pathPool), whose threads
// each hold every checkpoint's weights (and cached first-layer outputs) once; the matrix fills in
// as pairs complete. A second, out-of-distribution dataset gives a second matrix and each
// model's score on it, as HANS does for MNLI in the paper.
import { alignStateDicts } from '../align/alignCheckpoint';
import { CancelledError } from '../core/errors';
import { type Dataset, loadDataset, subset } from '../data/dataset';
import { planInputs } from '../data/inputs';
import { computeBarriers } from '../interpolate/barriers';
import { unitGrid } from '../interpolate/lerp';
import { type AlignmentSummary, summariseAlignment } from '../interpolate/linearPath';
import { evaluatePoints, poolThreads } from '../interpolate/pathPool';
import { type BatchNormReport, type PathDataOptions, loadPathInputs } from '../interpolate/pathInputs';
import type { PathSetup, PointResult } from '../interpolate/pointEvaluator';
import { currentBackend } from '../model/backend';
import type { AnalysisContext } from '../report/analysisView';
import { expandCheckpointSet, setNames } from './basinPaths';
import { BUMP_HEIGHT_DEFINITION, bumpHeight } from './bumpHeight';
import { SPECTRAL_METHOD, spectralClustering } from './spectralClustering';
import { THRESHOLD_METHOD, clusterOrder, groupNames, thresholdBasins } from './thresholdBasins';

export const DEFAULT_BASIN_STEPS = 10;
/** Juneja et al. evaluate num_exs = 512 in-domain examples per point. */
export const DEFAULT_BASIN_LIMIT = 512;
export const DEFAULT_THRESHOLD = 0.1;

export type PairBarrier = 'bump' | 'linear';

export const PAIR_BARRIER_DEFINITIONS: Record<PairBarrier, string> = {
  bump: BUMP_HEIGHT_DEFINITION,
  linear: 'max_α [f(θ(α)) − ((1−α)·f(θ_i) + α·f(θ_j))]  (linear baseline, Entezari et al.; ≥ 0 as the grid holds the endpoints)',
};

export interface BasinsOptions extends PathDataOptions {
  /** Checkpoint files and folders of checkpoints (at least two checkpoints in all). */
  paths: string[];
  steps?: number;
  align?: boolean;
  alignSeed?: number;
  /** Pair barrier the matrices hold and the clustering uses (default bump height). */
  barrier?: PairBarrier;
  /** Single-linkage threshold τ on the loss barrier (default 0.1 nats). */
  threshold?: number;
  nClusters?: number;
  delta?: number;
  /** Out-of-distribution data: a second matrix and each model's score on it. */
  ood?: string;
  oodLabels?: string;
}

export interface BasinModel {
  name: string;
  path: string;
  loss: number;
  accuracy: number;
}

export interface PairCurve {
  i: number;
  j: number;
  loss: number[];
  error: number[];
}

/** One matrix and its clusterings. */
export interface BarrierSet {
  /** N×N pair barrier on the loss (nats), 0 on the diagonal. */
  loss: number[][];
  /** N×N pair barrier on the error (1 − accuracy). */
  error: number[][];
  /** Spectral clustering (Juneja et al.) of `loss`: a label per model, and the names per basin. */
  labels: number[];
  basins: string[][];
  /** Single-linkage clusters at the threshold. */
  threshold: { tau: number; labels: number[]; basins: string[][] };
  /** Models ordered cluster by cluster (the heatmap's order). */
  order: number[];
  models: BasinModel[];
  curves: PairCurve[];
}

export interface OodSet extends BarrierSet {
  data: string;
  n: number;
  aligned?: BarrierSet;
}

export interface BasinsReport extends BarrierSet {
  kind: 'basins';
  complete: true;
  names: string[];
  paths: string[];
  data: string;
  n: number;
  alphas: number[];
  barrier: PairBarrier;
  definition: string;
  method: string;
  nClusters: number;
  delta: number;
  thresholdMethod: string;
  aligned?: BarrierSet & { reference: string; alignments: (AlignmentSummary & { name: string })[] };
  ood?: OodSet;
  family: string;
  description: string;
  batchNorm: BatchNormReport;
  backend: string;
  threads: number;
  seconds: number;
}

export interface BasinsProgress {
  kind: 'basins';
  complete: false;
  names: string[];
  barrier: PairBarrier;
  /** Filled in as pairs complete; null where a pair is pending. */
  loss: (number | null)[][];
  error: (number | null)[][];
  aligned?: { loss: (number | null)[][]; error: (number | null)[][] };
  pairsDone: number;
  pairsTotal: number;
}

const square = <T>(n: number, v: T): T[][] => Array.from({ length: n }, () => new Array<T>(n).fill(v));

/** The points of one matrix: each model once, then each pair's interior points. */
interface MatrixPlan {
  /** Endpoint index (into setup.endpoints) of each model. */
  models: number[];
  /** For each pair (i < j), the point index of each α (the models' own points at α = 0 and 1). */
  pairs: { i: number; j: number; points: number[] }[];
}

function planMatrix(models: number[], alphas: number[], endpoints: number, points: number[][]): MatrixPlan {
  const own = models.map((e) => {
    const c = new Array(endpoints).fill(0);
    c[e] = 1;
    return points.push(c) - 1;
  });
  const pairs: MatrixPlan['pairs'] = [];
  for (let i = 0; i < models.length; i++) {
    for (let j = i + 1; j < models.length; j++) {
      const idx = alphas.map((a, k) => {
        if (k === 0) return own[i];
        if (k === alphas.length - 1) return own[j];
        const c = new Array(endpoints).fill(0);
        c[models[i]] = 1 - a;
        c[models[j]] = a;
        return points.push(c) - 1;
      });
      pairs.push({ i, j, points: idx });
    }
  }
  return { models: own, pairs };
}

function pairBarrier(kind: PairBarrier, alphas: number[], loss: number[], error: number[]): { loss: number; error: number } {
  if (kind === 'bump') return { loss: bumpHeight(loss), error: bumpHeight(error) };
  const b = computeBarriers(alphas, loss, error.map((e) => 1 - e));
  return { loss: Math.max(0, b.lossLinear), error: Math.max(0, b.errorLinear) };
}

/** Matrices and clusterings from the evaluated points. */
export function assembleSet(plan: MatrixPlan, results: PointResult[], names: string[], paths: string[], alphas: number[], opts: { barrier: PairBarrier; tau: number; nClusters: number; delta: number }): BarrierSet {
  const n = names.length;
  const loss = square(n, 0), error = square(n, 0);
  const curves: PairCurve[] = [];
  for (const p of plan.pairs) {
    const l = p.points.map((k) => results[k].loss);
    const e = p.points.map((k) => 1 - results[k].accuracy);
    const b = pairBarrier(opts.barrier, alphas, l, e);
    loss[p.i][p.j] = loss[p.j][p.i] = b.loss;
    error[p.i][p.j] = error[p.j][p.i] = b.error;
    curves.push({ i: p.i, j: p.j, loss: l, error: e });
  }
  return clusterSet(loss, error, names, { ...opts, models: plan.models.map((k, i) => ({ name: names[i], path: paths[i], loss: results[k].loss, accuracy: results[k].accuracy })), curves });
}

/** The clusterings of a loss-barrier matrix (spectral and threshold). */
export function clusterSet(loss: number[][], error: number[][], names: string[], o: { tau: number; nClusters: number; delta: number; models: BasinModel[]; curves: PairCurve[] }): BarrierSet {
  const labels = spectralClustering(loss, { nClusters: o.nClusters, delta: o.delta });
  const tl = thresholdBasins(loss, o.tau);
  return {
    loss, error, labels, basins: groupNames(labels, names),
    threshold: { tau: o.tau, labels: tl, basins: groupNames(tl, names) },
    order: clusterOrder(labels), models: o.models, curves: o.curves,
  };
}

async function loadOod(opts: BasinsOptions, limit: number, graphInput: (d: Dataset) => void): Promise<Dataset> {
  const all = await loadDataset(opts.ood!, { labels: opts.oodLabels, split: opts.split });
  const d = limit < all.n ? subset(all, 0, limit) : all;
  graphInput(d);
  return d;
}

export async function runBasins(opts: BasinsOptions, ctx: AnalysisContext = {}): Promise<BasinsReport> {
  const t0 = performance.now();
  const paths = await expandCheckpointSet(opts.paths);
  if (paths.length < 2) throw new Error(`a barrier matrix needs at least two checkpoints (got ${paths.length})`);
  const names = setNames(paths);
  const alphas = unitGrid(opts.steps ?? DEFAULT_BASIN_STEPS);
  const limit = opts.limit ?? DEFAULT_BASIN_LIMIT;
  const barrier = opts.barrier ?? 'bump';
  const cl = { barrier, tau: opts.threshold ?? DEFAULT_THRESHOLD, nClusters: opts.nClusters ?? 2, delta: opts.delta ?? 1 };
  const inputs = await loadPathInputs(paths, { ...opts, limit }, ctx);
  const N = paths.length;
  const endpoints = inputs.checkpoints.map((c) => c.stateDict);
  const alignments: (AlignmentSummary & { name: string })[] = [];
  if (opts.align) {
    for (let k = 1; k < N; k++) {
      if (ctx.isCancelled?.()) throw new CancelledError();
      ctx.onProgress?.(0, `weight matching ${names[k]} onto ${names[0]}`);
      const r = await alignStateDicts(inputs.graph, endpoints[0], endpoints[k], { seed: opts.alignSeed ?? 0, isCancelled: ctx.isCancelled });
      endpoints.push(r.aligned);
      alignments.push({ ...summariseAlignment(r), name: names[k] });
      ctx.log?.(`weight matching ${names[k]} → ${names[0]}: ${r.iterations} sweeps, ‖θ_ref − θ‖ ${r.distanceBefore.toPrecision(5)} → ${r.distanceAfter.toPrecision(5)}`);
    }
  }
  const points: number[][] = [];
  const naivePlan = planMatrix(names.map((_, i) => i), alphas, endpoints.length, points);
  const alignedPlan = opts.align ? planMatrix(names.map((_, i) => (i === 0 ? 0 : N + i - 1)), alphas, endpoints.length, points) : undefined;
  const threads = poolThreads(points.length, opts.threads);

  const evaluateAll = async (data: Dataset, label: string): Promise<PointResult[]> => {
    const setup: PathSetup = { graph: inputs.graph, endpoints, data, bnData: inputs.bnData, bn: inputs.bn, batchSize: opts.batchSize };
    const progress: BasinsProgress = {
      kind: 'basins', complete: false, names, barrier, loss: square(N, null), error: square(N, null),
      aligned: alignedPlan ? { loss: square(N, null), error: square(N, null) } : undefined,
      pairsDone: 0, pairsTotal: naivePlan.pairs.length + (alignedPlan?.pairs.length ?? 0),
    };
    for (let i = 0; i < N; i++) {
      progress.loss[i][i] = progress.error[i][i] = 0;
      if (progress.aligned) progress.aligned.loss[i][i] = progress.aligned.error[i][i] = 0;
    }
    // Which pairs wait on each point, so a pair's barrier shows as soon as its last point lands.
    const waiting = new Map<number, { plan: MatrixPlan; pair: MatrixPlan['pairs'][number]; target: { loss: (number | null)[][]; error: (number | null)[][] } }[]>();
    const missing = new Map<MatrixPlan['pairs'][number], number>();
    for (const [plan, target] of [[naivePlan, progress], [alignedPlan, progress.aligned]] as const) {
      if (!plan || !target) continue;
      for (const pair of plan.pairs) {
        missing.set(pair, new Set(pair.points).size);
        for (const k of new Set(pair.points)) waiting.set(k, [...(waiting.get(k) ?? []), { plan, pair, target }]);
      }
    }
    const partial: (PointResult | undefined)[] = new Array(points.length);
    let done = 0;
    return evaluatePoints(setup, points, {
      threads, workerScript: opts.workerScript, wasmDir: ctx.wasmDir, isCancelled: ctx.isCancelled, log: ctx.log, threadsRequested: opts.threads !== undefined,
      onPoint: (k, r) => {
        partial[k] = r;
        done++;
        let changed = false;
        for (const w of waiting.get(k) ?? []) {
          const left = missing.get(w.pair)! - 1;
          missing.set(w.pair, left);
          if (left > 0) continue;
          const b = pairBarrier(barrier, alphas, w.pair.points.map((p) => partial[p]!.loss), w.pair.points.map((p) => 1 - partial[p]!.accuracy));
          w.target.loss[w.pair.i][w.pair.j] = w.target.loss[w.pair.j][w.pair.i] = b.loss;
          w.target.error[w.pair.i][w.pair.j] = w.target.error[w.pair.j][w.pair.i] = b.error;
          progress.pairsDone++;
          changed = true;
        }
        ctx.onProgress?.(done / points.length, `${label}: ${progress.pairsDone} of ${progress.pairsTotal} pairs`);
        if (changed) ctx.onPartial?.(structuredClone(progress));
      },
    });
  };

  const results = await evaluateAll(inputs.data, inputs.data.name);
  const naive = assembleSet(naivePlan, results, names, paths, alphas, cl);
  const aligned = alignedPlan ? assembleSet(alignedPlan, results, names, paths, alphas, cl) : undefined;
  let ood: OodSet | undefined;
  if (opts.ood) {
    const data = await loadOod(opts, limit, (d) => planInputs(d, inputs.graph));
    const r = await evaluateAll(data, `${data.name} (out of distribution)`);
    ood = { data: data.name, n: r[0].n, ...assembleSet(naivePlan, r, names, paths, alphas, cl), aligned: alignedPlan ? assembleSet(alignedPlan, r, names, paths, alphas, cl) : undefined };
  }
  return {
    kind: 'basins', complete: true, names, paths, data: inputs.data.name, n: results[0].n, alphas,
    barrier, definition: PAIR_BARRIER_DEFINITIONS[barrier], method: SPECTRAL_METHOD, nClusters: cl.nClusters, delta: cl.delta,
    thresholdMethod: THRESHOLD_METHOD,
    ...naive,
    aligned: aligned ? { ...aligned, reference: names[0], alignments } : undefined,
    ood,
    family: inputs.graph.family, description: inputs.graph.description,
    batchNorm: inputs.batchNorm, backend: currentBackend()?.name ?? 'unknown', threads,
    seconds: (performance.now() - t0) / 1000,
  };
}
