// Comparisons against the PyTorch/numpy-made `*.expected.json` files, shared by the tests.
import assert from 'node:assert/strict';
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
