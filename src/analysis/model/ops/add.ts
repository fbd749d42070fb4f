// Element-wise sum of two values (a residual connection) and product (a gated MLP's gate · up):
// both inputs' unit axes become one permutation group.
import * as tf from '@tensorflow/tfjs-core';
import { type NodeBase, type OpModule, fail } from './base';

/** Elementwise sum of its two inputs (a residual connection). */
export interface AddOp {
  op: 'add';
}

/** Elementwise product of its two inputs (SwiGLU's act(gate) · up). */
export interface MulOp {
  op: 'mul';
}

function sameShape(n: NodeBase & { op: string }, ins: number[][]): number[] {
  if (ins.length !== 2 || ins[0].join() !== ins[1]?.join()) fail(n, `combines [${ins[0]}] and [${ins[1] ?? ''}]`);
  return ins[0];
}

export const add: OpModule<AddOp> = {
  tensors: () => [],
  shape: sameShape,
  prepare: () => ({}),
  lower: (_n, [a, b]) => tf.add(a, b),
  onnx: (_n, [a, b], ctx) => ctx.op('Add', [a, b]),
  permute: (_n, ctx) => ctx.merge(ctx.input(0), ctx.input(1)),
};

export const mul: OpModule<MulOp> = {
  tensors: () => [],
  shape: sameShape,
  prepare: () => ({}),
  lower: (_n, [a, b]) => tf.mul(a, b),
  onnx: (_n, [a, b], ctx) => ctx.op('Mul', [a, b]),
  permute: (_n, ctx) => ctx.merge(ctx.input(0), ctx.input(1), false),
};
