// Ops that move between images and token sequences or add per-token tables: BERT's segment
// (token type) embedding, ViT's patch grid as a sequence, its prepended class token, and
// reading one token's vector (the class token for the head).
import * as tf from '@tensorflow/tfjs-core';
import { type OpModule, fail, ref, refs } from './base';

/** BERT: adds the row of each token's segment id (token_type_ids; all 0 when not given). */
export interface TokenTypeEmbeddingOp {
  op: 'token_type_embedding';
  weight: string;
  numTypes: number;
  dim: number;
}

/** [C, H, W] patch features → a [H·W, C] sequence, row-major over the grid (flatten(2).transpose(1, 2)). */
export interface ToSequenceOp {
  op: 'to_sequence';
}

/** Prepends a learned [1, 1, C] vector to a [T, C] sequence. */
export interface ClassTokenOp {
  op: 'class_token';
  weight: string;
  dim: number;
}

/** One position of a [T, C] sequence as a [C] vector. */
export interface SelectTokenOp {
  op: 'select_token';
  index: number;
}

export const tokenTypeEmbedding: OpModule<TokenTypeEmbeddingOp> = {
  tensors: (n) => refs(ref(n.weight, [n.numTypes, n.dim], 'normal')),
  shape(n, [x]) {
    if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
    return x;
  },
  prepare: (n, read) => ({ table: read.tensor(n.weight) }),
  lower(_n, [x], { params: p, tokenTypes }) {
    if (!tokenTypes) return tf.add(x, tf.slice(p.table, [0, 0], [1, -1]));
    return tf.add(x, tf.gather(p.table, tf.cast(tokenTypes, 'int32')));
  },
  onnx(n, [x], ctx) {
    const table = ctx.weight(n.weight);
    if (!ctx.tokenTypes) return ctx.op('Add', [x, ctx.op('Slice', [table, ctx.ints([0]), ctx.ints([1]), ctx.ints([0])])]);
    return ctx.op('Add', [x, ctx.op('Gather', [table, ctx.tokenTypes], { axis: { i: 0 } })]);
  },
  permute(n, ctx) {
    const table = ctx.newAxis(n.id, 'units', n.dim);
    ctx.member(n.weight, 1, table);
    return ctx.merge(ctx.input(), table);
  },
};

export const toSequence: OpModule<ToSequenceOp> = {
  tensors: () => [],
  shape(n, [x]) {
    if (x.length !== 3) fail(n, `expects [C, H, W], gets [${x}]`);
    return [x[1] * x[2], x[0]];
  },
  prepare: () => ({}),
  // NHWC inside: the grid is already row-major with channels last.
  lower: (_n, [x]) => tf.reshape(x, [x.shape[0], -1, x.shape[3]!]),
  onnx(_n, [x], ctx) {
    const [C, H, W] = ctx.inShapes[0];
    return ctx.op('Transpose', [ctx.op('Reshape', [x, ctx.ints([-1, C, H * W])])], { perm: { ints: [0, 2, 1] } });
  },
  permute: (_n, ctx) => ctx.input(),
};

export const classToken: OpModule<ClassTokenOp> = {
  tensors: (n) => refs(ref(n.weight, [1, 1, n.dim], 'zeros')),
  shape(n, [x]) {
    if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
    return [x[0] + 1, n.dim];
  },
  prepare: (n, read) => ({ token: read.tensor(n.weight) }),
  lower: (_n, [x], { params: p }) => tf.concat([tf.tile(p.token, [x.shape[0], 1, 1]), x], 1),
  onnx(n, [x], ctx) {
    // The [1, 1, C] token expanded to the batch: [B] from x's shape, then [B, 1, C].
    const batch = ctx.op('Shape', [x], { start: { i: 0 }, end: { i: 1 } });
    const shape = ctx.op('Concat', [batch, ctx.ints([1, n.dim])], { axis: { i: 0 } });
    return ctx.op('Concat', [ctx.op('Expand', [ctx.weight(n.weight), shape]), x], { axis: { i: 1 } });
  },
  permute(n, ctx) {
    const token = ctx.newAxis(n.id, 'units', n.dim);
    ctx.member(n.weight, 2, token);
    return ctx.merge(ctx.input(), token);
  },
};

export const selectToken: OpModule<SelectTokenOp> = {
  tensors: () => [],
  shape(n, [x]) {
    if (x.length !== 2 || n.index >= x[0]) fail(n, `expects a sequence [T, C] with position ${n.index}, gets [${x}]`);
    return [x[1]];
  },
  prepare: () => ({}),
  lower: (n, [x]) => tf.reshape(tf.slice(x, [0, n.index, 0], [-1, 1, -1]), [x.shape[0], x.shape[2]!]),
  onnx: (n, [x], ctx) => ctx.op('Gather', [x, ctx.ints([n.index], [])], { axis: { i: 1 } }),
  permute: (_n, ctx) => ctx.input(),
};
