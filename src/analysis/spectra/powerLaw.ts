// WeightWatcher-style power-law fit of the eigenvalue density of WᵀW (λ = σ²): the continuous
// maximum-likelihood exponent of Clauset, Shalizi & Newman (2009), with x_min chosen as the
// eigenvalue that minimises the Kolmogorov–Smirnov distance between the tail and the fit.
// test/fixtures/runs/make_runs_fixtures.py implements the same definition in numpy.

export interface PowerLawFit {
  /** p(λ) ∝ λ^(−α) for λ ≥ xmin. */
  alpha: number;
  /** The fitting range: xmin (chosen) to xmax (the largest eigenvalue). */
  xmin: number;
  xmax: number;
  /** Eigenvalues in [xmin, xmax], and eigenvalues considered (positive ones). */
  nTail: number;
  n: number;
  /** KS distance of the chosen fit. */
  ks: number;
}

/** Eigenvalues at or below this fraction of the largest are numerical zeros and left out. */
export const ZERO_EIGENVALUE = 1e-10;
/** Smallest tail a candidate xmin may leave. */
export const MIN_TAIL = 10;

/**
 * Fits α to the eigenvalues (any order). Candidates for xmin: every positive eigenvalue that
 * leaves at least `minTail` eigenvalues at or above it. For each, α = 1 + n / Σ ln(λ_i/xmin)
 * and D = max_i max(|(i+1)/n − F(λ_i)|, |i/n − F(λ_i)|) with F(λ) = 1 − (λ/xmin)^(1−α); the
 * smallest D wins (the first, i.e. the smallest xmin, on ties). Null when too few eigenvalues.
 */
export function fitPowerLaw(eigenvalues: ArrayLike<number>, minTail = MIN_TAIL): PowerLawFit | null {
  let top = 0;
  for (let i = 0; i < eigenvalues.length; i++) if (eigenvalues[i] > top) top = eigenvalues[i];
  const x = Float64Array.from(eigenvalues).filter((v) => v > ZERO_EIGENVALUE * top).sort();
  const n = x.length;
  if (n < minTail || top === 0) return null;
  const logs = x.map(Math.log);
  // suffix[i] = Σ_{j ≥ i} ln λ_j
  const suffix = new Float64Array(n + 1);
  for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1] + logs[i];
  let best: PowerLawFit | null = null;
  for (let i = 0; i + minTail <= n; i++) {
    if (i > 0 && x[i] === x[i - 1]) continue;
    const m = n - i;
    const sumLog = suffix[i] - m * logs[i];
    if (!(sumLog > 0)) continue;
    const alpha = 1 + m / sumLog;
    let d = 0;
    for (let j = 0; j < m; j++) {
      const f = 1 - Math.exp((1 - alpha) * (logs[i + j] - logs[i]));
      d = Math.max(d, Math.abs((j + 1) / m - f), Math.abs(j / m - f));
    }
    if (!best || d < best.ks) best = { alpha, xmin: x[i], xmax: x[n - 1], nTail: m, n, ks: d };
  }
  return best;
}
