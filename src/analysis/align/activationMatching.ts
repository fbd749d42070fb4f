// Activation matching (Git Re-Basin, methods.md §1.5, as samuela/git-re-basin's
// mnist_mlp_activation_matching.py and online_stats.py code it): run A and B (tfjs, the graph
// executor) on the same data, and for every permutation group accumulate, in float64 and
// streaming over batches, E_ab = cov(a, b)/(count − 1) + outer(μ_a, μ_b) between A's and B's
// units; then perm = linear_sum_assignment(E_ab, maximize). Groups are independent.
//
// Which activations carry a group's units (capture points):
//   - unit groups (hidden layers, conv channels, inner block convs, MLP hidden of a
//     transformer): the values the next weight layer reads, i.e. the post-activation outputs
//     (post-ReLU for an MLP; after pooling or flatten when those come first);
//   - attention heads: the per-head attention outputs before the output projection
//     (`<attn>:heads`); a head is a block of head_dim features;
//   - residual streams: the stream values at every block boundary the stream flows through (ResNet
//     block outputs after the final ReLU, transformer residual sums after each block and the
//     embedding sum), falling back to the residual adds' outputs; the group's E_ab is the mean of
//     the per-point matrices.
// A value carrying a group with repeat r (a flattened conv channel, a head) contributes each of
// its r features of a unit as a separate row: [N, n·r] → [N·r, n], as conv features
// [N, C, H, W] become [N·H·W, C].
//
// Reported similarity: the mean Pearson correlation of matched units (A's unit i against B's unit
// perm[i]; 0 for a unit with zero variance), averaged over the group's capture points, before
// (identity) and after matching.
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, CheckpointError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { batches, planInputs } from '../data/inputs';
import { defaultBatchSize } from '../model/evaluate';
import { createModel } from '../model/execute';
import { GraphError, type ModelGraph, opOf } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import type { Permutations } from './applyPermutation';
import { linearSumAssignment } from './linearAssignment';
import { type CarriedAxis, type PermutationSpec, permutationSpecWithValues } from './permutationSpec';

export interface ActivationMatchingOptions {
  /** Examples per forward pass (default: as evaluation). */
  batchSize?: number;
  /** Use only the first `count` examples (default: all). */
  count?: number;
  isCancelled?: () => boolean;
  /** stage 'capture': examples done of the total; stage 'match': groups done. */
  onProgress?: (stage: 'capture' | 'match', done: number, total: number) => void;
}

/** Streaming first and second moments of two unit sets (Chan et al.'s pairwise merge, float64). */
export class CrossMoments {
  count = 0;
  readonly meanA: Float64Array;
  readonly meanB: Float64Array;
  /** Σ (a − μ_a)ᵀ (b − μ_b), n×n row-major (rows: A's units). */
  readonly cross: Float64Array;
  /** Σ (a − μ_a)² and Σ (b − μ_b)² per unit. */
  readonly sqA: Float64Array;
  readonly sqB: Float64Array;

  constructor(readonly n: number) {
    this.meanA = new Float64Array(n);
    this.meanB = new Float64Array(n);
    this.cross = new Float64Array(n * n);
    this.sqA = new Float64Array(n);
    this.sqB = new Float64Array(n);
  }

  /**
   * Merges a batch given by its own statistics: m rows, batch means, batch-centred cross
   * products and squared deviations (float32 from tfjs; the merge is float64).
   */
  merge(m: number, meanA: ArrayLike<number>, meanB: ArrayLike<number>, cross: ArrayLike<number>, sqA: ArrayLike<number>, sqB: ArrayLike<number>): void {
    const n = this.n, n1 = this.count, N = n1 + m;
    if (m === 0) return;
    const w = (n1 * m) / N;
    const da = new Float64Array(n), db = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      da[i] = meanA[i] - this.meanA[i];
      db[i] = meanB[i] - this.meanB[i];
    }
    for (let i = 0; i < n; i++) {
      const row = i * n, wa = w * da[i];
      for (let j = 0; j < n; j++) this.cross[row + j] += cross[row + j] + wa * db[j];
      this.sqA[i] += sqA[i] + w * da[i] * da[i];
      this.sqB[i] += sqB[i] + w * db[i] * db[i];
      this.meanA[i] += (da[i] * m) / N;
      this.meanB[i] += (db[i] * m) / N;
    }
    this.count = N;
  }

  /** E[a bᵀ] as online_stats.py's E_ab(): cov/(count − 1) + outer(μ_a, μ_b). */
  eab(): Float64Array {
    const n = this.n, out = new Float64Array(n * n), d = Math.max(1, this.count - 1);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = this.cross[i * n + j] / d + this.meanA[i] * this.meanB[j];
    return out;
  }

  /**
   * Pearson correlation of A's unit i and B's unit j (0 when either has zero variance), clamped
   * to [−1, 1]: the float32 batch products can overshoot by a few ulps for identical units.
   */
  correlation(i: number, j: number): number {
    const d = Math.sqrt(this.sqA[i] * this.sqB[j]);
    return d > 0 ? Math.max(-1, Math.min(1, this.cross[i * this.n + j] / d)) : 0;
  }

  /** Mean over i of correlation(i, perm[i]). */
  meanMatchedCorrelation(perm: ArrayLike<number>): number {
    let s = 0;
    for (let i = 0; i < this.n; i++) s += this.correlation(i, perm[i]);
    return this.n ? s / this.n : 0;
  }
}

/** Capture points of every group of `spec` (see the file comment), in spec order. */
export function activationCapturePoints(graph: ModelGraph, spec: PermutationSpec, values: Map<string, CarriedAxis>): string[][] {
  const points = spec.groups.map(() => new Set<string>());
  const carried = (id: string): CarriedAxis | undefined => values.get(id);
  for (const n of graph.nodes) {
    if (opOf(n).readsUnits) {
      const c = carried(n.inputs[0]);
      if (c && spec.groups[c.group].kind !== 'stream') points[c.group].add(n.inputs[0]);
    }
  }
  for (const [id, c] of values) if (spec.groups[c.group].kind === 'heads') points[c.group].add(id);
  spec.groups.forEach((g, gi) => {
    if (g.kind !== 'stream') return;
    for (const b of graph.blocks) if (carried(b.output)?.group === gi) points[gi].add(b.output);
    if (points[gi].size === 0) for (const n of graph.nodes) if (n.op === 'add' && carried(n.id)?.group === gi) points[gi].add(n.id);
  });
  return points.map((p, gi) => {
    if (p.size === 0) throw new GraphError(`${spec.groups[gi].name}: no value in the graph carries this group's units, so it cannot be matched by activations`);
    return [...p];
  });
}

/** A captured value as an [rows, n] matrix of unit activations (see the file comment). */
function unitMatrix(v: tf.Tensor, n: number, repeat: number, point: string): tf.Tensor2D {
  if (v.rank === 4) {
    // [B, C, H, W] (PyTorch layout) → [B·H·W, C].
    if (repeat !== 1 || v.shape[1] !== n) throw new GraphError(`${point}: [${v.shape}] does not hold ${n} channels`);
    return tf.reshape(tf.transpose(v, [0, 2, 3, 1]), [-1, n]);
  }
  const f = v.shape[v.rank - 1];
  if (f !== n * repeat) throw new GraphError(`${point}: ${f} features are not ${n} units × ${repeat}`);
  if (repeat === 1) return tf.reshape(v, [-1, n]);
  return tf.reshape(tf.transpose(tf.reshape(v, [-1, n, repeat]), [0, 2, 1]), [-1, n]);
}

export interface GroupActivationStats {
  /** Capture points of the group, and the moments of A's and B's units at each. */
  points: string[];
  moments: CrossMoments[];
}

/** Runs A and B over the data and accumulates the cross moments of every group at its capture points. */
export async function activationStatistics(graph: ModelGraph, a: StateDict, b: StateDict, data: Dataset, opts: ActivationMatchingOptions = {}): Promise<{ spec: PermutationSpec; groups: GroupActivationStats[]; examples: number }> {
  const { spec, values } = permutationSpecWithValues(graph);
  const points = activationCapturePoints(graph, spec, values);
  const groups: GroupActivationStats[] = points.map((p, gi) => ({ points: p, moments: p.map(() => new CrossMoments(spec.groups[gi].size)) }));
  const capture = [...new Set(points.flat())];
  const plan = planInputs(data, graph);
  const modelA = createModel(graph, a);
  const modelB = createModel(graph, b);
  let done = 0;
  try {
    const batchSize = opts.batchSize ?? defaultBatchSize(plan, modelA);
    const total = Math.min(data.n, opts.count ?? Infinity);
    for (const batch of batches(data, plan, { batchSize, count: total })) {
      try {
        if (opts.isCancelled?.()) throw new CancelledError();
        const ra = modelA.forward(batch.x, { capture });
        const rb = modelB.forward(batch.x, { capture });
        try {
          for (const [gi, g] of groups.entries()) {
            const { size: n } = spec.groups[gi];
            for (const [k, point] of g.points.entries()) {
              const repeat = values.get(point)!.repeat;
              // Batch moments on the backend (float32), merged into the float64 totals.
              const parts = tf.tidy(() => {
                const xa = unitMatrix(ra.features[point], n, repeat, point);
                const xb = unitMatrix(rb.features[point], n, repeat, point);
                const ma = tf.mean(xa, 0), mb = tf.mean(xb, 0);
                const ca = tf.sub(xa, ma), cb = tf.sub(xb, mb);
                return [ma, mb, tf.matMul(ca, cb, true, false), tf.sum(tf.square(ca), 0), tf.sum(tf.square(cb), 0), tf.scalar(xa.shape[0])];
              });
              const [ma, mb, cross, sqA, sqB, rows] = await Promise.all(parts.map((t) => t.data()));
              tf.dispose(parts);
              g.moments[k].merge(rows[0], ma, mb, cross, sqA, sqB);
            }
          }
        } finally {
          tf.dispose([ra.output, rb.output, ...Object.values(ra.features), ...Object.values(rb.features)]);
        }
        done += batch.end - batch.start;
        opts.onProgress?.('capture', done, total);
      } finally {
        batch.x.dispose();
        batch.y?.dispose();
      }
    }
  } finally {
    modelA.dispose();
    modelB.dispose();
  }
  if (done === 0) throw new CheckpointError(data.name, 'no examples to capture activations from');
  return { spec, groups, examples: done };
}

export interface ActivationMatchingResult {
  spec: PermutationSpec;
  /** perms[g][i]: the unit of B matched with unit i of A (apply to B). */
  perms: Permutations;
  /** Per group: capture points, and mean matched Pearson correlation before (identity) and after. */
  points: string[][];
  correlationBefore: number[];
  correlationAfter: number[];
  /** Per group: Σ_i E[i, perm[i]] (E_ab averaged over the capture points) before and after. */
  objectiveBefore: number[];
  objectiveAfter: number[];
  /** Per group: E_ab averaged over its capture points (n×n, rows A's units), for plots. */
  eab: Float64Array[];
  /**
   * Per group: A's units with zero variance at every capture point (dead on this data). Their
   * E_ab rows are flat, so any B units left over fit them equally well.
   */
  deadUnits: Int32Array[];
  /** Seconds per group spent in the assignment; capture time is in captureSeconds. */
  groupSeconds: number[];
  captureSeconds: number;
  examples: number;
}

/** Mean of the per-point E_ab matrices of a group. */
export function groupEab(g: GroupActivationStats): Float64Array {
  const n = g.moments[0].n, out = new Float64Array(n * n);
  for (const m of g.moments) {
    const e = m.eab();
    for (let k = 0; k < e.length; k++) out[k] += e[k] / g.moments.length;
  }
  return out;
}

const matched = (e: Float64Array, n: number, perm: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < n; i++) s += e[i * n + perm[i]];
  return s;
};
const meanCorrelation = (g: GroupActivationStats, perm: ArrayLike<number>): number => g.moments.reduce((s, m) => s + m.meanMatchedCorrelation(perm), 0) / g.moments.length;

/** Activation matching of B onto A on `data` (same graph). Needs a tfjs backend. */
export async function activationMatching(graph: ModelGraph, a: StateDict, b: StateDict, data: Dataset, opts: ActivationMatchingOptions = {}): Promise<ActivationMatchingResult> {
  const t0 = performance.now();
  const { spec, groups, examples } = await activationStatistics(graph, a, b, data, opts);
  const captureSeconds = (performance.now() - t0) / 1000;
  const r: ActivationMatchingResult = {
    spec, perms: [], points: groups.map((g) => g.points),
    correlationBefore: [], correlationAfter: [], objectiveBefore: [], objectiveAfter: [], eab: [], deadUnits: [], groupSeconds: [],
    captureSeconds, examples,
  };
  for (const [gi, g] of groups.entries()) {
    if (opts.isCancelled?.()) throw new CancelledError();
    const t = performance.now();
    const n = spec.groups[gi].size;
    const identity = Int32Array.from({ length: n }, (_, i) => i);
    const e = groupEab(g);
    const perm = Int32Array.from(linearSumAssignment(e, n, { maximize: true, isCancelled: opts.isCancelled }).colForRow);
    r.perms.push(perm);
    r.eab.push(e);
    r.deadUnits.push(Int32Array.from(identity.filter((i) => g.moments.every((m) => m.sqA[i] === 0))));
    r.correlationBefore.push(meanCorrelation(g, identity));
    r.correlationAfter.push(meanCorrelation(g, perm));
    r.objectiveBefore.push(matched(e, n, identity));
    r.objectiveAfter.push(matched(e, n, perm));
    r.groupSeconds.push((performance.now() - t) / 1000);
    opts.onProgress?.('match', gi + 1, groups.length);
  }
  return r;
}
