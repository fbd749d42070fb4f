// Packed tensor rows: what the worker builds is what the host and the page read back, whole;
// sharing is derived per storage as the reader's capped lists promise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TensorTable, isPackedRows, packRows, type TensorRow } from '../../src/analysis/core/tensorTable';
import { TensorTree } from '../../src/webviews/editor/treeModel';

const rows: TensorRow[] = [
  { name: 'enc.w', dtype: 'F32', shape: [2, 3], numel: 6, nbytes: 24, storageId: 'data/0' },
  { name: 'scalar', dtype: 'F64', shape: [], numel: 1, nbytes: 8 },
  { name: 'ünïcode.名前', dtype: 'Q4_K', shape: [256, 4096], numel: 1048576, nbytes: 589824, stored: 'dequantized' },
  { name: 'dec.w', dtype: 'F32', shape: [3, 2], numel: 6, nbytes: 24, storageId: 'data/0', sharesStorageWith: ['enc.w'] },
  { name: '', dtype: 'F32', shape: [0], numel: 0, nbytes: 0 },
];

test('rows packed and read back are the rows given, field by field', () => {
  const p = packRows(rows);
  assert.ok(isPackedRows(p));
  const t = new TensorTable(p);
  assert.equal(t.length, rows.length);
  assert.deepEqual([...t.rows()], rows);
  assert.deepEqual([...t.names()], rows.map((r) => r.name));
  assert.equal(t.indexOf('dec.w'), 3);
  assert.equal(t.indexOf(''), 4);
  assert.equal(t.indexOf('nope'), -1);
  assert.equal(t.rank(1), 0);
  assert.equal(t.storageKey(0), t.storageKey(3));
  assert.equal(t.storageKey(1), -1);
  assert.deepEqual(p.dtypes, ['F32', 'F64', 'Q4_K']);
  assert.deepEqual(isPackedRows(structuredClone(p)), true, 'survives a structured clone (worker → host)');
  assert.deepEqual(new TensorTable(structuredClone(p)).row(2), rows[2]);
});

test('sharing: named lists where the reader gave them, else up to 16 others derived from the storage', () => {
  const views: TensorRow[] = [];
  for (let i = 0; i < 1000; i++) views.push({ name: `v${i}`, dtype: 'F32', shape: [1], numel: 1, nbytes: 4, storageId: 'base' });
  views.push({ name: 'alone', dtype: 'F32', shape: [1], numel: 1, nbytes: 4, storageId: 'other' });
  const t = new TensorTable(packRows(views));
  assert.ok(t.isShared(0) && t.isShared(999) && !t.isShared(1000));
  const s = t.sharing(500)!;
  assert.equal(s.count, 999);
  assert.equal(s.others.length, 16);
  assert.ok(!s.others.includes('v500'));
  assert.deepEqual(t.sharing(0)!.others.slice(0, 2), ['v1', 'v2']);
  assert.equal(t.sharing(1000), undefined);
  const tied = new TensorTable(packRows(rows));
  assert.deepEqual(tied.sharing(3), { others: ['enc.w'], count: 1 });
  assert.deepEqual(tied.sharing(0), { others: ['dec.w'], count: 1 });
});

test('a million rows: packed into a few buffers, and the tree of them counts every tensor and tied storages once', () => {
  const n = 1_000_000;
  const b = packRows(
    (function* () {
      for (let i = 0; i < n; i++) yield { name: `layer${Math.floor(i / 1000)}.unit${i % 1000}`, dtype: 'F32', shape: [1], numel: 1, nbytes: 4, storageId: i < 10 ? 'tied' : String(i) };
    })(),
  );
  assert.equal(b.numel.length, n);
  assert.equal(b.storageIds.ends.length, n - 9);
  const tree = new TensorTree(new TensorTable(b));
  assert.equal(tree.size, n);
  assert.equal(tree.root.tensors, n);
  assert.equal(tree.root.params, n - 9, 'ten views of one storage, same type and shape: counted once');
  assert.equal(tree.groups.size, 1000);
  assert.equal(tree.leaf('layer999.unit999')!.row.name, 'layer999.unit999');
  assert.equal(tree.match('layer12.unit34')!.size, 11, 'unit34 and unit340…unit349');
});
