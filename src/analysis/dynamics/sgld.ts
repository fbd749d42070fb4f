// One SGLD step, as devinterp's SGLD.step (v1.3.2, optim/sgld.py) computes it, in the same order:
//   dw = nβ·∇L_batch(w) [+ weight_decay·w] [+ γ·(w − w₀)]
//   w ← w − (ε/2)·dw
//   w ← w + √ε · ξ,   ξ ~ N(0, noise_level²)
// i.e. Δw = ε/2·(−nβ∇L − γ(w − w₀) − λw) + N(0, ε σ²), Lau et al. (2023)'s localised, tempered
// Langevin step. Also what the MALA diagnostic needs: the drift dw and the localisation energy.

export interface SgldParams {
  /** ε, the step size (devinterp's lr). */
  epsilon: number;
  /** nβ, the inverse temperature times n. */
  nbeta: number;
  /** γ, the localisation strength. */
  gamma: number;
  weightDecay: number;
  /** σ of the injected noise (1 for a posterior sampler). */
  noiseLevel: number;
}

export interface StepExtras {
  /** The drift nβ∇L + λw + γ(w − w₀), written when given (the MALA proposal needs it). */
  drift?: Float64Array;
}

/**
 * Updates w in place; `noise` holds the N(0, noise_level²) draw. Returns the localisation energy
 * (γ/2)·‖w − w₀‖² at the pre-step weights, which the MALA diagnostic adds to nβ·L.
 */
export function sgldStep(w: Float64Array, grad: Float64Array, w0: Float64Array, p: SgldParams, noise: Float64Array, extras: StepExtras = {}): number {
  const { nbeta, gamma, weightDecay } = p;
  const a = -0.5 * p.epsilon;
  const s = p.epsilon ** 0.5;
  const drift = extras.drift;
  let dist2 = 0;
  for (let i = 0; i < w.length; i++) {
    const wi = w[i];
    let dw = grad[i] * nbeta;
    if (weightDecay !== 0) dw = dw + weightDecay * wi;
    const r = wi - w0[i];
    dist2 += r * r;
    if (gamma !== 0) dw = dw + gamma * r;
    if (drift) drift[i] = dw;
    const stepped = wi + a * dw;
    w[i] = stepped + s * noise[i];
  }
  return (dist2 * gamma) / 2;
}

/**
 * log of the MALA acceptance probability of the move prev → cur, as devinterp's
 * mala_acceptance_probability: Gaussian proposals of variance ε around w − (ε/2)·drift, and the
 * potential U = nβ·L + (γ/2)‖w − w₀‖². Returns min(1, exp(·)).
 */
export function malaAcceptance(prev: Float64Array, prevDrift: Float64Array, prevU: number, cur: Float64Array, curDrift: Float64Array, curU: number, epsilon: number): number {
  if (!Number.isFinite(curU)) return NaN;
  let back = 0;
  let fwd = 0;
  const h = epsilon * 0.5;
  for (let i = 0; i < cur.length; i++) {
    const b = prev[i] - cur[i] + h * curDrift[i];
    const f = cur[i] - prev[i] + h * prevDrift[i];
    back += b * b;
    fwd += f * f;
  }
  const logA = -back / (2 * epsilon) + fwd / (2 * epsilon) + prevU - curU;
  return Math.min(1, Math.exp(logA));
}

/** What sgldDrawStep does for MALA: nothing (burn-in), keep the point (the first draw), or also score the move. */
export type MalaMode = 'off' | 'keep' | 'score';

/** Noise drawn per block of this many parameters (the block stays in L1 cache). */
export const NOISE_BLOCK = 4096;

/**
 * sgldStep, its noise and the MALA bookkeeping in one pass over memory (the passes are memory
 * bound on large networks: one instead of four saves most of their time). The noise is what
 * rng.fillNormal would draw for the whole vector, block by block; the arithmetic is sgldStep's
 * and malaAcceptance's, in the same order, so the results are identical to calling them in turn.
 * With mode 'keep' or 'score', prev.w and prev.drift are replaced by this pre-step point and its
 * drift; 'score' first accumulates the MALA sums of the move prev → this point. Returns the
 * localisation energy at the pre-step point and those sums.
 */
export function sgldDrawStep(
  w: Float64Array,
  grad: Float64Array,
  w0: Float64Array,
  p: SgldParams,
  rng: { fillNormal(out: Float64Array, sd?: number): void },
  block: Float64Array,
  mode: MalaMode,
  prev: { w: Float64Array; drift: Float64Array },
): { loc: number; back: number; fwd: number } {
  const { nbeta, gamma, weightDecay } = p;
  const a = -0.5 * p.epsilon;
  const s = p.epsilon ** 0.5;
  const h = p.epsilon * 0.5;
  const pw = prev.w;
  const pd = prev.drift;
  const n = w.length;
  let dist2 = 0;
  let back = 0;
  let fwd = 0;
  for (let start = 0; start < n; start += NOISE_BLOCK) {
    const end = Math.min(n, start + NOISE_BLOCK);
    const noise = end - start === block.length ? block : block.subarray(0, end - start);
    rng.fillNormal(noise, p.noiseLevel);
    for (let i = start; i < end; i++) {
      const wi = w[i];
      let dw = grad[i] * nbeta;
      if (weightDecay !== 0) dw = dw + weightDecay * wi;
      const r = wi - w0[i];
      dist2 += r * r;
      if (gamma !== 0) dw = dw + gamma * r;
      if (mode === 'score') {
        const b = pw[i] - wi + h * dw;
        const f = wi - pw[i] + h * pd[i];
        back += b * b;
        fwd += f * f;
      }
      if (mode !== 'off') {
        pw[i] = wi;
        pd[i] = dw;
      }
      const stepped = wi + a * dw;
      w[i] = stepped + s * noise[i - start];
    }
  }
  return { loc: (dist2 * gamma) / 2, back, fwd };
}

/** The MALA acceptance from sgldDrawStep's sums (malaAcceptance's last lines). */
export function malaFromSums(back: number, fwd: number, prevU: number, curU: number, epsilon: number): number {
  if (!Number.isFinite(curU)) return NaN;
  const logA = -back / (2 * epsilon) + fwd / (2 * epsilon) + prevU - curU;
  return Math.min(1, Math.exp(logA));
}
