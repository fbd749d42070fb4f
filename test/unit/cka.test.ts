// Linear and debiased CKA (src/analysis/sets/ckaMoments.ts, ckaAnalysis.ts) against numpy's Gram
// form of Kornblith's reference (test/fixtures/cka/make_cka_fixtures.py) within 1e-6, on stored
// feature pairs and on the capture points of two Fashion-MNIST MLPs; the invariances CKA must
// have (orthogonal transforms, isotropic scaling, unit permutations → 1; independent features
// → ≈ 0 debiased); streaming over batches = one pass; the run mode, the CLI's JSON, the view.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readTensor } from '../../src/analysis/core/tensorData';
import { findFashionMnist } from '../../src/analysis/data/dataset';
import { openNpz } from '../../src/analysis/formats/numpy';
import { initBackend } from '../../src/analysis/model/backend';
import { type CkaReport, runCka } from '../../src/analysis/sets/ckaAnalysis';
import { CrossMoments, ckaFromMoments, linearCka } from '../../src/analysis/sets/ckaMoments';
import { mulberry32 } from '../../src/analysis/core/random';
import { ckaView } from '../../src/analysis/views/ckaView';
import { REPO_ROOT, fixture } from '../helpers';
import { checkView } from '../viewCheck';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
interface Matrix { a: string[]; b: string[]; linear: number[][]; debiased: number[][] }
const expected = JSON.parse(readFileSync(fixture('cka', 'expected.json'), 'utf8')) as {
  cases: Record<string, { linear: number; debiased: number }>; limit: number; pair: Matrix; self: Matrix;
};
const fmnist = findFashionMnist();
const skipFmnist = fmnist ? false : 'Fashion-MNIST is not installed (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist)';
const MODEL = (n: string): string => fixture('basins', `${n}.safetensors`);

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}
function randomMatrix(n: number, p: number, seed: number): Float64Array {
  const rand = mulberry32(seed);
  return Float64Array.from({ length: n * p }, () => gaussian(rand));
}
/** A random p×p orthogonal matrix (Gram–Schmidt of a Gaussian one). */
function orthogonal(p: number, seed: number): number[][] {
  const g = randomMatrix(p, p, seed);
  const q: number[][] = [];
  for (let i = 0; i < p; i++) {
    const v = Array.from({ length: p }, (_, k) => g[i * p + k]);
    for (const u of q) {
      const d = u.reduce((s, x, k) => s + x * v[k], 0);
      for (let k = 0; k < p; k++) v[k] -= d * u[k];
    }
    const nrm = Math.hypot(...v);
    q.push(v.map((x) => x / nrm));
  }
  return q;
}
function times(x: Float64Array, n: number, m: number[][]): Float64Array {
  const p = m.length, q = m[0].length;
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++) for (let a = 0; a < p; a++) for (let b = 0; b < q; b++) out[i * q + b] += x[i * p + a] * m[a][b];
  return out;
}

before(async () => {
  await initBackend('wasm');
});

describe('CKA equals numpy (Kornblith\'s Gram form) within 1e-6', () => {
  test('stored feature pairs: related, independent, sparse (ReLU), tiny (n = 6)', async () => {
    const npz = await openNpz(fixture('cka', 'features.npz'));
    try {
      const get = async (name: string) => {
        const t = npz.tensors.find((u) => u.name === name)!;
        return { values: await readTensor(t), n: t.shape[0] };
      };
      for (const [name, want] of Object.entries(expected.cases)) {
        const x = await get(`x_${name}`), y = await get(`y_${name}`);
        const got = linearCka(x.values, y.values, x.n);
        assert.ok(Math.abs(got.linear - want.linear) <= 1e-6, `${name} linear ${got.linear} vs ${want.linear}`);
        assert.ok(Math.abs(got.debiased! - want.debiased) <= 1e-6, `${name} debiased ${got.debiased} vs ${want.debiased}`);
      }
    } finally {
      await npz.close();
    }
  });
  test('streaming over uneven batches gives the one-pass value', () => {
    const n = 97, p = 7, q = 5;
    const x = randomMatrix(n, p, 1), y = randomMatrix(n, q, 2);
    const xy = new CrossMoments(p, q), xx = new CrossMoments(p, p), yy = new CrossMoments(q, q);
    for (let s = 0; s < n; s += 13) {
      const e = Math.min(n, s + 13);
      xy.add(x.subarray(s * p, e * p), y.subarray(s * q, e * q), e - s);
      xx.add(x.subarray(s * p, e * p), x.subarray(s * p, e * p), e - s);
      yy.add(y.subarray(s * q, e * q), y.subarray(s * q, e * q), e - s);
    }
    const a = ckaFromMoments(xy, xx, yy), b = linearCka(x, y, n);
    assert.ok(Math.abs(a.linear - b.linear) < 1e-12 && Math.abs(a.debiased! - b.debiased!) < 1e-12);
  });
});

describe('CKA invariances', () => {
  const n = 300, p = 20;
  const x = randomMatrix(n, p, 11);
  const y = times(x, n, Array.from({ length: p }, (_, a) => Array.from({ length: 12 }, (_, b) => Math.sin(a * 12 + b))));
  test('CKA(X, X) = 1, both estimators', () => {
    const v = linearCka(x, x, n);
    assert.ok(Math.abs(v.linear - 1) < 1e-12 && Math.abs(v.debiased! - 1) < 1e-12);
  });
  test('orthogonal transform, isotropic scaling and unit permutation of one side leave CKA unchanged', () => {
    const base = linearCka(x, y, n);
    const perm = Array.from({ length: p }, (_, i) => (i * 7) % p);
    const variants: [string, Float64Array][] = [
      ['orthogonal', times(x, n, orthogonal(p, 5))],
      ['scaled ×37.5', x.map((v) => v * 37.5)],
      ['permuted units', Float64Array.from({ length: n * p }, (_, k) => x[Math.floor(k / p) * p + perm[k % p]])],
      ['shifted', x.map((v) => v + 3)],
    ];
    for (const [label, xt] of variants) {
      const v = linearCka(xt, y, n);
      assert.ok(Math.abs(v.linear - base.linear) < 1e-9, `${label}: linear ${v.linear} vs ${base.linear}`);
      assert.ok(Math.abs(v.debiased! - base.debiased!) < 1e-9, `${label}: debiased ${v.debiased} vs ${base.debiased}`);
      assert.ok(Math.abs(linearCka(xt, x, n).linear - 1) < 1e-9, `${label}: CKA with the original is 1`);
    }
  });
  test('independent random features: debiased ≈ 0 while the biased estimator is not', () => {
    const a = randomMatrix(100, 80, 21), b = randomMatrix(100, 80, 22);
    const v = linearCka(a, b, 100);
    assert.ok(Math.abs(v.debiased!) < 0.02, `debiased ${v.debiased}`);
    assert.ok(v.linear > 0.3, `linear ${v.linear} (biased upward at p close to n)`);
  });
  test('fewer than 4 examples: the debiased estimator is undefined (null), never NaN', () => {
    const v = linearCka(randomMatrix(3, 2, 1), randomMatrix(3, 2, 2), 3);
    assert.equal(v.debiased, null);
    assert.ok(Number.isFinite(v.linear));
  });
});

describe('CKA between capture points of Fashion-MNIST MLPs', { skip: skipFmnist }, () => {
  let pair: CkaReport;
  before(async () => {
    pair = await runCka({ paths: [MODEL('child_a'), MODEL('seed_1')], data: fmnist!, limit: expected.limit, batchSize: 64 });
  });
  test('A × B equals numpy on PyTorch\'s features within 1e-6', () => {
    assert.deepEqual(pair.a, expected.pair.a);
    assert.deepEqual(pair.b, expected.pair.b);
    for (const k of ['linear', 'debiased'] as const) {
      pair[k].forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v! - expected.pair[k][i][j]) <= 1e-6, `${k}[${i}][${j}] ${v} vs ${expected.pair[k][i][j]}`)));
    }
  });
  test('self-similarity: diagonal 1, symmetric, equals numpy', async () => {
    const self = await runCka({ paths: [MODEL('child_a')], data: fmnist!, limit: expected.limit });
    assert.equal(self.mode, 'self');
    self.linear.forEach((row, i) => {
      assert.ok(Math.abs(row[i]! - 1) < 1e-9);
      row.forEach((v, j) => {
        assert.ok(Math.abs(v! - self.linear[j][i]!) < 1e-12);
        assert.ok(Math.abs(v! - expected.self.linear[i][j]) <= 1e-6);
        assert.ok(Math.abs(self.debiased[i][j]! - expected.self.debiased[i][j]) <= 1e-6);
      });
    });
  });
  test('run mode: each checkpoint against the last, the last against itself is 1', async () => {
    const r = await runCka({ paths: [MODEL('parent'), MODEL('child_a')], mode: 'run', data: fmnist!, limit: 200 });
    assert.deepEqual(r.a, ['parent', 'child_a']);
    assert.equal(r.reference, 'child_a');
    r.linear[1].forEach((v) => assert.ok(Math.abs(v! - 1) < 1e-9));
    r.linear[0].forEach((v) => assert.ok(v! > 0.5 && v! < 1));
    await checkView(ckaView(r));
  });
  test('CLI --json prints {a, b, linear, debiased}', async () => {
    const { stdout } = await run('node', [CLI, 'cka', MODEL('child_a'), MODEL('seed_1'), '--data', fmnist!, '--limit', '100', '--json']);
    const r = JSON.parse(stdout) as CkaReport;
    assert.deepEqual(r.a, ['0', '2', '4']);
    assert.equal(r.linear.length, 3);
    assert.equal(r.debiased[0].length, 3);
  });
  test('the view compiles', async () => {
    await checkView(ckaView(pair));
  });
});
