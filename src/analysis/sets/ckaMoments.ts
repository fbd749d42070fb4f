// Linear CKA (Kornblith et al. 2019; methods.md §9) and its debiased form (the unbiased HSIC
// estimator of Song et al. 2012, as in Kornblith's feature_space_linear_cka(debiased=True)),
// computed in streaming form: over minibatches we only add up, in f64, the moments of the two
// feature matrices — XᵀY, the column sums, and the per-example squared norms crossed with the
// other side — which determine both estimators exactly on the centred features. Memory is
// p·q per pair (features p and q), whatever the number of examples; no n×n Gram matrix is built
// and no per-batch HSIC is averaged (minibatch averaging is what made other libraries' diagonals
// differ from 1 and their unbiased HSIC NaN at small batches).

/** Moments of the pair (X, Y) over the examples seen so far (X may be Y). */
export class CrossMoments {
  n = 0;
  readonly sxy: Float64Array;
  readonly sx: Float64Array;
  readonly sy: Float64Array;
  /** Σ‖x_i‖², Σ‖y_i‖², Σ‖x_i‖²‖y_i‖². */
  sxx = 0;
  syy = 0;
  sxxyy = 0;
  /** Σ‖x_i‖² y_i and Σ‖y_i‖² x_i. */
  readonly sxxY: Float64Array;
  readonly syyX: Float64Array;

  constructor(readonly p: number, readonly q: number) {
    this.sxy = new Float64Array(p * q);
    this.sx = new Float64Array(p);
    this.sy = new Float64Array(q);
    this.sxxY = new Float64Array(q);
    this.syyX = new Float64Array(p);
  }

  /** Adds `rows` examples: x is rows×p and y rows×q, row-major. */
  add(x: ArrayLike<number>, y: ArrayLike<number>, rows: number): void {
    const { p, q, sxy, sx, sy, sxxY, syyX } = this;
    for (let r = 0; r < rows; r++) {
      const xo = r * p, yo = r * q;
      let nx = 0, ny = 0;
      for (let a = 0; a < p; a++) {
        const v = x[xo + a];
        nx += v * v;
        sx[a] += v;
      }
      for (let b = 0; b < q; b++) {
        const v = y[yo + b];
        ny += v * v;
        sy[b] += v;
        sxxY[b] += nx * v;
      }
      for (let a = 0; a < p; a++) {
        const v = x[xo + a];
        syyX[a] += ny * v;
        if (v === 0) continue; // ReLU features are mostly zeros
        const row = a * q;
        for (let b = 0; b < q; b++) sxy[row + b] += v * y[yo + b];
      }
      this.sxx += nx;
      this.syy += ny;
      this.sxxyy += nx * ny;
    }
    this.n += rows;
  }

  /** ‖XcᵀYc‖²_F for the centred features. */
  crossNorm2(): number {
    const { n, p, q, sxy, sx, sy } = this;
    let s = 0;
    for (let a = 0; a < p; a++) {
      const ma = sx[a] / n;
      for (let b = 0; b < q; b++) {
        const c = sxy[a * q + b] - n * ma * (sy[b] / n);
        s += c * c;
      }
    }
    return s;
  }

  /** Σ_i ‖x_i − μx‖²·‖y_i − μy‖², and Σ‖x_i − μx‖², Σ‖y_i − μy‖². */
  rowNormTerms(): { dot: number; nx: number; ny: number } {
    const { n, p, q, sxy, sx, sy } = this;
    const mx = Array.from(sx, (v) => v / n), my = Array.from(sy, (v) => v / n);
    const mx2 = mx.reduce((s, v) => s + v * v, 0), my2 = my.reduce((s, v) => s + v * v, 0);
    const sxxYmy = my.reduce((s, v, b) => s + this.sxxY[b] * v, 0);
    const syyXmx = mx.reduce((s, v, a) => s + this.syyX[a] * v, 0);
    let mSm = 0;
    for (let a = 0; a < p; a++) {
      if (mx[a] === 0) continue;
      let r = 0;
      for (let b = 0; b < q; b++) r += sxy[a * q + b] * my[b];
      mSm += mx[a] * r;
    }
    const dot = this.sxxyy - 2 * sxxYmy + my2 * this.sxx - 2 * syyXmx + 4 * mSm - 2 * my2 * n * mx2 + mx2 * this.syy - 2 * mx2 * n * my2 + n * mx2 * my2;
    return { dot, nx: this.sxx - n * mx2, ny: this.syy - n * my2 };
  }
}

/** Kornblith's _debiased_dot_product_similarity_helper. */
function debiased(xty: number, rowDot: number, nx: number, ny: number, n: number): number {
  return xty - (n / (n - 2)) * rowDot + (nx * ny) / ((n - 1) * (n - 2));
}

export interface CkaValue {
  linear: number;
  /** null below 4 examples, where the unbiased estimator is undefined. */
  debiased: number | null;
}

/** CKA of (X, Y) from the moments of (X, Y), (X, X) and (Y, Y) over the same examples. */
export function ckaFromMoments(xy: CrossMoments, xx: CrossMoments, yy: CrossMoments): CkaValue {
  const n = xy.n;
  const cxy = xy.crossNorm2(), cxx = xx.crossNorm2(), cyy = yy.crossNorm2();
  const linear = cxx > 0 && cyy > 0 ? cxy / Math.sqrt(cxx * cyy) : 0;
  if (n < 4) return { linear, debiased: null };
  const txy = xy.rowNormTerms(), txx = xx.rowNormTerms(), tyy = yy.rowNormTerms();
  const num = debiased(cxy, txy.dot, txy.nx, txy.ny, n);
  const dx = debiased(cxx, txx.dot, txx.nx, txx.nx, n);
  const dy = debiased(cyy, tyy.dot, tyy.nx, tyy.nx, n);
  return { linear, debiased: dx > 0 && dy > 0 ? num / Math.sqrt(dx * dy) : 0 };
}

/** CKA of two whole feature matrices (n×p and n×q, row-major), in one pass. */
export function linearCka(x: ArrayLike<number>, y: ArrayLike<number>, n: number): CkaValue {
  const p = x.length / n, q = y.length / n;
  const xy = new CrossMoments(p, q), xx = new CrossMoments(p, p), yy = new CrossMoments(q, q);
  xy.add(x, y, n);
  xx.add(x, x, n);
  yy.add(y, y, n);
  return ckaFromMoments(xy, xx, yy);
}
