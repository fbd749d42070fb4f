// A dense network (a chain of Linear layers and elementwise activations, read from the graph IR)
// over one flat float64 parameter vector, with a hand-written backward pass. SGLD needs the
// gradient with respect to every weight at every step, in a worker thread, reproducibly and in
// double precision (so a step can be checked against PyTorch to rounding); for MLPs a plain loop
// is as fast as a tfjs round trip and keeps each chain free of engine state.
import { GraphError, type ModelGraph, type Node } from '../model/ir';
import type { StateDict } from '../model/stateDict';

export type DenseActivation = 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'silu' | 'elu' | 'identity';
const SUPPORTED: readonly string[] = ['relu', 'leaky_relu', 'tanh', 'sigmoid', 'silu', 'elu', 'identity'];

/** One Linear layer's place in the flat vector; its weight is [out, in] (PyTorch's nn.Linear). */
export interface DenseLayerSpec {
  id: string;
  weight: string;
  bias?: string;
  inFeatures: number;
  outFeatures: number;
  /** Offsets into the parameter vector. */
  wOffset: number;
  bOffset: number;
  /** The activation applied after this layer (identity for the last). */
  act: DenseActivation;
}

/** What a worker needs to rebuild the network: plain data, structured-clone safe. */
export interface DenseNetSpec {
  layers: DenseLayerSpec[];
  size: number;
  inputSize: number;
  outputSize: number;
  /** Input normalisation from the graph (per feature or scalar). */
  normalize?: { mean: number[]; std: number[] };
}

/** Why the graph is not a dense chain, or undefined when it is. */
export function denseProblem(graph: ModelGraph): string | undefined {
  try {
    denseSpec(graph);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The graph as a chain of Linear layers and elementwise activations; throws GraphError otherwise. */
export function denseSpec(graph: ModelGraph): DenseNetSpec {
  const layers: DenseLayerSpec[] = [];
  let prev = 'input';
  let offset = 0;
  for (const n of graph.nodes as Node[]) {
    if (n.inputs.length !== 1 || n.inputs[0] !== prev) throw new GraphError(`the network is not a plain chain at ${n.id} (only MLPs — Linear layers and activations — are supported here)`);
    prev = n.id;
    if (n.op === 'linear') {
      if (n.layout !== 'out_in') throw new GraphError(`${n.id}: only nn.Linear's [out, in] weight layout is supported here`);
      const w = offset;
      offset += n.inFeatures * n.outFeatures;
      const b = offset;
      if (n.bias) offset += n.outFeatures;
      layers.push({ id: n.id, weight: n.weight, bias: n.bias, inFeatures: n.inFeatures, outFeatures: n.outFeatures, wOffset: w, bOffset: b, act: 'identity' });
    } else if (n.op === 'activation') {
      if (!SUPPORTED.includes(n.fn)) throw new GraphError(`${n.id}: the ${n.fn} activation is not supported by the LLC's MLP passes (relu, leaky_relu, tanh, sigmoid, silu, elu, identity; not yet gelu)`);
      const last = layers[layers.length - 1];
      if (!last || last.act !== 'identity') throw new GraphError(`${n.id}: an activation must follow a Linear layer`);
      last.act = n.fn as DenseActivation;
    } else if (n.op === 'flatten') {
      if (layers.length) throw new GraphError(`${n.id}: flatten inside the network is not supported here`);
    } else {
      throw new GraphError(`this is a ${graph.family} network (${n.op} at ${n.id}), not a plain MLP`);
    }
  }
  if (prev !== graph.output) throw new GraphError('the graph output is not the end of the chain');
  if (!layers.length) throw new GraphError('the network has no Linear layers');
  return { layers, size: offset, inputSize: layers[0].inFeatures, outputSize: layers[layers.length - 1].outFeatures, normalize: graph.input.normalize };
}

/** The state dict's values as the flat float64 parameter vector of `spec`. */
export function flattenParams(spec: DenseNetSpec, sd: StateDict): Float64Array {
  const out = new Float64Array(spec.size);
  for (const l of spec.layers) {
    out.set(sd.get(l.weight)!.values, l.wOffset);
    if (l.bias) out.set(sd.get(l.bias)!.values, l.bOffset);
  }
  return out;
}

type Values = Float64Array | Float32Array;

/** a = f(z), elementwise (float64 here, float32 in the XNNPACK engine). */
export function actForward(fn: DenseActivation, z: Values, a: Values): void {
  const n = z.length;
  switch (fn) {
    case 'relu':
      for (let i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : 0;
      return;
    case 'leaky_relu':
      for (let i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : 0.01 * z[i];
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) a[i] = Math.tanh(z[i]);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) a[i] = 1 / (1 + Math.exp(-z[i]));
      return;
    case 'silu':
      for (let i = 0; i < n; i++) a[i] = z[i] / (1 + Math.exp(-z[i]));
      return;
    case 'elu':
      for (let i = 0; i < n; i++) a[i] = z[i] > 0 ? z[i] : Math.expm1(z[i]);
      return;
    case 'identity':
      a.set(z);
  }
}

/** dz = da · f'(z), in place on `d`. */
export function actBackward(fn: DenseActivation, z: Values, d: Values): void {
  const n = z.length;
  switch (fn) {
    case 'relu':
      for (let i = 0; i < n; i++) if (!(z[i] > 0)) d[i] = 0;
      return;
    case 'leaky_relu':
      for (let i = 0; i < n; i++) if (!(z[i] > 0)) d[i] *= 0.01;
      return;
    case 'tanh':
      for (let i = 0; i < n; i++) {
        const t = Math.tanh(z[i]);
        d[i] *= 1 - t * t;
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < n; i++) {
        const s = 1 / (1 + Math.exp(-z[i]));
        d[i] *= s * (1 - s);
      }
      return;
    case 'silu':
      for (let i = 0; i < n; i++) {
        const s = 1 / (1 + Math.exp(-z[i]));
        d[i] *= s * (1 + z[i] * (1 - s));
      }
      return;
    case 'elu':
      for (let i = 0; i < n; i++) if (!(z[i] > 0)) d[i] *= Math.exp(z[i]);
      return;
    case 'identity':
      return;
  }
}

/** The task a loss scores: class indices or real-valued targets ([B, outputs]). */
export type Targets = { kind: 'classes'; y: Int32Array } | { kind: 'regression'; y: Float64Array | Float32Array } | { kind: 'next_token' };

/** What an SGLD chain needs of a network: the batch loss, and its gradient. */
export interface LossGrad {
  readonly size: number;
  /** Mean task loss of a batch (no gradient); x is [B, inputs] in float64. */
  loss(w: Float64Array, x: Float64Array, t: Targets, B: number): number;
  /** Mean task loss of a batch; the gradient with respect to w is written to `grad` (overwritten). */
  lossAndGrad(w: Float64Array, x: Float64Array, t: Targets, B: number, grad: Float64Array): number;
}

/**
 * Forward and backward passes of a dense network over a flat parameter vector, in float64 (the
 * exact engine: a step equals PyTorch's float64 step to rounding). Buffers are kept per batch
 * size, so a chain allocates nothing after its first step.
 */
export class DenseNet implements LossGrad {
  get size(): number {
    return this.spec.size;
  }

  private buffers = new Map<number, { z: Float64Array[]; a: Float64Array[]; d: Float64Array[] }>();

  constructor(readonly spec: DenseNetSpec) {}

  private bufs(B: number): { z: Float64Array[]; a: Float64Array[]; d: Float64Array[] } {
    let b = this.buffers.get(B);
    if (!b) {
      const L = this.spec.layers;
      b = {
        z: L.map((l) => new Float64Array(B * l.outFeatures)),
        a: L.map((l) => new Float64Array(B * l.outFeatures)),
        d: L.map((l) => new Float64Array(B * Math.max(l.outFeatures, l.inFeatures))),
      };
      // Keep a few sizes only (the last batch of a pass is smaller).
      if (this.buffers.size > 4) this.buffers.clear();
      this.buffers.set(B, b);
    }
    return b;
  }

  /**
   * Outputs [B, out] for inputs x [B, in] (already scaled and normalised). The returned arrays
   * are reused by the next call; `pre` holds each layer's pre-activations.
   */
  forward(w: Float64Array, x: Float64Array, B: number): { out: Float64Array; pre: Float64Array[]; post: Float64Array[] } {
    const { z, a } = this.bufs(B);
    let input = x;
    this.spec.layers.forEach((l, li) => {
      const I = l.inFeatures;
      const O = l.outFeatures;
      const zl = z[li];
      denseForward(input, w, l.wOffset, l.bias ? l.bOffset : -1, zl, B, I, O);
      actForward(l.act, zl, a[li]);
      input = a[li];
    });
    return { out: a[a.length - 1], pre: z, post: a };
  }

  /** Mean task loss of a batch (no gradient). */
  loss(w: Float64Array, x: Float64Array, t: Targets, B: number): number {
    const { out } = this.forward(w, x, B);
    return taskLoss(out, t, B, this.spec.outputSize, undefined);
  }

  /** Mean task loss of a batch; its gradient with respect to w is written to `grad` (overwritten). */
  lossAndGrad(w: Float64Array, x: Float64Array, t: Targets, B: number, grad: Float64Array): number {
    const L = this.spec.layers;
    const { out, pre, post } = this.forward(w, x, B);
    const { d } = this.bufs(B);
    const K = this.spec.outputSize;
    let dz = d[L.length - 1].subarray(0, B * K);
    const loss = taskLoss(out, t, B, K, dz);
    return this.backward(w, x, B, grad, loss, dz, pre, post);
  }

  /** Backpropagates dOut ([B, out], the gradient at the last layer's output) into `grad`. */
  backwardFrom(w: Float64Array, x: Float64Array, B: number, dOut: Float64Array, grad: Float64Array): void {
    const L = this.spec.layers;
    const { pre, post } = this.forward(w, x, B);
    const { d } = this.bufs(B);
    const dz = d[L.length - 1].subarray(0, B * this.spec.outputSize);
    dz.set(dOut);
    this.backward(w, x, B, grad, 0, dz, pre, post);
  }

  private backward(w: Float64Array, x: Float64Array, B: number, grad: Float64Array, loss: number, dz: Float64Array, pre: Float64Array[], post: Float64Array[]): number {
    const L = this.spec.layers;
    const { d } = this.bufs(B);
    grad.fill(0);
    for (let li = L.length - 1; li >= 0; li--) {
      const l = L[li];
      const I = l.inFeatures;
      const O = l.outFeatures;
      actBackward(l.act, pre[li], dz);
      const input = li === 0 ? x : post[li - 1];
      weightGrad(input, dz, grad, l.wOffset, l.bias ? l.bOffset : -1, B, I, O);
      if (li === 0) break;
      const dx = d[li - 1].subarray(0, B * I);
      inputGrad(dz, w, l.wOffset, dx, B, I, O);
      dz = dx;
    }
    return loss;
  }
}

// The three products of a dense layer, ordered so that a weight row stays in L1 while every
// example of the batch passes over it (the batch's rows live in L2), with four examples per pass
// so each weight read serves four multiply-adds. A plain (b, o, i) loop streams the whole weight
// matrix from memory once per example: 4–8× slower on a 784-512 layer.

/** z[b, o] = Σ_i x[b, i]·W[o, i] (+ bias[o]); W row-major [O, I] at w[wOff…]. */
export function denseForward(x: Float64Array, w: Float64Array, wOff: number, bOff: number, z: Float64Array, B: number, I: number, O: number): void {
  for (let o = 0; o < O; o++) {
    const wo = wOff + o * I;
    const bias = bOff >= 0 ? w[bOff + o] : 0;
    let b = 0;
    for (; b + 3 < B; b += 4) {
      const x0 = b * I;
      const x1 = x0 + I;
      const x2 = x1 + I;
      const x3 = x2 + I;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < I; i++) {
        const wi = w[wo + i];
        s0 += x[x0 + i] * wi;
        s1 += x[x1 + i] * wi;
        s2 += x[x2 + i] * wi;
        s3 += x[x3 + i] * wi;
      }
      z[b * O + o] = s0 + bias;
      z[(b + 1) * O + o] = s1 + bias;
      z[(b + 2) * O + o] = s2 + bias;
      z[(b + 3) * O + o] = s3 + bias;
    }
    for (; b < B; b++) {
      const xb = b * I;
      let s = 0;
      for (let i = 0; i < I; i++) s += x[xb + i] * w[wo + i];
      z[b * O + o] = s + bias;
    }
  }
}

/** grad W[o, :] += Σ_b dz[b, o]·x[b, :]; grad b[o] += Σ_b dz[b, o]. */
export function weightGrad(x: Float64Array, dz: Float64Array, grad: Float64Array, wOff: number, bOff: number, B: number, I: number, O: number): void {
  for (let o = 0; o < O; o++) {
    const go = wOff + o * I;
    let b = 0;
    let db = 0;
    for (; b + 3 < B; b += 4) {
      const g0 = dz[b * O + o];
      const g1 = dz[(b + 1) * O + o];
      const g2 = dz[(b + 2) * O + o];
      const g3 = dz[(b + 3) * O + o];
      db += g0 + g1 + g2 + g3;
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const x0 = b * I;
      const x1 = x0 + I;
      const x2 = x1 + I;
      const x3 = x2 + I;
      for (let i = 0; i < I; i++) grad[go + i] += g0 * x[x0 + i] + g1 * x[x1 + i] + g2 * x[x2 + i] + g3 * x[x3 + i];
    }
    for (; b < B; b++) {
      const g = dz[b * O + o];
      db += g;
      if (g === 0) continue;
      const xb = b * I;
      for (let i = 0; i < I; i++) grad[go + i] += g * x[xb + i];
    }
    if (bOff >= 0) grad[bOff + o] += db;
  }
}

/** dx[b, :] = Σ_o dz[b, o]·W[o, :] (dx overwritten). */
export function inputGrad(dz: Float64Array, w: Float64Array, wOff: number, dx: Float64Array, B: number, I: number, O: number): void {
  dx.fill(0);
  for (let o = 0; o < O; o++) {
    const wo = wOff + o * I;
    let b = 0;
    for (; b + 3 < B; b += 4) {
      const g0 = dz[b * O + o];
      const g1 = dz[(b + 1) * O + o];
      const g2 = dz[(b + 2) * O + o];
      const g3 = dz[(b + 3) * O + o];
      const x0 = b * I;
      const x1 = x0 + I;
      const x2 = x1 + I;
      const x3 = x2 + I;
      for (let i = 0; i < I; i++) {
        const wi = w[wo + i];
        dx[x0 + i] += g0 * wi;
        dx[x1 + i] += g1 * wi;
        dx[x2 + i] += g2 * wi;
        dx[x3 + i] += g3 * wi;
      }
    }
    for (; b < B; b++) {
      const g = dz[b * O + o];
      if (g === 0) continue;
      const xb = b * I;
      for (let i = 0; i < I; i++) dx[xb + i] += g * w[wo + i];
    }
  }
}

/**
 * Mean loss of outputs [B, K] against the targets, as PyTorch's F.cross_entropy (mean over the
 * batch, natural log) or F.mse_loss (mean over every element). When `dOut` is given, the loss's
 * gradient with respect to the outputs is written there.
 */
export function taskLoss(out: Float64Array, t: Targets, B: number, K: number, dOut: Float64Array | undefined): number {
  let total = 0;
  if (t.kind === 'classes') {
    for (let b = 0; b < B; b++) {
      const o = b * K;
      let m = -Infinity;
      for (let k = 0; k < K; k++) if (out[o + k] > m) m = out[o + k];
      let s = 0;
      for (let k = 0; k < K; k++) s += Math.exp(out[o + k] - m);
      const lse = m + Math.log(s);
      const c = t.y[b];
      total += lse - out[o + c];
      if (dOut) {
        for (let k = 0; k < K; k++) dOut[o + k] = Math.exp(out[o + k] - lse) / B;
        dOut[o + c] -= 1 / B;
      }
    }
    return total / B;
  }
  if (t.kind !== 'regression') throw new Error('next-token targets need a token model');
  const n = B * K;
  for (let i = 0; i < n; i++) {
    const e = out[i] - t.y[i];
    total += e * e;
    if (dOut) dOut[i] = (2 * e) / n;
  }
  return total / n;
}
