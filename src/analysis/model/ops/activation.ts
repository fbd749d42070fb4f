// Element-wise activations, each matching its PyTorch module's arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import type { OpModule } from './base';

export const ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'tanh', 'sigmoid', 'silu', 'leaky_relu', 'elu', 'identity'] as const;
export type ActivationFn = (typeof ACTIVATIONS)[number];

export interface ActivationOp {
  op: 'activation';
  fn: ActivationFn;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function activate(x: tf.Tensor, fn: ActivationFn): tf.Tensor {
  switch (fn) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      // nn.GELU(): x·Φ(x) with the exact erf.
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
    case 'gelu_tanh': {
      // gelu_new / GELU(approximate='tanh').
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'leaky_relu':
      return tf.leakyRelu(x, 0.01);
    case 'elu':
      return tf.elu(x);
    case 'identity':
      return x;
  }
}

export const activation: OpModule<ActivationOp> = {
  tensors: () => [],
  shape: (_n, [x]) => x,
  prepare: () => ({}),
  lower: (n, [x]) => activate(x, n.fn),
  permute: (_n, ctx) => ctx.input(),
};
