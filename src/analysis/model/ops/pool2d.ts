// Max and average pooling with PyTorch's padding (max pads with −inf; average counts padded
// zeros, count_include_pad), and nn.AdaptiveAvgPool2d's cell boundaries. NHWC inside.
import * as tf from '@tensorflow/tfjs-core';
import { type OnnxLowerContext, type OpModule, fail } from './base';
import { convOut } from './conv2d';

export interface Pool2dOp {
  op: 'maxpool2d' | 'avgpool2d';
  kernel: [number, number];
  stride: [number, number];
  /** Padding on each side; max-pool pads with -inf, avg-pool with zeros counted in the mean (PyTorch's defaults). */
  padding: [number, number];
}

export interface AdaptiveAvgPoolOp {
  op: 'adaptive_avgpool2d';
  output: [number, number];
}

export const pool2d: OpModule<Pool2dOp> = {
  tensors: () => [],
  shape(n, [x]) {
    if (x.length !== 3) fail(n, `expects [C, H, W], gets [${x}]`);
    const h = convOut(x[1], n.kernel[0], n.stride[0], n.padding[0]);
    const w = convOut(x[2], n.kernel[1], n.stride[1], n.padding[1]);
    if (h < 1 || w < 1) fail(n, `input [${x}] is too small for a ${n.kernel.join('×')} window`);
    return [x[0], h, w];
  },
  prepare: () => ({}),
  lower(n, [x]) {
    const [ph, pw] = n.padding;
    if (n.op === 'maxpool2d') {
      const padded = ph || pw ? tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], -Infinity) : x;
      return tf.maxPool(padded as tf.Tensor4D, n.kernel, n.stride, 'valid');
    }
    const padded = ph || pw ? tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]) : x;
    return tf.avgPool(padded as tf.Tensor4D, n.kernel, n.stride, 'valid');
  },
  // ONNX MaxPool ignores padded cells (PyTorch's −inf); AveragePool counts them when asked.
  onnx: (n, [x], ctx) => ctx.op(n.op === 'maxpool2d' ? 'MaxPool' : 'AveragePool', [x], {
    kernel_shape: { ints: n.kernel },
    strides: { ints: n.stride },
    pads: { ints: [n.padding[0], n.padding[1], n.padding[0], n.padding[1]] },
    ...(n.op === 'avgpool2d' ? { count_include_pad: { i: 1 } } : {}),
  }),
  permute: (_n, ctx) => ctx.input(),
};

/** The same cells in ONNX (NCHW). */
function adaptiveAvgPoolOnnx(ctx: OnnxLowerContext, x: string, [, H, W]: number[], [oh, ow]: [number, number]): string {
  if (oh === 1 && ow === 1) return ctx.op('GlobalAveragePool', [x]);
  if (H % oh === 0 && W % ow === 0) return ctx.op('AveragePool', [x], { kernel_shape: { ints: [H / oh, W / ow] }, strides: { ints: [H / oh, W / ow] } });
  const rows: string[] = [];
  for (let i = 0; i < oh; i++) {
    const h0 = Math.floor((i * H) / oh);
    const h1 = Math.ceil(((i + 1) * H) / oh);
    const cells: string[] = [];
    for (let j = 0; j < ow; j++) {
      const w0 = Math.floor((j * W) / ow);
      const w1 = Math.ceil(((j + 1) * W) / ow);
      const cell = ctx.op('Slice', [x, ctx.ints([h0, w0]), ctx.ints([h1, w1]), ctx.ints([2, 3])]);
      cells.push(ctx.op('ReduceMean', [cell], { axes: { ints: [2, 3] }, keepdims: { i: 1 } }));
    }
    rows.push(cells.length === 1 ? cells[0] : ctx.op('Concat', cells, { axis: { i: 3 } }));
  }
  return rows.length === 1 ? rows[0] : ctx.op('Concat', rows, { axis: { i: 2 } });
}

/** nn.AdaptiveAvgPool2d on NHWC: cell i covers rows floor(i·H/out) … ceil((i+1)·H/out). */
function adaptiveAvgPool(x: tf.Tensor4D, [oh, ow]: [number, number]): tf.Tensor {
  const [, H, W] = x.shape;
  if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
  if (H % oh === 0 && W % ow === 0) return tf.avgPool(x, [H / oh, W / ow], [H / oh, W / ow], 'valid');
  const rows: tf.Tensor[] = [];
  for (let i = 0; i < oh; i++) {
    const h0 = Math.floor((i * H) / oh);
    const h1 = Math.ceil(((i + 1) * H) / oh);
    const cells: tf.Tensor[] = [];
    for (let j = 0; j < ow; j++) {
      const w0 = Math.floor((j * W) / ow);
      const w1 = Math.ceil(((j + 1) * W) / ow);
      cells.push(tf.mean(tf.slice(x, [0, h0, w0, 0], [-1, h1 - h0, w1 - w0, -1]), [1, 2], true));
    }
    rows.push(tf.concat(cells, 2));
  }
  return tf.concat(rows, 1);
}

export const adaptiveAvgPool2d: OpModule<AdaptiveAvgPoolOp> = {
  tensors: () => [],
  shape(n, [x]) {
    if (x.length !== 3) fail(n, `expects [C, H, W], gets [${x}]`);
    return [x[0], ...n.output];
  },
  prepare: () => ({}),
  lower: (n, [x]) => adaptiveAvgPool(x as tf.Tensor4D, n.output),
  onnx: (n, [x], ctx) => adaptiveAvgPoolOnnx(ctx, x, ctx.inShapes[0], n.output),
  permute: (_n, ctx) => ctx.input(),
};
