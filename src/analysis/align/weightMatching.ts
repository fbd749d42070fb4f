// Weight matching (Git Re-Basin, Ainsworth et al. 2023), as samuela/git-re-basin's
// weight_matching.py codes it (methods.md §1.3):
//   perms start at the identity (or init);
//   each sweep visits the groups in a fresh random order (seeded by seed and sweep number);
//   for group p: S = Σ over the members of p of  A_rows · (B_rows with every other group's
//   current permutation applied)ᵀ  (float32 matmuls, float64 accumulation), then
//   ci = linear_sum_assignment(S, maximize) (exact; warm-started from the group's last prices); oldL = Σ_i S[i, perm_p[i]], newL = Σ_i S[i, ci[i]];
//   progress |= newL > oldL + 1e-12; perm_p = ci;
//   stop after a sweep without progress, or after maxIter (100) sweeps.
// Members flagged cost: false (BatchNorm running statistics) are permuted but not scored, as
// methods.md §1.4 recommends for BN buffers.
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError } from '../core/errors';
import type { StateDict } from '../model/stateDict';
import { type AxisMaps, type Permutations, axisMaps, gatherAxes, identityPermutations, lookupTensor, randomPermutation, rng } from './applyPermutation';
import { linearSumAssignment } from './linearAssignment';
import type { PermutationMember, PermutationSpec } from './permutationSpec';

export interface WeightMatchingOptions {
  /** Seed of the per-sweep visiting orders (default 0). */
  seed?: number;
  /** Most sweeps (default 100). */
  maxIter?: number;
  /** Starting permutations (default: identities). */
  initPerm?: Permutations;
  isCancelled?: () => boolean;
  /** After every group visit: sweep (0-based), groups done in this sweep, groups per sweep. */
  onProgress?: (sweep: number, done: number, total: number) => void;
  /** Member products to reuse and keep (shared with groupSimilarities for the report). */
  cache?: ProductCache;
}

export interface SweepRecord {
  /** Group indices in the order visited. */
  order: number[];
  /** Per group (spec order): newL − oldL at its visit, and units whose match changed. */
  gain: number[];
  changed: number[];
  progress: boolean;
}

export interface WeightMatchingResult {
  perms: Permutations;
  /** Sweeps run, including the final one without progress. */
  iterations: number;
  /** False when maxIter sweeps all made progress. */
  converged: boolean;
  sweeps: SweepRecord[];
  /** Seconds spent per group (similarity matrices and assignments), spec order. */
  groupSeconds: number[];
}

export interface GroupSimilarity {
  /** Σ_i S[i, perm[i]]: the weight-matching objective of this group (other groups' permutations applied). */
  objective: number;
  /** Mean over units of the cosine between A's unit vector and B's matched unit vector (all scored members concatenated). */
  meanCosine: number;
  /** Mean of S[i, perm[i]] (raw inner products). */
  meanInner: number;
}

/** Rows of one member's segment as an [n, rest] matrix: unit-major, other axes (mapped) in C order. */
function memberRows(values: Float32Array, shape: readonly number[], m: PermutationMember, n: number, maps: AxisMaps | undefined): { rows: Float32Array; cols: number } {
  const rank = shape.length;
  const seg = Int32Array.from({ length: n * m.repeat }, (_, k) => m.offset + k);
  const use: AxisMaps = shape.map((_, a) => (a === m.axis ? seg : (maps?.[a] ?? null)));
  const order = [m.axis, ...Array.from({ length: rank }, (_, a) => a).filter((a) => a !== m.axis)];
  const total = (values.length / shape[m.axis]) * seg.length;
  const rows = gatherAxes(values, shape, order, use, new Float32Array(total));
  return { rows, cols: total / n };
}

/**
 * What is kept per scored member between similarity computations (weight matching's sweeps,
 * the before/after report): A's rows transposed ([cols, n], fixed), B's rows ([n, cols]) and
 * Q = B_rows · A_rowsᵀ (B units × A units) as last computed. Between two visits of a group only
 * the units of its neighbours that moved change B's rows, so Q is corrected by those columns
 * alone (a rank-|changed| update) unless most of them moved.
 */
export interface MemberProduct {
  raT: Float32Array;
  cols: number;
  /** Σ over the member of A's squared unit entries (cosines need them). */
  normA: Float64Array;
  rb?: Float32Array;
  q?: Float64Array;
  /** The other axes' maps rb was gathered with (null: unpermuted), to skip unchanged members. */
  maps?: AxisMaps;
}

/** The maps of every axis but `axis` (copied), or null where the axis is not permuted. */
function otherAxisMaps(maps: AxisMaps | undefined, rank: number, axis: number): AxisMaps {
  return Array.from({ length: rank }, (_, a) => (a === axis || !maps?.[a] ? null : Int32Array.from(maps[a]!)));
}

function sameMaps(x: AxisMaps, y: AxisMaps): boolean {
  if (x.length !== y.length) return false;
  for (let a = 0; a < x.length; a++) {
    const p = x[a], q = y[a];
    if (!p || !q) {
      if (p !== q) return false;
      continue;
    }
    for (let i = 0; i < p.length; i++) if (p[i] !== q[i]) return false;
  }
  return true;
}

export type ProductCache = Map<string, MemberProduct>;

/** Fraction of changed columns above which Q is recomputed rather than corrected. */
const RECOMPUTE_AT = 0.5;

/** [rows, cols] row-major → [cols, rows]. */
function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < rows; i++) for (let c = 0, src = i * cols; c < cols; c++) out[c * rows + i] = x[src + c];
  return out;
}

/** x [n, k] · y [k, n] on the tfjs backend, as float32 values. */
function matmul(x: Float32Array, y: Float32Array, n: number, k: number): Float32Array {
  // No transposeB: tfjs-backend-wasm's matMul with it is an order of magnitude slower than
  // with the operands laid out for a plain product. The tensor leaves tidy, not its values:
  // tidy walks whatever it returns element by element, which for n×n values costs far more
  // than the product itself.
  const t = tf.tidy(() => tf.matMul(tf.tensor2d(x, [n, k]), tf.tensor2d(y, [k, n])));
  const out = t.dataSync() as Float32Array;
  t.dispose();
  return out;
}

/** Columns of two [n, cols] matrices that differ anywhere. */
function changedColumns(a: Float32Array, b: Float32Array, n: number, cols: number): number[] {
  const mark = new Uint8Array(cols);
  for (let i = 0; i < n; i++) for (let c = 0, o = i * cols; c < cols; c++) if (a[o + c] !== b[o + c]) mark[c] = 1;
  const out: number[] = [];
  for (let c = 0; c < cols; c++) if (mark[c]) out.push(c);
  return out;
}

/** (x − y)[:, cols] of two [n, width] matrices, as [n, cols.length]. */
function columnDifference(x: Float32Array, y: Float32Array, cols: Int32Array, n: number, width: number): Float32Array {
  const k = cols.length, d = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let t = 0, o = i * width; t < k; t++) d[i * k + t] = x[o + cols[t]] - y[o + cols[t]];
  return d;
}

/** Q for B's current rows: recomputed, or corrected by the changed columns C (Q += D_C · A_Cᵀ, D = new − old). */
function updateProduct(mp: MemberProduct, rb: Float32Array, n: number): Float64Array {
  const { raT, cols } = mp;
  const changed = mp.q && mp.rb ? changedColumns(mp.rb, rb, n, cols) : undefined;
  if (!mp.q || !mp.rb || changed!.length > RECOMPUTE_AT * cols) mp.q = Float64Array.from(matmul(rb, raT, n, cols));
  else if (changed!.length > 0) {
    const k = changed!.length;
    const ac = new Float32Array(k * n);
    changed!.forEach((c, t) => ac.set(raT.subarray(c * n, c * n + n), t * n));
    const delta = matmul(columnDifference(rb, mp.rb, Int32Array.from(changed!), n, cols), ac, n, k);
    addInto(mp.q, delta);
  }
  mp.rb = rb;
  return mp.q;
}

/**
 * Similarity matrix of group gi (n×n, float64, rows A's units) with the other groups permuted
 * by `perms`, plus (with `norms`) squared unit norms of A and B. `cache` keeps member products
 * between calls (pass one map for a whole weight matching and its report).
 */
export function similarityMatrix(spec: PermutationSpec, a: StateDict, b: StateDict, perms: Permutations, gi: number, cache: ProductCache = new Map(), norms = true): { S: Float64Array; normA: Float64Array; normB: Float64Array } {
  const g = spec.groups[gi];
  const n = g.size;
  const T = new Float64Array(n * n); // Σ Q over the members: B units × A units
  const normA = new Float64Array(n), normB = new Float64Array(n);
  const shapeOf = (t: string) => lookupTensor(spec, b, t).shape;
  const maps = axisMaps(spec, perms, shapeOf, gi);
  for (const m of g.members) {
    if (!m.cost) continue;
    const key = `${gi}\u0000${m.tensor}\u0000${m.offset}`;
    let mp = cache.get(key);
    if (!mp) {
      const ta = lookupTensor(spec, a, m.tensor);
      const { rows, cols } = memberRows(ta.values, ta.shape, m, n, undefined);
      mp = { raT: transposed(rows, n, cols), cols, normA: rowSquares(rows, n, cols) };
      cache.set(key, mp);
    }
    const tb = lookupTensor(spec, b, m.tensor);
    const other = otherAxisMaps(maps.get(m.tensor), tb.shape.length, m.axis);
    let q: Float64Array, rb: Float32Array;
    if (mp.q && mp.rb && mp.maps && sameMaps(mp.maps, other)) ({ q, rb } = { q: mp.q, rb: mp.rb }); // no neighbour moved
    else {
      rb = memberRows(tb.values, tb.shape, m, n, maps.get(m.tensor)).rows;
      q = updateProduct(mp, rb, n);
      mp.maps = other;
    }
    addInto(T, q);
    if (!norms) continue;
    addInto(normA, mp.normA);
    addInto(normB, rowSquares(rb, n, mp.cols));
  }
  // S[i, j] = <A_i, B_j> = T[j, i].
  return { S: transposedSquare(T, n), normA, normB };
}

// Small loop helpers: called many times, V8 optimises them fully; the same loops inline in the
// (rarely called, long) similarityMatrix ran unoptimised for most of a cold run.

function addInto(x: Float64Array, y: ArrayLike<number>): void {
  for (let k = 0; k < x.length; k++) x[k] += y[k];
}

function rowSquares(x: Float32Array, n: number, cols: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = i * cols, e = c + cols; c < e; c++) s += x[c] * x[c];
    out[i] = s;
  }
  return out;
}

/** Transpose of an n×n matrix, in 32×32 tiles so that both sides stay in cache. */
function transposedSquare(t: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n * n), B = 32;
  for (let j0 = 0; j0 < n; j0 += B) {
    for (let i0 = 0; i0 < n; i0 += B) {
      const j1 = Math.min(n, j0 + B), i1 = Math.min(n, i0 + B);
      for (let j = j0; j < j1; j++) for (let i = i0, o = j * n; i < i1; i++) out[i * n + j] = t[o + i];
    }
  }
  return out;
}

function matchedSum(S: Float64Array, n: number, perm: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += S[i * n + perm[i]];
  return s;
}

/** Per group: objective and mean matched similarity of A against B under `perms`. */
export function groupSimilarities(spec: PermutationSpec, a: StateDict, b: StateDict, perms: Permutations, cache: ProductCache = new Map()): GroupSimilarity[] {
  return spec.groups.map((g, gi) => {
    const { S, normA, normB } = similarityMatrix(spec, a, b, perms, gi, cache);
    const n = g.size, p = perms[gi];
    let cos = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.sqrt(normA[i] * normB[p[i]]);
      cos += d > 0 ? S[i * n + p[i]] / d : 0;
    }
    const objective = matchedSum(S, n, p);
    return { objective, meanCosine: n ? cos / n : 0, meanInner: n ? objective / n : 0 };
  });
}

/** Seed of sweep `it` (git-re-basin's rngmix(rng, iteration)). */
function sweepSeed(seed: number, it: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(it + 1, 0x85ebca77)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

/** Weight matching of B onto A; the returned perms align B to A (apply them to B). Needs a tfjs backend. */
export function weightMatching(spec: PermutationSpec, a: StateDict, b: StateDict, opts: WeightMatchingOptions = {}): WeightMatchingResult {
  const maxIter = opts.maxIter ?? 100;
  const seed = opts.seed ?? 0;
  const perms: Permutations = (opts.initPerm ?? identityPermutations(spec)).map((p) => Int32Array.from(p));
  const k = spec.groups.length;
  const sweeps: SweepRecord[] = [];
  const groupSeconds = new Array<number>(k).fill(0);
  const cache = opts.cache ?? new Map();
  // Each group's last optimal column prices: its next matrix differs a little (other groups'
  // permutations moved), so they warm-start the next assignment.
  const prices: (Float64Array | undefined)[] = new Array(k).fill(undefined);
  let converged = false;
  for (let it = 0; it < maxIter; it++) {
    const order = Array.from(randomPermutation(k, rng(sweepSeed(seed, it))));
    const rec: SweepRecord = { order, gain: new Array<number>(k).fill(0), changed: new Array<number>(k).fill(0), progress: false };
    order.forEach((gi, done) => {
      if (opts.isCancelled?.()) throw new CancelledError();
      const t0 = performance.now();
      const n = spec.groups[gi].size;
      const { S } = similarityMatrix(spec, a, b, perms, gi, cache, false);
      const { colForRow, prices: p } = linearSumAssignment(S, n, { maximize: true, isCancelled: opts.isCancelled, initialPrices: prices[gi] });
      prices[gi] = p;
      const oldL = matchedSum(S, n, perms[gi]);
      const newL = matchedSum(S, n, colForRow);
      if (newL > oldL + 1e-12) rec.progress = true;
      rec.gain[gi] = newL - oldL;
      let changed = 0;
      for (let i = 0; i < n; i++) if (colForRow[i] !== perms[gi][i]) changed++;
      rec.changed[gi] = changed;
      perms[gi] = Int32Array.from(colForRow);
      groupSeconds[gi] += (performance.now() - t0) / 1000;
      opts.onProgress?.(it, done + 1, k);
    });
    sweeps.push(rec);
    if (!rec.progress) {
      converged = true;
      break;
    }
  }
  return { perms, iterations: sweeps.length, converged, sweeps, groupSeconds };
}
