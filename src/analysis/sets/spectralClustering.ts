// Basins as Juneja et al. find them (connectivity's clustering.get_clusters, anchors.md §6.1):
// the N×N barrier matrix D becomes the affinity exp(−D²/(2δ²)) with δ = 1, then scikit-learn's
// SpectralClustering(n_clusters=2, affinity='precomputed', random_state=42) — whose choices we
// reproduce: spectral_embedding with drop_first=False and the normalised Laplacian of the
// affinity (diagonal ignored, as scipy's csgraph.laplacian), its n_clusters eigenvectors of the
// smallest eigenvalues (sklearn asks ARPACK in shift-invert mode for these; we solve the small
// dense matrix exactly by Jacobi), divided by √degree, each sign-flipped so its largest-magnitude
// entry is positive; then assign_labels='kmeans': k-means++ (2 + ⌊ln k⌋ local trials) with
// n_init = 10 restarts, Lloyd iterations, the lowest-inertia run kept. Only the k-means seeds
// differ from sklearn's (their numpy MT19937 stream is not reproduced): labels agree up to
// renaming whenever the partition is the k-means optimum, which the tests check against sklearn.
import { mulberry32 } from '../core/random';
import { symmetricEigen } from './symmetricEigen';

export interface SpectralOptions {
  /** Clusters (default 2, as the paper). */
  nClusters?: number;
  /** Gaussian width δ of the affinity (default 1.0, as the paper). */
  delta?: number;
  /** Seed of the k-means restarts (default 42, the paper's random_state). */
  seed?: number;
  /** k-means restarts (default 10, sklearn's n_init). */
  nInit?: number;
}

export const SPECTRAL_METHOD =
  "spectral clustering as Juneja et al.: affinity exp(−D²/(2δ²)), δ = 1; sklearn SpectralClustering(n_clusters=2, affinity='precomputed', random_state=42): normalised-Laplacian embedding (drop_first=False, eigenvectors exact by Jacobi instead of ARPACK), k-means++ with 10 restarts";

export function gaussianAffinity(d: readonly (readonly number[])[], delta = 1): number[][] {
  return d.map((row) => row.map((v) => Math.exp(-(v * v) / (2 * delta * delta))));
}

/** sklearn's spectral_embedding(affinity, n_components=k, drop_first=False): an N×k matrix. */
export function spectralEmbedding(affinity: readonly (readonly number[])[], k: number): number[][] {
  const n = affinity.length;
  const w = affinity.map((row, i) => row.map((v, j) => (i === j ? 0 : v)));
  const deg = w.map((row) => row.reduce((s, v) => s + v, 0));
  const dd = deg.map((g) => (g === 0 ? 1 : Math.sqrt(g)));
  const lap = w.map((row, i) => row.map((v, j) => (i === j ? (deg[i] === 0 ? 0 : 1) : -v / (dd[i] * dd[j]))));
  // sklearn's _set_diag: the normalised Laplacian's diagonal is 1.
  for (let i = 0; i < n; i++) lap[i][i] = 1;
  const { vectors } = symmetricEigen(lap);
  const rows = vectors.slice(0, Math.min(k, n)).map((vec) => {
    const u = vec.map((x, i) => x / dd[i]);
    let at = 0;
    for (let i = 1; i < n; i++) if (Math.abs(u[i]) > Math.abs(u[at])) at = i;
    const s = u[at] < 0 ? -1 : 1;
    return u.map((x) => x * s);
  });
  return Array.from({ length: n }, (_, i) => rows.map((r) => r[i]));
}

const sqDist = (a: readonly number[], b: readonly number[]): number => a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0);

function kmeansPlusPlus(x: readonly number[][], k: number, rand: () => number): number[][] {
  const n = x.length;
  const trials = 2 + Math.floor(Math.log(k));
  const centers = [x[Math.floor(rand() * n)]];
  let closest = x.map((p) => sqDist(p, centers[0]));
  while (centers.length < k) {
    const pot = closest.reduce((s, v) => s + v, 0);
    let best: { pot: number; id: number; dist: number[] } | undefined;
    for (let t = 0; t < trials; t++) {
      const r = rand() * pot;
      let acc = 0, id = n - 1;
      for (let i = 0; i < n; i++) {
        acc += closest[i];
        if (acc > r) {
          id = i;
          break;
        }
      }
      const dist = x.map((p, i) => Math.min(closest[i], sqDist(p, x[id])));
      const cp = dist.reduce((s, v) => s + v, 0);
      if (!best || cp < best.pot) best = { pot: cp, id, dist };
    }
    centers.push(x[best!.id]);
    closest = best!.dist;
  }
  return centers.map((c) => [...c]);
}

function lloyd(x: readonly number[][], centers: number[][]): { labels: number[]; inertia: number } {
  const k = centers.length;
  let labels: number[] = [];
  for (let it = 0; it < 300; it++) {
    const next = x.map((p) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (sqDist(p, centers[c]) < sqDist(p, centers[best])) best = c;
      return best;
    });
    const same = next.every((l, i) => l === labels[i]);
    labels = next;
    for (let c = 0; c < k; c++) {
      const members = x.filter((_, i) => labels[i] === c);
      if (members.length) centers[c] = centers[c].map((_, d) => members.reduce((s, p) => s + p[d], 0) / members.length);
    }
    if (same) break;
  }
  return { labels, inertia: x.reduce((s, p, i) => s + sqDist(p, centers[labels[i]]), 0) };
}

/** k-means (k-means++ starts, nInit restarts, the lowest inertia kept), labels renamed in order of first appearance. */
export function kMeans(x: readonly number[][], k: number, opts: { seed?: number; nInit?: number } = {}): number[] {
  const rand = mulberry32(opts.seed ?? 42);
  let best: { labels: number[]; inertia: number } | undefined;
  for (let r = 0; r < (opts.nInit ?? 10); r++) {
    const run = lloyd(x, kmeansPlusPlus(x, Math.min(k, x.length), rand));
    if (!best || run.inertia < best.inertia - 1e-12) best = run;
  }
  return canonicalLabels(best!.labels);
}

/** Renames cluster labels 0, 1, … in order of first appearance. */
export function canonicalLabels(labels: readonly number[]): number[] {
  const map = new Map<number, number>();
  return labels.map((l) => {
    if (!map.has(l)) map.set(l, map.size);
    return map.get(l)!;
  });
}

/** Juneja et al.'s basins of a symmetric barrier matrix: one label per model. */
export function spectralClustering(d: readonly (readonly number[])[], opts: SpectralOptions = {}): number[] {
  const k = opts.nClusters ?? 2;
  if (d.length === 0) return [];
  if (d.length <= k) return d.map((_, i) => i);
  const emb = spectralEmbedding(gaussianAffinity(d, opts.delta ?? 1), k);
  return kMeans(emb, k, { seed: opts.seed ?? 42, nInit: opts.nInit ?? 10 });
}
