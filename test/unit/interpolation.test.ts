// Interpolation analyses against PyTorch (test/fixtures/interp/make_interp_fixtures.py): the
// linear path with and without BatchNorm reset and its barriers, MLI, LLFC and the loss plane;
// unit tests of lerp, the barrier and MLI definitions on hand-made curves, cancellation,
// streaming, the thread pool (2 threads = 1 thread), the CLI's JSON, and the views (valid
// Vega-Lite). Everything runs on the wasm backend.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { alignCheckpoints } from '../../src/analysis/align/alignCheckpoint';
import { CheckpointError } from '../../src/analysis/core/errors';
import { findFashionMnist } from '../../src/analysis/data/dataset';
import { initBackend } from '../../src/analysis/model/backend';
import type { StateDict } from '../../src/analysis/model/stateDict';
import { computeBarriers, monotonicityGap } from '../../src/analysis/interpolate/barriers';
import { splitAtFirstLinear } from '../../src/analysis/interpolate/firstLayerCache';
import { combineStateDicts, lerpStateDicts, unitGrid } from '../../src/analysis/interpolate/lerp';
import { evaluatePoints } from '../../src/analysis/interpolate/pathPool';
import { loadPathInputs } from '../../src/analysis/interpolate/pathInputs';
import { type InterpolationOptions, type InterpolationProgress, type InterpolationReport, runInterpolation } from '../../src/analysis/interpolate/linearPath';
import { type LlfcReport, runLlfc } from '../../src/analysis/interpolate/llfc';
import { type PlaneReport, runPlane } from '../../src/analysis/interpolate/lossPlane';
import { type MliReport, runMli } from '../../src/analysis/interpolate/mli';
import { contourLevels, contourSegments } from '../../src/analysis/views/contourLines';
import { interpolationView } from '../../src/analysis/views/interpolationView';
import { llfcView } from '../../src/analysis/views/llfcView';
import { mliView } from '../../src/analysis/views/mliView';
import { planeView } from '../../src/analysis/views/planeView';
import type { AnalysisView } from '../../src/analysis/report/analysisView';
import { REPO_ROOT, fixture } from '../helpers';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const WORKER = join(REPO_ROOT, 'dist', 'pathWorker.js');
const F = (name: string): string => fixture('interp', name);
const DATA = F('digits.npz');
// The fixtures' BatchNorm reset: the first 4 batches of 64 training examples, in order.
const BN = { bnBatches: 4, bnBatchSize: 64 };
const TOL = 1e-3;

interface Curve { alphas: number[]; loss: number[]; accuracy: number[]; barrier: Record<string, number> }
const expected = JSON.parse(readFileSync(F('expected.json'), 'utf8')) as {
  mlp: Curve; cnn_bn_reset: Curve; cnn_no_bn_reset: Curve;
  mli: Curve & { delta: number; maxIncrease: number; distance: number; relativeDistance: number; layers: { name: string; distance: number; relativeDistance: number }[] };
  llfc: { layer: string; baseline: { mean: number; std: number }; alphas: { alpha: number; dist: { mean: number; std: number }; coef: { mean: number; std: number } }[] }[];
  plane: { grid: number; points: Record<string, [number, number]>; x: number[]; y: number[]; loss: number[]; accuracy: number[] };
};

before(async () => {
  await initBackend('wasm');
});

function near(got: number, want: number, label: string, tol = TOL): void {
  assert.ok(Math.abs(got - want) <= tol, `${label}: ${got} vs PyTorch ${want}`);
}

/** Curves, barriers (with their α) and accuracies (a whole number of examples: exact) against PyTorch's. */
function assertCurve(got: { alphas: number[]; loss: number[]; accuracy: number[]; barrier: InterpolationReport['barrier'] }, want: Curve, label: string): void {
  assert.equal(got.alphas.length, want.alphas.length);
  got.alphas.forEach((a, i) => near(a, want.alphas[i], `${label} α[${i}]`, 1e-12));
  got.loss.forEach((l, i) => near(l, want.loss[i], `${label} loss at α[${i}]`));
  got.accuracy.forEach((a, i) => near(a, want.accuracy[i], `${label} accuracy at α[${i}]`, 1e-9));
  for (const k of ['lossLinear', 'lossMean', 'error', 'errorLinear'] as const) {
    near(got.barrier[k], want.barrier[k], `${label} barrier ${k}`);
    near(got.barrier.argmaxAlpha[k], want.barrier[`${k}Alpha`], `${label} argmax α of ${k}`, 1e-9);
  }
}

const sd = (entries: [string, number[]][]): StateDict => new Map(entries.map(([k, v]) => [k, { shape: [v.length], values: Float32Array.from(v) }]));

describe('lerp and barriers', () => {
  test('lerp combines floating tensors and leaves integer buffers as in A', () => {
    const a = sd([['w', [0, 2, -4]], ['bn.num_batches_tracked', [7]]]);
    const b = sd([['w', [4, 2, 4]], ['bn.num_batches_tracked', [100]]]);
    const integer = new Set(['bn.num_batches_tracked']);
    const mid = lerpStateDicts(a, b, 0.25, { integer });
    assert.deepEqual([...mid.get('w')!.values], [1, 2, -2]);
    assert.deepEqual([...mid.get('bn.num_batches_tracked')!.values], [7]);
    assert.deepEqual([...lerpStateDicts(a, b, 1, { integer }).get('bn.num_batches_tracked')!.values], [7]);
    assert.deepEqual([...lerpStateDicts(a, b, 0).get('w')!.values], [0, 2, -4]);
    assert.deepEqual([...lerpStateDicts(a, b, 1).get('w')!.values], [4, 2, 4]);
    const c = sd([['w', [1, 1, 1]], ['bn.num_batches_tracked', [1]]]);
    assert.deepEqual([...combineStateDicts([a, b, c], [0.5, 0.25, 0.25], { integer }).get('w')!.values], [1.25, 1.75, -0.75]);
    assert.deepEqual(unitGrid(5), [0, 0.25, 0.5, 0.75, 1]);
    assert.throws(() => unitGrid(1));
  });

  test('the three barriers (and the linear error barrier) on a hand-made curve, with argmax α', () => {
    const alphas = [0, 1 / 3, 2 / 3, 1];
    // Linear baseline 0, 1, 2, 3 → excess 0, .5, .5, 0; mean baseline 1.5 → excess up to 1.5 at α = 1.
    const b = computeBarriers(alphas, [0, 1.5, 2.5, 3], [1, 0.8, 0.9, 0.96]);
    near(b.lossLinear, 0.5, 'lossLinear', 1e-12);
    assert.equal(b.argmaxAlpha.lossLinear, 1 / 3, 'first maximum on ties');
    near(b.lossMean, 1.5, 'lossMean', 1e-12);
    assert.equal(b.argmaxAlpha.lossMean, 1);
    // Err = 0, .2, .1, .04: mean of endpoints .02 → error .18 at 1/3; linear baseline at 1/3 is .04/3.
    near(b.error, 0.18, 'error', 1e-12);
    assert.equal(b.argmaxAlpha.error, 1 / 3);
    near(b.errorLinear, 0.2 - 0.04 / 3, 'errorLinear', 1e-12);
    // Equal endpoint losses: the two loss barriers agree.
    const eq = computeBarriers([0, 0.5, 1], [1, 3, 1], [0.9, 0.5, 0.9]);
    assert.equal(eq.lossLinear, 2);
    assert.equal(eq.lossMean, 2);
    near(eq.error, 0.4, 'error', 1e-12);
  });

  test('MLI Δ is the largest rise above the running minimum', () => {
    assert.deepEqual(monotonicityGap([0, 0.25, 0.5, 0.75, 1], [3, 2, 2.5, 1, 1.2]), { delta: 0.5, alpha: 0.5 });
    assert.deepEqual(monotonicityGap([0, 0.5, 1], [3, 2, 1]), { delta: 0, alpha: 0 });
  });
});

describe('against PyTorch', () => {
  const opts = (a: string, b: string, extra: Partial<InterpolationOptions> = {}): InterpolationOptions => ({ a: F(a), b: F(b), data: DATA, ...BN, workerScript: WORKER, ...extra });

  test('MLP path: loss, accuracy and barriers at 25 α', async () => {
    const r = await runInterpolation(opts('mlp_a.safetensors', 'mlp_b.safetensors', { threads: 1 }));
    assertCurve(r, expected.mlp, 'mlp');
    assert.equal(r.batchNorm.present, false);
    assert.equal(r.n, 297);
  });

  test('BatchNorm CNN path with the statistics recomputed at every point (2 threads) equals PyTorch, and 1 thread', async () => {
    const two = await runInterpolation(opts('cnn_a.safetensors', 'cnn_b.safetensors', { threads: 2 }));
    assert.equal(two.threads, 2);
    assert.equal(two.batchNorm.reset, true);
    assert.equal(two.batchNorm.batches, 4);
    assertCurve(two, expected.cnn_bn_reset, 'cnn BN reset');
    const one = await runInterpolation(opts('cnn_a.safetensors', 'cnn_b.safetensors', { threads: 1 }));
    assert.deepEqual(two.loss, one.loss, 'the pool gives the numbers one thread gives');
    assert.deepEqual(two.accuracy, one.accuracy);
  });

  test('BatchNorm CNN path without the reset uses the interpolated statistics, as PyTorch', async () => {
    const r = await runInterpolation(opts('cnn_a.safetensors', 'cnn_b.safetensors', { threads: 1, bnReset: false }));
    assert.equal(r.batchNorm.reset, false);
    assertCurve(r, expected.cnn_no_bn_reset, 'cnn no BN reset');
  });

  test('MLI from the initialisation: curve, Δ, max rise, distances global and per layer', async () => {
    const r = await runMli({ init: F('mlp_init.safetensors'), final: F('mlp_a.safetensors'), data: DATA, steps: 11, threads: 1 });
    const w = expected.mli;
    r.loss.forEach((l, i) => near(l, w.loss[i], `mli loss ${i}`));
    near(r.delta, w.delta, 'Δ');
    near(r.maxIncrease, w.maxIncrease, 'max rise');
    assert.equal(r.monotonic, w.delta <= r.tol);
    near(r.distance, w.distance, 'distance', 1e-5 * w.distance);
    near(r.relativeDistance, w.relativeDistance, 'relative distance', 1e-5 * w.relativeDistance);
    assert.deepEqual(r.layers.map((l) => l.name), w.layers.map((l) => l.name));
    r.layers.forEach((l, i) => {
      near(l.distance, w.layers[i].distance, `${l.name} distance`, 1e-5 * l.distance);
      near(l.relativeDistance, w.layers[i].relativeDistance, `${l.name} relative distance`, 1e-5 * l.relativeDistance);
    });
  });

  test('LLFC per layer and α: distance, coef and baseline (mean and std)', async () => {
    const r = await runLlfc({ a: F('mlp_a.safetensors'), b: F('mlp_b.safetensors'), data: DATA });
    assert.deepEqual(r.layers.map((l) => l.layer), expected.llfc.map((l) => l.layer));
    for (const [li, l] of r.layers.entries()) {
      const w = expected.llfc[li];
      near(l.naive.baseline.mean, w.baseline.mean, `${l.layer} baseline`, 1e-5);
      near(l.naive.baseline.std, w.baseline.std, `${l.layer} baseline std`, 1e-5);
      l.naive.points.forEach((p, ai) => {
        const q = w.alphas[ai];
        assert.equal(p.alpha, q.alpha);
        near(p.dist.mean, q.dist.mean, `${l.layer} α ${p.alpha} dist`, 1e-5);
        near(p.dist.std, q.dist.std, `${l.layer} α ${p.alpha} dist std`, 1e-5);
        near(p.coef.mean, q.coef.mean, `${l.layer} α ${p.alpha} coef`, 1e-5);
        near(p.coef.std, q.coef.std, `${l.layer} α ${p.alpha} coef std`, 1e-5);
      });
    }
  });

  test('loss plane through three MLPs: basis, grid coordinates and the loss at every grid point', async () => {
    const r = await runPlane({ a: F('mlp_a.safetensors'), b: F('mlp_b.safetensors'), c: F('mlp_c.safetensors'), data: DATA, grid: 5, threads: 2, workerScript: WORKER });
    const w = expected.plane;
    for (const p of r.points) {
      near(p.x, w.points[p.name][0], `${p.name}.x`, 1e-5 * Math.max(1, Math.abs(p.x)));
      near(p.y, w.points[p.name][1], `${p.name}.y`, 1e-5 * Math.max(1, Math.abs(p.y)));
    }
    r.x.forEach((x, i) => near(x, w.x[i], `x[${i}]`, 1e-5 * Math.max(1, Math.abs(x))));
    r.y.forEach((y, i) => near(y, w.y[i], `y[${i}]`, 1e-5 * Math.max(1, Math.abs(y))));
    r.loss.flat().forEach((l, i) => near(l, w.loss[i], `grid loss ${i}`));
    r.accuracy.flat().forEach((a, i) => near(a, w.accuracy[i], `grid accuracy ${i}`, 1e-9));
    near(r.points[0].loss, expected.mlp.loss[0], 'loss at A');
    near(r.points[1].loss, expected.mlp.loss[24], 'loss at B');
  });
});

describe('paths: alignment, streaming, cancellation, errors', () => {
  test('the weight-matched line starts at A, ends at B\'s loss, and has a lower barrier', async () => {
    const r = await runInterpolation({ a: F('mlp_a.safetensors'), b: F('mlp_b.safetensors'), data: DATA, steps: 9, align: true, threads: 1 });
    assert.ok(r.aligned);
    near(r.aligned.loss[0], r.loss[0], 'α = 0', 1e-6);
    near(r.aligned.loss[8], r.loss[8], 'α = 1: a permuted B computes B', 1e-5);
    assert.equal(r.aligned.accuracy[8], r.accuracy[8]);
    assert.ok(r.aligned.barrier.lossLinear < r.barrier.lossLinear, `${r.aligned.barrier.lossLinear} < ${r.barrier.lossLinear}`);
    assert.ok(r.aligned.alignment.distanceAfter < r.aligned.alignment.distanceBefore);
  });

  test('points stream to onPartial as computed (pool), and the view renders partial reports', async () => {
    const partials: InterpolationProgress[] = [];
    const r = await runInterpolation({ a: F('mlp_a.safetensors'), b: F('mlp_b.safetensors'), data: DATA, steps: 5, threads: 2, workerScript: WORKER }, { onPartial: (p) => partials.push(p as InterpolationProgress) });
    assert.equal(partials.length, 5);
    assert.ok(partials.every((p) => p.complete === false));
    assert.equal(partials[0].loss.filter((v) => v !== null).length, 1);
    assert.deepEqual(partials[4].loss, r.loss);
    const view = interpolationView(partials[1]);
    assert.equal(view.complete, false);
    assert.equal(view.charts[0].rows.length, 2);
  });

  for (const threads of [1, 2]) {
    test(`cancelling stops the job with CancelledError (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      let points = 0;
      const job = runInterpolation(
        { a: F('cnn_a.safetensors'), b: F('cnn_b.safetensors'), data: DATA, ...BN, steps: 25, threads, workerScript: WORKER },
        { isCancelled: () => points >= 1, onPartial: () => points++ },
      );
      await assert.rejects(job, (e: Error) => e.name === 'CancelledError');
      assert.ok(points < 25, `stopped after ${points} points`);
    });
  }

  test('the first-layer cache (MLPs) gives the numbers of the full forward pass; other networks run whole', async () => {
    const inputs = await loadPathInputs([F('mlp_a.safetensors'), F('mlp_b.safetensors')], { data: DATA });
    const setup = { graph: inputs.graph, endpoints: inputs.checkpoints.map((c) => c.stateDict), data: inputs.data, bn: inputs.bn };
    const points = unitGrid(7).map((a) => [1 - a, a]);
    const whole = await evaluatePoints({ ...setup, cacheFirstLayer: false }, points, { threads: 1 });
    const cached = await evaluatePoints({ ...setup, cacheFirstLayer: true }, points, { threads: 1 });
    // The pool computes the outputs once and its threads share them (SharedArrayBuffers).
    const pooled = await evaluatePoints({ ...setup, cacheFirstLayer: true }, points, { threads: 2, threadsRequested: true, workerScript: WORKER });
    for (const [i, r] of [...cached.entries(), ...pooled.entries()]) {
      near(r.loss, whole[i].loss, `loss at point ${i}`, 1e-6);
      assert.equal(r.accuracy, whole[i].accuracy);
    }
    const split = splitAtFirstLinear(inputs.graph)!;
    assert.deepEqual(split.head.nodes.map((n) => n.op), ['flatten', 'linear']);
    assert.equal(split.tail.input.shape[0], 64);
    const cnn = await loadPathInputs([F('cnn_a.safetensors')], { data: DATA });
    assert.equal(splitAtFirstLinear(cnn.graph), undefined);
  });

  test('checkpoints of different architectures: CheckpointError naming the second', async () => {
    await assert.rejects(runInterpolation({ a: F('mlp_a.safetensors'), b: F('cnn_a.safetensors'), data: DATA, threads: 1 }), (e: Error) => e instanceof CheckpointError && e.file === F('cnn_a.safetensors') && /architecture/.test(e.message));
  });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('ckpt-lens interpolate / mli / llfc / plane', () => {
  test('interpolate --json prints alphas, loss, accuracy, barrier (and aligned only with --align)', async () => {
    const base = ['interpolate', F('mlp_a.safetensors'), F('mlp_b.safetensors'), '--data', DATA, '--backend', 'wasm', '--json'];
    const plain = await cli(...base, '--threads', '1');
    assert.equal(plain.code, 0, plain.stderr);
    const r = JSON.parse(plain.stdout) as InterpolationReport;
    assert.equal(r.alphas.length, 25);
    assertCurve(r, expected.mlp, 'cli mlp');
    assert.equal(r.aligned, undefined);
    const al = await cli(...base, '--steps', '5', '--align');
    assert.equal(al.code, 0, al.stderr);
    const ra = JSON.parse(al.stdout) as InterpolationReport;
    assert.equal(ra.alphas.length, 5);
    for (const k of ['alphas', 'loss', 'accuracy', 'barrier'] as const) assert.ok(k in ra.aligned!, k);
    for (const k of ['lossLinear', 'lossMean', 'error'] as const) assert.equal(typeof ra.aligned!.barrier[k], 'number');
  });

  test('interpolate without --json prints a table with the labelled barriers; BatchNorm switches', async () => {
    const text = await cli('interpolate', F('cnn_a.safetensors'), F('cnn_b.safetensors'), '--data', DATA, '--steps', '3', '--bn-batches', '4', '--bn-batch-size', '64', '--backend', 'wasm');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /loss barrier, linear baseline/);
    assert.match(text.stdout, /error barrier/);
    assert.match(text.stdout, /recomputed at every point/);
    const off = await cli('interpolate', F('cnn_a.safetensors'), F('cnn_b.safetensors'), '--data', DATA, '--steps', '25', '--no-bn-reset', '--backend', 'wasm', '--json');
    assert.equal(off.code, 0, off.stderr);
    assertCurve(JSON.parse(off.stdout) as InterpolationReport, expected.cnn_no_bn_reset, 'cli cnn --no-bn-reset');
  });

  test('mli, llfc and plane --json', async () => {
    const m = await cli('mli', F('mlp_init.safetensors'), F('mlp_a.safetensors'), '--data', DATA, '--steps', '11', '--backend', 'wasm', '--json');
    assert.equal(m.code, 0, m.stderr);
    const mr = JSON.parse(m.stdout) as MliReport;
    near(mr.delta, expected.mli.delta, 'cli Δ');
    const l = await cli('llfc', F('mlp_a.safetensors'), F('mlp_b.safetensors'), '--data', DATA, '--align', '--backend', 'wasm', '--json');
    assert.equal(l.code, 0, l.stderr);
    const lr = JSON.parse(l.stdout) as LlfcReport;
    assert.deepEqual(lr.alphas, [0.25, 0.5, 0.75]);
    assert.ok(lr.layers.every((x) => x.aligned && x.aligned.points.length === 3));
    const p = await cli('plane', F('mlp_a.safetensors'), F('mlp_b.safetensors'), F('mlp_c.safetensors'), '--data', DATA, '--grid', '3', '--backend', 'wasm', '--json');
    assert.equal(p.code, 0, p.stderr);
    const pr = JSON.parse(p.stdout) as PlaneReport;
    assert.equal(pr.loss.length, 3);
    assert.deepEqual(pr.points.map((x) => x.name), ['A', 'B', 'C']);
  });

  test('usage errors exit 2; bad input exits 1 with one line naming the file', async () => {
    assert.equal((await cli('interpolate', F('mlp_a.safetensors'), '--data', DATA)).code, 2);
    assert.equal((await cli('interpolate', F('mlp_a.safetensors'), F('mlp_b.safetensors'))).code, 2);
    assert.equal((await cli('plane', F('mlp_a.safetensors'), F('mlp_b.safetensors'), '--data', DATA)).code, 2);
    assert.equal((await cli('mli', F('mlp_a.safetensors'), F('mlp_b.safetensors'), '--data', DATA, '--frobnicate')).code, 2);
    const bad = await cli('interpolate', F('mlp_a.safetensors'), F('cnn_a.safetensors'), '--data', DATA, '--backend', 'wasm', '--json');
    assert.equal(bad.code, 1);
    const lines = bad.stderr.trimEnd().split('\n').filter((s) => !/tfjs backend/.test(s));
    assert.equal(lines.length, 1, bad.stderr);
    assert.ok(lines[0].includes(F('cnn_a.safetensors')), lines[0]);
  });
});

// vega-lite is ESM with top-level await: load it with import() (see charts.test.ts).
type Compile = (spec: unknown, opt?: { logger?: unknown }) => { spec: { marks?: unknown[] } };
describe('views', () => {
  let compile: Compile;
  before(async () => {
    ({ compile } = (await import('vega-lite' as string)) as { compile: Compile });
  });
  function check(view: AnalysisView): void {
    const warnings: string[] = [];
    const logger = {
      level: () => logger,
      error: (...a: unknown[]) => { throw new Error(a.join(' ')); },
      warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; },
      info: () => logger,
      debug: () => logger,
    };
    assert.ok(view.charts.length > 0);
    for (const c of view.charts) {
      compile(c.spec, { logger });
      assert.deepEqual(warnings, [], `${view.kind}/${c.id} compiled without warnings`);
      assert.ok(!JSON.stringify(c.spec).includes('"url"'), `${c.id}: data inline`);
      // Theme colours only, except black and white outlines/halos that keep markers readable on a colour map.
      assert.ok(!/"(color|fill|stroke)"\s*:\s*"#(?!000000"|ffffff")/.test(JSON.stringify(c.spec)), `${c.id}: no literal colours`);
    }
    JSON.stringify(view.report);
  }

  test('every view compiles to Vega-Lite with inline data, facts labelled with definitions', async () => {
    const a = F('mlp_a.safetensors'), b = F('mlp_b.safetensors');
    const interp = interpolationView(await runInterpolation({ a, b, data: DATA, steps: 5, align: true, threads: 1 }));
    check(interp);
    assert.ok(interp.facts.filter((f) => /barrier/.test(f.label)).every((f) => f.definition), 'barriers carry their definitions');
    assert.ok(interp.facts.some((f) => /weight-matched: loss barrier \(linear baseline\)/.test(f.label)));
    check(mliView(await runMli({ init: F('mlp_init.safetensors'), final: a, data: DATA, steps: 5, threads: 1 })));
    check(llfcView(await runLlfc({ a, b, data: DATA, align: true, limit: 64 })));
    const plane = planeView(await runPlane({ a, b, c: F('mlp_c.safetensors'), data: DATA, grid: 4, threads: 1 }));
    check(plane);
    assert.ok(plane.charts[0].spec.layer);
  });

  test('contour segments of a plane cross the level where the function does', () => {
    const xs = [0, 1, 2], ys = [0, 1];
    const f = [[0, 1, 2], [0, 1, 2]]; // f = x: the level 0.5 is the vertical line x = 0.5
    const segs = contourSegments(xs, ys, f, [0.5]);
    assert.equal(segs.length, 1);
    assert.deepEqual([segs[0].x, segs[0].x2], [0.5, 0.5]);
    near(contourLevels(1, 100, 1)[0], 10, 'geometric middle level', 1e-12);
  });
});

// The science check on a real pair: two Fashion-MNIST MLPs (784-512-512-512-10, seeds 0 and 1;
// test/fixtures/fmnist/train_fmnist_pair.py). Naive interpolation has a large barrier; after
// weight matching it is close to zero (Git Re-Basin's MNIST MLP result).
describe('Fashion-MNIST MLP pair', () => {
  const fmnist = findFashionMnist();
  const a = fixture('fmnist', 'mlp_seed0.safetensors');
  const b = fixture('fmnist', 'mlp_seed1.safetensors');
  const missing = !fmnist ? 'Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)' : !existsSync(a) || !existsSync(b) ? `the pair is missing (${a}; make it with test/fixtures/fmnist/train_fmnist_pair.py)` : undefined;
  test('naive loss barrier ≥ 1 nat; after weight matching ≤ 0.05; LLFC distance falls', { skip: missing }, async () => {
    // Weight matching once (written as a checkpoint), then plain lines A→B and A→π(B); α = 0, ½, 1
    // on 2,000 test images keeps the test short (the report's figures use 25 α and all 10,000).
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-interp-'));
    try {
      const matched = join(dir, 'mlp_seed1_aligned.safetensors');
      await alignCheckpoints(a, b, matched, { seed: 0 });
      const line = (to: string) => runInterpolation({ a, b: to, data: fmnist!, steps: 3, limit: 2000, workerScript: WORKER });
      const naive = await line(b);
      const aligned = await line(matched);
      assert.ok(naive.barrier.lossLinear >= 1, `naive barrier ${naive.barrier.lossLinear}`);
      assert.ok(aligned.barrier.lossLinear <= 0.05, `aligned barrier ${aligned.barrier.lossLinear}`);
      const llfc = (to: string) => runLlfc({ a, b: to, data: fmnist!, alphas: [0.5], limit: 1000 });
      const [ln, lm] = [await llfc(b), await llfc(matched)];
      ln.layers.forEach((layer, i) => assert.ok(lm.layers[i].naive.points[0].dist.mean < layer.naive.points[0].dist.mean, `${layer.layer}: LLFC distance falls after matching`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
