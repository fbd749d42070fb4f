// The loss stitching trains and evaluates on, as `evaluate` scores: classifiers against their
// labels; language models on y at the last position when the data has labels (toy tasks),
// else on next-token prediction over x.
import * as tf from '@tensorflow/tfjs-core';

/** Logits [N, K] and the labels [N] they are scored against. */
export function scoredLogits(output: tf.Tensor, x: tf.Tensor, y: tf.Tensor1D | undefined): [tf.Tensor2D, tf.Tensor1D] {
  if (output.rank === 2) {
    if (!y) throw new Error('classifier data needs labels');
    return [output as tf.Tensor2D, y];
  }
  const [B, T, V] = output.shape;
  if (y) return [tf.reshape(tf.slice(output, [0, T - 1, 0], [B, 1, V]), [B, V]), y];
  return [tf.reshape(tf.slice(output, [0, 0, 0], [B, T - 1, V]), [-1, V]), tf.reshape(tf.slice(x, [0, 1], [B, T - 1]), [-1])];
}

/** Per-prediction cross-entropy [N] (differentiable in the logits). */
export function crossEntropies(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  // A one-hot product rather than gather(…, batchDims 1), which the wasm backend mishandles.
  return tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(logits, tf.oneHot(labels, logits.shape[1])), 1)) as tf.Tensor1D;
}

/** Sum of cross-entropies, correct argmaxes and the number of predictions, as scalars. */
export function scoreSums(output: tf.Tensor, x: tf.Tensor, y: tf.Tensor1D | undefined): { loss: tf.Scalar; correct: tf.Scalar; count: number } {
  return tf.tidy(() => {
    const [logits, labels] = scoredLogits(output, x, y);
    return {
      loss: tf.sum(crossEntropies(logits, labels)),
      correct: tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), labels), 'float32')),
      count: labels.shape[0],
    } as unknown as tf.TensorContainer;
  }) as unknown as { loss: tf.Scalar; correct: tf.Scalar; count: number };
}
