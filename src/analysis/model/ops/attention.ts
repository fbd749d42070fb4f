// Multi-head attention as the transformer families store it: q/k/v projections in one of four
// layouts (separate Linears; one fused [q; k; v] matrix; GPT-NeoX's per-head [q k v] rows;
// TransformerLens' [heads, d_model, d_head]), grouped-query attention (each k/v head serves
// nHead / nKvHead query heads, HF's repeat_kv), optional rotary positions, a causal or
// bidirectional mask with optional key padding, and the output projection. Inside the engine
// the projections are one fused [d_model, (nHead + 2·nKvHead)·head_dim] matrix.
//
// Permutations: k/v head groups move as blocks (each group's query heads, its k and v head and
// the output projection's columns reading them); dims inside a head never move (rotary pairs
// them).
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, HEADS, type OnnxLowerContext, type OpModule, type TensorReader, type TensorRef, type WeightLayout, fail, params, ref, refs } from './base';
import { dense, denseOnnx } from './dense';
import { type RotarySpec, applyRotary, applyRotaryOnnx, rotaryTables } from './rotary';

export type QkvSource =
  /** nn.Linear q_proj / k_proj / v_proj ([out, in]). */
  | { kind: 'separate'; q: string; k: string; v: string; qBias?: string; kBias?: string; vBias?: string }
  /** One matrix whose outputs are q, then k, then v (torchvision's in_proj_weight [3C, C]; GPT-2's c_attn [C, 3C]). */
  | { kind: 'fused'; weight: string; bias?: string; layout: WeightLayout }
  /** GPT-NeoX query_key_value [3C, C]: outputs grouped per head as [q_h, k_h, v_h]. */
  | { kind: 'per_head'; weight: string; bias?: string }
  /** TransformerLens W_Q / W_K / W_V [heads, d_model, d_head], biases [heads, d_head]. */
  | { kind: 'tl'; q: string; k: string; v: string; qBias?: string; kBias?: string; vBias?: string };

export interface AttentionOp {
  op: 'attention';
  dim: number;
  nHead: number;
  nKvHead: number;
  headDim: number;
  qkv: QkvSource;
  /** Output projection: nn.Linear [dim, nHead·headDim], or TransformerLens' W_O [heads, d_head, d_model]. */
  out: { weight: string; bias?: string; layout: 'out_in' | 'tl' };
  causal: boolean;
  rotary?: RotarySpec;
  /** Mistral's sliding window: exact for sequences within it; longer ones are refused with a clear error. */
  window?: number;
  /** Reads the batch's attention mask (padded batches, BERT). */
  padding?: boolean;
}

const MASK = -1e9;

function qkvRefs(n: AttentionOp): TensorRef[] {
  const { dim: d, nHead: h, nKvHead: kv, headDim: hd, qkv: s } = n;
  const fan = { uniform: d };
  const mat = (bias?: string) => ({ matrix: { bias, unitsAreColumns: false } });
  switch (s.kind) {
    case 'separate':
      return refs(
        ref(s.q, [h * hd, d], fan, mat(s.qBias)), ref(s.qBias, [h * hd], fan),
        ref(s.k, [kv * hd, d], fan, mat(s.kBias)), ref(s.kBias, [kv * hd], fan),
        ref(s.v, [kv * hd, d], fan, mat(s.vBias)), ref(s.vBias, [kv * hd], fan),
      );
    case 'fused': {
      const rows = (h + 2 * kv) * hd;
      return refs(ref(s.weight, s.layout === 'out_in' ? [rows, d] : [d, rows], fan, { matrix: { bias: s.bias, unitsAreColumns: s.layout === 'in_out' } }), ref(s.bias, [rows], fan));
    }
    case 'per_head':
      return refs(ref(s.weight, [3 * h * hd, d], fan, mat(s.bias)), ref(s.bias, [3 * h * hd], fan));
    case 'tl':
      return refs(
        ref(s.q, [h, d, hd], fan), ref(s.qBias, [h, hd], 'zeros'),
        ref(s.k, [kv, d, hd], fan), ref(s.kBias, [kv, hd], 'zeros'),
        ref(s.v, [kv, d, hd], fan), ref(s.vBias, [kv, hd], 'zeros'),
      );
  }
}

/** The q/k/v projection as one [dim, (h + 2kv)·hd] matrix and bias, q then k then v. */
function fusedQkv(n: AttentionOp, read: TensorReader): { w: tf.Tensor; b?: tf.Tensor } {
  const { dim: d, nHead: h, nKvHead: kv, headDim: hd, qkv: s } = n;
  const rows = (h + 2 * kv) * hd;
  return tf.tidy(() => {
    const zeros = (k: number) => tf.zeros([k]);
    switch (s.kind) {
      case 'separate': {
        const w = tf.transpose(tf.concat([read.tensor(s.q), read.tensor(s.k), read.tensor(s.v)], 0));
        const bs = [s.qBias, s.kBias, s.vBias];
        const b = bs.some((x) => x) ? tf.concat(bs.map((x, i) => (x ? read.tensor(x) : zeros((i === 0 ? h : kv) * hd))), 0) : undefined;
        return { w, b };
      }
      case 'fused':
        return { w: s.layout === 'in_out' ? read.tensor(s.weight) : tf.transpose(read.tensor(s.weight)), b: s.bias ? read.tensor(s.bias) : undefined };
      case 'per_head': {
        // Rows [head][q|k|v][hd] → [q heads | k heads | v heads].
        const regroup = (t: tf.Tensor, tail: number[]) => tf.reshape(tf.transpose(tf.reshape(t, [h, 3, hd, ...tail]), [1, 0, 2, ...tail.map((_, i) => 3 + i)]), [rows, ...tail]);
        return { w: tf.transpose(regroup(read.tensor(s.weight), [d])), b: s.bias ? regroup(read.tensor(s.bias), []) : undefined };
      }
      case 'tl': {
        // [heads, d, hd] → [d, heads·hd].
        const cols = (name: string, k: number) => tf.reshape(tf.transpose(read.tensor(name), [1, 0, 2]), [d, k * hd]);
        const w = tf.concat([cols(s.q, h), cols(s.k, kv), cols(s.v, kv)], 1);
        const bs = [s.qBias, s.kBias, s.vBias];
        const b = bs.some((x) => x) ? tf.concat(bs.map((x, i) => (x ? tf.reshape(read.tensor(x), [-1]) : zeros((i === 0 ? h : kv) * hd))), 0) : undefined;
        return { w, b };
      }
    }
  });
}

/** ONNX: q, k and v projections [B, T, heads·hd] from any of the four stored layouts. */
function qkvOnnx(ctx: OnnxLowerContext, n: AttentionOp, x: string, T: number): [string, string, string] {
  const { dim: d, nHead: h, nKvHead: kv, headDim: hd, qkv: s } = n;
  switch (s.kind) {
    case 'separate':
      return [
        denseOnnx(ctx, x, [T, d], h * hd, s.q, 'out_in', s.qBias),
        denseOnnx(ctx, x, [T, d], kv * hd, s.k, 'out_in', s.kBias),
        denseOnnx(ctx, x, [T, d], kv * hd, s.v, 'out_in', s.vBias),
      ];
    case 'fused': {
      const all = denseOnnx(ctx, x, [T, d], (h + 2 * kv) * hd, s.weight, s.layout, s.bias);
      return ctx.nodes('Split', [all, ctx.ints([h * hd, kv * hd, kv * hd])], { axis: { i: 2 } }, 3) as [string, string, string];
    }
    case 'per_head': {
      // Outputs [head][q|k|v][hd]: split the middle axis of [B, T, h, 3, hd].
      const all = ctx.op('Reshape', [denseOnnx(ctx, x, [T, d], 3 * h * hd, s.weight, 'out_in', s.bias), ctx.ints([-1, T, h, 3, hd])]);
      const parts = ctx.nodes('Split', [all, ctx.ints([1, 1, 1])], { axis: { i: 3 } }, 3);
      return parts.map((p) => ctx.op('Reshape', [p, ctx.ints([-1, T, h * hd])])) as [string, string, string];
    }
    case 'tl': {
      // [heads, d, hd] → [d, heads·hd]; biases [heads, hd] → [heads·hd].
      const proj = (w: string, b: string | undefined, k: number) => {
        const m = ctx.op('Reshape', [ctx.op('Transpose', [ctx.weight(w)], { perm: { ints: [1, 0, 2] } }), ctx.ints([d, k * hd])]);
        const y = ctx.op('MatMul', [x, m]);
        return b ? ctx.op('Add', [y, ctx.op('Reshape', [ctx.weight(b), ctx.ints([k * hd])])]) : y;
      };
      return [proj(s.q, s.qBias, h), proj(s.k, s.kBias, kv), proj(s.v, s.vBias, kv)];
    }
  }
}

function checkWindow(n: AttentionOp & { id: string }, T: number): void {
  if (n.window !== undefined && T > n.window) {
    throw new GraphError(`${n.id}: sequences of ${T} tokens exceed the sliding window of ${n.window}; only sequences within the window are computed exactly (use --block-size ≤ ${n.window})`);
  }
}

export const attention: OpModule<AttentionOp> = {
  readsUnits: true,
  hasHeads: true,
  tensors: (n) => [
    ...qkvRefs(n),
    ...refs(
      ref(n.out.weight, n.out.layout === 'tl' ? [n.nHead, n.headDim, n.dim] : [n.dim, n.nHead * n.headDim], { uniform: n.nHead * n.headDim }, n.out.layout === 'tl' ? {} : { matrix: { bias: n.out.bias, unitsAreColumns: false } }),
      ref(n.out.bias, [n.dim], { uniform: n.nHead * n.headDim }),
    ),
  ],
  shape(n, [x]) {
    if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
    if (n.nHead % n.nKvHead !== 0) fail(n, `${n.nHead} query heads cannot share ${n.nKvHead} key/value heads`);
    checkWindow(n, x[0]);
    return x;
  },
  prepare(n, read) {
    const { w, b: fused } = fusedQkv(n, read);
    const { nHead: h, nKvHead: kv, headDim: hd } = n;
    // q, k and v as three matrices: three products cost less than one product and a split on
    // tfjs-backend-wasm (SplitV copies in JavaScript), and each bias gets its own data (wasm's
    // fused matMul reads a reshaped tensor's original rank).
    const parts = tf.tidy(() => {
      const ws = tf.split(w, [h * hd, kv * hd, kv * hd], 1).map((t) => tf.add(t, 0));
      // tf.add, not a copy through JS: gradients (the LLC's) flow back to the stored bias.
      const bs = fused ? tf.split(fused, [h * hd, kv * hd, kv * hd], 0).map((t) => tf.add(t, 0)) : [];
      return [...ws, ...bs];
    });
    tf.dispose([w, fused].filter((t): t is tf.Tensor => t !== undefined));
    const o = n.out.layout === 'tl'
      ? tf.tidy(() => tf.reshape(read.tensor(n.out.weight), [n.nHead * n.headDim, n.dim]))
      : tf.tidy(() => tf.transpose(read.tensor(n.out.weight)));
    return params({ qW: parts[0], kW: parts[1], vW: parts[2], qB: parts[3], kB: parts[4], vB: parts[5], outW: o, outB: n.out.bias ? read.tensor(n.out.bias) : undefined });
  },
  lower(n, [x], ctx) {
    const p = ctx.params;
    const [B, T] = x.shape as [number, number, number];
    checkWindow(n, T);
    const { nHead: h, nKvHead: kv, headDim: hd } = n;
    const g = h / kv;
    const mm = dense(ctx.unfused);
    const heads = (t: tf.Tensor, k: number) => tf.transpose(tf.reshape(t, [B, T, k, hd]), [0, 2, 1, 3]);
    // The 1/√hd scale on q ([B, T, h·hd]) rather than on the [B, h, T, T] scores.
    let q = heads(tf.mul(mm(x, p.qW as tf.Tensor2D, p.qB), 1 / Math.sqrt(hd)), h);
    let k = heads(mm(x, p.kW as tf.Tensor2D, p.kB), kv);
    const v = heads(mm(x, p.vW as tf.Tensor2D, p.vB), kv);
    if (n.rotary) {
      const { cos, sin } = rotaryTables(n.rotary, T);
      q = applyRotary(q, cos, sin, n.rotary.dims);
      k = applyRotary(k, cos, sin, n.rotary.dims);
    }
    // Grouped-query attention without repeating k/v (HF's repeat_kv): the g query heads sharing
    // a k/v head are stacked along the rows, [B, kv, g·T, hd], so one product serves the group.
    // kᵀ is transposed explicitly: wasm's matMul with a transpose flag is several times slower.
    const qg = g === 1 ? q : tf.reshape(q, [B, kv, g * T, hd]);
    let scores = tf.matMul(qg, tf.transpose(k, [0, 1, 3, 2]));
    if (n.causal || (n.padding && ctx.attentionMask)) {
      let bias: tf.Tensor = tf.zeros([1, 1, T]);
      if (n.causal) bias = tf.add(bias, tf.reshape(ctx.causalMask(T), [1, T, T]));
      if (n.padding && ctx.attentionMask) bias = tf.add(bias, tf.reshape(tf.mul(tf.sub(1, tf.cast(ctx.attentionMask, 'float32')), MASK), [B, 1, T]));
      // [B or 1, T or 1, T] added to scores viewed as [B, kv, g, T, T].
      const [bb, bt] = bias.shape as [number, number, number];
      scores = tf.reshape(tf.add(tf.reshape(scores, [B, kv, g, T, T]), tf.reshape(bias, [bb, 1, 1, bt, T])), [B, kv, g * T, T]);
    }
    const y = tf.reshape(tf.matMul(tf.softmax(scores), v), [B, h, T, hd]);
    const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, h * hd]);
    ctx.onHeads?.(merged);
    return mm(merged, p.outW as tf.Tensor2D, p.outB);
  },
  onnx(n, [x], ctx) {
    const [T] = ctx.inShapes[0];
    checkWindow(n, T);
    const { dim: d, nHead: h, nKvHead: kv, headDim: hd } = n;
    const g = h / kv;
    const [q0, k0, v0] = qkvOnnx(ctx, n, x, T);
    const heads = (t: string, k: number) => ctx.op('Transpose', [ctx.op('Reshape', [t, ctx.ints([-1, T, k, hd])])], { perm: { ints: [0, 2, 1, 3] } });
    let q = heads(ctx.op('Mul', [q0, ctx.floats([1 / Math.sqrt(hd)], [])]), h);
    let k = heads(k0, kv);
    const v = heads(v0, kv);
    if (n.rotary) {
      q = applyRotaryOnnx(ctx, q, n.rotary, T, hd);
      k = applyRotaryOnnx(ctx, k, n.rotary, T, hd);
    }
    // Grouped queries stacked along the rows, [B, kv, g·T, hd], as in the tfjs lowering.
    const qg = g === 1 ? q : ctx.op('Reshape', [q, ctx.ints([-1, kv, g * T, hd])]);
    let scores = ctx.op('MatMul', [qg, ctx.op('Transpose', [k], { perm: { ints: [0, 1, 3, 2] } })]);
    const pad = n.padding && ctx.attentionMask;
    if (n.causal || pad) {
      let s5 = ctx.op('Reshape', [scores, ctx.ints([-1, kv, g, T, T])]);
      let bias = n.causal ? ctx.causalMask(T) : undefined;
      if (pad) {
        const keys = ctx.op('Reshape', [ctx.op('Mul', [ctx.op('Sub', [ctx.floats([1], []), ctx.attentionMask!]), ctx.floats([MASK], [])]), ctx.ints([-1, 1, 1, 1, T])]);
        bias = bias ? ctx.op('Add', [bias, keys]) : keys;
      }
      s5 = ctx.op('Add', [s5, bias!]);
      scores = ctx.op('Reshape', [s5, ctx.ints([-1, kv, g * T, T])]);
    }
    const y = ctx.op('MatMul', [ctx.op('Softmax', [scores], { axis: { i: -1 } }), v]);
    const perHead = ctx.op('Transpose', [ctx.op('Reshape', [y, ctx.ints([-1, h, T, hd])])], { perm: { ints: [0, 2, 1, 3] } });
    const merged = ctx.op('Reshape', [perHead, ctx.ints([-1, T, h * hd])]);
    ctx.onHeads?.(merged);
    if (n.out.layout !== 'tl') return denseOnnx(ctx, merged, [T, h * hd], d, n.out.weight, 'out_in', n.out.bias);
    const y2 = ctx.op('MatMul', [merged, ctx.op('Reshape', [ctx.weight(n.out.weight), ctx.ints([h * hd, d])])]);
    return n.out.bias ? ctx.op('Add', [y2, ctx.weight(n.out.bias)]) : y2;
  },
  permute(n, ctx) {
    const { dim: d, nHead: h, nKvHead: kv, headDim: hd, qkv: s } = n;
    const g = h / kv;
    const x = ctx.input();
    if (kv > 1) {
      const group = ctx.newAxis(`${n.id}.heads`, 'heads', kv, g * hd);
      const qAxis = group;
      const kvAxis = { id: group.id, repeat: hd };
      switch (s.kind) {
        case 'separate':
          for (const t of [s.q, s.k, s.v]) ctx.member(t, 1, x);
          ctx.member(s.q, 0, qAxis);
          ctx.member(s.qBias, 0, qAxis);
          for (const t of [s.k, s.kBias, s.v, s.vBias]) ctx.member(t, 0, kvAxis);
          break;
        case 'fused': {
          const [outAx, inAx] = s.layout === 'out_in' ? [0, 1] : [1, 0];
          ctx.member(s.weight, inAx, x);
          ctx.member(s.weight, outAx, qAxis, 0);
          ctx.member(s.weight, outAx, kvAxis, h * hd);
          ctx.member(s.weight, outAx, kvAxis, (h + kv) * hd);
          ctx.member(s.bias, 0, qAxis, 0);
          ctx.member(s.bias, 0, kvAxis, h * hd);
          ctx.member(s.bias, 0, kvAxis, (h + kv) * hd);
          break;
        }
        case 'per_head': {
          ctx.member(s.weight, 1, x);
          const block = { id: group.id, repeat: 3 * hd };
          ctx.member(s.weight, 0, block);
          ctx.member(s.bias, 0, block);
          break;
        }
        case 'tl': {
          for (const t of [s.q, s.k, s.v]) ctx.member(t, 1, x);
          const one = { id: group.id, repeat: g };
          ctx.member(s.q, 0, one);
          ctx.member(s.qBias, 0, one);
          for (const t of [s.k, s.kBias, s.v, s.vBias]) ctx.member(t, 0, { id: group.id, repeat: 1 });
          break;
        }
      }
      if (n.out.layout === 'tl') ctx.member(n.out.weight, 0, { id: group.id, repeat: g });
      else ctx.member(n.out.weight, 1, qAxis);
      ctx.setValue(`${n.id}${HEADS}`, qAxis);
    } else {
      // One k/v head: nothing to permute among heads, but the stream still reaches the projections.
      const inputs = s.kind === 'fused' ? [[s.weight, s.layout === 'out_in' ? 1 : 0] as const] : s.kind === 'per_head' ? [[s.weight, 1] as const] : [[s.q, 1], [s.k, 1], [s.v, 1]] as const;
      for (const [t, axis] of inputs) ctx.member(t, axis, x);
    }
    const out = ctx.newAxis(n.id, 'units', d);
    ctx.member(n.out.weight, n.out.layout === 'tl' ? 2 : 0, out);
    ctx.member(n.out.bias, 0, out);
    return out;
  },
};
