// The message protocol's runtime guards: well-formed messages pass, malformed ones are rejected.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isHostToWebview,
  isHostToWorker,
  isListing,
  isSlice2D,
  isTensorStats,
  isWebviewToHost,
  isWorkerToHost,
  jsonValue,
  sanitizeStats,
  errorInfo,
  type Listing,
  type TensorStats,
} from '../../src/analysis/protocol';
import { isPackedRows, packRows } from '../../src/analysis/core/tensorTable';
import { CheckpointError } from '../../src/analysis/core/errors';

const stats: TensorStats = {
  count: 6, nan: 0, inf: 0, zeros: 1, min: -1, max: 2, mean: 0.5, std: 1.1, l2: 3,
  histogram: { lo: -1, hi: 2, counts: new Array(64).fill(0) },
};

const listing: Listing = {
  path: '/x/model.safetensors',
  format: 'safetensors',
  metadata: { format: 'pt', nested: { a: [1, 'b', null, true] } },
  values: {},
  tensors: packRows([
    { name: 'a.weight', dtype: 'F32', shape: [2, 3], numel: 6, nbytes: 24 },
    { name: 'b.weight', dtype: 'F32', shape: [2, 3], numel: 6, nbytes: 24, storageId: '0', sharesStorageWith: ['a.weight'] },
  ]),
  stateDictPrefix: '',
  warnings: [],
  totals: { params: 6, bytes: 24, tensors: 2, byDtype: [{ dtype: 'F32', tensors: 2, params: 6, bytes: 24 }], byPrefix: [{ prefix: 'a', tensors: 1, params: 6, bytes: 24 }] },
};

/** Every way of breaking `good` by dropping or corrupting one field must be rejected. */
function assertFieldsChecked(guard: (v: unknown) => boolean, good: Record<string, unknown>, skip: string[] = []): void {
  assert.ok(guard(good), 'the well-formed message passes');
  for (const k of Object.keys(good)) {
    if (skip.includes(k)) continue;
    const dropped = { ...good };
    delete dropped[k];
    assert.ok(!guard(dropped), `missing ${k} is rejected`);
    assert.ok(!guard({ ...good, [k]: Symbol('bad') }), `a symbol as ${k} is rejected`);
  }
}

describe('host → worker', () => {
  const sab = new SharedArrayBuffer(4);
  test('valid requests pass', () => {
    assert.ok(isHostToWorker({ type: 'open', id: 1, path: '/a' }));
    assert.ok(isHostToWorker({ type: 'close', path: '/a' }));
    assert.ok(isHostToWorker({ type: 'stats', id: 2, path: '/a', tensors: ['x'], priority: false, cancelFlag: sab }));
    assert.ok(isHostToWorker({ type: 'slice2d', id: 3, path: '/a', tensor: 'x', maxRows: 128, maxCols: 128, cancelFlag: sab }));
    assert.ok(isHostToWorker({ type: 'cancel', id: 2 }));
    assert.ok(isHostToWorker({ type: 'debug', id: 4, action: 'spin' }));
    // The onnxruntime thread setting rides with evaluations and analyses (absent: every core).
    assert.ok(isHostToWorker({ type: 'evaluate', id: 5, checkpoint: '/a', data: '/d', backend: 'auto', threads: 1, cancelFlag: sab }));
    assert.ok(isHostToWorker({ type: 'analysis', id: 6, kind: 'drop', params: {}, backend: 'onnxruntime', threads: 2, cancelFlag: sab }));
    assert.ok(isHostToWorker({ type: 'analysis', id: 6, kind: 'drop', params: {}, backend: 'onnxruntime', cancelFlag: sab }));
    for (const threads of [-1, 1.5, '2', 5000]) assert.ok(!isHostToWorker({ type: 'analysis', id: 6, kind: 'drop', params: {}, backend: 'auto', threads, cancelFlag: sab }), `threads ${threads}`);
  });
  test('malformed requests are rejected', () => {
    for (const bad of [
      null, undefined, 42, 'open', [], {},
      { type: 'nope', id: 1 },
      { type: 'open', id: -1, path: '/a' },
      { type: 'open', id: 1.5, path: '/a' },
      { type: 'open', id: 1, path: '' },
      { type: 'open', id: 1, path: 'x'.repeat(70_000) },
      { type: 'stats', id: 2, path: '/a', tensors: 'x', priority: false, cancelFlag: sab },
      { type: 'stats', id: 2, path: '/a', tensors: ['x', 3], priority: false, cancelFlag: sab },
      { type: 'stats', id: 2, path: '/a', tensors: ['x'], priority: 'yes', cancelFlag: sab },
      { type: 'stats', id: 2, path: '/a', tensors: ['x'], priority: false, cancelFlag: new ArrayBuffer(4) },
      { type: 'stats', id: 2, path: '/a', tensors: ['x'], priority: false, cancelFlag: new SharedArrayBuffer(2) },
      { type: 'slice2d', id: 3, path: '/a', tensor: 'x', maxRows: 0, maxCols: 128, cancelFlag: sab },
      { type: 'slice2d', id: 3, path: '/a', tensor: 'x', maxRows: 128, maxCols: 1e9, cancelFlag: sab },
      { type: 'debug', id: 4, action: 'format-disk' },
      { type: 'cancel' },
    ]) {
      assert.equal(isHostToWorker(bad), false, JSON.stringify(bad) ?? String(bad));
    }
  });
});

describe('worker → host', () => {
  test('valid messages pass', () => {
    assert.ok(isWorkerToHost({ type: 'reply', id: 1, result: null }));
    assert.ok(isWorkerToHost({ type: 'failure', id: 1, cancelled: false, error: { name: 'CheckpointError', message: 'x: bad', file: 'x' } }));
    assert.ok(isWorkerToHost({ type: 'progress', id: 1, fraction: 0.5 }));
    assert.ok(isWorkerToHost({ type: 'progress', id: 1, fraction: 1, tensor: 'a' }));
    assert.ok(isWorkerToHost({ type: 'statsItem', id: 1, tensor: 'a', stats }));
    assert.ok(isWorkerToHost({ type: 'statsItem', id: 1, tensor: 'a', stats: null, error: { name: 'Error', message: 'm' } }));
    assert.ok(isWorkerToHost({ type: 'log', level: 'info', message: 'hi' }));
  });
  test('malformed messages are rejected', () => {
    for (const bad of [
      { type: 'reply', result: 1 },
      { type: 'failure', id: 1, cancelled: 'no', error: { name: 'E', message: 'm' } },
      { type: 'failure', id: 1, cancelled: false, error: 'boom' },
      { type: 'progress', id: 1, fraction: 1.5 },
      { type: 'progress', id: 1, fraction: -0.1 },
      { type: 'progress', id: 1, fraction: NaN },
      { type: 'statsItem', id: 1, tensor: 'a', stats: { ...stats, count: -1 } },
      { type: 'statsItem', id: 1, tensor: 'a', stats: { ...stats, mean: '1' } },
      { type: 'statsItem', id: 1, tensor: 'a', stats: { ...stats, histogram: { lo: 0, hi: 1, counts: [1, -2] } } },
      { type: 'log', level: 'fatal', message: 'x' },
    ]) {
      assert.equal(isWorkerToHost(bad), false, JSON.stringify(bad));
    }
  });
  test('stats: each field is checked', () => {
    assertFieldsChecked(isTensorStats, stats as unknown as Record<string, unknown>);
  });
  test('listing: each field is checked, nested values too', () => {
    assertFieldsChecked(isListing, listing as unknown as Record<string, unknown>);
    const t = listing.tensors;
    assert.ok(isPackedRows(t));
    assert.ok(!isListing({ ...listing, tensors: { ...t, dims: Float64Array.from([2, -3, 2, 3]) } }), 'a negative dimension');
    assert.ok(!isListing({ ...listing, tensors: { ...t, shares: [[0, [1]]] } }), 'a shared-storage name that is not a string');
    assert.ok(!isListing({ ...listing, tensors: { ...t, shares: [[2, ['a.weight']]] } }), 'a row past the end');
    assert.ok(!isListing({ ...listing, tensors: { ...t, numel: Float64Array.from([6]) } }), 'columns of different lengths');
    assert.ok(!isListing({ ...listing, tensors: { ...t, numel: [6, 6] } }), 'a plain array for a typed column');
    assert.ok(!isListing({ ...listing, tensors: { ...t, numel: Float32Array.from([6, 6]) } }), 'another typed array');
    assert.ok(!isListing({ ...listing, tensors: { ...t, names: { text: 'a', ends: t.names.ends } } }), 'name ends past the text');
    assert.ok(!isListing({ ...listing, tensors: { ...t, names: { text: t.names.text, ends: Uint32Array.from([5, 2]) } } }), 'name ends going back');
    assert.ok(!isListing({ ...listing, tensors: { ...t, shapeEnds: Uint32Array.from([2, 5]) } }), 'a shape past the dims');
    assert.ok(!isListing({ ...listing, tensors: { ...t, dtype: Uint16Array.from([0, 1]) } }), 'a dtype index past the dtypes');
    assert.ok(!isListing({ ...listing, tensors: { ...t, storage: Int32Array.from([-1, 1]) } }), 'a storage index past the storage ids');
    assert.ok(!isListing({ ...listing, tensors: { ...t, numel: Float64Array.from([6, 0.5]) } }), 'a fractional count');
    assert.ok(!isListing({ ...listing, tensors: { ...t, stored: [[0, 3]] } }), 'a stored note that is not text');
    assert.ok(!isListing({ ...listing, metadata: { f: () => 1 } }));
    assert.ok(!isListing({ ...listing, totals: { ...listing.totals, byDtype: [{ dtype: 'F32' }] } }));
  });
  test('slice: dimensions must agree with the values', () => {
    const s = { rows: 2, cols: 2, values: [1, null, 3, 4], rowIndex: [0, 5], colStep: 1.5, sourceShape: [10, 3] };
    assert.ok(isSlice2D(s));
    assert.ok(!isSlice2D({ ...s, values: [1, 2, 3] }));
    assert.ok(!isSlice2D({ ...s, rowIndex: [0] }));
    assert.ok(!isSlice2D({ ...s, values: [1, NaN, 3, 4] }));
    assert.ok(!isSlice2D({ ...s, sourceShape: [10] }));
  });
});

describe('webview → host', () => {
  test('valid messages pass', () => {
    assert.ok(isWebviewToHost({ type: 'ready' }));
    assert.ok(isWebviewToHost({ type: 'selectTensor', name: 'a.weight' }));
    assert.ok(isWebviewToHost({ type: 'computeStats' }));
    assert.ok(isWebviewToHost({ type: 'cancelStats' }));
    assert.ok(isWebviewToHost({ type: 'exportData', kind: 'table', format: 'csv' }));
    assert.ok(isWebviewToHost({ type: 'exportData', kind: 'chart', chart: 'histogram', format: 'svg', tensor: 'a', content: '<svg xmlns="http://www.w3.org/2000/svg"></svg>' }));
    assert.ok(isWebviewToHost({ type: 'exportData', kind: 'chart', chart: 'heatmap', format: 'png', tensor: 'a', content: 'data:image/png;base64,iVBORw0KGgo=' }));
    assert.ok(isWebviewToHost({ type: 'exportData', kind: 'chart', chart: 'heatmap', format: 'json', tensor: 'a', content: '{}' }));
  });
  test('malformed or hostile messages are rejected', () => {
    for (const bad of [
      { type: 'selectTensor' },
      { type: 'selectTensor', name: '' },
      { type: 'selectTensor', name: 7 },
      { type: 'exportData', kind: 'table', format: 'xlsx' },
      { type: 'exportData', kind: 'file', format: 'csv', path: '/etc/passwd' },
      { type: 'exportData', kind: 'chart', chart: 'pie', format: 'svg', tensor: 'a', content: '<svg/>' },
      { type: 'exportData', kind: 'chart', chart: 'histogram', format: 'svg', tensor: 'a', content: '#!/bin/sh' },
      { type: 'exportData', kind: 'chart', chart: 'histogram', format: 'png', tensor: 'a', content: 'data:text/html;base64,PGI+' },
      { type: 'exportData', kind: 'chart', chart: 'histogram', format: 'png', tensor: 'a', content: 'data:image/png;base64,<script>' },
      { type: 'exportData', kind: 'chart', chart: 'histogram', format: 'json', tensor: 'a' },
      { type: 'exportData', kind: 'chart', chart: 'histogram', format: 'json', tensor: 'a', content: 'x'.repeat(64 * 1024 * 1024 + 1) },
      { type: 'runCommand', command: 'rm -rf /' },
      { type: ['ready'] },
      Object.create({ type: 'ready' }),
    ]) {
      assert.equal(isWebviewToHost(bad), false, JSON.stringify(bad)?.slice(0, 120));
    }
  });
});

describe('host → webview', () => {
  test('valid messages pass', () => {
    assert.ok(isHostToWebview({ type: 'init', fileName: 'm.safetensors', listing, stats: [{ name: 'a.weight', stats }], settings: { autoCompute: true, maxAutoBytes: 4e9 } }));
    assert.ok(isHostToWebview({ type: 'init', fileName: 'm.pt', listing: null, error: { name: 'CheckpointError', message: 'm.pt: bad' }, stats: [], settings: { autoCompute: false, maxAutoBytes: 0 } }));
    assert.ok(isHostToWebview({ type: 'statsUpdate', entries: [{ name: 'a', stats: null, error: 'failed' }] }));
    assert.ok(isHostToWebview({ type: 'statsProgress', state: 'running', done: 1, total: 2, fraction: 0.5 }));
    assert.ok(isHostToWebview({ type: 'tensorProgress', name: 'a', fraction: 0.1 }));
    assert.ok(isHostToWebview({ type: 'sliceData', name: 'a', slice: null, error: 'complex' }));
    assert.ok(isHostToWebview({ type: 'error', message: 'x' }));
  });
  test('malformed messages are rejected', () => {
    for (const bad of [
      { type: 'init', fileName: 'm', listing, stats: [] },
      { type: 'statsUpdate', entries: [{ name: 'a' }] },
      { type: 'statsProgress', state: 'weird', done: 1, total: 2, fraction: 0.5 },
      { type: 'sliceData', name: 'a' },
      { type: 'error' },
    ]) {
      assert.equal(isHostToWebview(bad), false, JSON.stringify(bad).slice(0, 120));
    }
  });
});

describe('helpers', () => {
  test('sanitizeStats turns non-finite numbers into null (JSON-safe)', () => {
    const s = sanitizeStats({ ...stats, mean: NaN, max: Infinity, histogram: { lo: -Infinity, hi: 1, counts: [1] } });
    assert.equal(s.mean, null);
    assert.equal(s.max, null);
    assert.equal(s.histogram, null);
    assert.ok(isTensorStats(JSON.parse(JSON.stringify(s))));
  });
  test('errorInfo keeps the file of a CheckpointError', () => {
    assert.deepEqual(errorInfo(new CheckpointError('/m.pt', 'truncated')), { name: 'CheckpointError', message: '/m.pt: truncated', file: '/m.pt' });
    assert.deepEqual(errorInfo('boom'), { name: 'Error', message: 'boom' });
  });
  test('jsonValue rejects functions, symbols and deep nesting', () => {
    const g = jsonValue(4);
    assert.ok(g({ a: [1, { b: 'c' }] }));
    assert.ok(!g({ a: () => 1 }));
    assert.ok(!g([[[[[[1]]]]]]));
  });
});
