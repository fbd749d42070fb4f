import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dtypeSize } from '../../src/analysis/core/dtype';
import { CheckpointError } from '../../src/analysis/core/errors';
import { readTensor } from '../../src/analysis/core/tensorData';
import { openSafetensors } from '../../src/analysis/formats/safetensors';
import { openNpy } from '../../src/analysis/formats/numpy';
import { planSafetensorsLayout, writeSafetensors, type TensorToWrite } from '../../src/analysis/formats/safetensorsWriter';
import { fixture } from '../helpers';

const tmp = mkdtempSync(join(tmpdir(), 'ckpt-stw-'));
let counter = 0;
/** A fresh empty folder, so leftover temp files are easy to spot. */
function folder(): string {
  const d = join(tmp, `d${counter++}`);
  mkdirSync(d);
  return d;
}

const header = (file: string): { n: number; json: string } => {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return { n, json: b.subarray(8, 8 + n).toString('utf8') };
};

test('matches the reference writer byte for byte (vectors from safetensors tensor.rs tests)', async () => {
  const dir = folder();
  const data = new Float32Array([0, 1, 2, 3, 4, 5]);
  const cases: [string, TensorToWrite[], Record<string, string> | undefined, string][] = [
    ['a.safetensors', [{ name: 'attn.0', dtype: 'F32', shape: [1, 2, 3], data }], undefined, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'],
    ['b.safetensors', [{ name: 'attn0', dtype: 'F32', shape: [1, 1, 2, 3], data }], undefined, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       '],
    ['c.safetensors', [], undefined, '{}      '],
    ['d.safetensors', [], { framework: 'pt' }, '{"__metadata__":{"framework":"pt"}}     '],
  ];
  for (const [name, tensors, meta, json] of cases) {
    const path = join(dir, name);
    await writeSafetensors(path, tensors, meta);
    const want = Buffer.concat([Buffer.alloc(8), Buffer.from(json), tensors.length ? Buffer.from(data.buffer) : Buffer.alloc(0)]);
    want.writeBigUInt64LE(BigInt(json.length));
    assert.deepEqual(readFileSync(path), want, name);
  }
});

test('copying a Python-written reference-layout file through TensorInfo reproduces it exactly', async () => {
  const dir = folder();
  for (const name of ['st_aligned.safetensors', 'st_all_dtypes.safetensors', 'st_low_precision.safetensors']) {
    const src = await openSafetensors(fixture('arrays', name));
    try {
      const out = join(dir, name);
      const tensors = [...src.tensors].reverse().map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t }));
      await writeSafetensors(out, tensors);
      assert.deepEqual(readFileSync(out), readFileSync(fixture('arrays', name)), name);
    } finally {
      await src.close();
    }
  }
});

test('round trip through our reader: dtypes, 0-d, empty, metadata; layout sorted by alignment then name', async () => {
  const path = join(folder(), 'rt.safetensors');
  const tensors: TensorToWrite[] = [
    { name: 'z.f32', dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, NaN, Infinity, 0]) },
    { name: 'a.f32', dtype: 'F32', shape: [], data: Float32Array.of(7) },
    { name: 'f64', dtype: 'F64', shape: [2], data: Float64Array.of(1e300, -1e-300) },
    { name: 'i64', dtype: 'I64', shape: [3], data: BigInt64Array.of(-(2n ** 62n), 0n, 5n) },
    { name: 'bf16', dtype: 'BF16', shape: [2], data: Uint16Array.of(0x3f80, 0xc020) },
    { name: 'f8', dtype: 'F8_E4M3', shape: [2], data: Uint8Array.of(0x7e, 0xfe) },
    { name: 'mask', dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) },
    { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    { name: 'ñ-unicode', dtype: 'I8', shape: [2], data: Int8Array.of(-1, 1) },
  ];
  const meta = JSON.parse('{"format": "pt", "note": "ünï \\"quoted\\"\\n", "__proto__": "p"}') as Record<string, string>;
  const res = await writeSafetensors(path, tensors, meta);
  assert.equal(res.bytes, statSync(path).size);
  assert.equal(res.headerLength % 8, 0);
  const ckpt = await openSafetensors(path);
  try {
    assert.deepEqual(ckpt.metadata, meta);
    assert.equal(Object.getOwnPropertyDescriptor(ckpt.metadata, '__proto__')?.value, 'p');
    assert.deepEqual(ckpt.tensors.map((t) => t.name), ['i64', 'f64', 'a.f32', 'empty', 'z.f32', 'bf16', 'f8', 'ñ-unicode', 'mask']);
    for (const t of ckpt.tensors) assert.equal(t.location.storageByteOffset % dtypeSize(t.dtype), 0, `${t.name} aligned`);
    const values = async (name: string): Promise<number[]> => Array.from(await readTensor(ckpt.tensors.find((t) => t.name === name)!));
    assert.deepEqual(await values('z.f32'), [1, -2, 3.5, NaN, Infinity, 0]);
    assert.deepEqual(await values('a.f32'), [7]);
    assert.deepEqual(await values('f64'), [1e300, -1e-300]);
    assert.deepEqual(await values('i64'), [-(2 ** 62), 0, 5]);
    assert.deepEqual(await values('bf16'), [1, -2.5]);
    assert.deepEqual(await values('f8'), [448, -448]);
    assert.deepEqual(await values('mask'), [1, 0, 1]);
    assert.deepEqual(await values('empty'), []);
    assert.deepEqual(await values('ñ-unicode'), [-1, 1]);
    assert.deepEqual(ckpt.tensors.find((t) => t.name === 'a.f32')!.shape, []);
  } finally {
    await ckpt.close();
  }
});

test('the same input gives byte-identical output, whatever the input order', async () => {
  const dir = folder();
  const make = (): TensorToWrite[] => [
    { name: 'b', dtype: 'F16', shape: [3], data: Uint16Array.of(1, 2, 3) },
    { name: 'a', dtype: 'F16', shape: [1], data: Uint16Array.of(9) },
    { name: 'c', dtype: 'U8', shape: [5], data: Uint8Array.of(1, 2, 3, 4, 5) },
  ];
  await writeSafetensors(join(dir, '1.safetensors'), make(), { b: '2', a: '1' });
  await writeSafetensors(join(dir, '2.safetensors'), make().reverse(), { a: '1', b: '2' });
  assert.deepEqual(readFileSync(join(dir, '1.safetensors')), readFileSync(join(dir, '2.safetensors')));
  assert.equal(header(join(dir, '1.safetensors')).json.trimEnd(), '{"__metadata__":{"a":"1","b":"2"},"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"dtype":"F16","shape":[3],"data_offsets":[2,8]},"c":{"dtype":"U8","shape":[5],"data_offsets":[8,13]}}');
});

test('streams async-iterable chunks of any size', async () => {
  const path = join(folder(), 'stream.safetensors');
  const n = 3_000_000; // 12 MB of F32, crossing the write buffer several times
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < n; ) {
      const len = Math.min(n - at, 1 + ((at * 7919) % 400_000));
      yield new Uint8Array(Float32Array.from({ length: len }, (_, i) => at + i).buffer);
      at += len;
    }
  }
  const progress: number[] = [];
  await writeSafetensors(path, [{ name: 'ramp', dtype: 'F32', shape: [n], data: chunks() }, { name: 'one', dtype: 'U8', shape: [1], data: Uint8Array.of(42) }], undefined, {
    onProgress: (w, total) => progress.push(w / total),
  });
  assert.equal(progress[progress.length - 1], 1);
  const ckpt = await openSafetensors(path);
  try {
    const v = await readTensor(ckpt.tensors[0]);
    assert.equal(v.length, n);
    for (let i = 0; i < n; i += 99_991) assert.equal(v[i], i);
    assert.deepEqual(Array.from(await readTensor(ckpt.tensors[1])), [42]);
  } finally {
    await ckpt.close();
  }
});

test('copies strided (Fortran-order) and big-endian tensors into packed little-endian C order', async () => {
  const path = join(folder(), 'copy.safetensors');
  const sources = await Promise.all(['npy_fortran_f8.npy', 'npy_big_i4.npy', 'npy_big_fortran_f8.npy'].map((f) => openNpy(fixture('arrays', f))));
  try {
    const tensors = sources.map((c) => c.tensors[0]);
    await writeSafetensors(path, tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t })));
    const out = await openSafetensors(path);
    try {
      for (const t of tensors) {
        const copy = out.tensors.find((o) => o.name === t.name)!;
        assert.deepEqual(copy.shape, t.shape);
        assert.deepEqual(Array.from(await readTensor(copy)), Array.from(await readTensor(t)), t.name);
      }
    } finally {
      await out.close();
    }
  } finally {
    await Promise.all(sources.map((c) => c.close()));
  }
});

const leftovers = (dir: string): string[] => readdirSync(dir);

test('a failure mid-write leaves no file at the target and no temp file', async () => {
  const dir = folder();
  const path = join(dir, 'model.safetensors');
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(8 << 20);
    throw new Error('disk on fire');
  }
  await assert.rejects(writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4 << 20], data: failing() }]), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /model\.safetensors: cannot write: disk on fire/);
    return true;
  });
  assert.deepEqual(leftovers(dir), []);

  // An existing file at the target survives a failed overwrite untouched.
  writeFileSync(path, 'previous contents');
  await assert.rejects(writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4 << 20], data: failing() }]));
  assert.equal(readFileSync(path, 'utf8'), 'previous contents');
  assert.deepEqual(leftovers(dir), ['model.safetensors']);
});

test('data of the wrong length is caught, with nothing left behind', async () => {
  const dir = folder();
  const path = join(dir, 'bad.safetensors');
  async function* bytes(n: number): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(n);
  }
  await assert.rejects(writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: bytes(12) }]), /tensor "w": data ended after 12 bytes, short of the 16 bytes/);
  await assert.rejects(writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: bytes(20) }]), /tensor "w": data is longer than the 16 bytes/);
  await assert.rejects(writeSafetensors(path, [{ name: 'w', dtype: 'F32', shape: [4], data: new Float32Array(3) }]), /data has 12 bytes but shape \[4\] of F32 needs 16/);
  assert.deepEqual(leftovers(dir), []);
});

test('invalid requests are refused before any file is created', async () => {
  const dir = folder();
  const path = join(dir, 'x.safetensors');
  const f = (over: Partial<TensorToWrite>): TensorToWrite => ({ name: 't', dtype: 'F32', shape: [1], data: new Float32Array(1), ...over });
  const bad: [TensorToWrite[], RegExp, Record<string, string>?][] = [
    [[f({}), f({})], /name given twice/],
    [[f({ name: '__metadata__' })], /reserved for metadata/],
    [[f({ dtype: 'C128', data: new Float64Array(2) })], /dtype "C128" cannot be stored in safetensors/],
    [[f({ shape: [-1] })], /must hold non-negative integers/],
    [[f({ shape: [1.5] })], /must hold non-negative integers/],
    [[f({ data: new Float64Array(1) as unknown as Float32Array })], /data is a Float64Array, which does not match dtype F32/],
    [[f({ data: 'bytes' as unknown as Uint8Array })], /neither a typed array/],
    [[f({})], /metadata value for "n" is not a string/, { n: 1 as unknown as string }],
  ];
  for (const [tensors, pattern, meta] of bad) {
    await assert.rejects(writeSafetensors(path, tensors, meta), (e: unknown) => e instanceof CheckpointError && pattern.test(e.message) && e.message.startsWith(path));
  }
  assert.deepEqual(leftovers(dir), []);
  const i32 = await openNpy(fixture('arrays', 'npy_big_i4.npy'));
  try {
    await assert.rejects(writeSafetensors(path, [f({ data: i32.tensors[0] })]), /source tensor "npy_big_i4" is I32, not F32/);
  } finally {
    await i32.close();
  }
});

test('cancellation stops the write and cleans up', async () => {
  const dir = folder();
  let calls = 0;
  async function* many(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 100; i++) yield new Uint8Array(1024);
  }
  await assert.rejects(
    writeSafetensors(join(dir, 'c.safetensors'), [{ name: 'w', dtype: 'U8', shape: [102400], data: many() }], undefined, { isCancelled: () => ++calls > 5 }),
    /cancelled/,
  );
  assert.deepEqual(leftovers(dir), []);
});

test('planSafetensorsLayout pads the header with spaces to a multiple of 8', () => {
  for (let len = 1; len <= 16; len++) {
    const layout = planSafetensorsLayout('p', [{ name: 'x'.repeat(len), dtype: 'U8', shape: [1], data: Uint8Array.of(1) }]);
    assert.equal((layout.preamble.length - 8) % 8, 0);
    const json = Buffer.from(layout.preamble.subarray(8)).toString();
    assert.equal(JSON.parse(json)['x'.repeat(len)].data_offsets[1], 1);
    assert.match(json, /} *$/);
  }
  assert.ok(!existsSync('p'));
});
