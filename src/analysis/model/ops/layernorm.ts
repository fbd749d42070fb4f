// LayerNorm over the last axis with PyTorch's biased variance; affine parameters optional
// (TransformerLens' folded LNPre has none).
import * as tf from '@tensorflow/tfjs-core';
import { type OpModule, fail, params, ref, refs } from './base';

export interface LayerNormOp {
  op: 'layernorm';
  weight?: string;
  bias?: string;
  size: number;
  eps: number;
}

export const layernorm: OpModule<LayerNormOp> = {
  tensors: (n) => refs(ref(n.weight, [n.size], 'ones'), ref(n.bias, [n.size], 'zeros')),
  shape(n, [x]) {
    if (x[x.length - 1] !== n.size) fail(n, `normalises ${n.size} features, gets [${x}]`);
    return x;
  },
  prepare: (n, read) => params({ weight: n.weight === undefined ? undefined : read.tensor(n.weight), bias: n.bias === undefined ? undefined : read.tensor(n.bias) }),
  lower(n, [x], { params: p }) {
    const { mean, variance } = tf.moments(x, -1, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.eps)));
    if (p.weight) y = tf.mul(y, p.weight);
    if (p.bias) y = tf.add(y, p.bias);
    return y;
  },
  onnx(n, [x], ctx) {
    // Two passes as PyTorch (mean, then the mean of squared deviations). onnxruntime's fused
    // LayerNormalization takes E[x²] − E[x]², which loses digits on a transformer's residual
    // stream; Mul (not Pow) keeps its optimiser from fusing these nodes back into it.
    const mean = ctx.op('ReduceMean', [x], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const d = ctx.op('Sub', [x, mean]);
    const variance = ctx.op('ReduceMean', [ctx.op('Mul', [d, d])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    let y = ctx.op('Mul', [d, ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.floats([n.eps], [])])])])]);
    if (n.weight) y = ctx.op('Mul', [y, ctx.weight(n.weight)]);
    if (n.bias) y = ctx.op('Add', [y, ctx.weight(n.bias)]);
    return y;
  },
  permute(n, ctx) {
    const out = ctx.input();
    ctx.member(n.weight, 0, out);
    ctx.member(n.bias, 0, out);
    return out;
  },
};
