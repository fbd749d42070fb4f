// "Run again with …": every option the CLI takes that changes a number is offered per analysis,
// values coming back from the panel are checked, and the panel says which split it measured on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRerun, currentValues, measuredOn, rerunFields } from '../../src/extension/rerunOptions';
import { isHostToPanel, isPanelToHost } from '../../src/analysis/protocol';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers';

test('each analysis offers the options that change its numbers, with the defaults the analyses use', () => {
  const keys = (k: Parameters<typeof rerunFields>[0]) => rerunFields(k).map((f) => f.key);
  assert.deepEqual(keys('interpolate'), ['steps', 'align', 'split', 'limit', 'bnReset']);
  assert.deepEqual(keys('stitch'), ['trainData', 'epochs', 'trainLimit', 'lr', 'split', 'limit', 'control']);
  assert.deepEqual(keys('plane'), ['grid', 'margin', 'split', 'limit', 'bnReset']);
  assert.deepEqual(keys('align'), ['method', 'seed']);
  assert.deepEqual(currentValues('interpolate', { a: 'a', b: 'b', data: 'd', steps: 9 }), { steps: 9, align: false, split: 'test', limit: null, bnReset: false });
});

test('values from the panel are checked before a new run; a cleared limit means all examples', () => {
  const p = { a: '/x/a.safetensors', b: '/x/b.safetensors', data: '/x/digits.npz', limit: 100 };
  assert.deepEqual(applyRerun('interpolate', p, { steps: 11, split: 'train', limit: null, bnReset: true }), { a: p.a, b: p.b, data: p.data, steps: 11, split: 'train', bnReset: true });
  assert.throws(() => applyRerun('interpolate', p, { steps: 1 }), /α steps: 1 is outside 2 … 1001/);
  assert.throws(() => applyRerun('interpolate', p, { steps: 2.5 }), /whole number/);
  assert.throws(() => applyRerun('interpolate', p, { split: 'validation' }), /one of test, train/);
  assert.throws(() => applyRerun('plane', p, { grid: null }), /a value is needed/);
  // Stitching's training data: a file the host picked (it must exist), or cleared to the default.
  const train = join(REPO_ROOT, 'demo', 'data', 'digits.npz');
  assert.equal(applyRerun('stitch', p, { trainData: train }).trainData, train);
  assert.equal(applyRerun('stitch', { ...p, trainData: train }, { trainData: null }).trainData, undefined);
  assert.throws(() => applyRerun('stitch', p, { trainData: '/no/such/train.npz' }), /training data: no such file/);
  // A new alignment never overwrites the first one's output.
  const al = applyRerun('align', { a: 'A', b: 'B', out: '/x/b.aligned.safetensors', method: 'weights' }, { method: 'weights', seed: 3 });
  assert.equal(al.out, '/x/b.aligned.weights-seed3.safetensors');
  assert.throws(() => applyRerun('align', { a: 'A', b: 'B', out: '/x/o.safetensors', method: 'weights' }, { method: 'activations' }), /needs a dataset/);
});

test('the panel states the split the numbers were measured on (stitching: also what it trained on)', () => {
  assert.equal(measuredOn('interpolate', { data: '/d/digits.npz' }), 'Measured on the test split of digits.npz, all examples.');
  assert.equal(measuredOn('llfc', { data: '/d/digits.npz', split: 'train' }), 'Measured on the train split of digits.npz, first 10000 examples.');
  assert.match(measuredOn('stitch', { data: '/d/fmnist', limit: 500 })!, /^Measured on the test split of fmnist, first 500 examples; stitching layers trained on the train split of fmnist when it has one/);
  assert.equal(measuredOn('spectra', { a: 'x' }), undefined);
});

test('the options and rerun messages cross the panel boundary checked', () => {
  const m = { type: 'options', fields: rerunFields('stitch'), values: currentValues('stitch', {}), measuredOn: 'x' };
  assert.ok(isHostToPanel(JSON.parse(JSON.stringify(m))));
  assert.ok(isPanelToHost({ type: 'rerun', values: { epochs: 3, split: 'train' } }));
  assert.ok(!isPanelToHost({ type: 'rerun', values: 'epochs=3' }));
  assert.ok(isPanelToHost({ type: 'pickOption', key: 'trainData' }));
  assert.ok(isHostToPanel({ type: 'optionValue', key: 'trainData', value: '/d/train.npz' }));
  assert.ok(!isHostToPanel({ type: 'optionValue', key: 'trainData', value: 3 }));
  assert.ok(isPanelToHost({ type: 'exportView', what: 'report', format: 'html', content: '<!DOCTYPE html><html></html>' }));
  assert.ok(!isPanelToHost({ type: 'exportView', what: 'report', format: 'html', content: '<script>' }));
});
