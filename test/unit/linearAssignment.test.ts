// linearSumAssignment against scipy.optimize.linear_sum_assignment (fixtures made by
// test/fixtures/lap/make_lap_fixtures.py), against brute force on tiny matrices, and on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { linearSumAssignment } from '../../src/analysis/align/linearAssignment';
import { CancelledError } from '../../src/analysis/core/errors';
import { fixture } from '../helpers';

// --- the matrix generator shared with make_lap_fixtures.py (keep the two in step) -----------

/** lowbias32: a bijective 32-bit mixer. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** 32-bit words start..start+count-1 of the stream named by seed. */
function words(seed: number, start: number, count: number): Float64Array {
  const key = mix32((seed + 0x9e3779b9) >>> 0);
  const out = new Float64Array(count);
  for (let k = 0; k < count; k++) out[k] = mix32((mix32(start + k) ^ key) >>> 0);
  return out;
}

/** Doubles in [0, 1) with 53 random bits, from words 2e and 2e+1. */
function uniforms(seed: number, start: number, count: number): Float64Array {
  const w = words(seed, 2 * start, 2 * count);
  const out = new Float64Array(count);
  for (let e = 0; e < count; e++) out[e] = (Math.floor(w[2 * e] / 32) * 67108864 + Math.floor(w[2 * e + 1] / 64)) / 9007199254740992;
  return out;
}

function ints(seed: number, start: number, count: number, m: number): Float64Array {
  return words(seed, start, count).map((w) => w % m);
}

function permutation(seed: number, n: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  const w = words(seed, 0, n);
  for (let i = n - 1; i > 0; i--) {
    const k = w[i] % (i + 1);
    [p[i], p[k]] = [p[k], p[i]];
  }
  return p;
}

/** 2^e exactly, by repeated doubling or halving. */
function pow2(e: number): number {
  let x = 1;
  for (let k = 0; k < Math.abs(e); k++) x = e > 0 ? x * 2 : x / 2;
  return x;
}

interface Case {
  name: string; kind: string; n: number; seed: number; maximize: boolean;
  param?: Record<string, number> & { values?: number[][] };
  probe: { sum: number; first: number; last: number };
  total: number; integer: boolean; unique: boolean; gap: number | null; colForRow: number[];
}

/** The matrix of a recipe: mirrors build() in make_lap_fixtures.py kind by kind. */
function build(c: Case): Float64Array {
  const { n, seed } = c;
  const p = c.param ?? {};
  const N = n * n;
  switch (c.kind) {
    case 'uniform': return uniforms(seed, 0, N);
    case 'affine': return uniforms(seed, 0, N).map((x) => x * p.a + p.b);
    case 'int': return ints(seed, 0, N, p.m).map((x) => x + p.lo);
    case 'huge': {
      const u = uniforms(seed, 0, N), e = ints(seed, N, N, 81);
      return u.map((x, k) => x * pow2(e[k] - 40));
    }
    case 'const': return new Float64Array(N).fill(p.value);
    case 'identity': {
      const m = uniforms(seed, 0, N);
      for (let i = 0; i < n; i++) m[i * n + i] += p.bonus;
      return m;
    }
    case 'perm01': {
      const m = new Float64Array(N).fill(1);
      permutation(seed, n).forEach((j, i) => { m[i * n + j] = 0; });
      return m;
    }
    case 'rank1': {
      const a = ints(seed, 0, n, p.m), b = ints(seed, n, n, p.m);
      return Float64Array.from({ length: N }, (_, k) => a[Math.floor(k / n)] * b[k % n]);
    }
    case 'rowconst': { const a = ints(seed, 0, n, p.m); return Float64Array.from({ length: N }, (_, k) => a[Math.floor(k / n)]); }
    case 'colconst': { const b = ints(seed, 0, n, p.m); return Float64Array.from({ length: N }, (_, k) => b[k % n]); }
    case 'lowrank': {
      const { k, m } = p, half = Math.floor(m / 2);
      const A = ints(seed, 0, n * k, m).map((x) => x - half), B = ints(seed, n * k, n * k, m).map((x) => x - half);
      const out = new Float64Array(N);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += A[i * k + t] * B[j * k + t]; // small integers: exact
        out[i * n + j] = s;
      }
      return out;
    }
    case 'explicit': return Float64Array.from(p.values!.flat());
    default: throw new Error(`unknown kind ${c.kind}`);
  }
}

/** Exactly rounded Σ (Shewchuk's algorithm, as Python's math.fsum). */
function fsum(xs: Iterable<number>): number {
  const partials: number[] = [];
  for (let x of xs) {
    let k = 0;
    for (let y of partials) {
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y, lo = y - (hi - x);
      if (lo !== 0) partials[k++] = lo;
      x = hi;
    }
    partials.length = k;
    partials.push(x);
  }
  // Add the partials from the largest down; stop at the first inexact step, then round half-even.
  let n = partials.length;
  if (n === 0) return 0;
  let hi = partials[--n], lo = 0;
  while (n > 0) {
    const x = hi, y = partials[--n];
    hi = x + y;
    lo = y - (hi - x);
    if (lo !== 0) break;
  }
  if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
    const y = lo * 2, x = hi + y;
    if (y === x - hi) hi = x;
  }
  return hi;
}

function assertPermutation(col: Int32Array, n: number, label: string): void {
  assert.equal(col.length, n, `${label}: length`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = col[i];
    assert.ok(j >= 0 && j < n && !seen[j], `${label}: not a permutation at row ${i} (column ${j})`);
    seen[j] = 1;
  }
}

// --- against scipy ----------------------------------------------------------------------------

const doc = JSON.parse(readFileSync(fixture('lap', 'lap.expected.json'), 'utf8')) as { scipy: string; cases: Case[] };
let worstRel = 0, worstName = '', floatCases = 0, sameAssignment = 0;

test(`fixture set is large enough (scipy ${doc.scipy})`, () => {
  const random = doc.cases.filter((c) => ['uniform', 'affine', 'huge'].includes(c.kind));
  assert.ok(random.length >= 100, `${random.length} random matrices`);
  assert.ok(random.some((c) => c.n === 1) && random.some((c) => c.n === 512));
  assert.ok(doc.cases.filter((c) => !c.unique).length >= 30, 'many cases with ties');
});

for (const c of doc.cases) {
  test(`same optimum as scipy: ${c.name}`, () => {
    const m = build(c);
    assert.deepEqual([fsum(m), m[0], m[m.length - 1]], [c.probe.sum, c.probe.first, c.probe.last], `${c.name}: generator differs from the Python one`);
    const before = m.slice();
    const r = linearSumAssignment(m, c.n, { maximize: c.maximize });
    assert.deepEqual(m, before, 'input left untouched');
    assertPermutation(r.colForRow, c.n, c.name);
    const exact = fsum(Array.from(r.colForRow, (j, i) => m[i * c.n + j]));
    if (c.integer) {
      assert.equal(r.total, c.total, `${c.name}: integer total`);
    } else {
      // The reported total is the compensated sum of the chosen entries...
      assert.ok(Math.abs(r.total - exact) <= 2 * Number.EPSILON * Math.abs(exact), `${c.name}: total ${r.total} vs exact ${exact}`);
      // ...and equals scipy's optimum to 1e-9 relative.
      const rel = Math.abs(exact - c.total) / Math.max(Math.abs(c.total), Number.MIN_VALUE);
      floatCases++;
      if (rel > worstRel) { worstRel = rel; worstName = c.name; }
      assert.ok(rel <= 1e-9, `${c.name}: total ${exact} vs scipy ${c.total} (relative error ${rel})`);
    }
    if (c.unique) assert.deepEqual(Array.from(r.colForRow), c.colForRow, `${c.name}: unique optimum, same assignment as scipy`);
    if (r.colForRow.every((j, i) => j === c.colForRow[i])) sameAssignment++;
  });
}

test('largest relative difference from scipy on float cases', (t) => {
  t.diagnostic(`${floatCases} float cases: max relative difference of the optimum from scipy's ${worstRel.toExponential(2)}${worstName ? ` (${worstName})` : ''}`);
  t.diagnostic(`${sameAssignment} of ${doc.cases.length} cases give scipy's very assignment (${doc.cases.filter((c) => c.unique).length} have a unique optimum)`);
  assert.ok(worstRel <= 1e-9);
});

// --- independent checks -------------------------------------------------------------------------

function bruteForce(m: Float64Array, n: number, maximize: boolean): number {
  const perm = Array.from({ length: n }, (_, i) => i);
  let best = maximize ? -Infinity : Infinity;
  const rec = (k: number, s: number): void => {
    if (k === n) { best = maximize ? Math.max(best, s) : Math.min(best, s); return; }
    for (let t = k; t < n; t++) {
      [perm[k], perm[t]] = [perm[t], perm[k]];
      rec(k + 1, s + m[k * n + perm[k]]);
      [perm[k], perm[t]] = [perm[t], perm[k]];
    }
  };
  rec(0, 0);
  return best;
}

test('brute force agrees on 600 tiny integer matrices full of ties (n = 1..6)', () => {
  let seed = 90000;
  for (let n = 1; n <= 6; n++) {
    for (let rep = 0; rep < 100; rep++) {
      const range = 1 + (rep % 4); // 0..0 up to 0..3
      const m = ints(seed++, 0, n * n, range).map((x) => x - (rep % 3));
      for (const maximize of [false, true]) {
        const r = linearSumAssignment(m, n, { maximize });
        assertPermutation(r.colForRow, n, `n=${n} rep=${rep}`);
        assert.equal(r.total, bruteForce(m, n, maximize), `n=${n} rep=${rep} maximize=${maximize}`);
      }
    }
  }
});

test('warm start (initialPrices): any prices give the same optimum; prices of a nearby matrix are returned and reusable', () => {
  // Every fixture case, warm-started from its own optimal prices and (except the "huge" cases,
  // whose optimum hangs on entries 1e290 times smaller than others: prices at the large scale
  // absorb them) from random prices.
  for (const c of doc.cases) {
    const m = build(c);
    const cold = linearSumAssignment(m, c.n, { maximize: c.maximize });
    const scale = m.reduce((x, v) => Math.max(x, Math.abs(v)), 0) || 1;
    const random = uniforms(5000 + c.n, 0, c.n).map((v) => (v - 0.5) * 4 * scale);
    for (const prices of c.name.startsWith('huge') ? [cold.prices] : [random, cold.prices]) {
      const warm = linearSumAssignment(m, c.n, { maximize: c.maximize, initialPrices: prices });
      assertPermutation(warm.colForRow, c.n, c.name);
      if (c.integer) assert.equal(warm.total, cold.total, `${c.name}: warm total`);
      else assert.ok(Math.abs(warm.total - cold.total) <= 1e-9 * Math.max(1, Math.abs(cold.total)), `${c.name}: warm ${warm.total} vs cold ${cold.total}`);
    }
  }
  // Ties (small integers) against brute force, warm-started from a perturbed matrix's prices.
  let seed = 91000;
  for (let n = 1; n <= 6; n++) {
    for (let rep = 0; rep < 50; rep++) {
      const m = ints(seed++, 0, n * n, 1 + (rep % 4));
      const near = m.map((x, k) => x + ((k * 7) % 3) - 1);
      for (const maximize of [false, true]) {
        const r = linearSumAssignment(m, n, { maximize, initialPrices: linearSumAssignment(near, n, { maximize }).prices });
        assertPermutation(r.colForRow, n, `n=${n} rep=${rep}`);
        assert.equal(r.total, bruteForce(m, n, maximize), `n=${n} rep=${rep} maximize=${maximize}`);
      }
    }
  }
  assert.throws(() => linearSumAssignment(new Float64Array(4), 2, { initialPrices: new Float64Array(3) }), /initialPrices has 3 entries/);
  assert.throws(() => linearSumAssignment(new Float64Array(4), 2, { initialPrices: Float64Array.of(0, NaN) }), /initial price NaN of column 1/);
});

test('maximising C is minimising -C; row order does not change the optimum', () => {
  const n = 97, m = uniforms(77, 0, n * n);
  const max = linearSumAssignment(m, n, { maximize: true });
  const min = linearSumAssignment(m.map((x) => -x), n);
  assert.deepEqual(max.colForRow, min.colForRow);
  assert.equal(max.total, -min.total);
  const rows = permutation(78, n), shuffled = new Float64Array(n * n);
  rows.forEach((src, i) => shuffled.set(m.subarray(src * n, src * n + n), i * n));
  const again = linearSumAssignment(shuffled, n, { maximize: true });
  assert.ok(Math.abs(again.total - max.total) <= 1e-12 * Math.abs(max.total));
  rows.forEach((src, i) => assert.equal(again.colForRow[i], max.colForRow[src]));
});

test('ties are resolved deterministically; an all-equal matrix gives the identity', () => {
  for (const n of [1, 2, 5, 64]) {
    const r = linearSumAssignment(new Float64Array(n * n).fill(3), n);
    assert.deepEqual(Array.from(r.colForRow), Array.from({ length: n }, (_, i) => i));
  }
  const m = ints(5, 0, 200 * 200, 3);
  assert.deepEqual(linearSumAssignment(m, 200).colForRow, linearSumAssignment(m.slice(), 200).colForRow);
});

test('n = 0 gives an empty assignment', () => {
  const r = linearSumAssignment(new Float64Array(0), 0);
  assert.equal(r.colForRow.length, 0);
  assert.equal(r.total, 0);
});

// --- cancellation and bad input -----------------------------------------------------------------

test('cancellation is polled during the solve and stops it with CancelledError', () => {
  const n = 300, m = uniforms(11, 0, n * n);
  let polls = 0;
  const full = linearSumAssignment(m, n, { isCancelled: () => { polls++; return false; } });
  assert.ok(polls >= 3, `polled ${polls} times`);
  assert.deepEqual(full.colForRow, linearSumAssignment(m, n).colForRow);
  for (const at of [1, 2, Math.ceil(polls / 2), polls]) {
    let k = 0;
    assert.throws(() => linearSumAssignment(m, n, { isCancelled: () => ++k >= at }), CancelledError, `cancel at poll ${at}`);
    assert.equal(k, at, 'stops at the first true answer');
  }
});

test('NaN, ±Infinity, huge values and wrong sizes are refused with a clear error', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const m = new Float64Array(9).fill(1);
    m[5] = bad;
    assert.throws(() => linearSumAssignment(m, 3), (e: Error) => e instanceof RangeError && e.message.includes(String(bad)) && e.message.includes('row 1, column 2'));
    assert.throws(() => linearSumAssignment(m, 3, { maximize: true }), RangeError);
  }
  assert.throws(() => linearSumAssignment(new Float64Array([1, 1e300, 1, 1]), 2), /too large/);
  assert.throws(() => linearSumAssignment(new Float64Array(8), 3), /expected n\*n = 9/);
  assert.throws(() => linearSumAssignment(new Float64Array(0), -1), /non-negative integer/);
  assert.throws(() => linearSumAssignment(new Float64Array(4), 2.5), /non-negative integer/);
});
