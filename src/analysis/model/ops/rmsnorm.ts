// RMSNorm (Llama, Mistral, Qwen2): x / √(mean(x²) + ε) · w over the last axis, in float32 as
// Hugging Face's LlamaRMSNorm computes it. Permutation-equivariant, so the stream passes.
import * as tf from '@tensorflow/tfjs-core';
import { type OpModule, fail, ref, refs } from './base';

export interface RmsNormOp {
  op: 'rmsnorm';
  weight: string;
  size: number;
  eps: number;
}

export const rmsnorm: OpModule<RmsNormOp> = {
  tensors: (n) => refs(ref(n.weight, [n.size], 'ones')),
  shape(n, [x]) {
    if (x[x.length - 1] !== n.size) fail(n, `normalises ${n.size} features, gets [${x}]`);
    return x;
  },
  prepare: (n, read) => ({ weight: read.tensor(n.weight) }),
  lower: (n, [x], { params: p }) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), n.eps))), p.weight),
  onnx(n, [x], ctx) {
    const ms = ctx.op('ReduceMean', [ctx.op('Mul', [x, x])], { axes: { ints: [-1] }, keepdims: { i: 1 } });
    const inv = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [ms, ctx.floats([n.eps], [])])])]);
    return ctx.op('Mul', [ctx.op('Mul', [x, inv]), ctx.weight(n.weight)]);
  },
  permute(n, ctx) {
    const out = ctx.input();
    ctx.member(n.weight, 0, out);
    return out;
  },
};
