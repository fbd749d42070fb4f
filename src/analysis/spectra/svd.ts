// Singular values of a dense matrix in float64, with no library: exact ones by Householder QR
// followed by one-sided (Hestenes) Jacobi, and the top k by Golub–Kahan–Lanczos
// bidiagonalisation with full reorthogonalisation for matrices too large for the exact method.
import type { Decoded } from '../core/dtype';
import { CancelledError } from '../core/errors';

/** A row-major rows × cols matrix (a weight reshaped to [out, in·k·k]). */
export interface Matrix {
  rows: number;
  cols: number;
  values: Decoded | Float64Array;
}

/**
 * Every singular value of `m`, descending. The k = min(rows, cols) vectors of the taller
 * orientation are first reduced to a k × k triangle R by Householder QR (same singular values,
 * and Jacobi then works on k-long vectors instead of max(rows, cols)-long ones), then R's
 * columns are rotated pairwise until all are orthogonal; their norms are the singular values.
 * Converges quadratically; accurate to a few ulps relative to σ_max.
 */
export function exactSingularValues(m: Matrix, maxSweeps = 60): Float64Array {
  const { rows, cols, values } = m;
  const k = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  if (k === 0) return new Float64Array(0);
  // Column j of the tall orientation: column j of A when rows ≥ cols, else row j of A.
  const v: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const c = new Float64Array(len);
    if (rows >= cols) for (let i = 0; i < len; i++) c[i] = values[i * cols + j];
    else c.set(values.subarray(j * cols, (j + 1) * cols));
    v.push(c);
  }
  const r = len > k ? householderR(v, len, k) : v;
  return jacobiColumnNorms(r, maxSweeps);
}

/** R (k columns of length k) of the QR decomposition of the len × k matrix whose columns are `v` (overwritten). */
function householderR(v: Float64Array[], len: number, k: number): Float64Array[] {
  const h = new Float64Array(len);
  for (let j = 0; j < k; j++) {
    const x = v[j];
    let norm = 0;
    for (let i = j; i < len; i++) norm += x[i] * x[i];
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const alpha = x[j] > 0 ? -norm : norm;
    // h = x[j:] − alpha·e_j, reflected: H = I − 2hhᵀ/(hᵀh)
    let hh = 0;
    for (let i = j; i < len; i++) {
      h[i] = x[i] - (i === j ? alpha : 0);
      hh += h[i] * h[i];
    }
    if (hh === 0) continue;
    x[j] = alpha;
    for (let i = j + 1; i < len; i++) x[i] = 0;
    for (let c = j + 1; c < k; c++) {
      const y = v[c];
      let d = 0;
      for (let i = j; i < len; i++) d += h[i] * y[i];
      const f = (2 * d) / hh;
      for (let i = j; i < len; i++) y[i] -= f * h[i];
    }
  }
  return v.map((c) => c.slice(0, k));
}

/** One-sided Jacobi on the columns `v` (all of one length): returns their final norms, descending. */
function jacobiColumnNorms(v: Float64Array[], maxSweeps: number): Float64Array {
  const k = v.length;
  const n = k ? v[0].length : 0;
  const sq = new Float64Array(k);
  const tol = 1e-15;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    // Exact squared norms at every sweep start; within a sweep they are updated by the rotation formulas.
    for (let j = 0; j < k; j++) {
      let s = 0;
      const c = v[j];
      for (let i = 0; i < n; i++) s += c[i] * c[i];
      sq[j] = s;
    }
    let rotated = false;
    for (let p = 0; p < k - 1; p++) {
      const vp = v[p];
      for (let q = p + 1; q < k; q++) {
        const a = sq[p], b = sq[q];
        if (a === 0 || b === 0) continue;
        const vq = v[q];
        let g = 0;
        for (let i = 0; i < n; i++) g += vp[i] * vq[i];
        if (Math.abs(g) <= tol * Math.sqrt(a * b)) continue;
        rotated = true;
        const zeta = (b - a) / (2 * g);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < n; i++) {
          const x = vp[i], y = vq[i];
          vp[i] = c * x - s * y;
          vq[i] = s * x + c * y;
        }
        sq[p] = a - t * g;
        sq[q] = b + t * g;
      }
    }
    if (!rotated) break;
  }
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    const c = v[j];
    for (let i = 0; i < n; i++) s += c[i] * c[i];
    out[j] = Math.sqrt(s);
  }
  return out.sort().reverse();
}

/** xorshift32 in [−0.5, 0.5): a seeded start vector, so results repeat run to run. */
function seededVector(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 0x9e3779b9;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

function normalize(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < x.length; i++) x[i] /= n;
  return n;
}

/** x −= Σ_b (bᵀx) b over the basis, twice ("twice is enough" for full reorthogonalisation). */
function reorthogonalize(x: Float64Array, basis: Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (const b of basis) {
      let d = 0;
      for (let i = 0; i < x.length; i++) d += b[i] * x[i];
      for (let i = 0; i < x.length; i++) x[i] -= d * b[i];
    }
  }
}

export interface TopKResult {
  values: Float64Array;
  /** Lanczos steps taken (the Krylov dimension). */
  steps: number;
  converged: boolean;
  /** Leading values that had settled (changed < tol·σ₁ over the last 16 steps); k when converged. */
  settled: number;
  /** The time budget ran out before convergence (then `settled` compares with 8 steps before). */
  timedOut: boolean;
  /** When timed out: |σ₁ − σ₁ eight steps before| / σ₁ (how far σ₁ still moved). */
  sigma1Change?: number;
}

export interface TopKOptions {
  tol?: number;
  seed?: number;
  maxSteps?: number;
  /** performance.now() after which no new step starts (at least 10 are taken); the values so far are returned. */
  deadline?: number;
  /** Polled every step; a cancelled run throws CancelledError. */
  isCancelled?: () => boolean;
  /** The clock `deadline` is read on (default performance.now; tests give a step counter). */
  now?: () => number;
}

/**
 * The k largest singular values of `m` by Golub–Kahan–Lanczos bidiagonalisation with full
 * reorthogonalisation, from a seeded start vector. Steps are added 16 at a time until the top k
 * Ritz values change by less than `tol` (relative to σ₁) between checks, or the Krylov space is
 * the whole space (then they are exact), or `maxSteps` (default max(4k, k + 64)) is reached —
 * then `converged` is false and the values are Ritz values (lower bounds, the smallest of the k
 * least accurate). Each step costs one A·v, one Aᵀ·u and the reorthogonalisation.
 */
export function topSingularValues(m: Matrix, k: number, opts: TopKOptions = {}): TopKResult {
  const full = Math.min(m.rows, m.cols);
  k = Math.min(k, full);
  // Lanczos runs on the orientation whose right vectors live in the smaller space: after `full`
  // steps they span it, the next residual vanishes, and the bidiagonal's values are exact. (On
  // the other orientation a square bidiagonal would drop the last β and be wrong.)
  const t = m.cols > m.rows;
  const rows = t ? m.cols : m.rows;
  const cols = t ? m.rows : m.cols;
  const values = m.values;
  const n = m.cols;
  // Cancellation is polled inside the products too (one product of an 8192 × 4096 matrix is ~0.1 s).
  const poll = (i: number): void => {
    if ((i & 511) === 511 && opts.isCancelled?.()) throw new CancelledError();
  };
  /** y = A x (A is rows × cols in the chosen orientation). */
  const mulA = (x: Float64Array, y: Float64Array): void => {
    if (!t) {
      for (let r = 0; r < rows; r++) {
        poll(r);
        let s = 0;
        const o = r * n;
        for (let c = 0; c < cols; c++) s += values[o + c] * x[c];
        y[r] = s;
      }
    } else {
      y.fill(0);
      for (let c = 0; c < cols; c++) {
        poll(c);
        const xc = x[c];
        if (xc === 0) continue;
        const o = c * n;
        for (let r = 0; r < rows; r++) y[r] += xc * values[o + r];
      }
    }
  };
  /** y = Aᵀ x. */
  const mulAt = (x: Float64Array, y: Float64Array): void => {
    if (!t) {
      y.fill(0);
      for (let r = 0; r < rows; r++) {
        poll(r);
        const xr = x[r];
        if (xr === 0) continue;
        const o = r * n;
        for (let c = 0; c < cols; c++) y[c] += xr * values[o + c];
      }
    } else {
      for (let c = 0; c < cols; c++) {
        poll(c);
        let s = 0;
        const o = c * n;
        for (let r = 0; r < rows; r++) s += values[o + r] * x[r];
        y[c] = s;
      }
    }
  };
  const tol = opts.tol ?? 1e-9;
  const maxSteps = Math.min(full, opts.maxSteps ?? Math.max(4 * k, k + 64));
  const us: Float64Array[] = [];
  const vs: Float64Array[] = [];
  const alphas: number[] = [];
  const betas: number[] = [];
  let v = seededVector(cols, opts.seed ?? 1);
  normalize(v);
  let prev: Float64Array | undefined;
  let beta = 0;
  let uPrev: Float64Array | undefined;
  let next = Math.min(maxSteps, 2 * k + 16);
  let exhausted = false;
  let timedOut = false;
  const ritzOf = (steps: number): Float64Array => bidiagonalSingularValues(alphas.slice(0, steps), betas.slice(0, steps - 1)).subarray(0, k);
  for (;;) {
    while (vs.length < next) {
      if (opts.isCancelled?.()) throw new CancelledError();
      if (opts.deadline !== undefined && vs.length >= Math.min(10, full) && (opts.now ? opts.now() : performance.now()) > opts.deadline) {
        timedOut = true;
        break;
      }
      vs.push(v);
      // u = A v − β u_prev
      const u = new Float64Array(rows);
      mulA(v, u);
      if (uPrev) for (let r = 0; r < rows; r++) u[r] -= beta * uPrev[r];
      reorthogonalize(u, us);
      const alpha = normalize(u);
      us.push(u);
      alphas.push(alpha);
      // w = Aᵀ u − α v
      const w = new Float64Array(cols);
      mulAt(u, w);
      for (let c = 0; c < cols; c++) w[c] -= alpha * v[c];
      reorthogonalize(w, vs);
      beta = normalize(w);
      uPrev = u;
      v = w;
      const scale = alphas.reduce((a, b) => Math.max(a, b), 0);
      if (!(beta > 1e-13 * scale) || alpha === 0) {
        // An invariant subspace: the Ritz values found are exact; the rest of the spectrum lies
        // outside the Krylov space of this start vector (a numerically rank-deficient matrix).
        exhausted = true;
        break;
      }
      betas.push(beta);
    }
    const ritz = ritzOf(alphas.length);
    if (timedOut && !exhausted) {
      // Out of time: the Ritz values of 8 steps fewer tell which leading values have settled.
      const before = alphas.length > 8 ? ritzOf(alphas.length - 8) : undefined;
      let settled = 0;
      while (before && settled < Math.min(k, before.length) && Math.abs(ritz[settled] - before[settled]) <= tol * ritz[0]) settled++;
      const sigma1Change = before && ritz[0] > 0 ? Math.abs(ritz[0] - before[0]) / ritz[0] : undefined;
      return { values: ritz.slice(), steps: vs.length, converged: false, settled, timedOut, ...(sigma1Change !== undefined ? { sigma1Change } : {}) };
    }
    const converged = exhausted || vs.length >= full || (prev !== undefined && ritz.every((x, i) => Math.abs(x - prev![i]) <= tol * ritz[0]));
    if (converged || vs.length >= maxSteps) {
      let settled = k;
      if (!converged) {
        settled = 0;
        while (prev && settled < k && Math.abs(ritz[settled] - prev[settled]) <= tol * ritz[0]) settled++;
      }
      return { values: ritz.slice(), steps: vs.length, converged, settled, timedOut: false };
    }
    prev = ritz.slice();
    next = Math.min(maxSteps, next + 16);
  }
}

/** Singular values of the upper-bidiagonal matrix diag(α) + superdiag(β), descending. */
function bidiagonalSingularValues(alphas: number[], betas: number[]): Float64Array {
  const s = alphas.length;
  const b = new Float64Array(s * s);
  for (let i = 0; i < s; i++) {
    b[i * s + i] = alphas[i];
    if (i + 1 < s && i < betas.length) b[i * s + i + 1] = betas[i];
  }
  return exactSingularValues({ rows: s, cols: s, values: b });
}
