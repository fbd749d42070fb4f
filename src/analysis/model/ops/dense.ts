// Matrix products over the last axis, shared by linear layers and attention projections.
import * as tf from '@tensorflow/tfjs-core';
import type { OnnxLowerContext, TensorReader, WeightLayout } from './base';

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

/**
 * ONNX: x·Wᵀ + b over the last axis of x (per-example shape `shape`), with W as stored. Gemm
 * reads [out, in] weights transposed in place (no copy of W per run); leading axes are folded
 * into the rows around it.
 */
export function denseOnnx(ctx: OnnxLowerContext, x: string, shape: number[], outF: number, weight: string, layout: WeightLayout, bias?: string): string {
  const inF = shape[shape.length - 1];
  const w = ctx.weight(weight);
  const ins = bias ? [w, ctx.weight(bias)] : [w];
  const gemm = (rows: string) => ctx.op('Gemm', [rows, ...ins], { transB: { i: layout === 'out_in' ? 1 : 0 } });
  if (shape.length === 1) return gemm(x);
  const y = gemm(ctx.op('Reshape', [x, ctx.ints([-1, inF])]));
  return ctx.op('Reshape', [y, ctx.ints([-1, ...shape.slice(0, -1), outF])]);
}
