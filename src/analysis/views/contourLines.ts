// Contour lines of a function sampled on a rectangular grid (marching squares), as straight
// segments a Vega-Lite rule mark can draw — Vega-Lite has no contour transform of its own.

export interface Segment {
  level: number;
  x: number;
  y: number;
  x2: number;
  y2: number;
}

/** Segments of the level sets of f[j][i] (at xs[i], ys[j]) for each level. */
export function contourSegments(xs: readonly number[], ys: readonly number[], f: readonly (readonly number[])[], levels: readonly number[]): Segment[] {
  const out: Segment[] = [];
  for (const level of levels) {
    for (let j = 0; j + 1 < ys.length; j++) {
      for (let i = 0; i + 1 < xs.length; i++) {
        // Corners counter-clockwise; a crossing on each edge whose ends straddle the level.
        const c: [number, number, number][] = [
          [xs[i], ys[j], f[j][i]], [xs[i + 1], ys[j], f[j][i + 1]],
          [xs[i + 1], ys[j + 1], f[j + 1][i + 1]], [xs[i], ys[j + 1], f[j + 1][i]],
        ];
        const hits: [number, number][] = [];
        for (let e = 0; e < 4; e++) {
          const [x0, y0, v0] = c[e];
          const [x1, y1, v1] = c[(e + 1) % 4];
          if (!Number.isFinite(v0) || !Number.isFinite(v1) || (v0 < level) === (v1 < level)) continue;
          const t = (level - v0) / (v1 - v0);
          hits.push([x0 + t * (x1 - x0), y0 + t * (y1 - y0)]);
        }
        // Two crossings: one segment; four (a saddle): pair them in edge order.
        for (let k = 0; k + 1 < hits.length; k += 2) out.push({ level, x: hits[k][0], y: hits[k][1], x2: hits[k + 1][0], y2: hits[k + 1][1] });
      }
    }
  }
  return out;
}

/** `n` levels spaced evenly in log scale strictly between lo and hi (> 0), or linearly when lo ≤ 0. */
export function contourLevels(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [];
  const log = lo > 0;
  const a = log ? Math.log(lo) : lo, b = log ? Math.log(hi) : hi;
  return Array.from({ length: n }, (_, k) => {
    const v = a + ((k + 1) * (b - a)) / (n + 1);
    return log ? Math.exp(v) : v;
  });
}
