// Training and evaluating one stitched network: the bottom model up to a stitch point, the
// stitching layer, and the top model from its matching point. Only the stitching layer learns
// (tf.variableGrads over its variables; both models stay frozen, BatchNorms of the models in
// eval mode): Adam, cosine-decayed learning rate, cross-entropy on the task.
import * as tf from '@tensorflow/tfjs-core';
import '../model/gradients';
import { CancelledError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { type InputPlan, batches, examplesTensor } from '../data/inputs';
import type { Model } from '../model/execute';
import { Adam, cosineLr } from './adam';
import type { StitchLayer } from './stitchLayer';
import { crossEntropies, scoreSums, scoredLogits } from './taskLoss';
import { seededRandom } from './stitchLayer';

export interface StitchPair {
  bottom: Model;
  /** Capture point of the bottom model. */
  from: string;
  top: Model;
  /** Matching point of the top model. */
  to: string;
  layer: StitchLayer;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Training examples to use (the first N); default all. */
  count?: number;
  isCancelled?: () => boolean;
  /** Fraction of this training done (0…1). */
  onProgress?: (fraction: number) => void;
}

export interface TrainResult {
  steps: number;
  /** Mean training loss over the last epoch. */
  trainLoss: number | null;
  seconds: number;
}

/** One step: the bottom's features (no gradient), then loss and gradients through the stitch and the top. */
export function trainStep(pair: StitchPair, x: tf.Tensor, y: tf.Tensor1D | undefined, adam: Adam, lr: number): number {
  const feats = pair.bottom.features(x, [pair.from]);
  const h0 = feats[pair.from];
  try {
    const { value, grads } = tf.variableGrads(() => {
      const h = pair.layer.apply(h0, true);
      const { output } = pair.top.forwardFrom(pair.to, h, { differentiable: true });
      const [logits, labels] = scoredLogits(output, x, y);
      return tf.mean(crossEntropies(logits, labels)) as tf.Scalar;
    }, pair.layer.variables);
    adam.step(grads, lr);
    pair.layer.commitStatistics();
    pair.layer.invalidate();
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return loss;
  } finally {
    h0.dispose();
  }
}

export async function trainStitch(pair: StitchPair, data: Dataset, plan: InputPlan, opts: TrainOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const n = Math.min(data.n, opts.count ?? Infinity);
  const perEpoch = Math.ceil(n / opts.batchSize);
  const total = perEpoch * opts.epochs;
  const adam = new Adam(pair.layer.variables);
  const rand = seededRandom(opts.seed);
  let step = 0;
  let last: number | null = null;
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const order = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      let sum = 0;
      for (let s = 0; s < n; s += opts.batchSize) {
        if (opts.isCancelled?.()) throw new CancelledError();
        const idx = order.slice(s, s + opts.batchSize);
        const x = examplesTensor(data, plan, idx);
        const y = data.y ? tf.tensor1d(Int32Array.from(idx, (k) => data.y![k]), 'int32') : undefined;
        try {
          sum += trainStep(pair, x, y, adam, cosineLr(opts.lr, step, total));
        } finally {
          tf.dispose([x, ...(y ? [y] : [])]);
        }
        step++;
        opts.onProgress?.(step / total);
        // Let cancellation and progress messages through between steps.
        if (step % 8 === 0) await new Promise((r) => setImmediate(r));
      }
      last = sum / perEpoch;
    }
  } finally {
    adam.dispose();
  }
  return { steps: step, trainLoss: last, seconds: (performance.now() - t0) / 1000 };
}

export interface StitchedMetrics {
  loss: number;
  accuracy: number;
}

/** Loss and accuracy of bottom → stitch (eval mode) → top on `data`. */
export async function evaluateStitched(pair: StitchPair, data: Dataset, plan: InputPlan, opts: { batchSize: number; count?: number; isCancelled?: () => boolean }): Promise<StitchedMetrics> {
  let loss = 0;
  let correct = 0;
  let count = 0;
  for (const b of batches(data, plan, { batchSize: opts.batchSize, count: opts.count })) {
    try {
      if (opts.isCancelled?.()) throw new CancelledError();
      const s = tf.tidy(() => {
        const h0 = pair.bottom.features(b.x, [pair.from])[pair.from];
        const { output } = pair.top.forwardFrom(pair.to, pair.layer.apply(h0, false));
        return scoreSums(output, b.x, b.y) as unknown as tf.TensorContainer;
      }) as unknown as ReturnType<typeof scoreSums>;
      const [l, c] = await Promise.all([s.loss.data(), s.correct.data()]);
      tf.dispose([s.loss, s.correct]);
      loss += l[0];
      correct += c[0];
      count += s.count;
    } finally {
      tf.dispose([b.x, ...(b.y ? [b.y] : [])]);
    }
  }
  return { loss: loss / count, accuracy: correct / count };
}
