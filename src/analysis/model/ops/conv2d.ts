// nn.Conv2d with PyTorch's symmetric zero padding; weights [out, in, kh, kw], NHWC inside.
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type OpModule, fail, params, ref, refs } from './base';

export interface Conv2dOp {
  op: 'conv2d';
  /** [out, in, kh, kw] as PyTorch stores it. */
  weight: string;
  bias?: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /** Zero padding on each side (PyTorch's symmetric `padding`). */
  padding: [number, number];
}

type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

export function convOut(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

export function convPad([ph, pw]: [number, number]): 'valid' | Pad4 {
  return ph === 0 && pw === 0 ? 'valid' : [[0, 0], [ph, ph], [pw, pw], [0, 0]];
}

/** conv(x, w) + b, fused (optionally with a ReLU) unless gradients need the plain ops. */
export function convolve(n: Conv2dOp, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, unfused: boolean, relu = false): tf.Tensor {
  const pad = convPad(n.padding);
  if (unfused) {
    let y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, n.stride, pad);
    if (b) y = tf.add(y, b);
    return relu ? tf.relu(y) : y;
  }
  return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: n.stride, pad, bias: b, activation: relu ? 'relu' : 'linear' });
}

export const conv2d: OpModule<Conv2dOp> = {
  readsUnits: true,
  tensors: (n) => {
    const fanIn = n.inChannels * n.kernel[0] * n.kernel[1];
    return refs(
      ref(n.weight, [n.outChannels, n.inChannels, ...n.kernel], { uniform: fanIn }, { matrix: { bias: n.bias, unitsAreColumns: false } }),
      ref(n.bias, [n.outChannels], { uniform: fanIn }),
    );
  },
  shape(n, [x]) {
    if (x.length !== 3 || x[0] !== n.inChannels) fail(n, `expects [${n.inChannels}, H, W], gets [${x}]`);
    const h = convOut(x[1], n.kernel[0], n.stride[0], n.padding[0]);
    const w = convOut(x[2], n.kernel[1], n.stride[1], n.padding[1]);
    if (h < 1 || w < 1) fail(n, `input [${x}] is too small for a ${n.kernel.join('×')} kernel`);
    return [n.outChannels, h, w];
  },
  // [out, in, kh, kw] → [kh, kw, in, out].
  prepare: (n, read) => params({ w: tf.tidy(() => tf.transpose(read.tensor(n.weight), [2, 3, 1, 0])), b: n.bias === undefined ? undefined : read.tensor(n.bias) }),
  lower: (n, [x], { params: p, unfused }) => convolve(n, x, p.w, p.b, unfused),
  onnx: (n, [x], ctx) => ctx.op('Conv', n.bias ? [x, ctx.weight(n.weight), ctx.weight(n.bias)] : [x, ctx.weight(n.weight)], {
    kernel_shape: { ints: n.kernel },
    strides: { ints: n.stride },
    pads: { ints: [n.padding[0], n.padding[1], n.padding[0], n.padding[1]] },
  }),
  permute(n, ctx) {
    const x = ctx.input();
    if (x.repeat !== 1) throw new GraphError(`${n.id}: a convolution reads flattened features`);
    ctx.member(n.weight, 1, x);
    const out = ctx.newAxis(n.id, 'units', n.outChannels);
    ctx.member(n.weight, 0, out);
    ctx.member(n.bias, 0, out);
    return out;
  },
};
