// Adam exactly as torch.optim.Adam (β = (0.9, 0.999), ε = 1e-8 outside the square root, bias
// correction), with the learning rate given per step so a schedule (cosine decay) can drive it.
import * as tf from '@tensorflow/tfjs-core';

export class Adam {
  private readonly m: tf.Tensor[];
  private readonly v: tf.Tensor[];
  private t = 0;

  constructor(
    private readonly params: tf.Variable[],
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = params.map((p) => tf.zerosLike(p));
    this.v = params.map((p) => tf.zerosLike(p));
  }

  step(grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    this.params.forEach((p, i) => {
      const g = grads[p.name];
      if (!g) return;
      const [m, v] = tf.tidy(() => [tf.keep(tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1))), tf.keep(tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2)))]);
      this.m[i].dispose();
      this.v[i].dispose();
      this.m[i] = m;
      this.v[i] = v;
      tf.tidy(() => p.assign(tf.sub(p, tf.div(tf.mul(m, lr / c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps)))));
    });
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/** Cosine decay from `lr` to 0 over `total` steps (CosineAnnealingLR stepped every batch). */
export function cosineLr(lr: number, step: number, total: number): number {
  return total <= 1 ? lr : 0.5 * lr * (1 + Math.cos((Math.PI * step) / total));
}
