// Dense linear sum assignment: the permutation that minimises (or maximises) Σ_i C[i, col[i]]
// for a square n×n Float64 matrix, exact like scipy.optimize.linear_sum_assignment.
//
// Method: Jonker–Volgenant (1987). A cheap start (column reduction, reduction transfer, one
// budgeted pass of augmenting row reduction) assigns almost every row and leaves feasible duals;
// each row still free is then placed by a shortest augmenting path (Dijkstra on reduced costs,
// as in Crouse 2016 / scipy's rectangular_lsap). Throughout, for every assigned row i:
//   C[i,j] - u[i] - v[j] >= 0 for all j, with equality at j = col[i]
// (complementary slackness), so the final matching is optimal. Integer-valued costs below 2^53
// stay exact because every dual update is a sum or difference of matrix entries. On matrices
// full of ties the greedy start does more harm than good, so there only the column prices are
// kept and rows are placed one by one, as scipy does (see columnReduction).
//
// Ties are resolved deterministically: a search that meets several columns at the same distance
// takes the first free one (which ends the path), else the first one; column reduction prefers
// the diagonal. So an all-equal or identity-like matrix gives the identity, as scipy does.
import { CancelledError } from '../core/errors';

export interface LinearAssignmentOptions {
  /** Maximise the total instead of minimising it (weight matching maximises similarity). */
  maximize?: boolean;
  /** Polled once per augmentation; a true answer throws CancelledError. */
  isCancelled?: () => boolean;
  /**
   * Column prices to start from instead of the column reduction: the `prices` of an earlier
   * solve of a similar matrix (weight matching re-solves each group's slightly changed matrix
   * every sweep). Any prices are valid; good ones leave few rows for the augmenting paths.
   */
  initialPrices?: Float64Array;
}

export interface LinearAssignmentResult {
  /** colForRow[i] is the column assigned to row i: a permutation of 0..n-1. */
  colForRow: Int32Array;
  /** Σ_i cost[i, colForRow[i]] of the original (unnegated) entries, compensated summation. */
  total: number;
  /** The optimal column duals (of the minimised matrix, −cost when maximising): initialPrices for a similar problem. */
  prices: Float64Array;
}

/** Budget for augmenting row reduction, in row scans per row. It converges quickly at first and
 * then slows down; after ~8n scans the few rows left are cheaper to place by shortest paths. */
const ARR_SCANS_PER_ROW = 8;
/** A shortest-path search scans every column of each row it visits; once more than this share
 * of the scanned columns are finished ones, it compacts the rest into a list (long paths late
 * in a solve would otherwise keep re-reading finished columns). */
const COMPACT_AT = 1 / 4;

/**
 * Solve the square linear sum assignment problem on `cost` (n×n, row-major).
 * Throws RangeError for a wrong length or for NaN, ±Infinity or values too large to subtract
 * safely; throws CancelledError when `isCancelled` says so.
 */
export function linearSumAssignment(cost: Float64Array, n: number, opts: LinearAssignmentOptions = {}): LinearAssignmentResult {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`linearSumAssignment: n must be a non-negative integer, got ${n}`);
  if (cost.length !== n * n) throw new RangeError(`linearSumAssignment: cost has ${cost.length} entries, expected n*n = ${n * n}`);
  const s: Solver = {
    cost, n,
    sign: opts.maximize ? -1 : 1, // maximising C is minimising -C; negation is exact, so no copy
    isCancelled: opts.isCancelled,
    u: new Float64Array(n), v: new Float64Array(n),
    colForRow: new Int32Array(n).fill(-1), rowForCol: new Int32Array(n).fill(-1),
    free: new Int32Array(n), nFree: 0,
  };
  const warm = opts.initialPrices !== undefined;
  if (warm && opts.initialPrices!.length !== n) throw new RangeError(`linearSumAssignment: initialPrices has ${opts.initialPrices!.length} entries, expected n = ${n}`);
  if (n > 0) {
    if (warm) warmStart(s, opts.initialPrices!);
    else if (columnReduction(s)) {
      reductionTransfer(s);
      augmentingRowReduction(s);
    }
    shortestAugmentingPaths(s, warm);
  }
  return { colForRow: s.colForRow, total: assignedTotal(cost, n, s.colForRow), prices: s.v };
}

interface Solver {
  cost: Float64Array; n: number; sign: number;
  isCancelled: (() => boolean) | undefined;
  u: Float64Array; v: Float64Array; // row and column duals (of sign * cost)
  colForRow: Int32Array; rowForCol: Int32Array; // -1 = unassigned
  free: Int32Array; nFree: number; // rows left unassigned
}

/** Refuse row i if it holds NaN, ±Infinity, or magnitudes that could overflow: reduced costs
 * and path lengths are sums of up to ~2n entries. Called by column reduction, row by row, just
 * before it reads the row, so the matrix is streamed from memory once for both. */
function checkRow(cost: Float64Array, n: number, i: number): void {
  const limit = 1e300 / n, base = i * n;
  for (let j = 0; j < n; j++) {
    const c = cost[base + j];
    if (!(c >= -limit && c <= limit)) { // also true for NaN
      const where = `row ${i}, column ${j}`;
      if (c !== c || c === Infinity || c === -Infinity) {
        throw new RangeError(`linearSumAssignment: cost matrix contains invalid entry ${c} at ${where} (NaN and ±Infinity are not allowed)`);
      }
      throw new RangeError(`linearSumAssignment: cost entry ${c} at ${where} is too large in magnitude (limit ${limit.toExponential(2)} for n = ${n})`);
    }
  }
}

function checkCancelled(s: Solver): void {
  if (s.isCancelled !== undefined && s.isCancelled()) throw new CancelledError();
}

/** v[j] = min over rows of column j (so every reduced cost is >= 0); each column's minimising
 * row takes it if that row has nothing yet. Rows that win no column are free.
 *
 * If most columns have their minimum in several rows (small integer costs, low-rank or
 * duplicated rows), those greedy picks are arbitrary and leave large plateaus of equal reduced
 * costs that the shortest-path phase must then search through (measured: 3-4x more work than
 * no start at all on a rank-2 integer matrix). Then we keep only the prices, leave every row
 * free, skip the reductions, and place the rows one by one as scipy does. Returns whether the
 * greedy start was kept. */
function columnReduction(s: Solver): boolean {
  const { cost, n, sign, v, colForRow, rowForCol, free } = s;
  const argRow = new Int32Array(n);
  const tied = new Uint8Array(n);
  v.fill(Infinity);
  // Row by row rather than column by column: the matrix is read sequentially.
  for (let i = 0; i < n; i++) {
    checkRow(cost, n, i);
    foldRowIntoColumnMinima(cost, i * n, n, sign, i, v, argRow, tied);
  }
  checkCancelled(s);
  let nTied = 0;
  for (let j = 0; j < n; j++) nTied += tied[j];
  if (2 * nTied > n) {
    for (let i = 0; i < n; i++) free[i] = i;
    s.nFree = n;
    return false;
  }
  for (let j = n - 1; j >= 0; j--) {
    if (sign * cost[j * n + j] === v[j]) argRow[j] = j; // ties: keep the identity
    const i = argRow[j];
    if (colForRow[i] < 0) { colForRow[i] = j; rowForCol[j] = i; }
  }
  return true;
}

/** For each assigned row, lower its column's price by the row's margin to its second-best
 * column (zero if the row won several columns): other rows then find that column less
 * attractive, so augmenting row reduction converges faster. Unassigned rows become the free list. */
function reductionTransfer(s: Solver): void {
  const { cost, n, sign, v, colForRow, free } = s;
  let nFree = 0;
  for (let i = 0; i < n; i++) {
    const j1 = colForRow[i];
    if (j1 < 0) { free[nFree++] = i; continue; }
    const mu = minReducedExcept(cost, i * n, n, sign, v, j1);
    if (mu < Infinity) v[j1] -= mu; // mu >= 0: every reduced cost is >= 0 after column reduction
  }
  s.nFree = nFree;
}

/** Augmenting row reduction (an auction-like step): a free row takes its cheapest column j1,
 * lowering v[j1] until its second-best column is as cheap, and evicts j1's previous owner.
 * An evicted row is retried at once if the price really fell (progress), otherwise left for the
 * shortest-path phase; a scan budget bounds the work (floating-point prices can creep). */
function augmentingRowReduction(s: Solver): void {
  const { cost, n, sign, v, colForRow, rowForCol, free } = s;
  const later = new Int32Array(n);
  const best = new Float64Array(4); // u1, u2, j1, j2 from twoSmallestReduced
  let k = 0, nLater = 0, budget = ARR_SCANS_PER_ROW * n;
  while (k < s.nFree) {
    const i = free[k++];
    if (budget-- <= 0) { later[nLater++] = i; continue; }
    if ((budget & 63) === 0) checkCancelled(s);
    twoSmallestReduced(cost, i * n, n, sign, v, best);
    const u1 = best[0], u2 = best[1];
    let j1 = best[2], i0 = rowForCol[j1];
    const j2 = best[3];
    const lowered = j2 >= 0 && u1 < u2 && v[j1] - (u2 - u1) < v[j1];
    if (lowered) v[j1] -= u2 - u1;
    else if (i0 >= 0 && j2 >= 0) { j1 = j2; i0 = rowForCol[j2]; } // tie: take the other column
    colForRow[i] = j1; rowForCol[j1] = i;
    if (i0 >= 0) {
      colForRow[i0] = -1;
      if (lowered) free[--k] = i0; else later[nLater++] = i0;
    }
  }
  free.set(later.subarray(0, nLater));
  s.nFree = nLater;
}

/** Warm start from given column prices: every row takes its cheapest column (reduced cost
 * sign·C − v, first on ties) unless an earlier row already has it; the rest are free. Each
 * assigned row then sits at its row minimum, as the shortest-path phase requires. */
function warmStart(s: Solver, prices: Float64Array): void {
  const { cost, n, sign, v, colForRow, rowForCol, free } = s;
  v.set(prices);
  for (let j = 0; j < n; j++) if (!Number.isFinite(v[j])) throw new RangeError(`linearSumAssignment: initial price ${v[j]} of column ${j} is not finite`);
  let nFree = 0;
  for (let i = 0; i < n; i++) {
    checkRow(cost, n, i);
    const j = argMinReduced(cost, i * n, n, sign, v);
    if (rowForCol[j] < 0) { colForRow[i] = j; rowForCol[j] = i; } else free[nFree++] = i;
  }
  s.nFree = nFree;
}

/** Place each remaining free row by a shortest augmenting path (Dijkstra on reduced costs),
 * then update the duals so that the new matching stays tight and feasible. After a warm start
 * a free row's reduced costs can be negative, so its dual starts at its row minimum (distances
 * from it are then ≥ 0, as the search assumes); after column reduction that minimum is ≥ 0 and
 * 0 serves. */
function shortestAugmentingPaths(s: Solver, warm = false): void {
  const { cost, n, sign, u, v, colForRow, rowForCol, free, nFree } = s;
  // Duals of the rows placed so far: the reduced cost of their column is the row minimum.
  for (let i = 0; i < n; i++) {
    const j = colForRow[i];
    u[i] = j >= 0 ? sign * cost[i * n + j] - v[j] : warm ? minReducedExcept(cost, i * n, n, sign, v, -1) : 0;
  }
  if (nFree === 0) return;
  const dist = new Float64Array(n); // tentative distance to each column; NaN once finished
  const pred = new Int32Array(n); // row from which each column was reached
  const done = new Int32Array(n), doneDist = new Float64Array(n); // finished columns, in order
  const active = new Int32Array(n); // unfinished columns, once compacted

  for (let f = 0; f < nFree; f++) {
    checkCancelled(s);
    const start = free[f];
    let i = start, sink = -1, minVal = 0, nDone = 0;
    let dense = true, nActive = n, stale = 0;
    while (sink < 0) {
      // Relax row i's edges; go to the nearest unfinished column.
      const base = i * n, h = minVal - u[i];
      const jMin = nDone === 0
        ? relaxFirst(cost, base, n, sign, -u[i], i, v, dist, pred, rowForCol)
        : dense
          ? relaxDense(cost, base, n, sign, h, minVal, i, v, dist, pred, rowForCol)
          : relaxList(cost, base, sign, h, minVal, i, v, dist, pred, rowForCol, active, nActive);
      if (jMin < 0) throw new Error('linearSumAssignment: no augmenting path (internal error)');
      minVal = dist[jMin];
      done[nDone] = jMin; doneDist[nDone++] = minVal; dist[jMin] = NaN;
      if (rowForCol[jMin] < 0) { sink = jMin; break; }
      i = rowForCol[jMin];
      if (++stale > nActive * COMPACT_AT) {
        // Keep the unfinished columns in ascending order: the cost row is then read forwards.
        let m = 0;
        if (dense) { for (let j = 0; j < n; j++) if (dist[j] === dist[j]) active[m++] = j; }
        else for (let t = 0; t < nActive; t++) { const j = active[t]; if (dist[j] === dist[j]) active[m++] = j; }
        dense = false; nActive = m; stale = 0;
      }
    }
    // Dual update: finished columns move by how much closer than the sink they were.
    u[start] += minVal;
    for (let k = 0; k < nDone; k++) {
      const j = done[k], slack = minVal - doneDist[k];
      v[j] -= slack;
      if (j !== sink) u[rowForCol[j]] += slack;
    }
    // Flip the path: each column on it goes to the row that reached it.
    for (let j = sink; ;) {
      const r = pred[j];
      rowForCol[j] = r;
      const next = colForRow[r];
      colForRow[r] = j;
      if (r === start) break;
      j = next;
    }
  }
  s.nFree = 0;
}

// --- Row scans. Each is a small function called once per row, so V8 optimises it with full type
// feedback; the same loops inlined in the long-running phase functions were compiled by on-stack
// replacement and kept falling back to the interpreter.

/** Lower the running column minima v with row i; tied[j] says the minimum is shared. */
function foldRowIntoColumnMinima(cost: Float64Array, base: number, n: number, sign: number, i: number,
  v: Float64Array, argRow: Int32Array, tied: Uint8Array): void {
  for (let j = 0; j < n; j++) {
    const c = sign * cost[base + j];
    if (c <= v[j]) {
      if (c < v[j]) { v[j] = c; argRow[j] = i; tied[j] = 0; } else tied[j] = 1;
    }
  }
}

/** min over j != skip of the reduced cost sign*C[i,j] - v[j] (row i starts at base). */
function minReducedExcept(cost: Float64Array, base: number, n: number, sign: number, v: Float64Array, skip: number): number {
  let mu = Infinity;
  for (let j = 0; j < n; j++) {
    const r = sign * cost[base + j] - v[j];
    if (r < mu && j !== skip) mu = r;
  }
  return mu;
}

/** The column of row i's smallest reduced cost sign*C[i,j] - v[j] (the first on ties). */
function argMinReduced(cost: Float64Array, base: number, n: number, sign: number, v: Float64Array): number {
  let mu = Infinity, jm = 0;
  for (let j = 0; j < n; j++) {
    const r = sign * cost[base + j] - v[j];
    if (r < mu) { mu = r; jm = j; }
  }
  return jm;
}

/** Smallest and second-smallest reduced cost of a row and their columns, into out = [u1, u2, j1, j2]
 * (the first column wins ties). */
function twoSmallestReduced(cost: Float64Array, base: number, n: number, sign: number, v: Float64Array, out: Float64Array): void {
  let u1 = Infinity, u2 = Infinity, j1 = -1, j2 = -1;
  for (let j = 0; j < n; j++) {
    const r = sign * cost[base + j] - v[j];
    if (r < u2) {
      if (r < u1) { u2 = u1; j2 = j1; u1 = r; j1 = j; } else { u2 = r; j2 = j; }
    }
  }
  out[0] = u1; out[1] = u2; out[2] = j1; out[3] = j2;
}

/** Dijkstra step over all columns: lower dist[j] through row i (h = distance of row i minus its
 * dual) and return the nearest unfinished column; among equals the first free one, which ends
 * the path (and the scan, if it is at `floor`, the distance of row i: nothing can be nearer).
 * Finished columns hold NaN in dist, which fails every comparison, so need no test of their own. */
function relaxDense(cost: Float64Array, base: number, n: number, sign: number, h: number, floor: number, i: number,
  v: Float64Array, dist: Float64Array, pred: Int32Array, rowForCol: Int32Array): number {
  let lowest = Infinity, jMin = -1;
  for (let j = 0; j < n; j++) {
    let dj = dist[j];
    const r = h + sign * cost[base + j] - v[j];
    if (r < dj) { pred[j] = i; dist[j] = r; dj = r; }
    if (dj <= lowest && (dj < lowest || (rowForCol[j] < 0 && rowForCol[jMin] >= 0))) {
      lowest = dj; jMin = j;
      if (dj <= floor && rowForCol[j] < 0) break; // a free column at the least possible distance
    }
  }
  return jMin;
}

/** The first step of a search, from the free row i: sets dist[j] outright, so dist needs no
 * reset between searches. Free rows have u = 0 and v only ever decreases from the column minima,
 * so no distance is below 0 and a free column at 0 ends the search at once. */
function relaxFirst(cost: Float64Array, base: number, n: number, sign: number, h: number, i: number,
  v: Float64Array, dist: Float64Array, pred: Int32Array, rowForCol: Int32Array): number {
  let lowest = Infinity, jMin = -1;
  for (let j = 0; j < n; j++) {
    const r = h + sign * cost[base + j] - v[j];
    dist[j] = r; pred[j] = i;
    if (r <= lowest && (r < lowest || (rowForCol[j] < 0 && rowForCol[jMin] >= 0))) {
      lowest = r; jMin = j;
      if (r <= 0 && rowForCol[j] < 0) break; // the path ends here, so the rest of dist is never read
    }
  }
  return jMin;
}

/** relaxDense over the listed columns only. */
function relaxList(cost: Float64Array, base: number, sign: number, h: number, floor: number, i: number,
  v: Float64Array, dist: Float64Array, pred: Int32Array, rowForCol: Int32Array, cols: Int32Array, count: number): number {
  let lowest = Infinity, jMin = -1;
  for (let t = 0; t < count; t++) {
    const j = cols[t];
    let dj = dist[j];
    const r = h + sign * cost[base + j] - v[j];
    if (r < dj) { pred[j] = i; dist[j] = r; dj = r; }
    if (dj <= lowest && (dj < lowest || (rowForCol[j] < 0 && rowForCol[jMin] >= 0))) {
      lowest = dj; jMin = j;
      if (dj <= floor && rowForCol[j] < 0) break; // a free column at the least possible distance
    }
  }
  return jMin;
}

/** Neumaier-compensated Σ cost[i, col[i]], so the reported optimum is accurate to ~1 ulp. */
function assignedTotal(cost: Float64Array, n: number, col: Int32Array): number {
  let sum = 0, comp = 0;
  for (let i = 0; i < n; i++) {
    const x = cost[i * n + col[i]];
    const t = sum + x;
    comp += Math.abs(sum) >= Math.abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  return sum + comp;
}
