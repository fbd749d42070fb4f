// Rotary position embeddings as Hugging Face computes them (modeling_rope_utils): inverse
// frequencies 1/θ^(2i/d) over the rotated dims, optionally rescaled ('linear': ÷ factor;
// 'llama3': long wavelengths ÷ factor, short ones kept, a smooth blend between), applied with
// rotate_half to the first `dims` dims of each head (GPT-NeoX's partial rotary).
import * as tf from '@tensorflow/tfjs-core';
import type { OnnxLowerContext } from './base';

export interface RotarySpec {
  /** Dims of each head that rotate (head_dim, or head_dim · partial_rotary_factor). */
  dims: number;
  theta: number;
  scaling?:
    | { type: 'linear'; factor: number }
    | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number };
}

export function inverseFrequencies(r: RotarySpec): Float64Array {
  const half = r.dims / 2;
  const inv = new Float64Array(half);
  // float32 as torch computes arange(0, d, 2).float() / d and base ** that.
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(Math.pow(r.theta, Math.fround((2 * i) / r.dims))));
  const s = r.scaling;
  if (s?.type === 'linear') for (let i = 0; i < half; i++) inv[i] /= s.factor;
  if (s?.type === 'llama3') {
    const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositions / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      const scaled = wavelen > lowWavelen ? inv[i] / s.factor : inv[i];
      if (wavelen < highWavelen || wavelen > lowWavelen) inv[i] = scaled;
      else {
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = ((1 - smooth) * scaled) / s.factor + smooth * scaled;
      }
    }
  }
  return inv;
}

const tables = new Map<string, { cos: tf.Tensor2D; sin: tf.Tensor2D }>();

/** cos and sin tables [T, dims] (each frequency twice, as HF's cat((freqs, freqs))), cached per spec and T. */
export function rotaryTables(r: RotarySpec, T: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const key = `${JSON.stringify(r)}|${T}`;
  let t = tables.get(key);
  if (!t || t.cos.isDisposed) {
    t = tf.tidy(() => { const made = makeTables(r, T); return { cos: tf.keep(made.cos), sin: tf.keep(made.sin) }; });
    tables.set(key, t);
  }
  return t;
}

function makeTables(r: RotarySpec, T: number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const { cos, sin } = tableValues(r, T);
  return { cos: tf.tensor2d(cos, [T, r.dims]), sin: tf.tensor2d(sin, [T, r.dims]) };
}

function tableValues(r: RotarySpec, T: number): { cos: Float32Array; sin: Float32Array } {
  const inv = inverseFrequencies(r);
  const half = r.dims / 2;
  const cos = new Float32Array(T * r.dims);
  const sin = new Float32Array(T * r.dims);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      // HF multiplies in float32: position · inv_freq rounded before cos/sin.
      const a = Math.fround(t * Math.fround(inv[i]));
      cos[t * r.dims + i] = cos[t * r.dims + i + half] = Math.cos(a);
      sin[t * r.dims + i] = sin[t * r.dims + i + half] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** Rotates the first `dims` of the last axis of x [B, H, T, hd] (rotate_half convention). */
export function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, dims: number): tf.Tensor {
  const hd = x.shape[3]!;
  const rot = dims === hd ? x : tf.slice(x, [0, 0, 0, 0], [-1, -1, -1, dims]);
  const [x1, x2] = tf.split(rot, 2, 3);
  const rotated = tf.add(tf.mul(rot, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
  return dims === hd ? rotated : tf.concat([rotated, tf.slice(x, [0, 0, 0, dims], [-1, -1, -1, hd - dims])], 3);
}

/** ONNX: the same rotation of x [B, H, T, hd], with the tables as constants shared by every layer. */
export function applyRotaryOnnx(ctx: OnnxLowerContext, x: string, r: RotarySpec, T: number, hd: number): string {
  const key = `rotary|${JSON.stringify(r)}|${T}`;
  const cos = ctx.shared(`${key}|cos`, () => ctx.floats(tableValues(r, T).cos, [T, r.dims]));
  const sin = ctx.shared(`${key}|sin`, () => ctx.floats(tableValues(r, T).sin, [T, r.dims]));
  const last = ctx.ints([3]);
  const rot = r.dims === hd ? x : ctx.op('Slice', [x, ctx.ints([0]), ctx.ints([r.dims]), last]);
  const half = r.dims / 2;
  const [x1, x2] = ctx.nodes('Split', [rot, ctx.ints([half, half])], { axis: { i: 3 } }, 2);
  const turned = ctx.op('Concat', [ctx.op('Neg', [x2]), x1], { axis: { i: 3 } });
  const rotated = ctx.op('Add', [ctx.op('Mul', [rot, cos]), ctx.op('Mul', [turned, sin])]);
  return r.dims === hd ? rotated : ctx.op('Concat', [rotated, ctx.op('Slice', [x, ctx.ints([r.dims]), ctx.ints([hd]), last])], { axis: { i: 3 } });
}
