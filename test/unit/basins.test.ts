// Barrier matrix and basins (src/analysis/sets) against PyTorch, scikit-learn and scipy
// (test/fixtures/basins/make_basins_fixtures.py): Juneja et al.'s bump height on hand-made
// curves and against their loop; every matrix entry (naive and weight-matched) within 1e-5 of
// PyTorch's pairwise barriers on Fashion-MNIST; spectral labels equal sklearn's
// SpectralClustering up to renaming; single-linkage basins equal scipy's fcluster; the science
// check (children share a basin, independent seeds do not, until weight matching); streaming;
// the CLI's JSON; the view.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findFashionMnist } from '../../src/analysis/data/dataset';
import { initBackend } from '../../src/analysis/model/backend';
import { type BasinsProgress, type BasinsReport, runBasins } from '../../src/analysis/sets/barrierMatrix';
import { bumpHeight } from '../../src/analysis/sets/bumpHeight';
import { canonicalLabels, gaussianAffinity, spectralClustering, spectralEmbedding } from '../../src/analysis/sets/spectralClustering';
import { symmetricEigen } from '../../src/analysis/sets/symmetricEigen';
import { thresholdBasins } from '../../src/analysis/sets/thresholdBasins';
import { basinsView } from '../../src/analysis/views/basinsView';
import { REPO_ROOT, fixture } from '../helpers';
import { checkView } from '../viewCheck';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const WORKER = join(REPO_ROOT, 'dist', 'pathWorker.js');
const F = (name: string): string => fixture('basins', name);

interface Matrix { loss: number[][]; error: number[][]; spectral: number[]; curves: Record<string, { loss: number[]; error: number[] }> }
const expected = JSON.parse(readFileSync(F('expected.json'), 'utf8')) as {
  limit: number; points: number; names: string[];
  models: Record<string, { testLoss: number; testAcc: number }>;
  naive: Matrix; aligned: Matrix;
  spectralCases: { seed: number; d: number[][]; labels: number[]; single: Record<string, number[]> }[];
};

const fmnist = findFashionMnist();
const skipFmnist = fmnist ? false : 'Fashion-MNIST is not installed (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist)';
const MODELS = expected.names.map((n) => F(`${n}.safetensors`));

before(async () => {
  await initBackend('wasm');
});

/** The authors' loop, transcribed literally (simple_impl over barrier_height). */
function referenceBump(losses: number[]): number {
  const height = (l: number[]): number => (l.length <= 2 ? 0 : Math.max(0, ...l.map((v, i) => v - ((l.length - i - 1) * l[0] + i * l[l.length - 1]) / (l.length - 1))));
  let best = 0;
  for (let i = 0; i <= losses.length; i++) for (let j = 0; j <= losses.length; j++) best = Math.max(best, height(losses.slice(i, j)));
  return best;
}

describe('bump height (Juneja et al.)', () => {
  test('0 for monotone and convex curves, the bump for a hump, and interior bumps the chord misses', () => {
    assert.equal(bumpHeight([3, 2, 1, 0.5]), 0);
    assert.equal(bumpHeight([1, 0.5, 0.4, 0.5, 1]), 0);
    assert.ok(Math.abs(bumpHeight([0, 1, 0]) - 1) < 1e-15);
    // The chord from 0 to 10 sits above the bump at index 3; the stretch 2..4 exposes it.
    const v = [0, 1, 2, 2.5, 4, 5, 6, 7, 8, 10];
    assert.ok(bumpHeight(v) > 0.2, `${bumpHeight(v)}`);
  });
  test('equals the authors\' loop on random curves', () => {
    let s = 7;
    const rand = (): number => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let t = 0; t < 200; t++) {
      const c = Array.from({ length: 10 }, () => rand() * 3);
      assert.ok(Math.abs(bumpHeight(c) - referenceBump(c)) < 1e-12);
    }
  });
});

describe('spectral clustering = sklearn SpectralClustering(2, precomputed, random_state=42)', () => {
  test('Jacobi eigenpairs reconstruct the matrix', () => {
    const m = [[2, -1, 0.5], [-1, 3, 0.25], [0.5, 0.25, 1]];
    const { values, vectors } = symmetricEigen(m);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      const r = values.reduce((s, l, k) => s + l * vectors[k][i] * vectors[k][j], 0);
      assert.ok(Math.abs(r - m[i][j]) < 1e-12);
    }
    assert.ok(values[0] <= values[1] && values[1] <= values[2]);
  });
  test('the embedding of a two-block affinity separates the blocks', () => {
    const d = [[0, 0.1, 2, 2], [0.1, 0, 2, 2], [2, 2, 0, 0.1], [2, 2, 0.1, 0]];
    const e = spectralEmbedding(gaussianAffinity(d), 2);
    assert.ok(Math.abs(e[0][1] - e[1][1]) < 1e-9 && Math.abs(e[0][1] - e[2][1]) > 0.1);
  });
  for (const c of expected.spectralCases) {
    test(`labels equal sklearn's up to renaming (random block matrix, seed ${c.seed}, ${c.d.length} models)`, () => {
      assert.deepEqual(spectralClustering(c.d), canonicalLabels(c.labels));
    });
    test(`single linkage equals scipy fcluster (seed ${c.seed})`, () => {
      for (const [t, labels] of Object.entries(c.single)) assert.deepEqual(thresholdBasins(c.d, Number(t)), canonicalLabels(labels), `t = ${t}`);
    });
  }
  test('the fixture matrices cluster as sklearn clusters them', () => {
    assert.deepEqual(spectralClustering(expected.naive.loss), canonicalLabels(expected.naive.spectral));
    assert.deepEqual(spectralClustering(expected.aligned.loss), canonicalLabels(expected.aligned.spectral));
  });
});

describe('barrier matrix on Fashion-MNIST MLPs (parent → two children; two seeds)', { skip: skipFmnist }, () => {
  let report: BasinsReport;
  const partials: BasinsProgress[] = [];
  before(async () => {
    report = await runBasins({ paths: MODELS, data: fmnist!, limit: expected.limit, steps: expected.points, align: true, threshold: 0.15, threads: 2, workerScript: WORKER }, {
      onPartial: (p) => partials.push(p as BasinsProgress),
    });
  });
  test('every entry equals PyTorch\'s pairwise bump height within 1e-5, naive and weight-matched', () => {
    for (const [key, got] of [['naive', report], ['aligned', report.aligned!]] as const) {
      const want = expected[key];
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
        assert.ok(Math.abs(got.loss[i][j] - want.loss[i][j]) <= 1e-5, `${key} loss[${i}][${j}] ${got.loss[i][j]} vs ${want.loss[i][j]}`);
        assert.ok(Math.abs(got.error[i][j] - want.error[i][j]) <= 1e-6, `${key} error[${i}][${j}] ${got.error[i][j]} vs ${want.error[i][j]}`);
      }
      for (const c of got.curves) {
        const w = want.curves[`${c.i},${c.j}`];
        c.loss.forEach((v, k) => assert.ok(Math.abs(v - w.loss[k]) <= 1e-5, `${key} curve ${c.i},${c.j} α${k}: ${v} vs ${w.loss[k]}`));
      }
    }
  });
  test('science: the children share a basin and the seeds stand apart naive; after weight matching the seeds join', () => {
    assert.deepEqual(report.basins, [['child_a', 'child_b'], ['seed_1', 'seed_2']]);
    assert.deepEqual(report.threshold.basins, [['child_a', 'child_b'], ['seed_1'], ['seed_2']]);
    assert.deepEqual(report.aligned!.threshold.basins, [['child_a', 'child_b', 'seed_1', 'seed_2']]);
    assert.ok(report.loss[0][1] < 0.01 && report.loss[2][3] > 0.5);
    assert.ok(report.aligned!.loss[2][3] < report.loss[2][3] / 4);
  });
  test('the matrix fills in pair by pair', () => {
    assert.ok(partials.length >= 6);
    const last = partials[partials.length - 1];
    assert.equal(last.pairsDone, last.pairsTotal);
    assert.ok(partials[0].loss.flat().some((v) => v === null));
  });
  test('the views compile (partial and final), heatmaps ordered by basin', async () => {
    await checkView(basinsView(partials[0]));
    const v = basinsView(report);
    await checkView(v);
    assert.ok(v.charts.some((c) => c.id === 'basins-aligned-loss'));
    assert.equal(v.tables[0].rows.length, 4);
  });
  test('an out-of-distribution set gives a second matrix and each model\'s score (same data: same matrix)', async () => {
    const r = await runBasins({ paths: MODELS.slice(0, 3), data: fmnist!, ood: fmnist!, limit: 100, steps: 4, threads: 1 });
    assert.ok(r.ood);
    assert.deepEqual(r.ood.loss, r.loss);
    assert.equal(r.ood.models.length, 3);
    await checkView(basinsView(r));
  });
  test('cancelling stops the matrix', async () => {
    let calls = 0;
    await assert.rejects(runBasins({ paths: MODELS, data: fmnist!, limit: 100, threads: 1 }, { isCancelled: () => ++calls > 20 }), /cancel/i);
  });
  test('CLI --json prints the shape the issue asks for', async () => {
    const { stdout } = await run('node', [CLI, 'basins', ...MODELS, '--data', fmnist!, '--limit', '200', '--align', '--threads', '1', '--json']);
    const r = JSON.parse(stdout) as BasinsReport;
    assert.deepEqual(r.names, expected.names);
    assert.equal(r.loss.length, 4);
    assert.equal(r.error[0].length, 4);
    assert.ok(Array.isArray(r.basins) && r.basins.flat().length === 4);
    assert.match(r.method, /SpectralClustering/);
    assert.equal(r.aligned!.loss.length, 4);
  });
});
