// GPT-2 causal self-attention as one op: the fused q/k/v projection (`c_attn`, out = 3·dim, q
// then k then v, each split into `nHead` heads), softmax(q·kᵀ/√head_dim) under a causal mask,
// and the output projection (`c_proj`). Heads permute as whole blocks.
import * as tf from '@tensorflow/tfjs-core';
import { HEADS, type OpModule, type WeightLayout, fail, matrixAxes, params, ref, refs, storedShape } from './base';
import { dense, denseOnnx, inOutMatrix } from './dense';

export interface CausalSelfAttentionOp {
  op: 'causal_self_attention';
  qkvWeight: string;
  qkvBias?: string;
  projWeight: string;
  projBias?: string;
  dim: number;
  nHead: number;
  layout: WeightLayout;
}

export const causalSelfAttention: OpModule<CausalSelfAttentionOp> = {
  readsUnits: true,
  hasHeads: true,
  tensors: (n) => refs(
    ref(n.qkvWeight, storedShape(n.layout, n.dim, 3 * n.dim), { uniform: n.dim }, { matrix: { bias: n.qkvBias, unitsAreColumns: n.layout === 'in_out' } }),
    ref(n.qkvBias, [3 * n.dim], { uniform: n.dim }),
    ref(n.projWeight, [n.dim, n.dim], { uniform: n.dim }, { matrix: { bias: n.projBias, unitsAreColumns: n.layout === 'in_out' } }),
    ref(n.projBias, [n.dim], { uniform: n.dim }),
  ),
  shape(n, [x]) {
    if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
    return x;
  },
  prepare: (n, read) => params({
    qkvW: inOutMatrix(read, n.qkvWeight, n.layout),
    qkvB: n.qkvBias === undefined ? undefined : read.tensor(n.qkvBias),
    projW: inOutMatrix(read, n.projWeight, n.layout),
    projB: n.projBias === undefined ? undefined : read.tensor(n.projBias),
  }),
  lower(n, [x], ctx) {
    const p = ctx.params;
    const [B, T, C] = x.shape as [number, number, number];
    const hd = C / n.nHead;
    const mm = dense(ctx.unfused);
    const qkv = mm(x, p.qkvW as tf.Tensor2D, p.qkvB);
    const heads = (t: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(t, [B, T, n.nHead, hd]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(qkv, 3, 2).map(heads);
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), ctx.causalMask(T));
    const y = tf.matMul(tf.softmax(scores), v);
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, C]);
    ctx.onHeads?.(merged);
    return mm(merged, p.projW as tf.Tensor2D, p.projB);
  },
  onnx(n, [x], ctx) {
    const [T, C] = ctx.inShapes[0];
    const h = n.nHead;
    const hd = C / h;
    const qkv = denseOnnx(ctx, x, [T, C], 3 * C, n.qkvWeight, n.layout, n.qkvBias);
    const [q, k, v] = ctx.nodes('Split', [qkv, ctx.ints([C, C, C])], { axis: { i: 2 } }, 3).map((t) => ctx.op('Reshape', [t, ctx.ints([-1, T, h, hd])]));
    const perm = (t: string, p: number[]) => ctx.op('Transpose', [t], { perm: { ints: p } });
    const raw = ctx.op('MatMul', [perm(q, [0, 2, 1, 3]), perm(k, [0, 2, 3, 1])]);
    const scores = ctx.op('Add', [ctx.op('Mul', [raw, ctx.floats([1 / Math.sqrt(hd)], [])]), ctx.causalMask(T)]);
    const y = ctx.op('MatMul', [ctx.op('Softmax', [scores], { axis: { i: -1 } }), perm(v, [0, 2, 1, 3])]);
    const merged = ctx.op('Reshape', [perm(y, [0, 2, 1, 3]), ctx.ints([-1, T, C])]);
    ctx.onHeads?.(merged);
    return denseOnnx(ctx, merged, [T, C], C, n.projWeight, n.layout, n.projBias);
  },
  permute(n, ctx) {
    const hd = n.dim / n.nHead;
    const { outAxis, inAxis } = matrixAxes(n.layout);
    ctx.member(n.qkvWeight, inAxis, ctx.input());
    if (n.nHead > 1) {
      const heads = ctx.newAxis(`${n.id}.heads`, 'heads', n.nHead, hd);
      for (let k = 0; k < 3; k++) {
        ctx.member(n.qkvWeight, outAxis, heads, k * n.dim);
        ctx.member(n.qkvBias, 0, heads, k * n.dim);
      }
      ctx.member(n.projWeight, inAxis, heads);
      // Not a node value: the per-head outputs inside the node, captured as `<id>:heads`.
      ctx.setValue(`${n.id}${HEADS}`, heads);
    }
    const out = ctx.newAxis(n.id, 'units', n.dim);
    ctx.member(n.projWeight, outAxis, out);
    ctx.member(n.projBias, 0, out);
    return out;
  },
};
