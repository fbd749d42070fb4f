// An A/B pair of different architectures is refused with the cause first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairMismatch } from '../../src/extension/pairCheck';
import type { Listing } from '../../src/analysis/protocol';
import { packRows } from '../../src/analysis/core/tensorTable';

const listing = (path: string, tensors: [string, number[]][], prefix = ''): Listing => ({
  path, format: 'safetensors', metadata: {}, values: {}, stateDictPrefix: prefix, warnings: [],
  tensors: packRows(tensors.map(([name, shape]) => ({ name, dtype: 'F32', shape, numel: shape.reduce((a, b) => a * b, 1), nbytes: 0 }))),
  totals: { params: 0, bytes: 0, tensors: tensors.length, byDtype: [], byPrefix: [] },
});

test('same names and shapes pass (a Lightning state-dict prefix is looked through); a shape or most names differing is refused, cause first', () => {
  const a = listing('/w/mlp_seed0.safetensors', [['0.weight', [64, 64]], ['0.bias', [64]], ['2.weight', [10, 64]]]);
  assert.equal(pairMismatch(a, listing('/w/mlp_seed1.ckpt', [['state_dict.0.weight', [64, 64]], ['state_dict.0.bias', [64]], ['state_dict.2.weight', [10, 64]], ['optimizer.m', [3]]], 'state_dict.')), undefined);
  assert.equal(pairMismatch(a, listing('/w/wide.safetensors', [['0.weight', [128, 64]], ['0.bias', [128]], ['2.weight', [10, 128]]])), '0.weight is [64, 64] in A and [128, 64] in B (3 tensors differ in shape): mlp_seed0.safetensors and wide.safetensors are not the same architecture.');
  assert.match(pairMismatch(a, listing('/w/resnet.safetensors', [['conv1.weight', [8, 1, 3, 3]], ['fc.weight', [10, 8]]]))!, /^only 0 of 3 tensors of A are in B \(which has 2\)/);
});
