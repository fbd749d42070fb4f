// How far one tensor moved from another: ‖a‖, ‖b‖, ‖b − a‖, ⟨a, b⟩ and max |b − a|, summed in
// float64 over values of any dtype, streamed in lockstep from the two files so memory stays
// bounded. Pairs where either value is NaN/±Inf are left out and counted.
import type { TensorInfo } from '../core/checkpoint';
import { type Decoded, dtypeSize, isComplex } from '../core/dtype';
import { type ReadOptions, tensorChunks } from '../core/tensorData';

export interface PairMetrics {
  normA: number;
  normB: number;
  /** ‖b − a‖₂. */
  distance: number;
  /** ‖b − a‖ / ‖a‖; null when ‖a‖ = 0. */
  relChange: number | null;
  /** ⟨a, b⟩ / (‖a‖ ‖b‖); null when either is 0. */
  cosine: number | null;
  maxAbsDiff: number;
  /** Value pairs left out because one was NaN or ±Inf. */
  nonFinite: number;
}

/** Running sums over value pairs. */
export class PairAccumulator {
  aa = 0;
  bb = 0;
  ab = 0;
  dd = 0;
  maxAbs = 0;
  nonFinite = 0;

  add(a: ArrayLike<number>, b: ArrayLike<number>): void {
    let aa = 0, bb = 0, ab = 0, dd = 0, mx = this.maxAbs;
    const n = a.length;
    for (let i = 0; i < n; i++) {
      const x = a[i], y = b[i];
      const d = y - x;
      if (d - d !== 0) {
        this.nonFinite++;
        continue;
      }
      aa += x * x;
      bb += y * y;
      ab += x * y;
      dd += d * d;
      const ad = d < 0 ? -d : d;
      if (ad > mx) mx = ad;
    }
    this.aa += aa;
    this.bb += bb;
    this.ab += ab;
    this.dd += dd;
    this.maxAbs = mx;
  }

  result(): PairMetrics {
    const normA = Math.sqrt(this.aa), normB = Math.sqrt(this.bb), distance = Math.sqrt(this.dd);
    return {
      normA,
      normB,
      distance,
      relChange: normA > 0 ? distance / normA : null,
      cosine: normA > 0 && normB > 0 ? this.ab / (normA * normB) : null,
      maxAbsDiff: this.maxAbs,
      nonFinite: this.nonFinite,
    };
  }
}

export function arrayPairMetrics(a: ArrayLike<number>, b: ArrayLike<number>): PairMetrics {
  if (a.length !== b.length) throw new Error(`cannot compare ${a.length} values with ${b.length}`);
  const acc = new PairAccumulator();
  acc.add(a, b);
  return acc.result();
}

/** Elements per lockstep piece: both readers are asked for chunks of this many elements. */
const PIECE = 256 * 1024;

/**
 * Equal-length pieces of the two tensors' values in C order. Each reader reuses its buffers, so
 * a piece is valid until the next is asked for; a reader is advanced only when its chunk is used up.
 */
export async function* lockstepValues(a: TensorInfo, b: TensorInfo, opts: ReadOptions = {}): AsyncGenerator<[Decoded, Decoded]> {
  const ia = tensorChunks(a, { ...opts, chunkBytes: PIECE * dtypeSize(a.dtype), reuseBuffers: true });
  const ib = tensorChunks(b, { ...opts, chunkBytes: PIECE * dtypeSize(b.dtype), reuseBuffers: true });
  try {
    let ca: Decoded | undefined, cb: Decoded | undefined;
    let oa = 0, ob = 0;
    for (;;) {
      if (!ca || oa === ca.length) {
        const r = await ia.next();
        if (r.done) break;
        ca = r.value;
        oa = 0;
      }
      if (!cb || ob === cb.length) {
        const r = await ib.next();
        if (r.done) break;
        cb = r.value;
        ob = 0;
      }
      const n = Math.min(ca.length - oa, cb.length - ob);
      yield [ca.subarray(oa, oa + n), cb.subarray(ob, ob + n)];
      oa += n;
      ob += n;
    }
  } finally {
    await ia.return(undefined);
    await ib.return(undefined);
  }
}

/** Metrics of two stored tensors with the same number of elements (complex: over the (re, im) pairs, cosine of the real part of ⟨a, b⟩). */
export async function tensorPairMetrics(a: TensorInfo, b: TensorInfo, opts: ReadOptions = {}): Promise<PairMetrics> {
  if (a.numel !== b.numel || isComplex(a.dtype) !== isComplex(b.dtype)) throw new Error(`tensors ${a.name} (${a.numel} ${a.dtype}) and ${b.name} (${b.numel} ${b.dtype}) cannot be compared value by value`);
  const acc = new PairAccumulator();
  for await (const [x, y] of lockstepValues(a, b, opts)) acc.add(x, y);
  return acc.result();
}

export interface Movement {
  /** ‖w‖, ‖w − first‖, and when `prev` is given ‖w − prev‖ and ‖prev‖. */
  norm: number;
  fromFirst: number;
  update: number | null;
  prevNorm: number | null;
}

/**
 * A checkpoint's weights against the run's first and previous ones in one pass (each value of
 * the current checkpoint is loaded once): float64 sums; NaN/±Inf pairs are left out.
 */
export function movement(w: ArrayLike<number>, first: ArrayLike<number>, prev?: ArrayLike<number>): Movement {
  const n = w.length;
  let ww = 0, df = 0, dp = 0, pp = 0;
  if (prev) {
    for (let i = 0; i < n; i++) {
      const x = w[i], f = x - first[i], q = prev[i], p = x - q;
      if (f - f !== 0 || p - p !== 0) continue;
      ww += x * x;
      df += f * f;
      dp += p * p;
      pp += q * q;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const x = w[i], f = x - first[i];
      if (f - f !== 0) continue;
      ww += x * x;
      df += f * f;
    }
  }
  return { norm: Math.sqrt(ww), fromFirst: Math.sqrt(df), update: prev ? Math.sqrt(dp) : null, prevNorm: prev ? Math.sqrt(pp) : null };
}
