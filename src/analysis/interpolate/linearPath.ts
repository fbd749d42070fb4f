// Linear mode connectivity (methods.md §0.2, §1.10, §3, §5): loss and accuracy along the straight
// line θ(α) = (1−α)θ_A + αθ_B between two checkpoints, the three labelled barriers, and the same
// line to B weight-matched onto A (Git Re-Basin) when asked. Points stream to ctx.onPartial as
// they are computed; cancelling stops the pool.
import { alignStateDicts } from '../align/alignCheckpoint';
import { CancelledError } from '../core/errors';
import { currentBackend } from '../model/backend';
import type { AnalysisContext } from '../report/analysisView';
import { BARRIER_DEFINITIONS, type Barriers, computeBarriers } from './barriers';
import { unitGrid } from './lerp';
import { evaluatePoints, poolThreads } from './pathPool';
import { type BatchNormReport, type PathDataOptions, loadPathInputs } from './pathInputs';
import type { PathSetup } from './pointEvaluator';

export const DEFAULT_STEPS = 25;

export interface InterpolationOptions extends PathDataOptions {
  a: string;
  b: string;
  /** Points on the line, α = 0 … 1 evenly (default 25, as git-re-basin). */
  steps?: number;
  /** Also the line to B aligned to A by weight matching. */
  align?: boolean;
  /** Seed of weight matching's group order (default 0). */
  alignSeed?: number;
}

export interface PathCurve {
  alphas: number[];
  /** Mean cross-entropy (nats) at each α. */
  loss: number[];
  accuracy: number[];
  barrier: Barriers;
}

export interface AlignmentSummary {
  method: 'weights';
  seed: number;
  iterations: number;
  seconds: number;
  /** ‖θ_A − θ_B‖₂ over the permuted tensors, before and after. */
  distanceBefore: number;
  distanceAfter: number;
  groups: { name: string; size: number; moved: number; similarityBefore: number; similarityAfter: number }[];
}

export interface InterpolationReport extends PathCurve {
  kind: 'interpolate';
  complete: true;
  a: string;
  b: string;
  data: string;
  /** Examples evaluated per point. */
  n: number;
  family: string;
  description: string;
  aligned?: PathCurve & { alignment: AlignmentSummary };
  batchNorm: BatchNormReport;
  convention: string;
  definitions: typeof BARRIER_DEFINITIONS;
  backend: string;
  threads: number;
  seconds: number;
}

/** What ctx.onPartial receives while points arrive: null where a point is not computed yet. */
export interface InterpolationProgress {
  kind: 'interpolate';
  complete: false;
  a: string;
  b: string;
  alphas: number[];
  loss: (number | null)[];
  accuracy: (number | null)[];
  aligned?: { loss: (number | null)[]; accuracy: (number | null)[] };
}

export const PATH_CONVENTION = 'θ(α) = (1−α)·θ_A + α·θ_B on every floating tensor (α = 0 is A, α = 1 is B); integer buffers are not interpolated';

export function summariseAlignment(r: Awaited<ReturnType<typeof alignStateDicts>>): AlignmentSummary {
  return {
    method: 'weights', seed: r.seed, iterations: r.iterations, seconds: r.seconds,
    distanceBefore: r.distanceBefore, distanceAfter: r.distanceAfter,
    groups: r.groups.map((g) => ({ name: g.name, size: g.size, moved: g.moved, similarityBefore: g.similarityBefore, similarityAfter: g.similarityAfter })),
  };
}

export async function runInterpolation(opts: InterpolationOptions, ctx: AnalysisContext = {}): Promise<InterpolationReport> {
  const t0 = performance.now();
  const alphas = unitGrid(opts.steps ?? DEFAULT_STEPS);
  const inputs = await loadPathInputs([opts.a, opts.b], opts, ctx);
  const [A, B] = inputs.checkpoints;
  const endpoints = [A.stateDict, B.stateDict];
  let alignment: AlignmentSummary | undefined;
  if (opts.align) {
    ctx.onProgress?.(0, 'weight matching B onto A');
    const r = await alignStateDicts(inputs.graph, A.stateDict, B.stateDict, { seed: opts.alignSeed ?? 0, isCancelled: ctx.isCancelled });
    endpoints.push(r.aligned);
    alignment = summariseAlignment(r);
    ctx.log?.(`weight matching: ${r.iterations} sweeps, ‖A−B‖ ${r.distanceBefore.toPrecision(5)} → ${r.distanceAfter.toPrecision(5)}`);
  }
  if (ctx.isCancelled?.()) throw new CancelledError();
  // One pool for both lines: a point is coefficients over [A, B, π(B)].
  const points = alphas.map((a) => (opts.align ? [1 - a, a, 0] : [1 - a, a]));
  if (opts.align) points.push(...alphas.map((a) => [1 - a, 0, a]));
  const setup: PathSetup = { graph: inputs.graph, endpoints, data: inputs.data, bnData: inputs.bnData, bn: inputs.bn, batchSize: opts.batchSize };
  const n = alphas.length;
  const progress: InterpolationProgress = {
    kind: 'interpolate', complete: false, a: opts.a, b: opts.b, alphas,
    loss: alphas.map(() => null), accuracy: alphas.map(() => null),
    aligned: opts.align ? { loss: alphas.map(() => null), accuracy: alphas.map(() => null) } : undefined,
  };
  let done = 0;
  const threads = poolThreads(points.length, opts.threads);
  const results = await evaluatePoints(setup, points, {
    threads, workerScript: opts.workerScript, wasmDir: ctx.wasmDir, isCancelled: ctx.isCancelled, log: ctx.log, threadsRequested: opts.threads !== undefined,
    onPoint: (i, r) => {
      const curve = i < n ? progress : progress.aligned!;
      curve.loss[i % n] = r.loss;
      curve.accuracy[i % n] = r.accuracy;
      done++;
      const which = i < n ? 'naive' : 'aligned';
      ctx.onProgress?.(done / points.length, `${which} α = ${alphas[i % n].toFixed(3)}${r.bnReset ? ', BatchNorm reset' : ''}`);
      ctx.onPartial?.(structuredClone(progress));
    },
  });
  const curve = (rs: typeof results): PathCurve => {
    const loss = rs.map((r) => r.loss), accuracy = rs.map((r) => r.accuracy);
    return { alphas, loss, accuracy, barrier: computeBarriers(alphas, loss, accuracy) };
  };
  const naive = curve(results.slice(0, n));
  return {
    kind: 'interpolate', complete: true,
    a: opts.a, b: opts.b, data: inputs.data.name, n: results[0].n,
    family: inputs.graph.family, description: inputs.graph.description,
    ...naive,
    aligned: alignment ? { ...curve(results.slice(n)), alignment } : undefined,
    batchNorm: inputs.batchNorm,
    convention: PATH_CONVENTION,
    definitions: BARRIER_DEFINITIONS,
    backend: currentBackend()?.name ?? 'unknown',
    threads,
    seconds: (performance.now() - t0) / 1000,
  };
}
