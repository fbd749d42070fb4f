// torch.flatten(x, 1): a [C, H, W] example becomes C·H·W features in channel-major order, so a
// channel's permutation moves a block of H·W features.
import * as tf from '@tensorflow/tfjs-core';
import type { OpModule } from './base';

/** torch.flatten(x, 1) of a [C, H, W] (or already flat) example. */
export interface FlattenOp {
  op: 'flatten';
}

export const flatten: OpModule<FlattenOp> = {
  tensors: () => [],
  shape: (_n, [x]) => [x.reduce((a, b) => a * b, 1)],
  prepare: () => ({}),
  lower(_n, [x]) {
    if (x.rank === 4) return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]);
    return x.rank === 2 ? x : tf.reshape(x, [x.shape[0], -1]);
  },
  // PyTorch layout inside ONNX: Flatten(axis=1) is torch.flatten(x, 1).
  onnx: (_n, [x], ctx) => ctx.op('Flatten', [x], { axis: { i: 1 } }),
  permute(_n, ctx) {
    const x = ctx.input();
    const s = ctx.inputShape();
    return { id: x.id, repeat: x.repeat * (s.length === 3 ? s[1] * s[2] : 1) };
  },
};
