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
  permute(n, ctx) {
    const out = ctx.input();
    ctx.member(n.weight, 0, out);
    ctx.member(n.bias, 0, out);
    return out;
  },
};
