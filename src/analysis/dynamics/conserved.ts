// Conserved quantities of gradient flow, from weights alone (Du, Hu & Lee 2018; Kunin et al.
// 2021, 2024). For a hidden unit i between two weight layers joined only by positively
// homogeneous ops (ReLU, leaky ReLU, identity, max/avg pooling, flatten), rescaling its incoming
// weights by α and its outgoing ones by 1/α leaves the function unchanged, so under gradient flow
//   δ_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖²
// is constant (w_in,i: row i of W_ℓ, for a convolution its flattened filter i; w_out,i: column i
// of W_ℓ+1, for a convolution its input channel i, after a flatten the block of columns of
// channel i). Summed over units, the layer balance ‖W_ℓ+1‖_F² − (‖W_ℓ‖_F² + ‖b_ℓ‖_F²) is constant.
// Bias convention: layer ℓ's bias counts with layer ℓ (it scales with the unit's incoming
// weights); layer ℓ+1's bias does not enter. For linear networks (identity between, no bias)
// the matrix W_ℓ W_ℓᵀ − W_ℓ+1ᵀ W_ℓ+1 is constant too. Only under gradient flow: SGD's finite
// steps drift them by O(lr²) per step, Adam and weight decay break them.
import { type ModelGraph, type Node, inferShapes } from '../model/ir';
import type { StateDict } from '../model/stateDict';

const HOMOGENEOUS_ACTS = ['relu', 'leaky_relu', 'identity'];

export interface LayerPair {
  /** The two weight nodes (graph ids). */
  layer: string;
  next: string;
  weight: string;
  bias?: string;
  nextWeight: string;
  /** Hidden units between them (layer's outputs = next's inputs, per channel). */
  units: number;
  /** Columns of `next` per unit (1, or H·W after a flatten of a feature map). */
  block: number;
  /** Only identity ops between two Linear layers, no bias: the matrix quantity applies. */
  linear: boolean;
}

function readersOf(graph: ModelGraph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of graph.nodes) for (const i of n.inputs) m.set(i, [...(m.get(i) ?? []), n]);
  return m;
}

/** Adjacent weight-layer pairs of the graph whose hidden units carry the rescale symmetry. */
export function layerPairs(graph: ModelGraph): LayerPair[] {
  const readers = readersOf(graph);
  let shapes: Map<string, number[]> | undefined;
  try {
    shapes = inferShapes(graph);
  } catch {
    shapes = undefined;
  }
  const pairs: LayerPair[] = [];
  for (const n of graph.nodes) {
    if (n.op !== 'linear' && n.op !== 'conv2d') continue;
    let cur = n.id;
    let linear = n.op === 'linear' && !n.bias;
    let flattenFrom: number[] | undefined;
    let next: (Node & { op: 'linear' | 'conv2d' }) | undefined;
    for (;;) {
      const r = readers.get(cur);
      if (!r || r.length !== 1 || r[0].inputs.length !== 1) break;
      const m = r[0];
      if (m.op === 'linear' || m.op === 'conv2d') {
        next = m as Node & { op: 'linear' | 'conv2d' };
        break;
      }
      if (m.op === 'activation' && HOMOGENEOUS_ACTS.includes(m.fn)) {
        if (m.fn !== 'identity') linear = false;
      } else if (m.op === 'maxpool2d' || m.op === 'avgpool2d' || m.op === 'adaptive_avgpool2d') {
        linear = false;
      } else if (m.op === 'flatten') {
        flattenFrom = shapes?.get(cur);
      } else break;
      cur = m.id;
    }
    if (!next) continue;
    const units = n.op === 'linear' ? n.outFeatures : n.outChannels;
    let block = 1;
    if (next.op === 'linear') {
      if (next.inFeatures % units !== 0) continue;
      block = next.inFeatures / units;
      if (block > 1 && !(flattenFrom && flattenFrom.length === 3 && flattenFrom[0] === units)) continue;
    } else if (next.op === 'conv2d' && next.inChannels !== units) continue;
    pairs.push({ layer: n.id, next: next.id, weight: n.weight, bias: n.bias, nextWeight: next.weight, units, block, linear: linear && next.op === 'linear' && block === 1 });
  }
  return pairs;
}

export interface PairQuantities {
  /** ‖W_ℓ+1‖_F² − (‖W_ℓ‖_F² + ‖b_ℓ‖²). */
  balance: number;
  /** δ_i per unit. */
  delta: Float64Array;
  /** ‖w_in,i‖² + b_i² + ‖w_out,i‖² per unit: the scale δ drifts are measured against. */
  scale: Float64Array;
  /** W_ℓ W_ℓᵀ − W_ℓ+1ᵀ W_ℓ+1 (units × units, row-major), for linear pairs. */
  matrix?: Float64Array;
}

/** Squared norms of unit i's incoming weights (+ bias) and outgoing weights. */
export function pairQuantities(pair: LayerPair, sd: StateDict): PairQuantities {
  const W = sd.get(pair.weight)!;
  const b = pair.bias ? sd.get(pair.bias)!.values : undefined;
  const V = sd.get(pair.nextWeight)!;
  const U = pair.units;
  const perIn = W.values.length / U;
  const inSq = new Float64Array(U);
  for (let i = 0; i < U; i++) {
    let s = 0;
    for (let j = 0; j < perIn; j++) {
      const v = W.values[i * perIn + j];
      s += v * v;
    }
    inSq[i] = s + (b ? b[i] * b[i] : 0);
  }
  // The next layer's weight is [out, in] (Linear) or [out, in, kh, kw] (conv): unit i owns
  // in-columns i·block … (i+1)·block − 1, times kh·kw for a convolution.
  const outN = V.shape[0];
  const rowLen = V.values.length / outN;
  const perUnit = rowLen / U;
  const outSq = new Float64Array(U);
  for (let o = 0; o < outN; o++) {
    for (let i = 0; i < U; i++) {
      let s = 0;
      const base = o * rowLen + i * perUnit;
      for (let j = 0; j < perUnit; j++) {
        const v = V.values[base + j];
        s += v * v;
      }
      outSq[i] += s;
    }
  }
  const delta = new Float64Array(U);
  const scale = new Float64Array(U);
  let balance = 0;
  for (let i = 0; i < U; i++) {
    delta[i] = inSq[i] - outSq[i];
    scale[i] = inSq[i] + outSq[i];
    balance += outSq[i] - inSq[i];
  }
  let matrix: Float64Array | undefined;
  if (pair.linear && U <= 1024) {
    const I = perIn;
    matrix = new Float64Array(U * U);
    for (let p = 0; p < U; p++) {
      for (let q = p; q < U; q++) {
        let a = 0;
        for (let j = 0; j < I; j++) a += W.values[p * I + j] * W.values[q * I + j];
        let c = 0;
        for (let o = 0; o < outN; o++) c += V.values[o * U + p] * V.values[o * U + q];
        matrix[p * U + q] = matrix[q * U + p] = a - c;
      }
    }
  }
  return { balance, delta, scale, matrix };
}

function norm(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

function diffNorm(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export interface PairDrift {
  /** ‖δ(t) − δ(0)‖₂ / ‖scale(0)‖₂: the per-unit drift relative to the units' squared norms. */
  unitDrift: number;
  /** |balance(t) − balance(0)| / Σ scale(0). */
  balanceDrift: number;
  /** ‖M(t) − M(0)‖_F / ‖W_ℓ(0)W_ℓ(0)ᵀ‖_F-scale for linear pairs. */
  matrixDrift?: number;
}

export function pairDrift(now: PairQuantities, first: PairQuantities): PairDrift {
  const sc = norm(first.scale);
  const total = first.scale.reduce((s, v) => s + v, 0);
  return {
    unitDrift: sc > 0 ? diffNorm(now.delta, first.delta) / sc : 0,
    balanceDrift: total > 0 ? Math.abs(now.balance - first.balance) / total : 0,
    matrixDrift: now.matrix && first.matrix ? diffNorm(now.matrix, first.matrix) / Math.max(sc, 1e-300) : undefined,
  };
}

/** The verdict on a run's largest drift. */
export function conservationVerdict(maxDrift: number, tolerance = 0.01): { conserved: boolean; text: string } {
  const pct = (100 * maxDrift).toPrecision(2);
  return maxDrift <= tolerance
    ? { conserved: true, text: `conserved within ${pct} %` }
    : { conserved: false, text: `not conserved (drift ${pct} %): expected under Adam, weight decay or large steps — these quantities are conserved only under gradient flow` };
}
