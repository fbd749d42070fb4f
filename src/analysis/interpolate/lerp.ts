// Weight-space combinations of checkpoints of one architecture: the straight line
// θ(α) = (1−α)θ_A + αθ_B (methods.md §0.2) and, for the loss plane, Σ_k c_k θ_k. Floating
// tensors are combined with tfjs ops; integer buffers (num_batches_tracked, when a caller
// carries them) are counters, not weights, so they are copied from the first checkpoint.
import * as tf from '@tensorflow/tfjs-core';
import type { StateDict } from '../model/stateDict';

export interface CombineOptions {
  /** Names of integer tensors: copied from the first state dict, never combined. */
  integer?: ReadonlySet<string>;
}

/**
 * Holds the endpoint state dicts as tfjs tensors once, so that evaluating many points of a path
 * or a plane does not re-upload them. Dispose when done.
 */
export class StateDictCombiner {
  private readonly tensors: Map<string, tf.Tensor>[];
  private readonly names: string[];

  constructor(
    private readonly endpoints: readonly StateDict[],
    private readonly opts: CombineOptions = {},
  ) {
    if (endpoints.length === 0) throw new Error('no state dicts to combine');
    this.names = [...endpoints[0].keys()];
    for (const [k, sd] of endpoints.entries()) {
      for (const name of this.names) {
        const t = sd.get(name);
        if (!t) throw new Error(`state dict ${k} has no tensor ${name}`);
        if (t.values.length !== endpoints[0].get(name)!.values.length) throw new Error(`tensor ${name} differs in size between the state dicts`);
      }
    }
    this.tensors = endpoints.map((sd) => new Map(this.names.filter((n) => !opts.integer?.has(n)).map((n) => [n, tf.tensor1d(sd.get(n)!.values, 'float32')])));
  }

  /** Σ_k coefs[k]·θ_k for every floating tensor (endpoints with a zero coefficient are skipped). */
  at(coefs: readonly number[]): StateDict {
    if (coefs.length !== this.endpoints.length) throw new Error(`${coefs.length} coefficients for ${this.endpoints.length} state dicts`);
    const out: StateDict = new Map();
    for (const name of this.names) {
      const first = this.endpoints[0].get(name)!;
      if (this.opts.integer?.has(name)) {
        out.set(name, { shape: [...first.shape], values: first.values.slice() });
        continue;
      }
      const values = tf.tidy(() => {
        let acc: tf.Tensor | undefined;
        coefs.forEach((c, k) => {
          if (c === 0) return;
          const term = tf.mul(this.tensors[k].get(name)!, c);
          acc = acc ? tf.add(acc, term) : term;
        });
        return acc ?? tf.zerosLike(this.tensors[0].get(name)!);
      });
      out.set(name, { shape: [...first.shape], values: values.dataSync() as Float32Array });
      values.dispose();
    }
    return out;
  }

  dispose(): void {
    for (const m of this.tensors) for (const t of m.values()) t.dispose();
  }
}

/** Σ_k coefs[k]·sds[k] (one-off; use StateDictCombiner for many points). */
export function combineStateDicts(sds: readonly StateDict[], coefs: readonly number[], opts: CombineOptions = {}): StateDict {
  const c = new StateDictCombiner(sds, opts);
  try {
    return c.at(coefs);
  } finally {
    c.dispose();
  }
}

/** θ(α) = (1−α)θ_A + αθ_B. */
export function lerpStateDicts(a: StateDict, b: StateDict, alpha: number, opts: CombineOptions = {}): StateDict {
  return combineStateDicts([a, b], [1 - alpha, alpha], opts);
}

/** n evenly spaced values from 0 to 1 inclusive (numpy's linspace(0, 1, n)). */
export function unitGrid(n: number): number[] {
  if (!Number.isInteger(n) || n < 2) throw new Error(`a path needs at least 2 points, got ${n}`);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? 1 : i / (n - 1)));
}
