// Weight-space combinations of checkpoints of one architecture: the straight line
// θ(α) = (1−α)θ_A + αθ_B (methods.md §0.2) and, for the loss plane, Σ_k c_k θ_k. Floating
// tensors are combined in float32 arithmetic (as PyTorch's (1 − α)·A + α·B); integer buffers
// (num_batches_tracked, when a caller carries them) are counters, not weights, so they are
// copied from the first checkpoint.
import type { StateDict } from '../model/stateDict';

export interface CombineOptions {
  /** Names of integer tensors: copied from the first state dict, never combined. */
  integer?: ReadonlySet<string>;
}

/**
 * acc (+)= c·v element-wise in float32 arithmetic: each product rounded to float32, then the sum
 * (a double holds both exactly, so one rounding on store gives float32 addition's result).
 */
export function accumulateScaled(acc: Float32Array, v: ArrayLike<number>, c: number, first: boolean): void {
  const cf = Math.fround(c);
  if (first) for (let i = 0; i < acc.length; i++) acc[i] = cf * v[i];
  else for (let i = 0; i < acc.length; i++) acc[i] += Math.fround(cf * v[i]);
}

/**
 * Combines the endpoint state dicts at many points of a path or a plane. Plain loops over the
 * endpoints' own arrays: no copies of the endpoints, no tensor backend memory (the arrays may
 * be shared with other threads). Dispose when done.
 */
export class StateDictCombiner {
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
      const values = new Float32Array(first.values.length);
      let started = false;
      coefs.forEach((c, k) => {
        if (c === 0) return;
        accumulateScaled(values, this.endpoints[k].get(name)!.values, c, !started);
        started = true;
      });
      out.set(name, { shape: [...first.shape], values });
    }
    return out;
  }

  dispose(): void {
    // Nothing held beyond the endpoints (the caller's).
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
