// Comparisons against the PyTorch/numpy-made `*.expected.json` files, shared by the tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Checkpoint, TensorInfo } from '../src/analysis/core/checkpoint';
import { isComplex } from '../src/analysis/core/dtype';
import { tensorChunks } from '../src/analysis/core/tensorData';
import { computeTensorStats } from '../src/analysis/stats/tensorStats';
import type { TensorStats } from '../src/analysis/stats/tensorStats';
import { close } from './helpers';

/** Statistics within 1e-6 relative of the reference; counts and histogram bins exact. */
export function assertStats(got: TensorStats, want: TensorStats, label: string): void {
  for (const k of ['count', 'nan', 'inf', 'zeros'] as const) assert.equal(got[k], want[k], `${label}: ${k}`);
  for (const k of ['min', 'max', 'mean', 'std', 'l2'] as const) assert.ok(close(got[k], want[k], 1e-6), `${label}: ${k} ${got[k]} vs ${want[k]}`);
  if (want.histogram === null) return assert.equal(got.histogram, null, `${label}: histogram`);
  assert.ok(got.histogram, `${label}: histogram`);
  assert.ok(close(got.histogram.lo, want.histogram.lo, 1e-6) && close(got.histogram.hi, want.histogram.hi, 1e-6), `${label}: histogram range`);
  assert.deepEqual(got.histogram.counts, want.histogram.counts, `${label}: histogram counts`);
}

// --- fixtures made by test/fixtures/make_array_fixtures.py (safetensors, npy, npz) ----------

export interface ArrayExpected {
  format: string;
  metadata: Record<string, unknown>;
  warnings: number;
  tensors: { name: string; dtype: string; shape: number[]; stats: TensorStats; values?: (number | string)[] }[];
  /** Non-tensor members (string and bytes arrays) as numpy gives them. */
  values?: Record<string, unknown>;
}

const fromJson = (v: number | string): number => (v === 'nan' ? NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : (v as number));


/** All decoded values (complex: interleaved re, im), concatenated from the chunked reader. */
export async function allValues(t: TensorInfo): Promise<number[]> {
  const out: number[] = [];
  for await (const c of tensorChunks(t)) out.push(...c);
  return out;
}

export async function checkAgainstExpected(ckpt: Checkpoint, expectedPath: string): Promise<void> {
  const want = JSON.parse(readFileSync(expectedPath, 'utf8')) as ArrayExpected;
  assert.equal(ckpt.format, want.format);
  assert.deepEqual(ckpt.metadata, want.metadata);
  assert.equal(ckpt.stateDictPrefix, '');
  assert.equal(ckpt.warnings.length, want.warnings, ckpt.warnings.join('\n'));
  assert.deepEqual({ ...ckpt.values }, want.values ?? {}, 'values (string and bytes arrays)');
  assert.deepEqual(ckpt.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
  for (const [i, w] of want.tensors.entries()) {
    const t = ckpt.tensors[i];
    assert.equal(t.dtype, w.dtype, w.name);
    assert.deepEqual(t.shape, w.shape, w.name);
    if (w.values) {
      const got = await allValues(t);
      assert.equal(got.length, w.values.length, `${w.name}: value count`);
      got.forEach((v, j) => assert.ok(close(v, fromJson(w.values![j]), 1e-7, 0) || Object.is(v, fromJson(w.values![j])), `${w.name}[${j}]: ${v} vs ${w.values![j]}`));
    }
    if (isComplex(t.dtype)) continue; // complex statistics: see safetensors.test.ts
    assertStats(await computeTensorStats(t), w.stats, `${ckpt.path} ${w.name}`);
  }
}

