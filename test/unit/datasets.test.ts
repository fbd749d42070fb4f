// Dataset loading against the files numpy wrote (test/fixtures/datasets/make_dataset_fixtures.py):
// IDX raw and gzip, every IDX element type, the MNIST folder layout and its splits, .npz x/y and
// x_train/x_test, safetensors, .npy with separate labels; then fitting examples to models
// (uint8 scaling, flattening, [H, W] and channels-last images to NCHW, token ids).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../../src/analysis/core/errors';
import { type Dataset, loadDataset, subset } from '../../src/analysis/data/dataset';
import { readIdx } from '../../src/analysis/data/idx';
import { batches, inputBatch, inputSamples, planInputs } from '../../src/analysis/data/inputs';
import { initBackend } from '../../src/analysis/model/backend';
import type { ModelGraph } from '../../src/analysis/model/ir';
import { recognize } from '../../src/analysis/model/recognize';
import { fixture } from '../helpers';

const DIR = fixture('datasets');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, { shape: number[]; dtype: string; x: number[]; y?: number[] }>;

function assertMatches(ds: Dataset, key: string): void {
  const e = expected[key];
  assert.deepEqual(ds.x.shape, e.shape, `${key} shape`);
  assert.equal(ds.x.dtype, e.dtype, `${key} dtype`);
  assert.equal(ds.n, e.shape[0]);
  assert.deepEqual(Array.from(ds.x.values), e.x.map((v) => (e.dtype === 'F32' ? Math.fround(v) : v)), `${key} values`);
  if (e.y) assert.deepEqual(Array.from(ds.y ?? []), e.y, `${key} labels`);
  else assert.equal(ds.y, undefined);
}

before(async () => {
  await initBackend('wasm');
});

for (const name of ['tiny-images-idx3-ubyte', 'tiny-images-idx3-ubyte.gz']) {
  test(`IDX ${name.endsWith('.gz') ? 'gzip' : 'raw'}: images with the sibling labels file`, async () => {
    assertMatches(await loadDataset(join(DIR, name)), name);
  });
}

test('IDX element types: big-endian float32 and int16', async () => {
  for (const name of ['floats-idx2', 'shorts-idx1']) {
    const a = await readIdx(join(DIR, name));
    const e = expected[name];
    assert.deepEqual(a.shape, e.shape);
    assert.equal(a.dtype, e.dtype);
    assert.deepEqual(Array.from(a.values), e.x.map((v) => (e.dtype === 'F32' ? Math.fround(v) : v)));
  }
});

test('a folder in the MNIST layout, test split by default, train on request', async () => {
  const test_ = await loadDataset(join(DIR, 'mnist'));
  assertMatches(test_, 'mnist:test');
  assert.match(test_.name, /test split/);
  assertMatches(await loadDataset(join(DIR, 'mnist'), { split: 'train' }), 'mnist:train');
  await assert.rejects(loadDataset(DIR), (e: Error) => e instanceof CheckpointError && e.message.startsWith(DIR) && /MNIST layout/.test(e.message));
});

test('.npz with x and y, with x_train/x_test splits; safetensors; .npy with --labels', async () => {
  assertMatches(await loadDataset(join(DIR, 'xy.npz')), 'xy.npz');
  assertMatches(await loadDataset(join(DIR, 'splits.npz')), 'splits.npz:test');
  assertMatches(await loadDataset(join(DIR, 'splits.npz'), { split: 'train' }), 'splits.npz:train');
  assertMatches(await loadDataset(join(DIR, 'hwc.safetensors')), 'hwc.safetensors');
  assertMatches(await loadDataset(join(DIR, 'inputs.npy'), { labels: join(DIR, 'labels.npy') }), 'inputs.npy');
  assertMatches(await loadDataset(join(DIR, 'tokens.npz')), 'tokens.npz');
  // Labels from an IDX file for inputs in another format.
  const ds = await loadDataset(join(DIR, 'xy.npz'));
  assert.equal(ds.n, 5);
});

test('dataset errors name the file and the problem', async () => {
  await assert.rejects(loadDataset(join(DIR, 'inputs.npy'), { labels: join(DIR, 'tiny-labels-idx1-ubyte') }), (e: Error) => e.message.includes('3 inputs but 5 labels'));
  await assert.rejects(loadDataset(join(DIR, 'xy.npz'), { labels: join(DIR, 'labels.npy') }), (e: Error) => e instanceof CheckpointError && e.message.includes('already holds labels'));
  const tmp = mkdtempSync(join(tmpdir(), 'ds-'));
  const cut = join(tmp, 'cut-images-idx3-ubyte');
  writeFileSync(cut, readFileSync(join(DIR, 'tiny-images-idx3-ubyte')).subarray(0, 40));
  await assert.rejects(loadDataset(cut), (e: Error) => e instanceof CheckpointError && e.message.startsWith(cut) && /truncated/.test(e.message));
  await assert.rejects(loadDataset(join(DIR, 'missing.npz')), (e: Error) => e.message.includes('missing.npz'));
});

// Graphs to fit data to, recognised from made-up state dicts.
const mlp = (inF: number): ModelGraph => recognize('m.pt', [{ name: 'fc.weight', shape: [3, inF] }]);
const cnn = (c: number, side: number): ModelGraph =>
  recognize('c.pt', [{ name: 'conv.weight', shape: [2, c, 3, 3] }, { name: 'fc.weight', shape: [3, 2 * side * side] }], { arch: { convPadding: 'same', poolAfter: [], inputShape: [c, side, side] } });

test('uint8 images are scaled to [0, 1] and flattened for an MLP', async () => {
  const ds = await loadDataset(join(DIR, 'xy.npz'));
  const plan = planInputs(ds, mlp(12));
  assert.deepEqual(plan.exampleShape, [12]);
  const x = inputBatch(ds, plan, 1, 3);
  assert.deepEqual(x.shape, [2, 12]);
  const got = await x.data();
  const want = expected['xy.npz'].x.slice(12, 36).map((v) => Math.fround(v / 255));
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-7));
  x.dispose();
});

test('[H, W] images get a channel axis; channels-last images are transposed to NCHW', async () => {
  const idx = await loadDataset(join(DIR, 'tiny-images-idx3-ubyte.gz'));
  assert.throws(() => planInputs(idx, cnn(1, 4)), (e: Error) => e instanceof CheckpointError && /examples of shape \[4,3\] do not fit/.test(e.message));
  const square = subset(await loadDataset(join(DIR, 'hwc.safetensors')), 1, 2);
  const plan = planInputs(square, cnn(3, 2));
  assert.equal(plan.fromHwc, true);
  assert.deepEqual(plan.exampleShape, [3, 2, 2]);
  const x = inputBatch(square, plan, 0, 2);
  const got = await x.data();
  const src = expected['hwc.safetensors'].x.slice(12);
  // NCHW[b, c, h, w] = NHWC[b, h, w, c]
  for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) for (let h = 0; h < 2; h++) for (let w = 0; w < 2; w++) {
    assert.equal(got[((b * 3 + c) * 2 + h) * 2 + w], Math.fround(src[((b * 2 + h) * 2 + w) * 3 + c]));
  }
  x.dispose();

  const gray = await loadDataset(join(DIR, 'mnist'));
  const g = recognize('c.pt', [{ name: 'conv.weight', shape: [2, 1, 3, 3] }, { name: 'fc.weight', shape: [3, 24] }], { inputHint: gray.x.shape.slice(1), arch: { convPadding: 'same', poolAfter: [] } });
  const p = planInputs(gray, g);
  assert.deepEqual(p.exampleShape, [1, 4, 3]);
  assert.equal(p.scale, 1 / 255);
});

test('token ids stay integers for language models; batches cover the dataset', async () => {
  const ds = await loadDataset(join(DIR, 'tokens.npz'));
  const gpt = recognize('g.pt', [
    { name: 'wte.weight', shape: [14, 8] }, { name: 'wpe.weight', shape: [8, 8] },
    ...['ln_1', 'ln_2', 'ln_f'].map((n) => ({ name: n === 'ln_f' ? 'ln_f.weight' : `h.0.${n}.weight`, shape: [8] })),
    { name: 'h.0.attn.c_attn.weight', shape: [24, 8] }, { name: 'h.0.attn.c_proj.weight', shape: [8, 8] },
    { name: 'h.0.mlp.c_fc.weight', shape: [32, 8] }, { name: 'h.0.mlp.c_proj.weight', shape: [8, 32] },
  ], { arch: { nHead: 2 } });
  const plan = planInputs(ds, gpt);
  assert.equal(plan.tokens, true);
  assert.equal(plan.scale, 1);
  const seen: number[] = [];
  for (const b of batches(ds, plan, { batchSize: 3 })) {
    assert.equal(b.x.dtype, 'int32');
    seen.push(...(await b.x.data()));
    assert.equal(b.y, undefined);
    b.x.dispose();
  }
  assert.deepEqual(seen, expected['tokens.npz'].x);
  const short = { ...gpt, input: { ...gpt.input, shape: [4] } };
  assert.throws(() => planInputs(ds, short), /sequences of 5 tokens exceed the model's 4 positions/);
  const floats = await loadDataset(join(DIR, 'splits.npz'));
  assert.throws(() => planInputs(floats, gpt), /token ids must be whole numbers/);
});

test('labels batches are int32 and match', async () => {
  const ds = await loadDataset(join(DIR, 'splits.npz'), { split: 'train' });
  const plan = planInputs(ds, mlp(4));
  const ys: number[] = [];
  for (const b of batches(ds, plan, { batchSize: 4 })) {
    assert.equal(b.y!.dtype, 'int32');
    ys.push(...(await b.y!.data()));
    tf.dispose([b.x, b.y!]);
  }
  assert.deepEqual(ys, expected['splits.npz:train'].y);
});

test('input samples: whole batches, in order or shuffled reproducibly', async () => {
  const ds = await loadDataset(join(DIR, 'splits.npz'), { split: 'train' });
  const plan = planInputs(ds, mlp(4));
  const rows = async (seed?: number): Promise<number[][]> => {
    const out: number[][] = [];
    for (const t of inputSamples(ds, plan, { batchSize: 2, numBatches: 3, seed })) {
      assert.deepEqual(t.shape, [2, 4]);
      const v = Array.from(await t.data());
      for (let r = 0; r < 2; r++) out.push(v.slice(r * 4, r * 4 + 4));
      t.dispose();
    }
    return out;
  };
  const want = expected['splits.npz:train'].x.map(Math.fround);
  const rowOf = (i: number): number[] => want.slice(i * 4, i * 4 + 4);
  assert.deepEqual(await rows(), [0, 1, 2, 3, 4, 5].map(rowOf));
  const a = await rows(7);
  assert.deepEqual(a, await rows(7));
  assert.notDeepEqual(a, await rows());
  assert.deepEqual([...a].sort(), [0, 1, 2, 3, 4, 5].map(rowOf).sort(), 'a permutation of the examples');
});
