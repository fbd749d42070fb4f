// Token embeddings (ids → rows of a table) and learned absolute positions added to a sequence.
// The token table creates a transformer's residual stream; the position table joins it.
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, type OpModule, fail, ref, refs } from './base';

/** Token ids → vectors. */
export interface EmbeddingOp {
  op: 'embedding';
  weight: string;
  numEmbeddings: number;
  dim: number;
}

/** Adds rows offset … offset+T−1 of a learned position table to a [T, C] sequence. */
export interface PositionEmbeddingOp {
  op: 'position_embedding';
  weight: string;
  maxPositions: number;
  dim: number;
  /** Stored as [1, maxPositions, dim] (HF ViT, torchvision's encoder.pos_embedding). */
  batched?: boolean;
  /** First row used (RoBERTa starts at padding_idx + 1). */
  offset?: number;
}

export const embedding: OpModule<EmbeddingOp> = {
  tensors: (n) => refs(ref(n.weight, [n.numEmbeddings, n.dim], 'normal')),
  shape(n, [x]) {
    if (x.length !== 1) fail(n, `expects token ids [T], gets [${x}]`);
    return [x[0], n.dim];
  },
  prepare: (n, read) => ({ table: read.tensor(n.weight) }),
  lower: (_n, [x], { params: p }) => tf.gather(p.table, x),
  onnx: (n, [x], ctx) => ctx.op('Gather', [ctx.weight(n.weight), x], { axis: { i: 0 } }),
  permute(n, ctx) {
    const out = ctx.newAxis(n.id, 'stream', n.dim);
    ctx.member(n.weight, 1, out);
    return out;
  },
};

export const positionEmbedding: OpModule<PositionEmbeddingOp> = {
  tensors: (n) => refs(ref(n.weight, n.batched ? [1, n.maxPositions, n.dim] : [n.maxPositions, n.dim], 'normal')),
  shape(n, [x]) {
    if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
    if (x[0] + (n.offset ?? 0) > n.maxPositions) fail(n, `sequence length ${x[0]} exceeds the ${n.maxPositions - (n.offset ?? 0)} learned positions`);
    return x;
  },
  prepare: (n, read) => ({ table: tf.tidy(() => tf.reshape(read.tensor(n.weight), [n.maxPositions, n.dim])) }),
  lower(n, [x], { params: p }) {
    const T = x.shape[1]!;
    const offset = n.offset ?? 0;
    if (T + offset > n.maxPositions) throw new GraphError(`${n.id}: sequence length ${T} exceeds the ${n.maxPositions - offset} learned positions`);
    return tf.add(x, tf.slice(p.table, [offset, 0], [T, n.dim]));
  },
  onnx(n, [x], ctx) {
    const T = ctx.inShapes[0][0];
    const offset = n.offset ?? 0;
    let table = ctx.weight(n.weight);
    if (n.batched) table = ctx.op('Reshape', [table, ctx.ints([n.maxPositions, n.dim])]);
    return ctx.op('Add', [x, ctx.op('Slice', [table, ctx.ints([offset]), ctx.ints([offset + T]), ctx.ints([0])])]);
  },
  permute(n, ctx) {
    const x = ctx.input();
    const table = ctx.newAxis(n.id, 'units', n.dim);
    ctx.member(n.weight, n.batched ? 2 : 1, table);
    if (x.repeat === 1) return ctx.merge(x, table);
    ctx.pin(table);
    ctx.pin(x);
    return ctx.fixed;
  },
};
