// One tensor's distribution across a run's checkpoints (the run-comparison tools' most asked-for
// chart, here from the files alone): for a tensor — or every floating tensor under a module
// prefix, pooled — each checkpoint's histogram on one shared set of bins, and its mean, standard
// deviation, L2 norm, min and max over the steps. Values stream in chunks, twice per checkpoint
// (moments and range, then the counts), so memory does not grow with the tensor.
import { type Checkpoint, type TensorInfo } from '../core/checkpoint';
import { isFloating } from '../core/dtype';
import { CancelledError, CheckpointError } from '../core/errors';
import { storedView, tensorChunks } from '../core/tensorData';
import { checkpointStep } from '../compare/runFiles';
import { openCheckpoint } from '../open';
import type { AnalysisContext } from '../report/analysisView';
import { expandCheckpointSet, setNames } from './basinPaths';

export const DEFAULT_HISTOGRAM_BINS = 64;

export interface HistogramsOptions {
  /** A run folder, or the checkpoint files of one run. */
  paths: string[];
  /** A tensor name, or a module prefix whose floating tensors are pooled. */
  tensor: string;
  bins?: number;
}

export interface CheckpointDistribution {
  name: string;
  path: string;
  /** Training step (from the checkpoint's values or its name), else null. */
  step: number | null;
  count: number;
  mean: number;
  std: number;
  norm: number;
  min: number;
  max: number;
  /** Non-finite values (left out of everything else). */
  nonFinite: number;
  counts: number[];
}

export interface HistogramsReport {
  kind: 'histograms';
  complete: boolean;
  tensor: string;
  /** The tensors pooled (one, or those under the module prefix). */
  tensors: string[];
  /** bins + 1 shared edges, from the smallest to the largest finite value over all checkpoints. */
  edges: number[];
  checkpoints: CheckpointDistribution[];
  seconds: number;
}

/**
 * The tensors `name` picks in a checkpoint: the tensor itself (its full name, without the state
 * dict's prefix, or — in nested checkpoints like {"model_state_dict": …} — the one whose name
 * ends in `.name`), else every floating tensor under the module prefix.
 */
export function pickTensors(ckpt: Checkpoint, name: string): TensorInfo[] {
  const strip = (n: string): string => (ckpt.stateDictPrefix && n.startsWith(ckpt.stateDictPrefix) ? n.slice(ckpt.stateDictPrefix.length) : n);
  const exact = ckpt.tensors.filter((t) => t.name === name || strip(t.name) === name);
  if (exact.length) return exact.slice(0, 1);
  const nested = ckpt.tensors.filter((t) => t.name.endsWith('.' + name));
  if (nested.length === 1) return nested;
  const prefix = name.endsWith('.') ? name : name + '.';
  const under = (n: string): boolean => n.startsWith(prefix) || strip(n).startsWith(prefix);
  const direct = ckpt.tensors.filter((t) => isFloating(t.dtype) && under(t.name));
  if (direct.length) return direct;
  // A nested checkpoint: the module under its one container (the first container holding it).
  const inner = ckpt.tensors.filter((t) => isFloating(t.dtype) && t.name.includes('.' + prefix));
  const container = inner[0]?.name.slice(0, inner[0].name.indexOf('.' + prefix) + 1);
  return container === undefined ? [] : inner.filter((t) => t.name.startsWith(container + prefix));
}

/** numpy.histogram's bin of x for equal bins over [lo, hi] (its index arithmetic and edge corrections). */
export function binOf(x: number, edges: readonly number[], norm: number): number {
  const bins = edges.length - 1;
  let i = Math.floor((x - edges[0]) * norm);
  if (i === bins) i--;
  if (x < edges[i]) i--;
  else if (i !== bins - 1 && x >= edges[i + 1]) i++;
  return i;
}

/** numpy.linspace(lo, hi, n + 1), as numpy.histogram makes its edges (a degenerate range widened by ±0.5). */
export function histogramEdges(lo: number, hi: number, bins: number): number[] {
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = (hi - lo) / bins;
  return Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * step));
}

async function withTensors<T>(path: string, name: string, f: (ckpt: Checkpoint, ts: TensorInfo[]) => Promise<T>): Promise<T> {
  const ckpt = await openCheckpoint(path);
  try {
    const ts = pickTensors(ckpt, name);
    if (!ts.length) throw new CheckpointError(path, `no tensor ${name} (nor floating tensors under ${name}.)`);
    for (const t of ts) if (!isFloating(t.dtype)) throw new CheckpointError(path, `${t.name} is ${t.dtype}, not a floating tensor`);
    return await f(ckpt, ts);
  } finally {
    await ckpt.close();
  }
}

export async function runHistograms(opts: HistogramsOptions, ctx: AnalysisContext = {}): Promise<HistogramsReport> {
  const t0 = performance.now();
  const bins = opts.bins ?? DEFAULT_HISTOGRAM_BINS;
  const paths = await expandCheckpointSet(opts.paths);
  const names = setNames(paths);
  const found: (Omit<CheckpointDistribution, 'counts'> & { sum: number })[] = [];
  let tensors: string[] = [];
  // Pass 1: moments and range of each checkpoint.
  for (const [k, path] of paths.entries()) {
    if (ctx.isCancelled?.()) throw new CancelledError();
    ctx.onProgress?.(k / (2 * paths.length), `reading ${names[k]}`);
    found.push(await withTensors(path, opts.tensor, async (ckpt, ts) => {
      if (k === 0) tensors = ts.map((t) => t.name);
      let n = 0, sum = 0, sq = 0, nonFinite = 0, min = Infinity, max = -Infinity;
      for (const t of ts) {
        // A broadcast view counts each stored element as often as it repeats.
        const { view, weight: w } = storedView(t);
        for await (const chunk of tensorChunks(view)) {
          for (let i = 0; i < chunk.length; i++) {
            const v = chunk[i];
            if (!Number.isFinite(v)) {
              nonFinite += w;
              continue;
            }
            n += w;
            sum += w * v;
            sq += w * v * v;
            if (v < min) min = v;
            if (v > max) max = v;
          }
        }
      }
      const step = checkpointStep(ckpt, path)?.step ?? null;
      return { name: names[k], path, step, count: n, sum, mean: n ? sum / n : NaN, std: 0, norm: Math.sqrt(sq), min, max, nonFinite };
    }));
  }
  const order = found.every((f) => f.step !== null) ? [...found.keys()].sort((a, b) => found[a].step! - found[b].step!) : [...found.keys()];
  const lo = Math.min(...found.map((f) => f.min)), hi = Math.max(...found.map((f) => f.max));
  const edges = Number.isFinite(lo) ? histogramEdges(lo, hi, bins) : histogramEdges(0, 1, bins);
  const norm = bins / (edges[bins] - edges[0]);
  const report: HistogramsReport = { kind: 'histograms', complete: false, tensor: opts.tensor, tensors, edges, checkpoints: [], seconds: 0 };
  // Pass 2: counts on the shared bins, and the standard deviation about the known mean (two-pass, f64).
  for (const [j, k] of order.entries()) {
    if (ctx.isCancelled?.()) throw new CancelledError();
    const f = found[k];
    ctx.onProgress?.(0.5 + j / (2 * paths.length), `binning ${f.name}`);
    const counts = new Array<number>(bins).fill(0);
    let dev = 0;
    await withTensors(f.path, opts.tensor, async (_c, ts) => {
      for (const t of ts) {
        const { view, weight: w } = storedView(t);
        for await (const chunk of tensorChunks(view)) {
          for (let i = 0; i < chunk.length; i++) {
            const v = chunk[i];
            if (!Number.isFinite(v)) continue;
            counts[binOf(v, edges, norm)] += w;
            dev += w * (v - f.mean) * (v - f.mean);
          }
        }
      }
    });
    const { sum: _sum, ...rest } = f;
    report.checkpoints.push({ ...rest, std: f.count ? Math.sqrt(dev / f.count) : NaN, counts });
    ctx.onPartial?.(structuredClone(report));
  }
  return { ...report, complete: true, seconds: (performance.now() - t0) / 1000 };
}
