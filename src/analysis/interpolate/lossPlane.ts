// The loss plane through three checkpoints (Garipov et al.'s plots; methods.md §10, §11): an
// orthonormal basis of the plane they span — e₁ = u/‖u‖ with u = θ_B − θ_A, e₂ the Gram–Schmidt
// remainder of v = θ_C − θ_A — and loss and accuracy on a grid θ = θ_A + x·e₁ + y·e₂ around the
// three points, which sit at A = (0, 0), B = (‖u‖, 0), C = (⟨v, e₁⟩, ‖v − ⟨v, e₁⟩e₁‖). The
// vectors span every floating tensor the network uses (BatchNorm running statistics included;
// they are recomputed at every point when the network has BatchNorm).
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../core/errors';
import { currentBackend } from '../model/backend';
import type { StateDict } from '../model/stateDict';
import type { AnalysisContext } from '../report/analysisView';
import { evaluatePoints, poolThreads } from './pathPool';
import { type BatchNormReport, type PathDataOptions, loadPathInputs } from './pathInputs';

export const DEFAULT_GRID = 11;
export const DEFAULT_MARGIN = 0.2;

export interface PlaneOptions extends PathDataOptions {
  a: string;
  b: string;
  c: string;
  /** Grid points per axis (default 11). */
  grid?: number;
  /** The grid spans the three points' bounding box widened by this fraction of its size on each side (default 0.2). */
  margin?: number;
}

export interface PlaneBasis {
  /** ‖θ_B − θ_A‖₂. */
  normU: number;
  /** ⟨θ_C − θ_A, e₁⟩. */
  projV: number;
  /** ‖v − ⟨v, e₁⟩e₁‖₂, the distance of C from the line AB. */
  normW: number;
}

export interface PlanePoint {
  name: 'A' | 'B' | 'C';
  path: string;
  x: number;
  y: number;
  loss: number;
  accuracy: number;
}

export interface PlaneReport {
  kind: 'plane';
  complete: true;
  a: string;
  b: string;
  c: string;
  data: string;
  n: number;
  family: string;
  description: string;
  grid: number;
  margin: number;
  /** Grid coordinates along e₁ and e₂. */
  x: number[];
  y: number[];
  /** loss[j][i] at (x[i], y[j]) (mean cross-entropy, nats). */
  loss: number[][];
  accuracy: number[][];
  points: PlanePoint[];
  basis: PlaneBasis;
  batchNorm: BatchNormReport;
  definitions: Record<string, string>;
  backend: string;
  threads: number;
  seconds: number;
}

export interface PlaneProgress {
  kind: 'plane';
  complete: false;
  x: number[];
  y: number[];
  loss: (number | null)[][];
  accuracy: (number | null)[][];
  points: Omit<PlanePoint, 'loss' | 'accuracy'>[];
}

export const PLANE_DEFINITIONS = {
  basis: 'e₁ = (θ_B − θ_A)/‖θ_B − θ_A‖; e₂ = w/‖w‖, w = (θ_C − θ_A) − ⟨θ_C − θ_A, e₁⟩e₁ (Gram–Schmidt)',
  point: 'θ(x, y) = θ_A + x·e₁ + y·e₂',
  loss: 'mean cross-entropy (nats) on the evaluation data',
};

/** ⟨u,v⟩, ‖u‖², ‖v‖² of u = B − A, v = C − A over every tensor (sums through tfjs, accumulated in float64). */
function planeGram(a: StateDict, b: StateDict, c: StateDict): { uu: number; uv: number; vv: number } {
  let uu = 0, uv = 0, vv = 0;
  for (const [name, ta] of a) {
    const s = tf.tidy(() => {
      const x = tf.tensor1d(ta.values);
      const u = tf.sub(tf.tensor1d(b.get(name)!.values), x);
      const v = tf.sub(tf.tensor1d(c.get(name)!.values), x);
      return tf.stack([tf.sum(tf.mul(u, u)), tf.sum(tf.mul(u, v)), tf.sum(tf.mul(v, v))]);
    });
    const [p, q, r] = s.dataSync();
    s.dispose();
    uu += p;
    uv += q;
    vv += r;
  }
  return { uu, uv, vv };
}

/** Coefficients on (θ_A, θ_B, θ_C) of θ_A + x·e₁ + y·e₂. */
export function planeCoefficients(basis: PlaneBasis, x: number, y: number): number[] {
  const cb = x / basis.normU - (y * basis.projV) / (basis.normU * basis.normW);
  const cc = y / basis.normW;
  return [1 - cb - cc, cb, cc];
}

/** n evenly spaced values from lo to hi (numpy's linspace). */
function linspace(lo: number, hi: number, n: number): number[] {
  if (n === 1) return [(lo + hi) / 2];
  const step = (hi - lo) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? hi : lo + i * step));
}

export async function runPlane(opts: PlaneOptions, ctx: AnalysisContext = {}): Promise<PlaneReport> {
  const t0 = performance.now();
  const grid = opts.grid ?? DEFAULT_GRID;
  const margin = opts.margin ?? DEFAULT_MARGIN;
  if (!Number.isInteger(grid) || grid < 2) throw new Error(`the grid needs at least 2 points per axis, got ${grid}`);
  const inputs = await loadPathInputs([opts.a, opts.b, opts.c], opts, ctx);
  const [A, B, C] = inputs.checkpoints;
  const g = planeGram(A.stateDict, B.stateDict, C.stateDict);
  const normU = Math.sqrt(g.uu);
  if (!(normU > 0)) throw new CheckpointError(opts.b, `holds the same weights as ${opts.a}: the three checkpoints do not span a plane`);
  const projV = g.uv / normU;
  const normW = Math.sqrt(Math.max(0, g.vv - projV * projV));
  if (!(normW > 1e-6 * Math.max(normU, Math.sqrt(g.vv)))) throw new CheckpointError(opts.c, `lies on the line through ${opts.a} and ${opts.b}: the three checkpoints do not span a plane`);
  const basis: PlaneBasis = { normU, projV, normW };
  const marks = [
    { name: 'A' as const, path: opts.a, x: 0, y: 0 },
    { name: 'B' as const, path: opts.b, x: normU, y: 0 },
    { name: 'C' as const, path: opts.c, x: projV, y: normW },
  ];
  const xs = marks.map((p) => p.x), ys = marks.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const mx = margin * (x1 - x0), my = margin * (y1 - y0);
  const x = linspace(x0 - mx, x1 + mx, grid);
  const y = linspace(y0 - my, y1 + my, grid);
  // Grid points row by row (y outer), then the three checkpoints themselves.
  const coords = y.flatMap((yy) => x.map((xx) => [xx, yy]));
  const points = [...coords.map(([xx, yy]) => planeCoefficients(basis, xx, yy)), [1, 0, 0], [0, 1, 0], [0, 0, 1]];
  const progress: PlaneProgress = { kind: 'plane', complete: false, x, y, loss: y.map(() => x.map(() => null)), accuracy: y.map(() => x.map(() => null)), points: marks };
  const threads = poolThreads(points.length, opts.threads);
  let done = 0;
  const results = await evaluatePoints(
    { graph: inputs.graph, endpoints: [A.stateDict, B.stateDict, C.stateDict], data: inputs.data, bnData: inputs.bnData, bn: inputs.bn, batchSize: opts.batchSize },
    points,
    {
      threads, workerScript: opts.workerScript, wasmDir: ctx.wasmDir, isCancelled: ctx.isCancelled, log: ctx.log, threadsRequested: opts.threads !== undefined,
      onPoint: (i, r) => {
        if (i < coords.length) {
          progress.loss[Math.floor(i / grid)][i % grid] = r.loss;
          progress.accuracy[Math.floor(i / grid)][i % grid] = r.accuracy;
        }
        ctx.onProgress?.(++done / points.length, i < coords.length ? `grid point (${coords[i][0].toPrecision(3)}, ${coords[i][1].toPrecision(3)})` : `checkpoint ${marks[i - coords.length].name}`);
        ctx.onPartial?.(structuredClone(progress));
      },
    },
  );
  const rows = (f: (i: number) => number): number[][] => y.map((_, j) => x.map((_, i) => f(j * grid + i)));
  return {
    kind: 'plane', complete: true,
    a: opts.a, b: opts.b, c: opts.c, data: inputs.data.name, n: results[0].n,
    family: inputs.graph.family, description: inputs.graph.description,
    grid, margin, x, y,
    loss: rows((i) => results[i].loss),
    accuracy: rows((i) => results[i].accuracy),
    points: marks.map((m, k) => ({ ...m, loss: results[coords.length + k].loss, accuracy: results[coords.length + k].accuracy })),
    basis,
    batchNorm: inputs.batchNorm,
    definitions: PLANE_DEFINITIONS,
    backend: currentBackend()?.name ?? 'unknown',
    threads,
    seconds: (performance.now() - t0) / 1000,
  };
}
