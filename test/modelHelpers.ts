// Helpers for tests that run networks: a model's logits on a batch, and the largest
// element-wise difference (function-preservation checks of permuted or aligned models).
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type { ArrayData } from '../src/analysis/data/arrays';
import { createModel } from '../src/analysis/model/execute';
import type { ModelGraph } from '../src/analysis/model/ir';
import type { StateDict } from '../src/analysis/model/stateDict';

/** The logits of `graph` with weights `sd` on the inputs `x` (token ids or floats). Needs a tfjs backend. */
export function logits(graph: ModelGraph, sd: StateDict, x: ArrayData): Float32Array {
  const model = createModel(graph, sd);
  try {
    const input = graph.input.kind === 'tokens' ? tf.tensor(Int32Array.from(x.values), x.shape, 'int32') : tf.tensor(Float32Array.from(x.values), x.shape, 'float32');
    const { output } = model.forward(input);
    const v = output.dataSync() as Float32Array;
    tf.dispose([input, output]);
    return v;
  } finally {
    model.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
