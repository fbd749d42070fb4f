// Monotonic linear interpolation (Lucas et al.; methods.md §6): the loss along
// θ(α) = (1−α)θ₀ + αθ_T from an initialisation θ₀ to the trained θ_T, whether it decreases
// monotonically (Δ ≤ tol), the largest rise Δ, max_α L − L(θ₀), and how far training moved the
// weights, globally and per layer.
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend } from '../model/backend';
import { type ModelGraph, graphTensorRefs } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import type { AnalysisContext } from '../report/analysisView';
import { computeBarriers, monotonicityGap } from './barriers';
import { unitGrid } from './lerp';
import { evaluatePoints, poolThreads } from './pathPool';
import { type BatchNormReport, type PathDataOptions, loadPathInputs } from './pathInputs';

export const DEFAULT_MLI_STEPS = 50;
export const DEFAULT_MLI_TOL = 1e-3;

export interface MliOptions extends PathDataOptions {
  init: string;
  final: string;
  /** Points α = 0 … 1 (default 50: methods.md asks for at least 50). */
  steps?: number;
  /** MLI holds when Δ ≤ tol (nats; default 1e-3). */
  tol?: number;
}

export interface LayerDistance {
  /** Module path (`layers.0`, `features.4`). */
  name: string;
  /** ‖θ_T − θ₀‖₂ over the module's parameters. */
  distance: number;
  /** distance / ‖θ₀‖₂ over the same parameters (Infinity when θ₀ is 0 there, e.g. zero-initialised biases only). */
  relativeDistance: number;
}

export interface MliReport {
  kind: 'mli';
  complete: true;
  init: string;
  final: string;
  data: string;
  n: number;
  family: string;
  description: string;
  alphas: number[];
  loss: number[];
  accuracy: number[];
  /** MLI := Δ ≤ tol. */
  monotonic: boolean;
  tol: number;
  /** Δ = max_j (L(α_j) − min_{i<j} L(α_i)), the largest rise above the running minimum. */
  delta: number;
  deltaAlpha: number;
  /** max_α L(θ(α)) − L(θ₀). */
  maxIncrease: number;
  /** ‖θ_T − θ₀‖₂ over every parameter (weights and biases; BatchNorm running statistics excluded). */
  distance: number;
  /** ‖θ_T − θ₀‖₂ / ‖θ₀‖₂. */
  relativeDistance: number;
  layers: LayerDistance[];
  barrier: ReturnType<typeof computeBarriers>;
  batchNorm: BatchNormReport;
  definitions: Record<string, string>;
  backend: string;
  threads: number;
  seconds: number;
}

export interface MliProgress {
  kind: 'mli';
  complete: false;
  init: string;
  final: string;
  alphas: number[];
  loss: (number | null)[];
  accuracy: (number | null)[];
}

export const MLI_DEFINITIONS = {
  path: 'θ(α) = (1−α)·θ₀ + α·θ_T',
  delta: 'Δ = max_j (L(α_j) − min_{i<j} L(α_i)); MLI holds when Δ ≤ tol',
  maxIncrease: 'max_α L(θ(α)) − L(θ₀)',
  distance: '‖θ_T − θ₀‖₂ over the parameters (weights, biases; not BatchNorm running statistics)',
  relativeDistance: '‖θ_T − θ₀‖₂ / ‖θ₀‖₂',
};

/** The graph's parameters (what training moves), without BatchNorm running statistics. */
export function parameterNames(graph: ModelGraph): string[] {
  return graphTensorRefs(graph).filter((r) => r.parameter).map((r) => r.name);
}

/** Global and per-module ‖θ_T − θ₀‖₂ and relative distances (sums of squares through tfjs). */
export function weightDistances(graph: ModelGraph, init: StateDict, final: StateDict): { distance: number; relativeDistance: number; layers: LayerDistance[] } {
  const modules = new Map<string, { d2: number; n2: number }>();
  let d2 = 0;
  let n2 = 0;
  for (const name of parameterNames(graph)) {
    const [d, n] = tf.tidy(() => {
      const t0 = tf.tensor1d(init.get(name)!.values);
      const t1 = tf.tensor1d(final.get(name)!.values);
      return [tf.sum(tf.square(tf.sub(t1, t0))), tf.sum(tf.square(t0))];
    });
    const dv = d.dataSync()[0], nv = n.dataSync()[0];
    tf.dispose([d, n]);
    const mod = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
    const m = modules.get(mod) ?? { d2: 0, n2: 0 };
    m.d2 += dv;
    m.n2 += nv;
    modules.set(mod, m);
    d2 += dv;
    n2 += nv;
  }
  const rel = (d: number, n: number): number => (n > 0 ? Math.sqrt(d / n) : d > 0 ? Infinity : 0);
  return {
    distance: Math.sqrt(d2),
    relativeDistance: rel(d2, n2),
    layers: [...modules].map(([name, m]) => ({ name, distance: Math.sqrt(m.d2), relativeDistance: rel(m.d2, m.n2) })),
  };
}

export async function runMli(opts: MliOptions, ctx: AnalysisContext = {}): Promise<MliReport> {
  const t0 = performance.now();
  const alphas = unitGrid(opts.steps ?? DEFAULT_MLI_STEPS);
  const tol = opts.tol ?? DEFAULT_MLI_TOL;
  const inputs = await loadPathInputs([opts.init, opts.final], opts, ctx);
  const [I, F] = inputs.checkpoints;
  const progress: MliProgress = { kind: 'mli', complete: false, init: opts.init, final: opts.final, alphas, loss: alphas.map(() => null), accuracy: alphas.map(() => null) };
  const threads = poolThreads(alphas.length, opts.threads);
  let done = 0;
  const results = await evaluatePoints(
    { graph: inputs.graph, endpoints: [I.stateDict, F.stateDict], data: inputs.data, bnData: inputs.bnData, bn: inputs.bn, batchSize: opts.batchSize },
    alphas.map((a) => [1 - a, a]),
    {
      threads, workerScript: opts.workerScript, wasmDir: ctx.wasmDir, isCancelled: ctx.isCancelled, log: ctx.log, threadsRequested: opts.threads !== undefined,
      onPoint: (i, r) => {
        progress.loss[i] = r.loss;
        progress.accuracy[i] = r.accuracy;
        ctx.onProgress?.(++done / alphas.length, `α = ${alphas[i].toFixed(3)}${r.bnReset ? ', BatchNorm reset' : ''}`);
        ctx.onPartial?.(structuredClone(progress));
      },
    },
  );
  const loss = results.map((r) => r.loss), accuracy = results.map((r) => r.accuracy);
  const gap = monotonicityGap(alphas, loss);
  return {
    kind: 'mli', complete: true,
    init: opts.init, final: opts.final, data: inputs.data.name, n: results[0].n,
    family: inputs.graph.family, description: inputs.graph.description,
    alphas, loss, accuracy,
    monotonic: gap.delta <= tol, tol, delta: gap.delta, deltaAlpha: gap.alpha,
    maxIncrease: Math.max(...loss) - loss[0],
    ...weightDistances(inputs.graph, I.stateDict, F.stateDict),
    barrier: computeBarriers(alphas, loss, accuracy),
    batchNorm: inputs.batchNorm,
    definitions: MLI_DEFINITIONS,
    backend: currentBackend()?.name ?? 'unknown',
    threads,
    seconds: (performance.now() - t0) / 1000,
  };
}
