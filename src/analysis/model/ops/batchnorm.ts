// BatchNorm in eval mode (running statistics, folded into scale and shift) or training mode
// (each batch's own statistics, recorded for recomputation). Channels are the last axis inside.
import * as tf from '@tensorflow/tfjs-core';
import { type OpModule, type Params, fail, ref, refs } from './base';

export interface BatchNormOp {
  op: 'batchnorm';
  weight?: string;
  bias?: string;
  runningMean: string;
  runningVar: string;
  numFeatures: number;
  eps: number;
}

export const batchnorm: OpModule<BatchNormOp> = {
  tensors: (n) => refs(
    ref(n.weight, [n.numFeatures], 'ones'),
    ref(n.bias, [n.numFeatures], 'zeros'),
    ref(n.runningMean, [n.numFeatures], 'zeros', { parameter: false }),
    ref(n.runningVar, [n.numFeatures], 'ones', { parameter: false }),
  ),
  shape(n, [x]) {
    if ((x.length === 3 ? x[0] : x[x.length - 1]) !== n.numFeatures) fail(n, `normalises ${n.numFeatures} channels, gets [${x}]`);
    return x;
  },
  prepare(n, read) {
    // Eval mode as PyTorch computes it: y = x·scale + shift, scale = γ/√(var+ε), shift = β − mean·scale.
    const mean = read.raw(n.runningMean);
    const v = read.raw(n.runningVar);
    const w = n.weight ? read.raw(n.weight) : undefined;
    const b = n.bias ? read.raw(n.bias) : undefined;
    const scale = new Float32Array(n.numFeatures);
    const shift = new Float32Array(n.numFeatures);
    for (let c = 0; c < n.numFeatures; c++) {
      scale[c] = (w ? w[c] : 1) / Math.sqrt(v[c] + n.eps);
      shift[c] = (b ? b[c] : 0) - mean[c] * scale[c];
    }
    const out: Params = { scale: tf.tensor1d(scale), shift: tf.tensor1d(shift) };
    if (n.weight) out.weight = read.tensor(n.weight);
    if (n.bias) out.bias = read.tensor(n.bias);
    // Raw vectors (`raw:<name>`) for Model.update(), which rebuilds from every tensor of a node.
    for (const name of [n.weight, n.bias, n.runningMean, n.runningVar]) if (name) out[`raw:${name}`] = read.tensor(name);
    return out;
  },
  lower(n, [x], { params: p, batchStats }) {
    if (!batchStats) return tf.add(tf.mul(x, p.scale), p.shift);
    // Training mode: statistics over every axis but the channel (last) one.
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    batchStats[n.id] = { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, count: x.size / x.shape[x.rank - 1] };
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.eps)));
    if (p.weight) y = tf.mul(y, p.weight);
    if (p.bias) y = tf.add(y, p.bias);
    return y;
  },
  onnx(n, [x], ctx) {
    const C = n.numFeatures;
    const ones = () => ctx.floats(new Float32Array(C).fill(1), [C]);
    const gamma = n.weight ? ctx.weight(n.weight) : ones();
    const beta = n.bias ? ctx.weight(n.bias) : ctx.floats(new Float32Array(C), [C]);
    if (!ctx.batchNormTraining) {
      return ctx.op('BatchNormalization', [x, gamma, beta, ctx.weight(n.runningMean), ctx.weight(n.runningVar)], { epsilon: { f: n.eps } });
    }
    // Training mode as the tfjs lowering computes it: biased statistics over all but the channel axis.
    const shape = ctx.inShapes[0];
    const image = shape.length === 3;
    const axes = image ? [0, 2, 3] : [0];
    const mean = ctx.op('ReduceMean', [x], { axes: { ints: axes }, keepdims: { i: 1 } });
    const d = ctx.op('Sub', [x, mean]);
    const variance = ctx.op('ReduceMean', [ctx.op('Mul', [d, d])], { axes: { ints: axes }, keepdims: { i: 1 } });
    const inv = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.floats([n.eps], [])])])]);
    const perChannel = (v: string) => (image ? ctx.op('Reshape', [v, ctx.ints([C, 1, 1])]) : v);
    const y = ctx.op('Add', [ctx.op('Mul', [ctx.op('Mul', [d, inv]), perChannel(gamma)]), perChannel(beta)]);
    const flat = (v: string) => ctx.op('Reshape', [v, ctx.ints([C])]);
    ctx.batchStats(flat(mean), flat(variance), image ? shape[1] * shape[2] : 1);
    return y;
  },
  permute(n, ctx) {
    const out = ctx.input();
    ctx.member(n.weight, 0, out);
    ctx.member(n.bias, 0, out);
    ctx.member(n.runningMean, 0, out, 0, false);
    ctx.member(n.runningVar, 0, out, 0, false);
    return out;
  },
};
