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
