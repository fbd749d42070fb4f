// The plain alternative beside spectral clustering: single-linkage clustering of the barrier
// matrix cut at a threshold τ — two models share a basin when a chain of pairs each with a
// barrier below τ joins them (scipy's fcluster(linkage(D, 'single'), τ, 'distance'), which the
// tests compare with, up to ties exactly at τ).

export const THRESHOLD_METHOD = 'single-linkage clustering cut at τ: connected when a chain of pairs each with barrier < τ joins them';

/** One label per model (0, 1, … in order of first appearance). */
export function thresholdBasins(d: readonly (readonly number[])[], tau: number): number[] {
  const n = d.length;
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (Math.max(d[i][j], d[j][i]) < tau) parent[find(j)] = find(i);
  const ids = new Map<number, number>();
  return Array.from({ length: n }, (_, i) => {
    const r = find(i);
    if (!ids.has(r)) ids.set(r, ids.size);
    return ids.get(r)!;
  });
}

/** Labels → the names of each cluster, clusters in label order. */
export function groupNames(labels: readonly number[], names: readonly string[]): string[][] {
  const out: string[][] = [];
  labels.forEach((l, i) => (out[l] ??= []).push(names[i]));
  return out.filter(Boolean);
}

/** An order of the models that keeps each cluster together (clusters in label order, models in input order). */
export function clusterOrder(labels: readonly number[]): number[] {
  return labels.map((l, i) => [l, i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, i]) => i);
}
