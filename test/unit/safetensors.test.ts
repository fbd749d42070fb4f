import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, truncateSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/analysis/core/errors';
import { readTensor } from '../../src/analysis/core/tensorData';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { MemorySource } from '../../src/analysis/io/byteSource';
import { findDuplicateTopLevelKey, openSafetensors, readSafetensorsHeader } from '../../src/analysis/formats/safetensors';
import { openSafetensorsIndex, unsafeShardName } from '../../src/analysis/formats/safetensorsIndex';
import { fixture } from '../helpers';
import { CountingSource } from '../workCounter';
import { assertStats, checkAgainstExpected, type ArrayExpected } from '../expectations';

// --- fixtures made by test/fixtures/make_array_fixtures.py -----------------------------------

const ARRAYS = fixture('arrays');
for (const name of readdirSync(ARRAYS).filter((n) => n.endsWith('.safetensors'))) {
  test(`reads ${name} as the Python writer described it`, async () => {
    const ckpt = await openSafetensors(join(ARRAYS, name));
    try {
      await checkAgainstExpected(ckpt, join(ARRAYS, `${name}.expected.json`));
    } finally {
      await ckpt.close();
    }
  });
}

// computeTensorStats summarises complex tensors over their moduli.
test('complex tensors: statistics over the moduli match numpy', async () => {
  const name = 'st_all_dtypes.safetensors';
  const want = (JSON.parse(readFileSync(join(ARRAYS, `${name}.expected.json`), 'utf8')) as ArrayExpected).tensors.find((t) => t.dtype === 'C64')!;
  const ckpt = await openSafetensors(join(ARRAYS, name));
  try {
    assertStats(await computeTensorStats(ckpt.tensors.find((t) => t.name === want.name)!), want.stats, want.name);
  } finally {
    await ckpt.close();
  }
});

test('reads a 2-shard checkpoint through its index, skipping tensors not in weight_map', async () => {
  const index = join(ARRAYS, 'sharded', 'model.safetensors.index.json');
  const ckpt = await openSafetensorsIndex(index);
  try {
    await checkAgainstExpected(ckpt, `${index}.expected.json`);
    assert.match(ckpt.warnings[0], /not in the index's weight_map/);
  } finally {
    await ckpt.close();
  }
});

test('keys named __proto__ / constructor are kept as plain data and pollute nothing', async () => {
  const ckpt = await openSafetensors(join(ARRAYS, 'st_proto_keys.safetensors'));
  try {
    assert.equal(Object.getPrototypeOf(ckpt.metadata), Object.prototype);
    assert.deepEqual(Object.keys(ckpt.metadata).sort(), ['__proto__', 'constructor']);
    assert.equal(Object.getOwnPropertyDescriptor(ckpt.metadata, '__proto__')?.value, 'p');
    assert.equal(({} as Record<string, unknown>).p, undefined);
    assert.ok(ckpt.tensors.some((t) => t.name === '__proto__'));
  } finally {
    await ckpt.close();
  }
});

test('tensors are returned in data-offset order even when the header lists them otherwise', async () => {
  const ckpt = await openSafetensors(join(ARRAYS, 'st_unaligned.safetensors'));
  try {
    const offsets = ckpt.tensors.map((t) => t.location.storageByteOffset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
    assert.notEqual(offsets[0] % 4, 0, 'fixture should start misaligned');
  } finally {
    await ckpt.close();
  }
});

// --- header-only reading ----------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'ckpt-st-'));

test('a multi-GB file lists reading only 8 + N bytes', async () => {
  const header = padHeader(JSON.stringify({ big: { dtype: 'F32', shape: [750_000_000], data_offsets: [0, 3_000_000_000] } }));
  const path = join(tmp, 'huge.safetensors');
  writeFileSync(path, Buffer.concat([u64(header.length), header]));
  truncateSync(path, 8 + header.length + 3_000_000_000); // sparse: no data is written
  const ckpt = await openSafetensors(path);
  try {
    assert.equal(ckpt.tensors[0].numel, 750_000_000);
    assert.equal(ckpt.tensors[0].location.storageByteOffset, 8 + header.length);
  } finally {
    await ckpt.close();
  }
  const bytes = Buffer.concat([u64(header.length), header]);
  const counting = new CountingSource(new SizedSource(bytes, 8 + header.length + 3_000_000_000, 'huge'));
  await readSafetensorsHeader(counting);
  assert.equal(counting.bytesRead, 8 + header.length);
});

/** A source claiming `size` bytes backed by a short prefix (reads beyond it fail loudly). */
class SizedSource extends MemorySource {
  override readonly size: number;
  constructor(bytes: Uint8Array, size: number, label: string) {
    super(bytes, label);
    this.size = size;
  }
}

// --- bad input --------------------------------------------------------------------------------

function u64(n: number | bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function padHeader(json: string, pad = true): Buffer {
  const b = Buffer.from(json, 'utf8');
  return pad ? Buffer.concat([b, Buffer.alloc((8 - (b.length % 8)) % 8, 0x20)]) : b;
}

/** A file from a header (object or raw text) and a data buffer. */
function stBytes(header: unknown, data: Uint8Array | number = 0): Buffer {
  const h = typeof header === 'string' ? padHeader(header) : padHeader(JSON.stringify(header));
  const d = typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data);
  return Buffer.concat([u64(h.length), h, d]);
}

async function rejects(bytes: Uint8Array, pattern: RegExp, label = 'bad.safetensors'): Promise<void> {
  await assert.rejects(readSafetensorsHeader(new MemorySource(bytes, label)), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${(e as Error).stack}`);
    assert.ok(e.message.startsWith(`${label}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const f32 = (shape: number[], begin: number, end: number): object => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

test('every truncation of a valid file is a CheckpointError naming the file', async () => {
  const bytes = readFileSync(join(ARRAYS, 'st_aligned.safetensors'));
  for (let n = 0; n < bytes.length; n++) await rejects(bytes.subarray(0, n), /./, 'cut.safetensors');
});

test('truncated files on disk are reported through openSafetensors too', async () => {
  const bytes = readFileSync(join(ARRAYS, 'st_all_dtypes.safetensors'));
  for (const n of [0, 3, 8, 9, 40, bytes.length - 1]) {
    const path = join(tmp, `cut-${n}.safetensors`);
    writeFileSync(path, bytes.subarray(0, n));
    await assert.rejects(openSafetensors(path), (e: unknown) => e instanceof CheckpointError && e.message.startsWith(path));
  }
});

test('garbage bytes never crash, hang or allocate hugely', async () => {
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 300; i++) {
    const bytes = Uint8Array.from({ length: 1 + (i % 97) * 3 }, rand);
    if (i % 3 === 0 && bytes.length > 9) bytes.set([bytes.length - 8, 0, 0, 0, 0, 0, 0, 0, 0x7b]); // plausible length + '{'
    await rejects(bytes, /./, 'garbage.safetensors');
  }
});

test('header length checks: 2^63, over 100 MB, past the end of the file', async () => {
  await rejects(Buffer.concat([u64(2n ** 63n), Buffer.from('{}')]), /header length 9223372036854775808 exceeds the 100000000-byte limit/);
  await rejects(Buffer.concat([u64(2n ** 64n - 1n), Buffer.from('{}')]), /exceeds/);
  await rejects(Buffer.concat([u64(100_000_001), Buffer.from('{}')]), /exceeds the 100000000-byte limit/);
  await rejects(Buffer.concat([u64(1000), Buffer.from('{}      ')]), /runs past the end of the 16-byte file/);
  await rejects(Buffer.from([1, 2, 3]), /file is 3 bytes/);
  await rejects(u64(0), /does not start with "\{"/);
});

test('header must be UTF-8 JSON object text starting with "{"', async () => {
  await rejects(Buffer.concat([u64(8), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])]), /not valid UTF-8/);
  await rejects(stBytes('[1, 2]'), /does not start with "\{"/);
  await rejects(stBytes(' {}'), /does not start with "\{"/);
  await rejects(stBytes('"text"'), /does not start with "\{"/);
  await rejects(stBytes('{"a": '), /not valid JSON/);
  await rejects(stBytes('{} {}'), /not valid JSON/);
  await rejects(Buffer.concat([u64(3), Buffer.from([0xef, 0xbb, 0xbf])]), /does not start with "\{"/); // a BOM
});

test('offsets: overlapping, gapped, not from 0, reversed, out of bounds, trailing bytes', async () => {
  await rejects(stBytes({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /tensor "b": data_offsets \[4, 12\] overlap tensor "a", which ends at 8/);
  await rejects(stBytes({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), /tensor "b": data_offsets \[8, 12\] leave a gap of 4 bytes after tensor "a"/);
  await rejects(stBytes({ a: f32([1], 4, 8) }, 8), /tensor "a": data_offsets \[4, 8\] start at 4, but the first tensor must start at 0/);
  await rejects(stBytes({ a: f32([1], 0, 4), b: f32([0], 4, 0) }, 4), /tensor "b": data_offsets \[4, 0\] end before they begin/);
  await rejects(stBytes({ a: f32([4], 0, 16) }, 8), /tensor data ends at byte \d+ but the file has only \d+ bytes \(truncated\)/);
  await rejects(stBytes({ a: f32([1], 0, 4) }, 9), /5 bytes after the last tensor/);
  await rejects(stBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets \[0\] must be \[begin, end\]/);
  await rejects(stBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] } }, 4), /must be \[begin, end\]/);
  await rejects(stBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 4), /must be \[begin, end\]/);
});

test('shape and length mismatches name the tensor and both sizes', async () => {
  const e = stBytes({ 'fc.weight': f32([4, 8], 0, 96) }, 96);
  await rejects(e, /^model\.safetensors: tensor "fc\.weight": data_offsets \[0, 96\] hold 96 bytes but shape \[4, 8\] of F32 needs 128$/, 'model.safetensors');
  await rejects(stBytes({ s: { dtype: 'I64', shape: [], data_offsets: [0, 4] } }, 4), /hold 4 bytes but shape \[\] of I64 needs 8/);
});

test('dtype and shape entries are validated', async () => {
  const one = (entry: object, data = 4): Buffer => stBytes({ t: entry }, data);
  await rejects(one({ dtype: 'F128', shape: [1], data_offsets: [0, 4] }), /tensor "t": unknown dtype "F128"/);
  await rejects(one({ dtype: 'f32', shape: [1], data_offsets: [0, 4] }), /unknown dtype "f32"/);
  await rejects(one({ dtype: 'C128', shape: [1], data_offsets: [0, 16] }, 16), /unknown dtype "C128"/);
  await rejects(one({ dtype: 'F4', shape: [2], data_offsets: [0, 1] }, 1), /dtype F4 .* not supported/);
  await rejects(one({ dtype: 7, shape: [1], data_offsets: [0, 4] }), /dtype is number 7/);
  await rejects(one({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), /shape \[-1\] has an entry that is not a non-negative integer/);
  await rejects(one({ dtype: 'F32', shape: [1.5], data_offsets: [0, 4] }), /not a non-negative integer/);
  await rejects(one({ dtype: 'F32', shape: ['1'], data_offsets: [0, 4] }), /not a non-negative integer/);
  await rejects(one({ dtype: 'F32', shape: 4, data_offsets: [0, 4] }), /shape is number 4/);
  await rejects(one({ dtype: 'F32', shape: [2 ** 30, 2 ** 30, 2 ** 30, 0], data_offsets: [0, 0] }, 0), /overflow/);
  await rejects(one({ dtype: 'F64', shape: [2 ** 51], data_offsets: [0, 0] }, 0), /too large in bytes/);
  await rejects(one({ shape: [1], data_offsets: [0, 4] }), /tensor "t": dtype is missing, expected a string/);
  await rejects(stBytes({ t: [1, 2] }), /tensor "t": entry is an array/);
  await rejects(stBytes({ t: 'x' }), /tensor "t": entry is the string "x"/);
});

test('__metadata__ must map strings to strings', async () => {
  await rejects(stBytes({ __metadata__: { a: 1 } }), /__metadata__ value for "a" is number 1; only strings are allowed/);
  await rejects(stBytes({ __metadata__: { a: { nested: 'x' } } }), /value for "a" is an object/);
  await rejects(stBytes({ __metadata__: ['x'] }), /__metadata__ must be an object of strings/);
  const ok = await readSafetensorsHeader(new MemorySource(stBytes({ __metadata__: null }), 'null-meta'));
  assert.deepEqual(ok.metadata, {});
});

test('duplicate keys are refused; the scanner ignores nested and string contents', async () => {
  const text = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  await rejects(stBytes(text, 4), /key "a" more than once/);
  assert.equal(findDuplicateTopLevelKey('{"a":{"a":1,"b":[{"a":2}]},"b":"a","c\\"":1,"c\\u0022":2}'), 'c"');
  assert.equal(findDuplicateTopLevelKey('{"x":{"y":1},"y":[1,"x"],"z":"{\\"x\\":1}"}'), undefined);
});

test('an empty tensor set is valid; extra tensor fields only warn', async () => {
  const empty = await readSafetensorsHeader(new MemorySource(stBytes({}), 'empty'));
  assert.deepEqual(empty.tensors, []);
  const extra = await readSafetensorsHeader(new MemorySource(stBytes({ t: { ...f32([1], 0, 4), note: 1 } }, 4), 'extra'));
  assert.match(extra.warnings[0], /unknown field "note"/);
});

// --- sharded: bad indexes ---------------------------------------------------------------------

function writeShard(dir: string, name: string, tensors: Record<string, number[]>): void {
  const header: Record<string, object> = {};
  let at = 0;
  const data: Buffer[] = [];
  for (const [t, values] of Object.entries(tensors)) {
    header[t] = f32([values.length], at, at + values.length * 4);
    data.push(Buffer.from(Float32Array.from(values).buffer));
    at += values.length * 4;
  }
  writeFileSync(join(dir, name), stBytes(header, Buffer.concat(data)));
}

function writeIndex(dir: string, weightMap: Record<string, string>, name = 'model.safetensors.index.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
  return path;
}

async function indexRejects(path: string, pattern: RegExp): Promise<void> {
  await assert.rejects(openSafetensorsIndex(path), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${(e as Error).stack}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('a tensor mapped to a shard that lacks it is an error naming both', async () => {
  const dir = join(tmp, 'missing-tensor');
  mkdirSync(dir);
  writeShard(dir, 'a.safetensors', { x: [1, 2] });
  const index = writeIndex(dir, { x: 'a.safetensors', y: 'a.safetensors' });
  await indexRejects(index, /tensor "y" is mapped to shard "a\.safetensors", but that shard does not contain it/);
});

test('a missing shard file is an error naming the shard and the index', async () => {
  const dir = join(tmp, 'missing-shard');
  mkdirSync(dir);
  writeShard(dir, 'a.safetensors', { x: [1] });
  const index = writeIndex(dir, { x: 'a.safetensors', y: 'b.safetensors' });
  await indexRejects(index, /model\.safetensors\.index\.json: shard "b\.safetensors" .*"y".* cannot be opened/);
});

test('a damaged shard is reported with the shard path', async () => {
  const dir = join(tmp, 'damaged-shard');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.safetensors'), Buffer.from('not a safetensors file'));
  await indexRejects(writeIndex(dir, { x: 'a.safetensors' }), /a\.safetensors: header length .* exceeds/);
});

test('shard names that could escape the folder are refused before anything is opened', async () => {
  for (const bad of ['../x.safetensors', 'sub/../../x.safetensors', '/etc/x.safetensors', '\\\\server\\x.safetensors', 'C:\\x.safetensors', 'https://example.com/x.safetensors', '', 'x.bin', 'a\0.safetensors']) {
    assert.ok(unsafeShardName(bad), bad);
  }
  assert.equal(unsafeShardName('model-00001-of-00002.safetensors'), undefined);
  assert.equal(unsafeShardName('sub/model.safetensors'), undefined);
  const dir = join(tmp, 'escape');
  mkdirSync(dir);
  await indexRejects(writeIndex(dir, { x: '../secret.safetensors' }), /shard name "\.\.\/secret\.safetensors" contains "\.\."/);
  await indexRejects(writeIndex(dir, { x: 'file:///etc/passwd.safetensors' }), /is a URL/);
});

test('index limits: over 10 000 shards, over 100 MB, not JSON, no weight_map', async () => {
  const dir = join(tmp, 'limits');
  mkdirSync(dir);
  const many: Record<string, string> = {};
  for (let i = 0; i <= 10_000; i++) many[`t${i}`] = `s${i}.safetensors`;
  await indexRejects(writeIndex(dir, many), /more than 10000 shards/);
  const big = join(dir, 'big.safetensors.index.json');
  writeFileSync(big, '{}');
  truncateSync(big, 100 * 1024 * 1024 + 1);
  await indexRejects(big, /more than the 104857600 accepted/);
  const notJson = join(dir, 'bad.safetensors.index.json');
  writeFileSync(notJson, '{"weight_map": ');
  await indexRejects(notJson, /not valid UTF-8 JSON/);
  const noMap = join(dir, 'nomap.safetensors.index.json');
  writeFileSync(noMap, '{"metadata": {}}');
  await indexRejects(noMap, /no "weight_map" object/);
  const badEntry = join(dir, 'badentry.safetensors.index.json');
  writeFileSync(badEntry, '{"weight_map": {"x": 3}}');
  await indexRejects(badEntry, /entry for "x" is not a file name/);
});

test('more shards than open handles: every tensor still reads correctly', async () => {
  const dir = join(tmp, 'many-shards');
  mkdirSync(dir);
  const map: Record<string, string> = {};
  for (let i = 0; i < 150; i++) {
    const shard = `model-${String(i + 1).padStart(5, '0')}-of-00150.safetensors`;
    writeShard(dir, shard, { [`layer.${i}.w`]: [i, i + 0.5], [`layer.${i}.b`]: [-i] });
    map[`layer.${i}.w`] = shard;
    map[`layer.${i}.b`] = shard;
  }
  const ckpt = await openSafetensorsIndex(writeIndex(dir, map));
  try {
    assert.equal(ckpt.tensors.length, 300);
    assert.equal(ckpt.format, 'safetensors-sharded');
    // Read in an order that defeats the handle cache, twice, concurrently.
    const order = [...ckpt.tensors].reverse().concat(ckpt.tensors);
    const values = await Promise.all(order.map((t) => readTensor(t)));
    order.forEach((t, k) => {
      const i = Number(t.name.split('.')[1]);
      assert.deepEqual(Array.from(values[k]), t.name.endsWith('.w') ? [i, i + 0.5] : [-i], t.name);
    });
  } finally {
    await ckpt.close();
  }
  await assert.rejects(readTensor(ckpt.tensors[0]), /closed/);
});
