// `spectra`: data-free diagnostics of every weight matrix of one checkpoint — singular value
// spectrum, spectral norm, stable and effective rank, the power-law exponent α of the
// eigenvalue density of WᵀW, dead and duplicated units — and the balancedness of consecutive
// layers (methods.md §14).
import type { Checkpoint } from '../core/checkpoint';
import { CancelledError } from '../core/errors';
import type { TensorInfo } from '../core/checkpoint';
import { readTensor, tensorChunks } from '../core/tensorData';
import { openCheckpoint } from '../open';
import type { AnalysisContext } from '../report/analysisView';
import { weightLayers } from './layerOrder';
import { MIN_TAIL, type PowerLawFit, fitPowerLaw } from './powerLaw';
import { type Matrix, exactSingularValues, topSingularValues } from './svd';
import { DEAD_THRESHOLD, DUPLICATE_THRESHOLD, type UnitFindings, unitFindings } from './units';

export interface SpectraOptions {
  path: string;
  /** Matrices whose smaller side is at most this get every singular value exactly (default 256). */
  exactMaxDim?: number;
  /** Larger matrices get their top k singular values by Lanczos (default 64). */
  topK?: number;
  /** Smallest eigenvalue tail the α fit may use (default 10). */
  minTail?: number;
  deadThreshold?: number;
  duplicateThreshold?: number;
  /** Skip the O(out²·in) duplicate search above this many multiply-adds (default 2e9). */
  maxUnitWork?: number;
  /**
   * A time budget for the Lanczos runs (seconds, shared out over the large matrices still to
   * do, at least 0.3 s each): values that had not settled when it ran out are reported as such.
   */
  budgetSeconds?: number;
  /** Use Lanczos instead of the exact method above this many multiply-adds (rows·cols·min), default no limit. */
  maxExactWork?: number;
  archFile?: string;
}

export interface SpectraLayer {
  name: string;
  shape: number[];
  dtype: string;
  /** The matrix analysed: [units, fan-in] (conv kernels as out × in·kh·kw). */
  matrix: [number, number];
  /** exact: every singular value (Householder QR + one-sided Jacobi, float64); lanczos: the top k. */
  method: 'exact' | 'lanczos';
  /**
   * Lanczos steps, whether the top k met the tolerance (1e-9 of σ₁) before the step cap, and how
   * many leading values had (the rest are Ritz values, lower bounds: on flat random-like spectra
   * the last few of the k can be a few % low).
   */
  lanczos: { steps: number; converged: boolean; settled: number; timedOut?: boolean; sigma1Change?: number } | null;
  singularValues: number[];
  frobenius: number;
  spectralNorm: number;
  /** ‖W‖_F² / ‖W‖₂². */
  stableRank: number;
  /** exp(−Σ p log p), p = σ/Σσ (Roy & Vetterli); null when only the top k are known. */
  effectiveRank: number | null;
  /** Fit over the eigenvalues λ = σ² known (all, or the top k), in [xmin, xmax]. */
  alpha: PowerLawFit | null;
  units: UnitFindings | null;
  bias: string | null;
}

export interface Balance {
  layer: string;
  next: string;
  /** ‖W_ℓ‖_F² − ‖W_ℓ+1‖_F². */
  value: number;
}

export interface SpectraReport {
  kind: 'spectra';
  file: string;
  format: string;
  /** The recognised model, or null (then layers are in name order). */
  model: string | null;
  order: 'graph' | 'name';
  settings: { exactMaxDim: number; topK: number; minTail: number; deadThreshold: number; duplicateThreshold: number; budgetSeconds?: number };
  layers: SpectraLayer[];
  balancedness: Balance[];
  warnings: string[];
  seconds: number;
  complete: boolean;
}

/** The weight as a units × fan-in matrix (transposed when units are its columns). */
export function asUnitMatrix(values: Matrix['values'], shape: number[], unitsAreColumns: boolean): Matrix {
  const rows = shape[0];
  const cols = values.length / rows;
  if (!unitsAreColumns) return { rows, cols, values };
  const t = new Float64Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = values[r * cols + c];
  return { rows: cols, cols: rows, values: t };
}

export interface LayerSettings {
  exactMaxDim: number;
  topK: number;
  minTail: number;
  deadThreshold: number;
  duplicateThreshold: number;
  maxUnitWork: number;
  maxExactWork?: number;
}

/** Whether a rows × cols matrix gets every singular value exactly under these settings. */
export function isExact(rows: number, cols: number, s: Pick<LayerSettings, 'exactMaxDim' | 'maxExactWork'>): boolean {
  const k = Math.min(rows, cols);
  return k <= s.exactMaxDim && rows * cols * k <= (s.maxExactWork ?? Infinity);
}

/** Every diagnostic of one matrix (Lanczos stops at `run.deadline`, a performance.now() time). */
export function analyseMatrix(m: Matrix, bias: ArrayLike<number> | undefined, s: LayerSettings, run: { deadline?: number; isCancelled?: () => boolean } = {}): Omit<SpectraLayer, 'name' | 'shape' | 'dtype' | 'bias'> {
  let fro2 = 0;
  for (let i = 0; i < m.values.length; i++) {
    if ((i & 0xfffff) === 0 && run.isCancelled?.()) throw new CancelledError();
    fro2 += m.values[i] * m.values[i];
  }
  const exact = isExact(m.rows, m.cols, s);
  const top_ = exact ? undefined : topSingularValues(m, s.topK, run);
  const sv = top_ ? top_.values : exactSingularValues(m);
  const top = sv.length ? sv[0] : 0;
  let effectiveRank: number | null = null;
  if (exact) {
    const total = sv.reduce((a, b) => a + b, 0);
    let h = 0;
    for (const x of sv) if (x > 0) h -= (x / total) * Math.log(x / total);
    effectiveRank = total > 0 ? Math.exp(h) : 0;
  }
  const units = m.rows * m.rows * m.cols <= s.maxUnitWork ? unitFindings(m, bias, s.deadThreshold, s.duplicateThreshold) : null;
  return {
    matrix: [m.rows, m.cols],
    method: exact ? 'exact' : 'lanczos',
    lanczos: top_ ? { steps: top_.steps, converged: top_.converged, settled: top_.settled, ...(top_.timedOut ? { timedOut: true, sigma1Change: top_.sigma1Change } : {}) } : null,
    singularValues: Array.from(sv),
    frobenius: Math.sqrt(fro2),
    spectralNorm: top,
    stableRank: top > 0 ? fro2 / (top * top) : 0,
    effectiveRank,
    alpha: fitPowerLaw(sv.map((x) => x * x), s.minTail),
    units,
  };
}

export async function runSpectra(opts: SpectraOptions, ctx: AnalysisContext = {}): Promise<SpectraReport> {
  const t0 = performance.now();
  const settings: LayerSettings = {
    exactMaxDim: opts.exactMaxDim ?? 256,
    topK: opts.topK ?? 64,
    minTail: opts.minTail ?? MIN_TAIL,
    deadThreshold: opts.deadThreshold ?? DEAD_THRESHOLD,
    duplicateThreshold: opts.duplicateThreshold ?? DUPLICATE_THRESHOLD,
    maxUnitWork: opts.maxUnitWork ?? 2e9,
    maxExactWork: opts.maxExactWork,
  };
  const ckpt = await openCheckpoint(opts.path);
  try {
    return await spectraOf(ckpt, opts, settings, ctx, t0);
  } finally {
    await ckpt.close();
  }
}

async function spectraOf(ckpt: Checkpoint, opts: SpectraOptions, settings: LayerSettings, ctx: AnalysisContext, t0: number): Promise<SpectraReport> {
  const order = await weightLayers(ckpt, opts.archFile);
  const { maxUnitWork: _, maxExactWork: __, ...shown } = settings;
  const report: SpectraReport = {
    kind: 'spectra',
    file: ckpt.path,
    format: ckpt.format,
    model: order.graph?.description ?? null,
    order: order.order,
    settings: opts.budgetSeconds !== undefined ? { ...shown, budgetSeconds: opts.budgetSeconds } : shown,
    layers: [],
    balancedness: [],
    warnings: [...ckpt.warnings],
    seconds: 0,
    complete: false,
  };
  if (order.recognizeError) ctx.log?.(`spectra: no model recognised, layers in name order (${order.recognizeError})`);
  const budgetEnd = opts.budgetSeconds !== undefined ? performance.now() + 1000 * opts.budgetSeconds : undefined;
  const large = (l: (typeof order.layers)[number]): boolean => {
    const [r, c] = [l.tensor.shape[0], l.tensor.numel / Math.max(1, l.tensor.shape[0])];
    return !isExact(r, c, settings);
  };
  let largeLeft = order.layers.filter(large).length;
  for (const [i, l] of order.layers.entries()) {
    if (ctx.isCancelled?.()) throw new CancelledError();
    ctx.onProgress?.(i / order.layers.length, `${l.tensor.name} (${i + 1} of ${order.layers.length})`);
    let values;
    try {
      values = await readMatrixValues(l.tensor, ctx.isCancelled);
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      report.warnings.push(`${l.tensor.name}: skipped (${(e as Error).message})`);
      continue;
    }
    const bias = l.bias ? await readTensor(l.bias) : undefined;
    const m = asUnitMatrix(values, l.tensor.shape, l.unitsAreColumns);
    if (m.rows * m.rows * m.cols > settings.maxUnitWork) report.warnings.push(`${l.tensor.name}: duplicate-unit search skipped (${m.rows} units × ${m.cols} inputs is too large)`);
    let deadline: number | undefined;
    if (budgetEnd !== undefined && large(l)) deadline = performance.now() + Math.max(300, (budgetEnd - performance.now()) / Math.max(1, largeLeft--));
    const layer: SpectraLayer = { name: l.tensor.name, shape: l.tensor.shape, dtype: l.tensor.dtype, ...analyseMatrix(m, bias, settings, { deadline, isCancelled: ctx.isCancelled }), bias: l.bias?.name ?? null };
    if (layer.lanczos?.timedOut) report.warnings.push(`${l.tensor.name}: the time budget ran out after ${layer.lanczos.steps} Lanczos steps; the top ${layer.lanczos.settled} of ${Math.min(settings.topK, ...m.rows > 0 ? [m.rows, m.cols] : [0])} singular values had settled to 1e-9 of σ₁ (σ₁ moved ${layer.lanczos.sigma1Change?.toExponential(1) ?? '?'} relative over the last 8 steps), the others are lower bounds`);
    else if (layer.lanczos && !layer.lanczos.converged) report.warnings.push(`${l.tensor.name}: after ${layer.lanczos.steps} Lanczos steps only the top ${layer.lanczos.settled} of ${settings.topK} singular values had settled to 1e-9 of σ₁; the others are lower bounds`);
    report.layers.push(layer);
    report.seconds = (performance.now() - t0) / 1000;
    ctx.onPartial?.(report);
  }
  report.balancedness = balancedness(report.layers, order.pairs);
  report.seconds = (performance.now() - t0) / 1000;
  report.complete = true;
  ctx.onProgress?.(1);
  return report;
}

/**
 * A weight's values, copied chunk by chunk into one array allocated up front (readTensor keeps
 * every chunk and joins them at the end: on a 128 MB matrix that join was a second or more
 * with no chance to see a cancel).
 */
async function readMatrixValues(t: TensorInfo, isCancelled?: () => boolean): Promise<Matrix['values']> {
  let out: Float32Array | Float64Array | undefined;
  let at = 0;
  for await (const c of tensorChunks(t, { isCancelled, reuseBuffers: true })) {
    out ??= c instanceof Float64Array ? new Float64Array(t.numel) : new Float32Array(t.numel);
    if (at + c.length > out.length) return readTensor(t, undefined, { isCancelled }); // complex or unusual layouts
    out.set(c, at);
    at += c.length;
  }
  return out ?? new Float32Array(0);
}

/**
 * ‖W_ℓ‖_F² − ‖W_ℓ+1‖_F² for each pair of consecutive layers: the graph's pairs when given (see
 * LayerOrder.pairs), else neighbours in layer order.
 */
export function balancedness(layers: { name: string; frobenius: number }[], pairs?: [string, string][]): Balance[] {
  const fro = new Map(layers.map((l) => [l.name, l.frobenius]));
  const list = pairs ?? layers.slice(1).map((l, i): [string, string] => [layers[i].name, l.name]);
  return list.filter(([a, b]) => fro.has(a) && fro.has(b)).map(([a, b]) => ({ layer: a, next: b, value: fro.get(a)! ** 2 - fro.get(b)! ** 2 }));
}
