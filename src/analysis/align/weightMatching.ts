// Weight matching (Git Re-Basin, Ainsworth et al. 2023), as samuela/git-re-basin's
// weight_matching.py codes it (methods.md §1.3):
//   perms start at the identity (or init);
//   each sweep visits the groups in a fresh random order (seeded by seed and sweep number);
//   for group p: S = Σ over the members of p of  A_rows · (B_rows with every other group's
//   current permutation applied)ᵀ  (float32 matmuls, float64 accumulation), then
//   ci = linear_sum_assignment(S, maximize); oldL = Σ_i S[i, perm_p[i]], newL = Σ_i S[i, ci[i]];
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

/** Similarity matrix of group gi (n×n, float64) with the other groups permuted by `perms`, plus squared row norms. */
export function similarityMatrix(spec: PermutationSpec, a: StateDict, b: StateDict, perms: Permutations, gi: number, cache?: Map<string, Float32Array>): { S: Float64Array; normA: Float64Array; normB: Float64Array } {
  const g = spec.groups[gi];
  const n = g.size;
  const S = new Float64Array(n * n);
  const normA = new Float64Array(n), normB = new Float64Array(n);
  const shapeOf = (t: string) => lookupTensor(spec, b, t).shape;
  const maps = axisMaps(spec, perms, shapeOf, gi);
  for (const m of g.members) {
    if (!m.cost) continue;
    const ta = lookupTensor(spec, a, m.tensor), tb = lookupTensor(spec, b, m.tensor);
    const key = `${gi}\u0000${m.tensor}\u0000${m.offset}`;
    let ra = cache?.get(key);
    let cols: number;
    if (!ra) {
      ({ rows: ra, cols } = memberRows(ta.values, ta.shape, m, n, undefined));
      cache?.set(key, ra);
    } else cols = ra.length / n;
    const { rows: rb } = memberRows(tb.values, tb.shape, m, n, maps.get(m.tensor));
    const prod = tf.tidy(() => tf.matMul(tf.tensor2d(ra!, [n, cols]), tf.tensor2d(rb, [n, cols]), false, true).dataSync());
    for (let k = 0; k < n * n; k++) S[k] += prod[k];
    for (let i = 0; i < n; i++) {
      let sa = 0, sb = 0;
      for (let c = i * cols, e = c + cols; c < e; c++) {
        sa += ra[c] * ra[c];
        sb += rb[c] * rb[c];
      }
      normA[i] += sa;
      normB[i] += sb;
    }
  }
  return { S, normA, normB };
}

function matchedSum(S: Float64Array, n: number, perm: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += S[i * n + perm[i]];
  return s;
}

/** Per group: objective and mean matched similarity of A against B under `perms`. */
export function groupSimilarities(spec: PermutationSpec, a: StateDict, b: StateDict, perms: Permutations): GroupSimilarity[] {
  return spec.groups.map((g, gi) => {
    const { S, normA, normB } = similarityMatrix(spec, a, b, perms, gi);
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
  const cache = new Map<string, Float32Array>();
  let converged = false;
  for (let it = 0; it < maxIter; it++) {
    const order = Array.from(randomPermutation(k, rng(sweepSeed(seed, it))));
    const rec: SweepRecord = { order, gain: new Array<number>(k).fill(0), changed: new Array<number>(k).fill(0), progress: false };
    order.forEach((gi, done) => {
      if (opts.isCancelled?.()) throw new CancelledError();
      const t0 = performance.now();
      const n = spec.groups[gi].size;
      const { S } = similarityMatrix(spec, a, b, perms, gi, cache);
      const { colForRow } = linearSumAssignment(S, n, { maximize: true, isCancelled: opts.isCancelled });
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
