// Recomputing BatchNorm running statistics from training batches, as PyTorch users do for
// interpolated or otherwise edited networks (reset_running_stats, momentum=None, a few forward
// passes in train mode): each BatchNorm normalises with its batch's statistics, and the running
// mean / unbiased variance become the average of the batches' (or an exponential average when
// a momentum is given).
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError } from '../core/errors';
import type { Model } from './execute';
import { GraphError } from './ir';
import type { StateDict } from './stateDict';

export interface RecomputeOptions {
  /** null (default): cumulative average over the batches; a number: PyTorch's momentum from reset stats. */
  momentum?: number | null;
  isCancelled?: () => boolean;
  onProgress?: (batches: number) => void;
}

type Batches = Iterable<tf.Tensor> | AsyncIterable<tf.Tensor>;

/**
 * Runs `batches` (model inputs; each is disposed here) through the model with BatchNorm in
 * training mode, installs the resulting running statistics in the model and returns them as
 * state-dict entries (running_mean / running_var by name).
 */
export async function recomputeBatchNorm(model: Model, batches: Batches, opts: RecomputeOptions = {}): Promise<StateDict> {
  const bns = model.graph.nodes.filter((n) => n.op === 'batchnorm');
  if (bns.length === 0) throw new GraphError(`${model.graph.description}: the model has no BatchNorm layers`);
  const momentum = opts.momentum ?? null;
  const mean = new Map(bns.map((n) => [n.id, new Float64Array(n.op === 'batchnorm' ? n.numFeatures : 0)]));
  // PyTorch's reset_running_stats: mean 0, variance 1.
  const variance = new Map(bns.map((n) => [n.id, new Float64Array(n.op === 'batchnorm' ? n.numFeatures : 0).fill(1)]));
  let k = 0;
  for await (const x of batches) {
    try {
      if (opts.isCancelled?.()) throw new CancelledError();
      const res = model.forward(x, { batchNormTraining: true });
      k++;
      const f = momentum === null ? 1 / k : momentum;
      try {
        for (const n of bns) {
          const s = res.batchStats[n.id];
          const m = (await s.mean.data()) as Float32Array;
          const v = (await s.variance.data()) as Float32Array;
          const unbiased = s.count > 1 ? s.count / (s.count - 1) : 1;
          const rm = mean.get(n.id)!;
          const rv = variance.get(n.id)!;
          for (let c = 0; c < rm.length; c++) {
            rm[c] = (1 - f) * rm[c] + f * m[c];
            rv[c] = (1 - f) * rv[c] + f * v[c] * unbiased;
          }
        }
      } finally {
        res.output.dispose();
        for (const s of Object.values(res.batchStats)) {
          s.mean.dispose();
          s.variance.dispose();
        }
      }
      opts.onProgress?.(k);
    } finally {
      x.dispose();
    }
  }
  if (k === 0) throw new GraphError('no batches to recompute BatchNorm statistics on');
  const updates: StateDict = new Map();
  for (const n of bns) {
    if (n.op !== 'batchnorm') continue;
    updates.set(n.runningMean, { shape: [n.numFeatures], values: Float32Array.from(mean.get(n.id)!) });
    updates.set(n.runningVar, { shape: [n.numFeatures], values: Float32Array.from(variance.get(n.id)!) });
  }
  model.update(updates);
  return updates;
}
