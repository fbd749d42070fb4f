// The three barrier definitions in use (methods.md §0.2), all reported and labelled, each with
// the α where it is reached, plus the error barrier against a linear baseline. Err = 1 − accuracy.
// Every maximum runs over the evaluated grid, endpoints included (so a barrier is ≥ 0 whenever
// the baseline passes through the endpoints, as the linear ones do).

export interface Barriers {
  /** Linear-baseline loss barrier (Entezari et al. Eq. 1): max_α [L(θ(α)) − ((1−α)L(θ_A) + αL(θ_B))]. */
  lossLinear: number;
  /** Mean-baseline loss barrier (git-re-basin's plotting code): max_α L(θ(α)) − (L(θ_A) + L(θ_B))/2. */
  lossMean: number;
  /** Error barrier, Frankle et al.'s instability: max_α Err(θ(α)) − (Err(θ_A) + Err(θ_B))/2. */
  error: number;
  /** Error barrier against the linear baseline: max_α [Err(θ(α)) − ((1−α)Err(θ_A) + αErr(θ_B))]. */
  errorLinear: number;
  /** The α where each maximum is reached (the first, on ties). */
  argmaxAlpha: { lossLinear: number; lossMean: number; error: number; errorLinear: number };
}

export const BARRIER_DEFINITIONS = {
  lossLinear: 'max_α [L(θ(α)) − ((1−α)·L(θ_A) + α·L(θ_B))]  (linear baseline, Entezari et al.)',
  lossMean: 'max_α L(θ(α)) − (L(θ_A) + L(θ_B))/2  (mean baseline, git-re-basin plots)',
  error: 'max_α Err(θ(α)) − (Err(θ_A) + Err(θ_B))/2, Err = 1 − accuracy  (Frankle et al. instability)',
  errorLinear: 'max_α [Err(θ(α)) − ((1−α)·Err(θ_A) + α·Err(θ_B))], Err = 1 − accuracy',
} as const;

function argmax(v: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** Barriers of a curve sampled at `alphas` (ascending, from 0 to 1) with its losses and accuracies. */
export function computeBarriers(alphas: readonly number[], loss: readonly number[], accuracy: readonly number[]): Barriers {
  const n = alphas.length;
  if (n < 2 || loss.length !== n || accuracy.length !== n) throw new Error('barriers need at least two points with a loss and an accuracy each');
  const err = accuracy.map((a) => 1 - a);
  const linear = (f: readonly number[]) => f.map((v, i) => v - ((1 - alphas[i]) * f[0] + alphas[i] * f[n - 1]));
  const mean = (f: readonly number[]) => f.map((v) => v - 0.5 * (f[0] + f[n - 1]));
  const curves = { lossLinear: linear(loss), lossMean: mean(loss), error: mean(err), errorLinear: linear(err) };
  const at = { lossLinear: argmax(curves.lossLinear), lossMean: argmax(curves.lossMean), error: argmax(curves.error), errorLinear: argmax(curves.errorLinear) };
  return {
    lossLinear: curves.lossLinear[at.lossLinear],
    lossMean: curves.lossMean[at.lossMean],
    error: curves.error[at.error],
    errorLinear: curves.errorLinear[at.errorLinear],
    argmaxAlpha: { lossLinear: alphas[at.lossLinear], lossMean: alphas[at.lossMean], error: alphas[at.error], errorLinear: alphas[at.errorLinear] },
  };
}

/**
 * Monotonic linear interpolation (Lucas et al.; methods.md §6): Δ = max_j (L_j − min_{i<j} L_i),
 * the largest rise above the running minimum (0 for a non-increasing curve), and where it peaks.
 */
export function monotonicityGap(alphas: readonly number[], loss: readonly number[]): { delta: number; alpha: number } {
  let runningMin = loss[0];
  let delta = 0;
  let alpha = alphas[0];
  for (let j = 1; j < loss.length; j++) {
    const rise = loss[j] - runningMin;
    if (rise > delta) {
      delta = rise;
      alpha = alphas[j];
    }
    runningMin = Math.min(runningMin, loss[j]);
  }
  return { delta, alpha };
}
