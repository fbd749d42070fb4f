// Element-wise activations, each matching its PyTorch module's arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import type { OnnxLowerContext, OpModule } from './base';

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

/** The same arithmetic as ONNX nodes (opset 17 has no Gelu: erf and tanh forms spelled out). */
export function activateOnnx(ctx: OnnxLowerContext, x: string, fn: ActivationFn): string {
  const c = (v: number) => ctx.floats([v], []);
  switch (fn) {
    case 'relu':
      return ctx.op('Relu', [x]);
    case 'gelu': {
      const erf = ctx.op('Erf', [ctx.op('Mul', [x, c(Math.SQRT1_2)])]);
      return ctx.op('Mul', [ctx.op('Mul', [x, c(0.5)]), ctx.op('Add', [erf, c(1)])]);
    }
    case 'gelu_tanh': {
      const cube = ctx.op('Mul', [ctx.op('Mul', [x, x]), x]);
      const inner = ctx.op('Mul', [ctx.op('Add', [x, ctx.op('Mul', [cube, c(0.044715)])]), c(SQRT_2_OVER_PI)]);
      return ctx.op('Mul', [ctx.op('Mul', [x, c(0.5)]), ctx.op('Add', [ctx.op('Tanh', [inner]), c(1)])]);
    }
    case 'tanh':
      return ctx.op('Tanh', [x]);
    case 'sigmoid':
      return ctx.op('Sigmoid', [x]);
    case 'silu':
      return ctx.op('Mul', [x, ctx.op('Sigmoid', [x])]);
    case 'leaky_relu':
      return ctx.op('LeakyRelu', [x], { alpha: { f: 0.01 } });
    case 'elu':
      return ctx.op('Elu', [x], { alpha: { f: 1 } });
    case 'identity':
      return x;
  }
}

export const activation: OpModule<ActivationOp> = {
  tensors: () => [],
  shape: (_n, [x]) => x,
  prepare: () => ({}),
  lower: (n, [x]) => activate(x, n.fn),
  onnx: (n, [x], ctx) => activateOnnx(ctx, x, n.fn),
  permute: (_n, ctx) => ctx.input(),
};
