// Juneja et al.'s pair barrier (ICLR 2023; connectivity's `mod_BH_metric`, anchors.md §6.1): the
// "bump height" — over every contiguous stretch values[i..j] of the sampled curve, the largest
// excess of a point over the chord between the stretch's two ends; 0 for a convex or monotone
// curve, and it picks up interior bumps that the endpoint chord would average away.

/** Largest excess over the chord between the ends of `v` (≥ 0; 0 for fewer than 3 points). */
function chordExcess(v: readonly number[], i: number, j: number): number {
  const n = j - i;
  if (n <= 2) return 0;
  let best = 0;
  for (let k = 0; k < n; k++) best = Math.max(best, v[i + k] - ((n - k - 1) * v[i] + k * v[j - 1]) / (n - 1));
  return best;
}

/** Bump height of a curve sampled at evenly spaced points (the authors' loop, O(n³), n ≈ 10). */
export function bumpHeight(values: readonly number[]): number {
  let best = 0;
  for (let i = 0; i < values.length; i++) for (let j = i + 3; j <= values.length; j++) best = Math.max(best, chordExcess(values, i, j));
  return best;
}

export const BUMP_HEIGHT_DEFINITION =
  'bump height (Juneja et al. 2023, mod_BH_metric): max over every stretch i..j of the sampled curve of max_k [f_k − chord(f_i, f_j) at k], ≥ 0';
