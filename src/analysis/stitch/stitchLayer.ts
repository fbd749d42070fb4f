// The trainable stitching layer of Bansal, Nakkiran & Barak (2021), the only parameters trained:
//   images  [B, C, H, W]: BatchNorm → 1×1 convolution → BatchNorm
//   vectors [B, F]:       BatchNorm → linear → BatchNorm
//   tokens  [B, T, C]:    a token-wise linear map on the residual stream (their ViT stitch)
// A 1×1 convolution is a matrix product over the channels of every position, so all three run
// as one [N, Cin] × [Cin, Cout] product (which also avoids the wasm backend's missing
// Conv2DBackpropFilter). BatchNorms behave as nn.BatchNorm: batch statistics while training,
// running averages (momentum 0.1, unbiased variance) for evaluation.
import * as tf from '@tensorflow/tfjs-core';
import { GraphError } from '../model/ir';
import { mulberry32 } from '../core/random';

export type StitchKind = 'conv' | 'dense' | 'token';
/**
 * identity: the map is I and every BatchNorm the identity transform (γ = 1, β = 0, running mean
 * 0, running variance 1 − ε, so γ/√(var + ε) is exactly 1): before training, the stitched
 * network computes exactly the bottom network's features. Needs equal widths.
 * random: PyTorch's default initialisation of nn.Linear / nn.Conv2d, U(−1/√fan_in, 1/√fan_in).
 */
export type StitchInit = 'identity' | 'random';

const EPS = 1e-5;
const MOMENTUM = 0.1;

/** Which stitching layer fits features of this per-example shape (PyTorch layout). */
export function stitchKind(shape: readonly number[]): StitchKind {
  if (shape.length === 3) return 'conv';
  if (shape.length === 2) return 'token';
  if (shape.length === 1) return 'dense';
  throw new GraphError(`no stitching layer for features of shape [${shape}]`);
}

/** mulberry32: small, seeded, reproducible. */
export const seededRandom = mulberry32;

/** A trainable variable holding `t`'s values; `t` itself is released. */
function variable(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

interface Norm {
  gamma: tf.Variable;
  beta: tf.Variable;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

export class StitchLayer {
  readonly kind: StitchKind;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  private readonly norms: [Norm, Norm] | undefined;
  /** Batch statistics of the last training-mode apply(), folded into the running ones by commitStatistics(). */
  private pending: { mean: tf.Tensor; variance: tf.Tensor; count: number }[] = [];
  private frozen: { scale: tf.Tensor1D; shift: tf.Tensor1D }[] | undefined;

  constructor(
    readonly inShape: readonly number[],
    readonly outShape: readonly number[],
    init: StitchInit,
    seed = 0,
  ) {
    this.kind = stitchKind(inShape);
    if (stitchKind(outShape) !== this.kind) throw new GraphError(`cannot stitch features [${inShape}] to [${outShape}]`);
    if (this.kind === 'conv' && (inShape[1] !== outShape[1] || inShape[2] !== outShape[2])) {
      throw new GraphError(`cannot stitch [${inShape}] to [${outShape}]: a 1×1 convolution keeps the spatial size`);
    }
    if (this.kind === 'token' && inShape[0] !== outShape[0]) throw new GraphError(`cannot stitch ${inShape[0]} tokens to ${outShape[0]}`);
    const cin = inShape[this.kind === 'conv' ? 0 : inShape.length - 1];
    const cout = outShape[this.kind === 'conv' ? 0 : outShape.length - 1];
    let w: Float32Array;
    let b: Float32Array;
    if (init === 'identity') {
      if (cin !== cout) throw new GraphError(`an identity stitch needs equal widths, got ${cin} → ${cout}`);
      w = new Float32Array(cin * cout);
      for (let i = 0; i < cin; i++) w[i * cout + i] = 1;
      b = new Float32Array(cout);
    } else {
      const rand = seededRandom(seed);
      const bound = 1 / Math.sqrt(cin);
      w = Float32Array.from({ length: cin * cout }, () => (2 * rand() - 1) * bound);
      b = Float32Array.from({ length: cout }, () => (2 * rand() - 1) * bound);
    }
    // Stored [in, out] for x @ w.
    this.weight = variable(tf.tensor2d(w, [cin, cout]));
    this.bias = variable(tf.tensor1d(b));
    if (this.kind !== 'token') {
      const norm = (c: number): Norm => ({
        gamma: variable(tf.ones([c])),
        beta: variable(tf.zeros([c])),
        mean: tf.zeros([c]) as tf.Tensor1D,
        variance: tf.fill([c], 1 - EPS) as tf.Tensor1D,
      });
      this.norms = [norm(cin), norm(cout)];
    }
  }

  /** The trained parameters. */
  get variables(): tf.Variable[] {
    return [this.weight, this.bias, ...(this.norms ?? []).flatMap((n) => [n.gamma, n.beta])];
  }

  /** Maps bottom features [B, …inShape] to top features [B, …outShape] (PyTorch layout). */
  apply(x: tf.Tensor, training: boolean): tf.Tensor {
    return tf.tidy(() => {
      const B = x.shape[0];
      // Rows of channel vectors: [B·H·W, C] for images, [B·T, C] for tokens, [B, F] for vectors.
      const rows = this.kind === 'conv' ? tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [-1, this.inShape[0]]) : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
      let h = this.norms ? this.normalise(rows, 0, training) : rows;
      h = tf.add(tf.matMul(h, this.weight), this.bias);
      if (this.norms) h = this.normalise(h, 1, training);
      if (this.kind === 'conv') {
        const [, H, W] = this.inShape;
        return tf.transpose(tf.reshape(h, [B, H, W, this.outShape[0]]), [0, 3, 1, 2]);
      }
      return tf.reshape(h, [B, ...this.outShape]);
    });
  }

  private normalise(rows: tf.Tensor, i: 0 | 1, training: boolean): tf.Tensor {
    const n = this.norms![i];
    if (!training) {
      const f = this.frozenNorms()[i];
      return tf.add(tf.mul(rows, f.scale), f.shift);
    }
    const { mean, variance } = tf.moments(rows, 0);
    if (i === 0) this.dropPending();
    this.pending.push({ mean: tf.keep(mean), variance: tf.keep(variance), count: rows.shape[0] });
    return tf.add(tf.mul(tf.mul(tf.sub(rows, mean), tf.rsqrt(tf.add(variance, EPS))), n.gamma), n.beta);
  }

  /** After a training step: running statistics ← (1 − momentum)·running + momentum·batch (unbiased variance). */
  commitStatistics(): void {
    if (!this.norms || this.pending.length !== 2) return;
    this.frozen = this.disposeFrozen();
    this.pending.forEach((p, i) => {
      const n = this.norms![i];
      const unbiased = p.count > 1 ? p.count / (p.count - 1) : 1;
      const [m, v] = tf.tidy(() => [
        tf.keep(tf.add(tf.mul(n.mean, 1 - MOMENTUM), tf.mul(p.mean, MOMENTUM))),
        tf.keep(tf.add(tf.mul(n.variance, 1 - MOMENTUM), tf.mul(p.variance, MOMENTUM * unbiased))),
      ]);
      n.mean.dispose();
      n.variance.dispose();
      n.mean = m as tf.Tensor1D;
      n.variance = v as tf.Tensor1D;
    });
    this.dropPending();
  }

  /** Eval-mode BatchNorm as x·scale + shift, computed in float64 (exactly 1 and 0 for the identity init). */
  private frozenNorms(): { scale: tf.Tensor1D; shift: tf.Tensor1D }[] {
    if (!this.frozen) {
      this.frozen = this.norms!.map((n) => {
        const [g, b, m, v] = [n.gamma, n.beta, n.mean, n.variance].map((t) => t.dataSync());
        const scale = new Float32Array(g.length);
        const shift = new Float32Array(g.length);
        for (let c = 0; c < g.length; c++) {
          const s = g[c] / Math.sqrt(v[c] + EPS);
          scale[c] = s;
          shift[c] = b[c] - m[c] * s;
        }
        return { scale: tf.keep(tf.tensor1d(scale)), shift: tf.keep(tf.tensor1d(shift)) };
      });
    }
    return this.frozen;
  }

  /** Parameters changed: the eval-mode transform is recomputed on next use. */
  invalidate(): void {
    this.frozen = this.disposeFrozen();
  }

  private disposeFrozen(): undefined {
    for (const f of this.frozen ?? []) tf.dispose([f.scale, f.shift]);
    return undefined;
  }

  private dropPending(): void {
    for (const p of this.pending) tf.dispose([p.mean, p.variance]);
    this.pending = [];
  }

  dispose(): void {
    this.dropPending();
    this.disposeFrozen();
    this.frozen = undefined;
    tf.dispose([this.weight, this.bias, ...(this.norms ?? []).flatMap((n) => [n.gamma, n.beta, n.mean, n.variance])]);
  }
}
