// `spectra` against numpy (test/fixtures/runs/make_runs_fixtures.py): singular values within
// 1e-4 relative (exact and Lanczos top-k), stable/effective rank, the power-law α of the same
// reference fit, planted dead/duplicate units, balancedness; and the numerics on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runSpectra } from '../../src/analysis/spectra/spectra';
import { exactSingularValues, topSingularValues } from '../../src/analysis/spectra/svd';
import { fitPowerLaw } from '../../src/analysis/spectra/powerLaw';
import { unitFindings } from '../../src/analysis/spectra/units';
import { spectraView } from '../../src/analysis/views/spectraView';
import { join } from 'node:path';
import { REPO_ROOT, close, fixture } from '../helpers';

interface ExpectedLayer {
  name: string;
  matrix: [number, number];
  method: string;
  singularValues: number[];
  frobenius: number;
  spectralNorm: number;
  stableRank: number;
  effectiveRank: number | null;
  alpha: { alpha: number; xmin: number; xmax: number; nTail: number; n: number; ks: number } | null;
  units: { units: number; dead: number; duplicates: number };
}
interface ExpectedSpectra {
  order: string;
  layers: ExpectedLayer[];
  balancedness: { layer: string; next: string; value: number }[];
}
const expected = JSON.parse(readFileSync(fixture('runs', 'expected.json'), 'utf8')).spectra as Record<string, ExpectedSpectra>;

for (const [file, want] of Object.entries(expected)) {
  test(`spectra of ${file} match numpy`, async () => {
    const partials: number[] = [];
    const r = await runSpectra({ path: fixture('runs', file) }, { onPartial: (p) => partials.push((p as { layers: unknown[] }).layers.length) });
    assert.equal(r.complete, true);
    assert.equal(r.order, want.order);
    assert.deepEqual(r.layers.map((l) => l.name), want.layers.map((l) => l.name));
    assert.deepEqual(partials, want.layers.map((_, i) => i + 1));
    for (const [i, w] of want.layers.entries()) {
      const g = r.layers[i];
      const label = `${file} ${w.name}`;
      assert.deepEqual(g.matrix, w.matrix, label);
      assert.equal(g.method, w.method, label);
      assert.equal(g.singularValues.length, w.singularValues.length, label);
      const top = w.singularValues[0];
      g.singularValues.forEach((s, j) => assert.ok(close(s, w.singularValues[j], 1e-4, 1e-9 * top), `${label} σ${j}: ${s} vs ${w.singularValues[j]}`));
      for (const k of ['frobenius', 'spectralNorm', 'stableRank'] as const) assert.ok(close(g[k], w[k], 1e-6), `${label} ${k}: ${g[k]} vs ${w[k]}`);
      assert.ok(close(g.effectiveRank, w.effectiveRank, 1e-6), `${label} effectiveRank ${g.effectiveRank} vs ${w.effectiveRank}`);
      if (w.alpha === null) assert.equal(g.alpha, null, label);
      else {
        assert.ok(g.alpha, label);
        assert.equal(g.alpha.nTail, w.alpha.nTail, `${label} α tail`);
        assert.equal(g.alpha.n, w.alpha.n, `${label} α n`);
        for (const k of ['alpha', 'xmin', 'xmax', 'ks'] as const) assert.ok(close(g.alpha[k], w.alpha[k], 1e-4), `${label} α.${k}: ${g.alpha[k]} vs ${w.alpha[k]}`);
      }
      assert.ok(g.units, label);
      assert.equal(g.units.units, w.units.units, label);
      assert.equal(g.units.dead, w.units.dead, `${label} dead`);
      assert.equal(g.units.duplicates, w.units.duplicates, `${label} duplicates`);
    }
    assert.equal(r.balancedness.length, want.balancedness.length);
    for (const [i, b] of want.balancedness.entries()) {
      assert.equal(r.balancedness[i].layer, b.layer);
      assert.equal(r.balancedness[i].next, b.next);
      assert.ok(close(r.balancedness[i].value, b.value, 1e-6, 1e-9), `balancedness ${b.layer}: ${r.balancedness[i].value} vs ${b.value}`);
    }
    const view = spectraView(r);
    assert.equal(view.kind, 'spectra');
    assert.equal(view.complete, true);
    assert.ok(view.charts.length >= 2 && view.tables.length >= 1);
    assert.equal(view.tables[0].rows.length, want.layers.length);
    assert.doesNotThrow(() => JSON.stringify(view));
  });
}

test('the planted dead and duplicated units are the ones found', async () => {
  const r = await runSpectra({ path: fixture('runs', 'spectra.safetensors') });
  const u = r.layers.find((l) => l.name === 'l2.weight')!.units!;
  assert.deepEqual(u.deadUnits, [3, 17, 40]);
  assert.deepEqual(u.duplicateGroups, [[5, 11, 12], [20, 30]]);
});

test('exact singular values: diagonal, rank-deficient, wide and tall matrices', () => {
  const diag = exactSingularValues({ rows: 3, cols: 3, values: Float64Array.from([0, 0, 2, 0, 5, 0, 1, 0, 0]) });
  assert.deepEqual(Array.from(diag), [5, 2, 1]);
  // rank 1: outer product u vᵀ, σ₁ = ‖u‖‖v‖
  const u = [1, 2, 3, 4], v = [2, -1, 0.5];
  const outer = Float64Array.from(u.flatMap((a) => v.map((b) => a * b)));
  const s = exactSingularValues({ rows: 4, cols: 3, values: outer });
  assert.ok(close(s[0], Math.hypot(...u) * Math.hypot(...v), 1e-12));
  assert.ok(s[1] < 1e-12 && s[2] < 1e-12);
  const wide = exactSingularValues({ rows: 3, cols: 4, values: Float64Array.from(v.flatMap((b) => u.map((a) => a * b))) });
  assert.ok(close(wide[0], s[0], 1e-12));
  assert.deepEqual(Array.from(exactSingularValues({ rows: 0, cols: 5, values: new Float64Array(0) })), []);
});

test('Lanczos top-k equals the exact values, and is exact on a rank-deficient matrix', () => {
  const rows = 90, cols = 70;
  let seed = 7;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const values = Float64Array.from({ length: rows * cols }, rand);
  const exact = exactSingularValues({ rows, cols, values });
  const top = topSingularValues({ rows, cols, values }, 10);
  Array.from(top.values).forEach((x, i) => assert.ok(close(x, exact[i], 1e-8), `σ${i}: ${x} vs ${exact[i]}`));
  // rank 2
  const a = Float64Array.from({ length: rows }, rand), b = Float64Array.from({ length: cols }, rand);
  const c = Float64Array.from({ length: rows }, rand), d = Float64Array.from({ length: cols }, rand);
  const low = Float64Array.from({ length: rows * cols }, (_, k) => a[Math.floor(k / cols)] * b[k % cols] + c[Math.floor(k / cols)] * d[k % cols]);
  const lowExact = exactSingularValues({ rows, cols, values: low });
  const lowTop = topSingularValues({ rows, cols, values: low }, 5);
  assert.ok(close(lowTop.values[0], lowExact[0], 1e-10) && close(lowTop.values[1], lowExact[1], 1e-10));
  assert.ok(lowTop.steps <= 3, `stopped at the invariant subspace after ${lowTop.steps} steps`);
});

test('power-law fit recovers α of a Pareto sample and declines too few eigenvalues', () => {
  // Deterministic Pareto(α = 3) quantiles: x = (1 − q)^(−1/(α−1)).
  const xs = Array.from({ length: 2000 }, (_, i) => (1 - (i + 0.5) / 2000) ** (-1 / 2));
  const fit = fitPowerLaw(xs)!;
  assert.ok(Math.abs(fit.alpha - 3) < 0.05, `α ${fit.alpha}`);
  assert.ok(fit.xmin >= 1 && fit.xmax === Math.max(...xs));
  assert.equal(fitPowerLaw([1, 2, 3]), null);
  assert.equal(fitPowerLaw(new Array(20).fill(0)), null);
});

test('unit findings: an all-zero layer is all dead, identical rows are duplicates', () => {
  const zero = unitFindings({ rows: 3, cols: 2, values: new Float32Array(6) }, undefined);
  assert.equal(zero.dead, 3);
  const same = unitFindings({ rows: 3, cols: 2, values: Float32Array.from([1, 2, 2, 4, -1, 0]) }, undefined);
  assert.equal(same.dead, 0);
  assert.deepEqual(same.duplicateGroups, [[0, 1]]);
});

test('Lanczos stopped at its step cap says how many leading values settled, and those are right', () => {
  const rows = 200, cols = 160;
  let seed = 11;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const values = Float64Array.from({ length: rows * cols }, rand);
  const exact = exactSingularValues({ rows, cols, values });
  const top = topSingularValues({ rows, cols, values }, 40, { maxSteps: 64 });
  assert.equal(top.converged, false);
  assert.ok(top.settled < 40, `settled ${top.settled}`);
  for (let i = 0; i < top.settled; i++) assert.ok(close(top.values[i], exact[i], 1e-6), `σ${i}: ${top.values[i]} vs ${exact[i]}`);
  for (let i = 0; i < 40; i++) assert.ok(top.values[i] <= exact[i] * (1 + 1e-12), `σ${i} is a lower bound`);
});

test('Lanczos on a wide matrix (fewer rows than columns) equals the exact values, also when it runs to the full dimension', () => {
  const rows = 7, cols = 40;
  const values = new Float64Array(rows * cols);
  let s = 12345;
  for (let i = 0; i < values.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    values[i] = s / 4294967296 - 0.5;
  }
  const exact = exactSingularValues({ rows, cols, values });
  for (const k of [1, 3, rows]) {
    const top = topSingularValues({ rows, cols, values }, k);
    for (let i = 0; i < k; i++) assert.ok(Math.abs(top.values[i] - exact[i]) <= 1e-10 * exact[0], `k=${k}, σ_${i + 1}: ${top.values[i]} vs ${exact[i]}`);
  }
});

test('Lanczos under a time budget stops on time, says which values settled, and those match the converged run; cancel throws', () => {
  // A 1500 × 1000 matrix with a decaying spectrum: σ_i = 1/i on random orthogonal-ish directions (seeded).
  const rows = 1500, cols = 1000;
  let s = 12345;
  const rnd = (): number => ((s = (s * 1103515245 + 12345) >>> 0) / 4294967296) - 0.5;
  const values = new Float64Array(rows * cols);
  for (let r = 0; r < 30; r++) {
    const u = Float64Array.from({ length: rows }, rnd), v = Float64Array.from({ length: cols }, rnd);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) values[i * cols + j] += (u[i] * v[j]) / (r + 1);
  }
  for (let i = 0; i < values.length; i++) values[i] += 1e-3 * rnd();
  const m = { rows, cols, values };
  const full = topSingularValues(m, 32);
  assert.ok(full.converged && !full.timedOut);
  // The deadline is read on a clock that advances 10 ms per read, so stopping on time is exact
  // and no machine load can fail it: the clock is read from the 11th step on (10 are always
  // taken), reads 10…250 ms let 25 more steps start, and the read at 260 ms stops the run.
  let clock = 0;
  const quick = topSingularValues(m, 32, { deadline: 250, now: () => (clock += 10) });
  assert.ok(quick.timedOut && !quick.converged, `steps ${quick.steps}`);
  assert.equal(quick.steps, 35, 'steps taken before a clock read past 250 ms');
  // On the real clock (the editor's large-file path): a deadline already passed stops after the 10 minimum steps.
  const late = topSingularValues(m, 32, { deadline: performance.now() - 1 });
  assert.ok(late.timedOut && late.steps === 10, `steps ${late.steps}`);
  assert.ok(quick.sigma1Change !== undefined && quick.sigma1Change < 1e-3);
  assert.ok(quick.settled >= 1, `settled ${quick.settled} after ${quick.steps} steps`);
  assert.ok(quick.settled < 32);
  for (let i = 0; i < quick.settled; i++) assert.ok(Math.abs(quick.values[i] - full.values[i]) <= 1e-6 * full.values[0], `σ_${i + 1}`);
  // Unsettled values are Ritz values: lower bounds.
  for (let i = quick.settled; i < quick.values.length; i++) assert.ok(quick.values[i] <= full.values[i] * (1 + 1e-9));
  let polls = 0;
  assert.throws(() => topSingularValues(m, 32, { isCancelled: () => ++polls > 3 }), (e: Error) => e.name === 'CancelledError');
});

test('balancedness pairs layers as the recognised graph connects them: a ResNet block\'s conv2 is not paired with the downsample beside it', async () => {
  const r = await runSpectra({ path: join(REPO_ROOT, 'demo', 'checkpoints', 'resnet_digits.safetensors') });
  assert.equal(r.order, 'graph');
  const pairs = new Set(r.balancedness.map((b) => `${b.layer} -> ${b.next}`));
  assert.ok(!pairs.has('layer2.0.conv2.weight -> layer2.0.downsample.0.weight'), [...pairs].join(', '));
  for (const p of ['layer1.0.conv1.weight -> layer1.0.conv2.weight', 'layer1.0.conv2.weight -> layer1.1.conv1.weight', 'layer2.0.downsample.0.weight -> layer2.1.conv1.weight', 'layer4.1.conv2.weight -> fc.weight']) assert.ok(pairs.has(p), `missing ${p}`);
  const fro = new Map(r.layers.map((l) => [l.name, l.frobenius]));
  for (const b of r.balancedness) assert.ok(Math.abs(b.value - (fro.get(b.layer)! ** 2 - fro.get(b.next)! ** 2)) < 1e-9 * Math.max(1, Math.abs(b.value)));
});
