// Lazy vs rich learning over a run, the measures of Kunin et al.'s "Get rich quick" code
// (allanraventos/getrichquick, two-layer-relu/utils.py), generalised to MLPs:
//   - relative weight change ‖W_ℓ(t) − W_ℓ(0)‖_F / ‖W_ℓ(0)‖_F per layer (weights, not biases);
//   - activation-pattern change: the share of (probe example, ReLU unit) on/off bits that differ
//     from the first checkpoint (their Hamming distance divided by units × examples);
//   - kernel distance S(t) = 1 − ⟨K_t, K_0⟩_F / (‖K_t‖_F ‖K_0‖_F), with K the exact empirical NTK
//     over (probe example, output) pairs — J Jᵀ, J the Jacobian of the outputs with respect to
//     every parameter — when it is small enough; otherwise the Gram matrix of the last hidden
//     layer's features, labelled as such (a proxy: the kernel of the last layer's weights only);
//   - the loss and accuracy on the data.
// Near 0 means lazy (the network stays close to its linearisation); towards 1, rich.
import { DenseNet, type DenseNetSpec, type Targets, taskLoss } from './mlpNet';

/** Above this many Jacobian entries (examples × outputs × parameters), the feature Gram stands in for the NTK. */
export const EXACT_NTK_MAX = 2e7;

export type KernelKind = 'ntk' | 'last-hidden-gram';

export interface ProbeSnapshot {
  /** ReLU on/off bits per (example, unit) over the hidden layers with a ReLU-like activation. */
  pattern: Uint8Array;
  kernel: Float64Array;
  kernelKind: KernelKind;
}

const GATED = ['relu', 'leaky_relu', 'elu'];

/** The probe inputs' patterns and kernel at parameters w. */
export function probeSnapshot(spec: DenseNetSpec, w: Float64Array, probe: Float64Array, B: number, kind: KernelKind = kernelKindFor(spec, B)): ProbeSnapshot {
  const net = new DenseNet(spec);
  const { pre, post } = net.forward(w, probe, B);
  const bits: number[] = [];
  for (let b = 0; b < B; b++) {
    spec.layers.forEach((l, li) => {
      if (!GATED.includes(l.act)) return;
      for (let o = 0; o < l.outFeatures; o++) bits.push(pre[li][b * l.outFeatures + o] > 0 ? 1 : 0);
    });
  }
  const pattern = Uint8Array.from(bits);
  if (kind === 'last-hidden-gram') {
    const L = spec.layers.length;
    const feats = L >= 2 ? post[L - 2] : probe;
    const F = L >= 2 ? spec.layers[L - 2].outFeatures : spec.inputSize;
    const K = new Float64Array(B * B);
    for (let i = 0; i < B; i++) {
      for (let j = i; j < B; j++) {
        let s = 0;
        for (let f = 0; f < F; f++) s += feats[i * F + f] * feats[j * F + f];
        K[i * B + j] = K[j * B + i] = s;
      }
    }
    return { pattern, kernel: K, kernelKind: kind };
  }
  // Exact NTK: one backward pass per (example, output) gives a row of J.
  const K_ = spec.outputSize;
  const rows = B * K_;
  const J = new Float64Array(rows * spec.size);
  const grad = new Float64Array(spec.size);
  const dOut = new Float64Array(K_);
  const x1 = new Float64Array(spec.inputSize);
  for (let b = 0; b < B; b++) {
    x1.set(probe.subarray(b * spec.inputSize, (b + 1) * spec.inputSize));
    for (let k = 0; k < K_; k++) {
      dOut.fill(0);
      dOut[k] = 1;
      net.backwardFrom(w, x1, 1, dOut, grad);
      J.set(grad, (b * K_ + k) * spec.size);
    }
  }
  const P = spec.size;
  const K = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = i; j < rows; j++) {
      let s = 0;
      const a = i * P;
      const c = j * P;
      for (let p = 0; p < P; p++) s += J[a + p] * J[c + p];
      K[i * rows + j] = K[j * rows + i] = s;
    }
  }
  return { pattern, kernel: K, kernelKind: 'ntk' };
}

export function kernelKindFor(spec: DenseNetSpec, probeSize: number): KernelKind {
  return probeSize * spec.outputSize * spec.size <= EXACT_NTK_MAX ? 'ntk' : 'last-hidden-gram';
}

/** S = 1 − ⟨K, K0⟩_F / (‖K‖_F ‖K0‖_F). */
export function kernelDistance(K: Float64Array, K0: Float64Array): number {
  let dot = 0;
  let a = 0;
  let b = 0;
  for (let i = 0; i < K.length; i++) {
    dot += K[i] * K0[i];
    a += K[i] * K[i];
    b += K0[i] * K0[i];
  }
  return a > 0 && b > 0 ? 1 - dot / Math.sqrt(a * b) : NaN;
}

/** Share of pattern bits that differ. */
export function patternChange(p: Uint8Array, p0: Uint8Array): number {
  if (!p.length) return NaN;
  let d = 0;
  for (let i = 0; i < p.length; i++) if (p[i] !== p0[i]) d++;
  return d / p.length;
}

/** ‖W(t) − W(0)‖_F / ‖W(0)‖_F of each layer's weight. */
export function relativeChanges(spec: DenseNetSpec, w: Float64Array, w0: Float64Array): number[] {
  return spec.layers.map((l) => {
    let d = 0;
    let n = 0;
    for (let i = l.wOffset; i < l.wOffset + l.inFeatures * l.outFeatures; i++) {
      d += (w[i] - w0[i]) ** 2;
      n += w0[i] * w0[i];
    }
    return n > 0 ? Math.sqrt(d / n) : NaN;
  });
}

/** Mean loss and accuracy (classes) over all examples, in batches of 512. */
export function lossAndAccuracy(spec: DenseNetSpec, w: Float64Array, x: Float32Array, y: Int32Array | Float32Array, n: number, regression: boolean): { loss: number; accuracy?: number } {
  const net = new DenseNet(spec);
  const F = spec.inputSize;
  const K = spec.outputSize;
  const bs = 512;
  const xb = new Float64Array(bs * F);
  let total = 0;
  let correct = 0;
  for (let s = 0; s < n; s += bs) {
    const B = Math.min(bs, n - s);
    for (let i = 0; i < B * F; i++) xb[i] = x[s * F + i];
    const { out } = net.forward(w, xb, B);
    const t: Targets = regression ? { kind: 'regression', y: Float64Array.from(y.subarray(s * K, (s + B) * K)) } : { kind: 'classes', y: (y as Int32Array).subarray(s, s + B) };
    const l = taskLoss(out, t, B, K, undefined);
    total += l * B;
    if (!regression) {
      for (let b = 0; b < B; b++) {
        let arg = 0;
        for (let k = 1; k < K; k++) if (out[b * K + k] > out[b * K + arg]) arg = k;
        if (arg === y[s + b]) correct++;
      }
    }
  }
  return regression ? { loss: total / n } : { loss: total / n, accuracy: correct / n };
}
