import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { computeTensorStats, type TensorStats } from '../../src/analysis/stats/tensorStats';
import { readSlice2D } from '../../src/analysis/core/tensorData';
import { MemorySource } from '../../src/analysis/io/byteSource';
import { contiguousStrides, numelOf, type TensorInfo } from '../../src/analysis/core/checkpoint';
import type { DType } from '../../src/analysis/core/dtype';
import { close, fixture } from '../helpers';
import { assertStats } from '../expectations';

interface Case { file: string; stats: TensorStats }
const cases = JSON.parse(readFileSync(fixture('stats', 'stats.expected.json'), 'utf8')) as Record<string, Case>;

function tensorOver(bytes: Uint8Array, dtype: DType, shape: number[], name = 't', strides?: number[], elementOffset = 0): TensorInfo {
  const size = dtype === 'F64' ? 8 : dtype === 'F32' ? 4 : 2;
  const numel = numelOf(shape);
  return {
    name, dtype, shape, numel, nbytes: numel * size,
    location: { source: new MemorySource(bytes, 'mem'), storageByteOffset: 0, storageBytes: bytes.byteLength, elementOffset, strides: strides ?? contiguousStrides(shape), byteOrder: 'little' },
  };
}


for (const [name, c] of Object.entries(cases)) {
  const dtype: DType = c.file.endsWith('.f32') ? 'F32' : 'F64';
  const bytes = new Uint8Array(readFileSync(fixture('stats', c.file)));
  const n = bytes.byteLength / (dtype === 'F32' ? 4 : 8);
  test(`stats match numpy: ${name}`, async () => {
    assertStats(await computeTensorStats(tensorOver(bytes, dtype, [n])), c.stats, name);
  });
  test(`streamed stats (two passes, small chunks) match numpy: ${name}`, async () => {
    const s = await computeTensorStats(tensorOver(bytes, dtype, [n]), { chunkBytes: 4096 });
    assertStats(s, c.stats, name);
  });
}

test('a transposed (strided) view gives the statistics of its values and the right slice', async () => {
  // storage = 0..11 as a 3x4 matrix; the view is its transpose, 4x3 with strides [1, 4].
  const vals = Float32Array.from({ length: 12 }, (_, i) => i);
  const t = tensorOver(new Uint8Array(vals.buffer), 'F32', [4, 3], 'w.T', [1, 4]);
  const s = await computeTensorStats(t);
  assert.equal(s.min, 0);
  assert.equal(s.max, 11);
  assert.ok(close(s.mean, 5.5));
  const sl = await readSlice2D(t, 10, 10);
  assert.deepEqual(Array.from(sl.values), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
});

test('a view reaching outside its storage is an error, not a wrong read', async () => {
  const vals = new Float32Array(6);
  const t = tensorOver(new Uint8Array(vals.buffer), 'F32', [2, 3], 'bad', undefined, 2);
  await assert.rejects(computeTensorStats(t), /reaches outside its storage/);
});

test('readSlice2D downsamples rows and averages columns', async () => {
  const R = 300, C = 1000;
  const vals = Float32Array.from({ length: R * C }, (_, i) => Math.floor(i / C) * 10 + (i % C));
  const t = tensorOver(new Uint8Array(vals.buffer), 'F32', [R, C]);
  const sl = await readSlice2D(t, 100, 10, { chunkBytes: 1024 });
  assert.equal(sl.rows, 100);
  assert.equal(sl.cols, 10);
  assert.equal(sl.colStep, 100);
  assert.deepEqual(sl.rowIndex.slice(0, 3), [0, 3, 6]);
  // Row 3, column bin 2 = mean of columns 200..299 of source row 9 = 90 + 249.5.
  assert.equal(sl.values[1 * 10 + 2], 30 + 249.5);
});

test('cancellation stops a long computation', async () => {
  const vals = new Float32Array(1 << 20);
  const t = tensorOver(new Uint8Array(vals.buffer), 'F32', [vals.length]);
  let calls = 0;
  await assert.rejects(computeTensorStats(t, { chunkBytes: 4096, isCancelled: () => ++calls > 3 }), /cancelled/);
  assert.ok(calls < 10);
});

test('large finite float64 values (±1e300) give finite std and l2, not an overflow to null (sums scaled)', async () => {
  // Expected from numpy on x / 1e300, times 1e300 (numpy's own std and norm overflow to inf here).
  const small = new Float64Array([1e300, -2e300, 3e300, 0.5e300, NaN]);
  const s = await computeTensorStats(tensorOver(new Uint8Array(small.buffer), 'F64', [5]));
  assert.equal(s.nan, 1);
  assert.ok(close(s.mean, 6.25e299, 1e-12) && close(s.std, 2.056493779875511e300, 1e-12) && close(s.l2, 3.7749172176353754e300, 1e-12), JSON.stringify(s));
  // 300 000 values over many chunks: ordinary values first, then values scaled by 1e300.
  const a = new Float64Array(300_000);
  for (let i = 0; i < a.length; i++) a[i] = (((i * 7919) % 1000) - 500) / 100 * (i >= 150_000 ? 1e300 : 1);
  for (const chunkBytes of [undefined, 4096]) {
    const b = await computeTensorStats(tensorOver(new Uint8Array(a.buffer), 'F64', [a.length]), { chunkBytes });
    assert.ok(close(b.mean, -2.5000000000000022e297, 1e-9), `mean ${b.mean}`);
    assert.ok(close(b.std, 2.0412453647080575e300, 1e-9), `std ${b.std}`);
    assert.ok(close(b.l2, 1.1180351067833247e303, 1e-9), `l2 ${b.l2}`);
    assert.equal(b.min, -5e300);
    assert.equal(b.zeros, 300);
  }
});
