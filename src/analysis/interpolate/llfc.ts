// Layerwise linear feature connectivity (Zhou et al.; methods.md §4): at every capture point of
// the graph (block outputs, logits) and each α, how far the features of the interpolated network
// are from the interpolation of the endpoints' features. Per sample, features flattened, in
// float64 (as the reference code; tfjs has no float64, so these dot products run in JS):
//   dist = 1 − |⟨u, v⟩| / (‖u‖‖v‖),  coef = ⟨u, v⟩ / ‖v‖²,
//   u = f(θ(α)), v = (1−α)·f(θ_A) + α·f(θ_B), θ(α) = (1−α)θ_A + αθ_B.
// Convention: α weights B here as on every path of this tool; methods.md writes the same
// quantity with α weighting A (f(αθ_A + (1−α)θ_B) vs αf_A + (1−α)f_B), so our α is its 1−α.
// The baseline is 1 − |cos(f_A, f_B)|. Samples where a norm is 0 are left out (and counted).
import { alignStateDicts } from '../align/alignCheckpoint';
import { CancelledError } from '../core/errors';
import { batches, planInputs } from '../data/inputs';
import { currentBackend } from '../model/backend';
import { type Model, createModel } from '../model/execute';
import { capturePoints } from '../model/ir';
import type { AnalysisContext } from '../report/analysisView';
import { StateDictCombiner } from './lerp';
import { type AlignmentSummary, summariseAlignment } from './linearPath';
import { type BatchNormReport, type PathDataOptions, loadPathInputs } from './pathInputs';
import { resetBatchNorm } from './pointEvaluator';

export const DEFAULT_LLFC_ALPHAS = [0.25, 0.5, 0.75];
export const DEFAULT_LLFC_SAMPLES = 10_000;

export interface LlfcOptions extends PathDataOptions {
  a: string;
  b: string;
  /** Also for B weight-matched onto A. */
  align?: boolean;
  alignSeed?: number;
  /** α values (weight on B; default 0.25, 0.5, 0.75). */
  alphas?: number[];
}

export interface MeanStd {
  mean: number;
  /** Unbiased (n − 1) standard deviation over samples. */
  std: number;
}

export interface LlfcPoint {
  alpha: number;
  /** 1 − |cos(f(θ(α)), (1−α)f_A + αf_B)| per sample. */
  dist: MeanStd;
  /** ⟨u, v⟩/‖v‖² per sample (1/c of the LLFC definition). */
  coef: MeanStd;
  /** Samples counted (those with non-zero norms). */
  n: number;
}

export interface LlfcCurve {
  /** 1 − |cos(f_A, f_B)| per sample. */
  baseline: MeanStd & { n: number };
  points: LlfcPoint[];
}

export interface LlfcLayer {
  /** Capture point (block name or 'logits'). */
  layer: string;
  /** Per-example feature shape (PyTorch layout). */
  shape: number[];
  naive: LlfcCurve;
  aligned?: LlfcCurve;
}

export interface LlfcReport {
  kind: 'llfc';
  complete: true;
  a: string;
  b: string;
  data: string;
  n: number;
  family: string;
  description: string;
  alphas: number[];
  layers: LlfcLayer[];
  alignment?: AlignmentSummary;
  batchNorm: BatchNormReport;
  convention: string;
  definitions: Record<string, string>;
  backend: string;
  seconds: number;
}

export const LLFC_CONVENTION = 'θ(α) = (1−α)·θ_A + α·θ_B and v = (1−α)·f_A + α·f_B (α weights B); methods.md §4 writes α for the weight on A, so its α is our 1−α';
export const LLFC_DEFINITIONS = {
  dist: '1 − |⟨u, v⟩|/(‖u‖‖v‖), u = f(θ(α)), v = (1−α)f(θ_A) + αf(θ_B), per sample, features flattened, float64',
  coef: '⟨u, v⟩/‖v‖² per sample (least-squares scale of v onto u)',
  baseline: '1 − |cos(f(θ_A), f(θ_B))| per sample',
  std: 'unbiased standard deviation over samples',
};

/** Per-sample ⟨u,v⟩, ‖u‖², ‖v‖² accumulators for one (layer, curve, α). */
class Samples {
  readonly dist: number[] = [];
  readonly coef: number[] = [];

  add(dot: number, uu: number, vv: number): void {
    if (!(uu > 0 && vv > 0)) return;
    this.dist.push(1 - Math.abs(dot) / Math.sqrt(uu * vv));
    this.coef.push(dot / vv);
  }
}

function meanStd(v: number[]): MeanStd {
  const n = v.length;
  if (n === 0) return { mean: NaN, std: NaN };
  let s = 0;
  for (const x of v) s += x;
  const mean = s / n;
  let q = 0;
  for (const x of v) q += (x - mean) * (x - mean);
  return { mean, std: n > 1 ? Math.sqrt(q / (n - 1)) : 0 };
}

export async function runLlfc(opts: LlfcOptions, ctx: AnalysisContext = {}): Promise<LlfcReport> {
  const t0 = performance.now();
  const alphas = opts.alphas ?? DEFAULT_LLFC_ALPHAS;
  const inputs = await loadPathInputs([opts.a, opts.b], { ...opts, limit: opts.limit ?? DEFAULT_LLFC_SAMPLES }, ctx);
  const { graph, data } = inputs;
  const [A, B] = inputs.checkpoints;
  const endpoints = [A.stateDict, B.stateDict];
  let alignment: AlignmentSummary | undefined;
  if (opts.align) {
    ctx.onProgress?.(0, 'weight matching B onto A');
    const r = await alignStateDicts(graph, A.stateDict, B.stateDict, { seed: opts.alignSeed ?? 0, isCancelled: ctx.isCancelled });
    endpoints.push(r.aligned);
    alignment = summariseAlignment(r);
  }
  const plan = planInputs(data, graph);
  const layers = capturePoints(graph, plan.exampleShape);
  const names = layers.map((l) => l.name);
  // The networks compared: A, then per curve its B and its α points, all with the same
  // BatchNorm treatment as the paths (statistics recomputed when the network has BatchNorm).
  const curves = opts.align ? ['naive', 'aligned'] as const : ['naive'] as const;
  const k = endpoints.length;
  const unit = (i: number): number[] => Array.from({ length: k }, (_, j) => (j === i ? 1 : 0));
  const specs: { coefs: number[] }[] = [{ coefs: unit(0) }];
  for (const [ci] of curves.entries()) {
    specs.push({ coefs: unit(ci + 1) });
    for (const a of alphas) specs.push({ coefs: unit(0).map((c, j) => (j === 0 ? 1 - a : j === ci + 1 ? a : 0)) });
  }
  const combiner = new StateDictCombiner(endpoints);
  const models: Model[] = [];
  try {
    for (const [i, s] of specs.entries()) {
      if (ctx.isCancelled?.()) throw new CancelledError();
      const m = createModel(graph, combiner.at(s.coefs));
      models.push(m);
      await resetBatchNorm(m, inputs, ctx.isCancelled);
      ctx.onProgress?.((0.2 * (i + 1)) / specs.length, `preparing network ${i + 1} of ${specs.length}`);
    }
    combiner.dispose();
    const per = 1 + alphas.length; // models per curve after A
    const baseline = curves.map(() => names.map(() => new Samples()));
    const acc = curves.map(() => names.map(() => alphas.map(() => new Samples())));
    let done = 0;
    for (const batch of batches(data, plan, { batchSize: opts.batchSize ?? 256 })) {
      try {
        if (ctx.isCancelled?.()) throw new CancelledError();
        const feats: Float32Array[][] = [];
        for (const m of models) {
          const { output, features } = m.forward(batch.x, { capture: names });
          feats.push(names.map((nm) => features[nm].dataSync() as Float32Array));
          for (const t of [output, ...Object.values(features)]) if (!t.isDisposed) t.dispose();
        }
        const B = batch.end - batch.start;
        names.forEach((_, li) => {
          const fA = feats[0][li];
          const D = fA.length / B;
          curves.forEach((_, ci) => {
            const base = 1 + ci * per;
            const fB = feats[base][li];
            for (let s = 0; s < B; s++) {
              const o = s * D;
              let ab = 0, aa = 0, bb = 0;
              for (let d = 0; d < D; d++) {
                const x = fA[o + d], y = fB[o + d];
                ab += x * y;
                aa += x * x;
                bb += y * y;
              }
              baseline[ci][li].add(ab, aa, bb);
              alphas.forEach((a, ai) => {
                const fu = feats[base + 1 + ai][li];
                let uv = 0, uu = 0, vv = 0;
                for (let d = 0; d < D; d++) {
                  const u = fu[o + d];
                  const v = (1 - a) * fA[o + d] + a * fB[o + d];
                  uv += u * v;
                  uu += u * u;
                  vv += v * v;
                }
                acc[ci][li][ai].add(uv, uu, vv);
              });
            }
          });
        });
        done += B;
        ctx.onProgress?.(0.2 + (0.8 * done) / data.n, `features of ${done} / ${data.n} samples`);
      } finally {
        batch.x.dispose();
        batch.y?.dispose();
      }
    }
    const curve = (ci: number, li: number): LlfcCurve => ({
      baseline: { ...meanStd(baseline[ci][li].dist), n: baseline[ci][li].dist.length },
      points: alphas.map((alpha, ai) => ({ alpha, dist: meanStd(acc[ci][li][ai].dist), coef: meanStd(acc[ci][li][ai].coef), n: acc[ci][li][ai].dist.length })),
    });
    return {
      kind: 'llfc', complete: true,
      a: opts.a, b: opts.b, data: data.name, n: data.n,
      family: graph.family, description: graph.description,
      alphas,
      layers: layers.map((l, li) => ({ layer: l.name, shape: l.shape, naive: curve(0, li), aligned: opts.align ? curve(1, li) : undefined })),
      alignment,
      batchNorm: inputs.batchNorm,
      convention: LLFC_CONVENTION,
      definitions: LLFC_DEFINITIONS,
      backend: currentBackend()?.name ?? 'unknown',
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    combiner.dispose();
    for (const m of models) m.dispose();
  }
}
