// Matrix products over the last axis, shared by linear layers and attention projections.
import * as tf from '@tensorflow/tfjs-core';
import type { TensorReader, WeightLayout } from './base';

/** x @ w + b for x of any rank ≥ 2 (leading axes are batch axes); w is [in, out]. */
export function fusedDense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor {
  if (x.rank === 2) return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b });
  const lead = x.shape.slice(0, -1);
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D, b: w, bias: b });
  return tf.reshape(y, [...lead, w.shape[1]]);
}

/** The same with separate ops, whose gradients tfjs computes only where needed. */
export function plainDense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor {
  const rows = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
  let y = tf.matMul(rows as tf.Tensor2D, w);
  if (b) y = tf.add(y, b);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
}

export function dense(unfused: boolean): typeof fusedDense {
  return unfused ? plainDense : fusedDense;
}

/** A stored 2-D weight as the engine's [in, out] matrix. */
export function inOutMatrix(read: TensorReader, name: string, layout: WeightLayout): tf.Tensor {
  if (layout === 'in_out') return read.tensor(name);
  return tf.tidy(() => tf.transpose(read.tensor(name)));
}
