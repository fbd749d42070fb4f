// Per-tensor statistics, streamed in chunks so memory stays bounded for any tensor size.
// Definitions (test/fixtures/refstats.py is the reference): min/max/mean/std/l2 over finite
// values; std is the unbiased sample std (torch.std's default); a 64-bin histogram over
// [min, max] with numpy.histogram's bin edges and edge rules.
import type { TensorInfo } from '../core/checkpoint';
import { type Decoded, isComplex } from '../core/dtype';
import { CancelledError } from '../core/errors';
import { SparseDenseSource } from '../core/sparseSource';
import type { Histogram, TensorStats } from './statsTypes';
import { DEFAULT_CHUNK_BYTES, readTensor, storedView, tensorChunks } from '../core/tensorData';

export const HISTOGRAM_BINS = 64;
/** Elements per kernel call (see Moments.add). */
const BLOCK = 1 << 16;

export type { Histogram, TensorStats } from './statsTypes';

export interface StatsOptions {
  isCancelled?: () => boolean;
  /** Called with the fraction done, 0…1. */
  onProgress?: (fraction: number) => void;
  chunkBytes?: number;
}

/** Values beyond this magnitude (2^500) are summed scaled, so their squares cannot overflow. */
const HUGE = 2 ** 500;

/**
 * Running moments merged chunk by chunk (Chan et al.'s parallel update). `m2` and `sumSq` are
 * kept divided by `scale²` (a power of two, 1 unless values beyond ±2^500 appear), so large
 * finite float64 values (±1e300) give finite std and l2 instead of overflowing.
 */
export class Moments {
  n = 0;
  mean = 0;
  m2 = 0;
  sumSq = 0;
  scale = 1;
  min = Infinity;
  max = -Infinity;
  zeros = 0;
  nan = 0;
  inf = 0;

  /** Adds one chunk, in blocks small enough for the optimising compiler to pick up early. */
  add(a: Decoded): void {
    for (let i = 0; i < a.length; i += BLOCK) this.addBlock(a.subarray(i, i + BLOCK));
  }

  /** The fast loop assumes finite values and falls back if it meets others. */
  private addBlock(a: Decoded): void {
    const len = a.length;
    if (len === 0) return;
    const k = a[0];
    let mn = Infinity, mx = -Infinity, s = 0, s2 = 0, z = 0;
    for (let i = 0; i < len; i++) {
      const x = a[i];
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      const d = x - k;
      s += d;
      s2 += d * d;
      if (x === 0) z++;
    }
    if (!(s2 - s2 === 0) || mn === -Infinity || mx === Infinity) {
      this.addWithNonFinite(a);
      return;
    }
    this.merge(len, k, s, s2, mn, mx, z);
  }

  /** NaN/±Inf counted apart; sums over the finite values scaled when they are huge. */
  private addWithNonFinite(a: Decoded): void {
    let big = 0;
    for (let i = 0; i < a.length; i++) {
      const x = Math.abs(a[i]);
      if (x > big && x !== Infinity) big = x;
    }
    const S = big > HUGE ? 2 ** Math.ceil(Math.log2(big)) : 1;
    let k = NaN, mn = Infinity, mx = -Infinity, s = 0, s2 = 0, z = 0, n = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (x !== x) { this.nan++; continue; }
      if (x === Infinity || x === -Infinity) { this.inf++; continue; }
      if (n === 0) k = x;
      n++;
      if (x < mn) mn = x;
      if (x > mx) mx = x;
      const d = x / S - k / S;
      s += d;
      s2 += d * d;
      if (x === 0) z++;
    }
    if (n > 0) this.merge(n, k, s, s2, mn, mx, z, S);
  }

  /** Adds `count` copies of the finite value x (a sparse tensor's implicit zeros). */
  addRepeated(x: number, count: number): void {
    if (count > 0) this.merge(count, x, 0, 0, x, x, x === 0 ? count : 0);
  }

  /** Merges a chunk given as sums of (x - k)/S and ((x - k)/S)² over its n finite values. */
  private merge(n: number, k: number, s: number, s2: number, mn: number, mx: number, z: number, S = 1): void {
    const meanC = k + S * (s / n);
    const T = Math.max(this.scale, S);
    if (T !== this.scale) {
      const r = this.scale / T;
      this.m2 *= r * r;
      this.sumSq *= r * r;
      this.scale = T;
    }
    const total = this.n + n;
    if (T === 1) {
      const delta = meanC - this.mean;
      this.mean += (delta * n) / total;
      this.m2 += Math.max(0, s2 - (s * s) / n) + (delta * delta * this.n * n) / total;
      this.sumSq += s2 + 2 * k * s + n * k * k;
    } else {
      const c = S / T;
      const delta = meanC / T - this.mean / T;
      this.mean += T * delta * (n / total);
      this.m2 += Math.max(0, s2 - (s * s) / n) * c * c + (delta * delta * this.n * n) / total;
      const kT = k / T;
      this.sumSq += s2 * c * c + 2 * kT * s * c + n * kT * kT;
    }
    this.n = total;
    if (mn < this.min) this.min = mn;
    if (mx > this.max) this.max = mx;
    this.zeros += z;
  }
}

/** numpy.histogram's outer edges for data in [min, max]. */
export function histogramRange(min: number, max: number): [number, number] {
  return min === max ? [min - 0.5, max + 0.5] : [min, max];
}

/** Bin counts with numpy's rules: edges lo + i·step, the last bin closed on the right. */
export class HistogramAccumulator {
  private readonly counts = new Float64Array(HISTOGRAM_BINS);
  private readonly block = new Uint32Array(HISTOGRAM_BINS + 1);
  private readonly block2 = new Uint32Array(HISTOGRAM_BINS + 1);
  private readonly edges = new Float64Array(HISTOGRAM_BINS + 1);
  private readonly norm: number;
  /** How far (in bins) rounding can move an estimate: closer than this to an edge, check it. */
  private readonly tol: number;

  constructor(readonly lo: number, readonly hi: number) {
    const step = (hi - lo) / HISTOGRAM_BINS;
    for (let i = 0; i < HISTOGRAM_BINS; i++) this.edges[i] = i * step + lo;
    this.edges[HISTOGRAM_BINS] = hi;
    this.norm = HISTOGRAM_BINS / (hi - lo);
    this.tol = Math.max(1e-6, 16 * Math.max(Math.abs(lo), Math.abs(hi)) * Number.EPSILON * this.norm);
  }

  /**
   * Adds values. `allFinite` promises no NaN/±Inf and nothing outside [lo, hi] (true in the
   * second pass over data whose first pass found none), which allows the faster loop.
   */
  add(a: Decoded, allFinite = false): void {
    for (let i = 0; i < a.length; i += BLOCK) {
      const part = a.subarray(i, i + BLOCK);
      if (allFinite) this.addFinite(part);
      else this.addChecked(part);
      for (let b = 0; b < HISTOGRAM_BINS; b++) this.counts[b] += this.block[b] + this.block2[b];
      this.block.fill(0);
      this.block2.fill(0);
    }
  }

  /** Adds `count` copies of x. */
  addRepeated(x: number, count: number): void {
    this.addChecked(Float64Array.of(x));
    for (let b = 0; b < HISTOGRAM_BINS; b++) this.counts[b] += this.block[b] * count;
    this.block.fill(0);
  }

  private addChecked(a: Decoded): void {
    const { lo, hi, norm, edges, block, tol } = this;
    const tolHi = 1 - tol;
    const last = HISTOGRAM_BINS - 1;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (!(x >= lo && x <= hi)) continue; // NaN, ±Inf and out-of-range values
      const f = (x - lo) * norm;
      let b = f | 0;
      // The estimate can be off by one only within rounding error of an edge: there,
      // compare with the edges themselves, exactly as numpy does.
      const r = f - b;
      if (r < tol || r > tolHi) {
        if (b === HISTOGRAM_BINS) b = last;
        if (x < edges[b]) b--;
        else if (b !== last && x >= edges[b + 1]) b++;
      }
      block[b]++;
    }
  }

  /** Two elements per step into two count arrays, so consecutive increments do not wait on each other. */
  private addFinite(a: Decoded): void {
    const { lo, norm, edges, block, block2, tol } = this;
    const tolHi = 1 - tol;
    const last = HISTOGRAM_BINS - 1;
    const even = a.length & ~1;
    for (let i = 0; i < even; i += 2) {
      const x = a[i];
      const y = a[i + 1];
      const f = (x - lo) * norm;
      const g = (y - lo) * norm;
      let b = f | 0;
      let d = g | 0;
      const r = f - b;
      const u = g - d;
      if (r < tol || r > tolHi) {
        if (b === HISTOGRAM_BINS) b = last;
        if (x < edges[b]) b--;
        else if (b !== last && x >= edges[b + 1]) b++;
      }
      if (u < tol || u > tolHi) {
        if (d === HISTOGRAM_BINS) d = last;
        if (y < edges[d]) d--;
        else if (d !== last && y >= edges[d + 1]) d++;
      }
      block[b]++;
      block2[d]++;
    }
    if (even < a.length) this.addChecked(a.subarray(even));
  }

  toJSON(): Histogram {
    return { lo: this.lo, hi: this.hi, counts: Array.from(this.counts) };
  }
}

export function finishStats(m: Moments, count: number, hist: HistogramAccumulator | null): TensorStats {
  const has = m.n > 0;
  return {
    count,
    nan: m.nan,
    inf: m.inf,
    zeros: m.zeros,
    min: has ? m.min : null,
    max: has ? m.max : null,
    mean: has ? m.mean : null,
    std: m.n > 1 ? m.scale * Math.sqrt(m.m2 / (m.n - 1)) : null,
    l2: has ? m.scale * Math.sqrt(m.sumSq) : null,
    histogram: hist ? hist.toJSON() : null,
  };
}

/**
 * Statistics of one tensor in two streamed passes (moments, then the histogram over
 * [min, max]); a tensor that fits in one chunk is read once. Re-reading is cheaper than
 * keeping a copy: the second pass comes from the page cache into the same warm buffers.
 * Complex tensors are summarised over their moduli.
 */
export async function computeTensorStats(t: TensorInfo, opts: StatsOptions = {}): Promise<TensorStats> {
  const { view, weight } = storedView(t);
  if (weight > 1) return repeated(await computeTensorStats(view, opts), weight, t.numel);
  if (t.location.source instanceof SparseDenseSource) return sparseStats(t.location.source, opts);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const complex = isComplex(t.dtype);
  const toValues = complex ? moduli : (a: Decoded) => a;
  const m = new Moments();

  if (t.nbytes <= chunkBytes) {
    const all = toValues(await readTensor(t, Number.MAX_SAFE_INTEGER, { chunkBytes: Math.max(1, t.nbytes) }));
    if (opts.isCancelled?.()) throw new CancelledError();
    m.add(all);
    const hist = m.n > 0 ? new HistogramAccumulator(...histogramRange(m.min, m.max)) : null;
    hist?.add(all, m.nan === 0 && m.inf === 0);
    opts.onProgress?.(1);
    return finishStats(m, t.numel, hist);
  }

  const readOpts = { chunkBytes, isCancelled: opts.isCancelled, reuseBuffers: true };
  // Progress in decoded values (a complex element decodes to two): right for quantized tensors too.
  const total = 2 * (complex ? 2 * t.numel : t.numel);
  let done = 0;
  for await (const chunk of tensorChunks(t, readOpts)) {
    m.add(toValues(chunk));
    done += chunk.length;
    opts.onProgress?.(done / total);
  }
  if (m.n === 0) return finishStats(m, t.numel, null);
  const hist = new HistogramAccumulator(...histogramRange(m.min, m.max));
  const allFinite = m.nan === 0 && m.inf === 0;
  for await (const chunk of tensorChunks(t, readOpts)) {
    hist.add(toValues(chunk), allFinite);
    done += chunk.length;
    opts.onProgress?.(done / total);
  }
  return finishStats(m, t.numel, hist);
}

/** A sparse tensor's dense statistics: its coalesced entries plus the implicit zeros, never walked. */
async function sparseStats(src: SparseDenseSource, opts: StatsOptions): Promise<TensorStats> {
  const { positions, values } = await src.coalesced();
  if (opts.isCancelled?.()) throw new CancelledError();
  const zeros = src.numel - positions.length;
  const m = new Moments();
  m.add(values);
  m.addRepeated(0, zeros);
  const hist = m.n > 0 ? new HistogramAccumulator(...histogramRange(m.min, m.max)) : null;
  hist?.add(values);
  hist?.addRepeated(0, zeros);
  opts.onProgress?.(1);
  return finishStats(m, src.numel, hist);
}

/**
 * The statistics of a tensor in which every element of `s`'s tensor appears `w` times (a
 * broadcast view): counts scale by w, min/max/mean stay, the sum of squares and of squared
 * deviations scale by w (so std = s·√(w(n−1)/(wn−1)) over n finite values, l2 = l2·√w).
 */
export function repeated(s: TensorStats, w: number, count: number): TensorStats {
  const n = s.count - s.nan - s.inf;
  let std = s.std;
  if (n === 1 && w > 1) std = 0;
  else if (std !== null) std *= Math.sqrt((w * (n - 1)) / (w * n - 1));
  return {
    count,
    nan: s.nan * w,
    inf: s.inf * w,
    zeros: s.zeros * w,
    min: s.min,
    max: s.max,
    mean: s.mean,
    std,
    l2: s.l2 === null ? null : s.l2 * Math.sqrt(w),
    histogram: s.histogram && { ...s.histogram, counts: s.histogram.counts.map((c) => c * w) },
  };
}

function moduli(a: Decoded): Float64Array {
  const out = new Float64Array(a.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Math.hypot(a[2 * i], a[2 * i + 1]);
  return out;
}
