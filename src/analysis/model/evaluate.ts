// Batched evaluation (mean cross-entropy and accuracy) and feature capture over a dataset.
// Classifiers score y against the logits; language models score next-token prediction over
// x, or, when y is given, y at the last position (toy tasks such as modular addition).
import * as tf from '@tensorflow/tfjs-core';
import { CancelledError, CheckpointError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { type BatchOptions, type InputPlan, batches, planInputs } from '../data/inputs';
import type { Model } from './execute';
import { inferShapes } from './ir';

export interface EvalResult {
  /** Mean cross-entropy (natural log) over scored predictions. */
  loss: number;
  accuracy: number;
  /** Examples evaluated. */
  n: number;
  /** Predictions scored: n for classifiers, n × (T − 1) for next-token prediction. */
  predictions: number;
  backend: string;
  /** onnxruntime: the intra-op threads the passes ran on. */
  threads?: number;
  /** Wall time of the evaluation loop. */
  seconds: number;
}

export interface RunOptions extends BatchOptions {
  isCancelled?: () => boolean;
  /** Called after each batch with examples done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/** Sum of cross-entropies and count of correct argmaxes of logits [N, K] against labels [N]. */
function score(logits: tf.Tensor2D, labels: tf.Tensor1D): { sum: tf.Scalar; correct: tf.Scalar } {
  return tf.tidy(() => {
    const lse = tf.logSumExp(logits, 1);
    // A one-hot product rather than gather(…, batchDims 1), which the wasm backend mishandles.
    const picked = tf.sum(tf.mul(logits, tf.oneHot(labels, logits.shape[1])), 1);
    return {
      sum: tf.sum(tf.sub(lse, picked)),
      correct: tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')),
    };
  });
}

/** Whether the model's logits are per position ([T, vocab]: a language model) rather than per example. */
export function isSequenceOutput(model: Model): boolean {
  return inferShapes(model.graph).get(model.graph.output)!.length === 2;
}

/** Logit values per batch that the default batch size keeps below (256 MB of float32). */
const MAX_BATCH_LOGITS = 1 << 26;

/** 256 examples, fewer for language models whose [B, T, vocab] logits would be too large. */
export function defaultBatchSize(plan: InputPlan, model: Model): number {
  if (!plan.tokens) return 256;
  const perExample = plan.exampleShape[0] * (model.graph.input.vocabSize ?? 1);
  return Math.max(1, Math.min(256, Math.floor(MAX_BATCH_LOGITS / perExample)));
}

export async function evaluate(model: Model, data: Dataset, opts: RunOptions = {}): Promise<EvalResult> {
  const plan = planInputs(data, model.graph);
  opts = { ...opts, batchSize: opts.batchSize ?? defaultBatchSize(plan, model) };
  // Token classifiers (BERT with a classification head) score labels like image classifiers.
  const lm = plan.tokens && model.graph.input.kind === 'tokens' && isSequenceOutput(model);
  if (!lm && !data.y) throw new CheckpointError(data.name, 'the dataset has no labels; give --labels (classifiers are scored against labels)');
  if (lm && !data.y && plan.exampleShape[0] < 2) throw new CheckpointError(data.name, 'next-token scoring needs sequences of at least 2 tokens');
  const total = Math.min(data.n - (opts.start ?? 0), opts.count ?? Infinity);
  const t0 = performance.now();
  let lossSum = 0;
  let correct = 0;
  let scored = 0;
  let done = 0;
  for (const b of batches(data, plan, opts)) {
    try {
      if (opts.isCancelled?.()) throw new CancelledError();
      const { output } = model.forward(b.x, { attentionMask: b.attentionMask, tokenTypes: b.tokenTypes });
      const { sum, correct: c, count } = tf.tidy(() => {
        let logits: tf.Tensor2D;
        let labels: tf.Tensor1D;
        if (!lm) {
          logits = output as tf.Tensor2D;
          labels = b.y!;
        } else if (b.y) {
          const [B, T, V] = output.shape;
          logits = tf.reshape(tf.slice(output, [0, T - 1, 0], [B, 1, V]), [B, V]);
          labels = b.y;
        } else {
          const [B, T, V] = output.shape;
          logits = tf.reshape(tf.slice(output, [0, 0, 0], [B, T - 1, V]), [-1, V]);
          labels = tf.reshape(tf.slice(b.x, [0, 1], [B, T - 1]), [-1]);
        }
        return { ...score(logits, labels), count: tf.scalar(labels.shape[0]) };
      });
      output.dispose();
      const [s, k, m] = await Promise.all([sum.data(), c.data(), count.data()]);
      tf.dispose([sum, c, count]);
      lossSum += s[0];
      correct += k[0];
      scored += m[0];
      done += b.end - b.start;
      opts.onProgress?.(done, total);
    } finally {
      tf.dispose([b.x, b.y, b.attentionMask, b.tokenTypes].filter((t): t is tf.Tensor => t !== undefined));
    }
  }
  return {
    loss: lossSum / scored,
    accuracy: correct / scored,
    n: done,
    predictions: scored,
    backend: model.engine,
    ...(model.threads !== undefined ? { threads: model.threads } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface CapturedFeatures {
  /** [N, …per-example shape] in PyTorch layout. */
  shape: number[];
  values: Float32Array;
}

export interface CaptureOptions extends RunOptions {
  /** Arrays to write some points' values into (e.g. SharedArrayBuffer-backed), each exactly their size. */
  into?: Record<string, Float32Array>;
}

/** The values at `points` (block names, node ids, 'input', 'logits') for the dataset's examples. */
export async function captureFeatures(model: Model, data: Dataset, points: readonly string[], opts: CaptureOptions = {}): Promise<Record<string, CapturedFeatures>> {
  const plan = planInputs(data, model.graph);
  opts = { ...opts, batchSize: opts.batchSize ?? defaultBatchSize(plan, model) };
  const total = Math.min(data.n - (opts.start ?? 0), opts.count ?? Infinity);
  const out: Record<string, CapturedFeatures> = {};
  let done = 0;
  for (const b of batches(data, plan, opts)) {
    try {
      if (opts.isCancelled?.()) throw new CancelledError();
      const { output, features } = model.forward(b.x, { capture: points, attentionMask: b.attentionMask, tokenTypes: b.tokenTypes });
      try {
        for (const name of points) {
          const f = features[name];
          const per = f.size / f.shape[0];
          const dst = (out[name] ??= { shape: [total, ...f.shape.slice(1)], values: intoOrNew(opts.into?.[name], total * per) });
          dst.values.set((await f.data()) as Float32Array, done * per);
        }
      } finally {
        // A captured 'logits' is the output tensor itself; tf.dispose skips what is already freed.
        tf.dispose([output, ...Object.values(features)]);
      }
      done += b.end - b.start;
      opts.onProgress?.(done, total);
    } finally {
      tf.dispose([b.x, b.y, b.attentionMask, b.tokenTypes].filter((t): t is tf.Tensor => t !== undefined));
    }
  }
  return out;
}

function intoOrNew(into: Float32Array | undefined, size: number): Float32Array {
  if (into && into.length !== size) throw new RangeError(`capture buffer of ${into.length} values for ${size}`);
  return into ?? new Float32Array(size);
}
