import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { CheckpointError } from '../../src/analysis/core/errors';
import { readTensor } from '../../src/analysis/core/tensorData';
import { MemorySource } from '../../src/analysis/io/byteSource';
import { LiteralError, openNpy, openNpz, parseNpyHeader, parsePythonLiteral, readNpyHeader, formatPy } from '../../src/analysis/formats/numpy';
import { fixture } from '../helpers';
import { checkAgainstExpected } from '../expectations';

// --- fixtures made by test/fixtures/make_array_fixtures.py -----------------------------------

const ARRAYS = fixture('arrays');
for (const name of readdirSync(ARRAYS).filter((n) => /\.np[yz]$/.test(n))) {
  test(`reads ${name} as numpy wrote it`, async () => {
    const path = join(ARRAYS, name);
    const ckpt = name.endsWith('.npy') ? await openNpy(path) : await openNpz(path);
    try {
      await checkAgainstExpected(ckpt, `${path}.expected.json`);
    } finally {
      await ckpt.close();
    }
  });
}

test('Fortran order becomes reversed strides; big-endian becomes byteOrder big', async () => {
  const f = await openNpy(join(ARRAYS, 'npy_big_fortran_f8.npy'));
  try {
    const t = f.tensors[0];
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.location.strides, [1, 2]);
    assert.equal(t.location.byteOrder, 'big');
    assert.equal(t.location.storageByteOffset % 64, 0);
  } finally {
    await f.close();
  }
});

test('stored .npz entries are read in place; deflated ones are inflated only when read', async () => {
  const stored = await openNpz(join(ARRAYS, 'npz_stored.npz'));
  try {
    assert.ok(stored.tensors.every((t) => t.location.source.label.startsWith(join(ARRAYS, 'npz_stored.npz:'))));
  } finally {
    await stored.close();
  }
  // 32 MiB of zeros deflate to ~32 KiB; with a 1 MiB cap the listing still works and warns.
  const npy = npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (8388608,), }", new Uint8Array(32 << 20));
  const path = join(tmp, 'bomb.npz');
  writeFileSync(path, zipOf([{ name: 'big.npy', data: npy, deflate: true }]));
  const ckpt = await openNpz(path, { maxInflatedBytes: 1 << 20 });
  try {
    assert.deepEqual(ckpt.tensors[0].shape, [8388608]);
    assert.match(ckpt.warnings[0], /more than the 1048576 allowed/);
    await assert.rejects(readTensor(ckpt.tensors[0]), (e: unknown) => e instanceof CheckpointError && /more than the 1048576 allowed/.test(e.message));
  } finally {
    await ckpt.close();
  }
});

// --- the literal parser -----------------------------------------------------------------------

test('literal parser: tuples, dicts, strings, ints, booleans', () => {
  const lit = (s: string, longSuffix = false): string => formatPy(parsePythonLiteral(s, { longSuffix }));
  assert.equal(lit('(5,)'), '(5,)');
  assert.equal(lit('()'), '()');
  assert.equal(lit('(5)'), '5');
  assert.equal(lit('( 2 , 3 , )'), '(2, 3)');
  assert.equal(lit('[1, [2, (3,)], ]'), '[1, [2, (3,)]]');
  assert.equal(lit(`{'a': "it's", "b": 'say "hi"', 'c': '\\x41\\n', u'd': True, 'e': False, 'f': None, 'g': -7}`), `{'a': 'it's', 'b': 'say "hi"', 'c': 'A\n', 'd': True, 'e': False, 'f': None, 'g': -7}`);
  assert.equal(lit('(3L, 2L)', true), '(3, 2)');
  assert.equal(lit("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }             \n"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}");
});

test('literal parser refuses anything that is not a plain literal', () => {
  const bad = [
    "__import__('os').system('x')", "{'a': os}", '1.5', '1e3', '0x10', '012', '(3L,)', "'unterminated", "'a' 'b'",
    '{1: 2', '(1 2)', '[1,,2]', '{[1]: 2}', "{'a' 1}", '((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))', "'\\q'", '99999999999999999999', 'f(1)', '', '{} {}',
  ];
  for (const s of bad) assert.throws(() => parsePythonLiteral(s), LiteralError, s);
});

// --- bad .npy files ---------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), 'ckpt-npy-'));

function npyBytes(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const h = Buffer.from(header, major === 3 ? 'utf8' : 'latin1');
  const len = Buffer.alloc(major === 1 ? 2 : 4);
  if (major === 1) len.writeUInt16LE(h.length);
  else len.writeUInt32LE(h.length);
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]), len, h, data]);
}

async function npyRejects(bytes: Uint8Array, pattern: RegExp, label = 'bad.npy'): Promise<void> {
  await assert.rejects(readNpyHeader(new MemorySource(bytes, label)), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${(e as Error).stack}`);
    assert.ok(e.message.startsWith(`${label}: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

const hdr = (descr: string, shape = '(2,)', fortran = 'False'): string => `{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': ${shape}, }\n`;

test('absurd header lengths are refused before any large read', async () => {
  const v2 = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0xff]), Buffer.from('{}')]);
  await npyRejects(v2, /header length 4294967295 exceeds 10000 bytes/);
  const v1 = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0xff, 0xff]), Buffer.from('{}')]);
  await npyRejects(v1, /header length 65535 exceeds/);
  await npyRejects(Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x00, 0x01]), Buffer.from('{}')]), /runs past the end/);
});

test('object, structured, string and exotic dtypes are refused clearly', async () => {
  await npyRejects(npyBytes(hdr("'|O'")), /holds Python objects .* pickle/);
  await npyRejects(npyBytes(hdr("[('a', '<f4'), ('b', '<i4')]")), /structured dtype/);
  await npyRejects(npyBytes(hdr("('<f4', (2,))")), /sub-array dtype/);
  // Not numeric arrays (openNpy shows string arrays as values; see below).
  await npyRejects(npyBytes(hdr("'<U5'")), /strings or raw records/);
  await npyRejects(npyBytes(hdr("'|S3'")), /strings or raw records/);
  await npyRejects(npyBytes(hdr("'|V4'")), /strings or raw records/);
  await npyRejects(npyBytes(hdr("'<M8[ns]'")), /datetime/);
  await npyRejects(npyBytes(hdr("'<f16'")), /array data needs 32 bytes/);
  await npyRejects(npyBytes(hdr("'<c32'")), /extended precision/);
  await npyRejects(npyBytes(hdr("'<f3'")), /unsupported dtype "<f3"/);
  await npyRejects(npyBytes(hdr('5')), /descr 5 is not a dtype string/);
});

test('a .npy string array opens as one value; truncated or huge ones are refused clearly', async () => {
  const open = async (name: string, bytes: Uint8Array): Promise<Awaited<ReturnType<typeof openNpy>>> => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return openNpy(p);
  };
  const c = await open('bytes.npy', npyBytes(hdr("'|S3'", '(2, 1)', 'True'), new Uint8Array([0x61, 0, 0, 0x27, 0x5c, 0x80])));
  assert.deepEqual(c.values.bytes, [["b'a'"], ["b\"'\\\\\\x80\""]]);
  assert.equal(c.tensors.length, 0);
  await c.close();
  await assert.rejects(open('short.npy', npyBytes(hdr("'<U5'"))), /array data needs 40 bytes after the \d+-byte header, but the file has only 0 \(truncated\)/);
  await assert.rejects(open('many.npy', npyBytes(hdr("'<U5'", '(100000,)'))), /array of 100000 strings .* larger than the 10000 strings/);
});

test('bad literals, keys and fields are CheckpointErrors', async () => {
  await npyRejects(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': os.system('rm -rf /')}\n"), /not a valid Python literal/);
  await npyRejects(npyBytes("{'descr': '<f4', 'shape': (2,)}\n"), /expected exactly \{descr, fortran_order, shape\}/);
  await npyRejects(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}\n"), /expected exactly/);
  await npyRejects(npyBytes("[('descr', '<f4')]\n"), /not a dictionary/);
  await npyRejects(npyBytes("{1: '<f4'}\n"), /non-string key/);
  await npyRejects(npyBytes(hdr("'<f4'", '[2, 3]')), /shape \[2, 3\] is not a tuple of integers/);
  await npyRejects(npyBytes(hdr("'<f4'", '(2, -3)')), /negative dimension/);
  await npyRejects(npyBytes(hdr("'<f4'", "(2, '3')")), /not a tuple of integers/);
  await npyRejects(npyBytes(hdr("'<f4'", '(True,)')), /not a tuple of integers/);
  await npyRejects(npyBytes(hdr("'<f4'", '(2,)', "'yes'")), /fortran_order is 'yes'/);
  await npyRejects(npyBytes(hdr("'<f4'", '(4294967296, 4294967296)')), /too many elements/);
  await npyRejects(npyBytes(hdr("'<f4'", '(3L,)'), new Uint8Array(12), 3), /not a valid Python literal/); // longs only before v3
  await npyRejects(Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 3, 0, 2, 0, 0, 0]), Buffer.from([0x27, 0xff])]), /not valid UTF-8/);
});

test('magic, version and data size are checked', async () => {
  await npyRejects(Buffer.from('PK\x03\x04 not numpy'), /missing the \\x93NUMPY magic/);
  await npyRejects(npyBytes(hdr("'<f4'"), new Uint8Array(8), 4), /unsupported \.npy format version 4\.0/);
  await npyRejects(npyBytes(hdr("'<f4'", '(3,)'), new Uint8Array(8)), /needs 12 bytes .* only 8 \(truncated\)/);
  const ok = await readNpyHeader(new MemorySource(npyBytes(hdr("'<f4'", '(2,)'), new Uint8Array(8)), 'ok.npy'));
  assert.equal(ok.numel, 2);
  const path = join(tmp, 'trailing.npy');
  writeFileSync(path, npyBytes(hdr("'<f4'", '(2,)'), new Uint8Array(11)));
  const ckpt = await openNpy(path);
  assert.match(ckpt.warnings[0], /3 bytes after the array data are ignored/);
  assert.equal(ckpt.tensors[0].name, 'trailing');
  await ckpt.close();
});

test('every truncation of a small .npy is a CheckpointError, and so is garbage', async () => {
  const bytes = readFileSync(join(ARRAYS, 'npy_c_f4.npy'));
  for (let n = 0; n < bytes.length; n++) await npyRejects(bytes.subarray(0, n), /./, 'cut.npy');
  let seed = 99;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 200; i++) {
    const body = Uint8Array.from({ length: 5 + i * 3 }, rand);
    // Half of them get a valid magic so the header parser sees the garbage.
    const bytes2 = i % 2 ? body : Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1 + (i % 3), 0]), body]);
    await npyRejects(bytes2, /./, 'garbage.npy');
  }
});

test('parseNpyHeader reads the header from a prefix and reports the data offset', () => {
  const h = parseNpyHeader(npyBytes(hdr("'>i2'", '(3, 4)', 'True')), 'x.npy');
  assert.deepEqual([h.dtype, h.byteOrder, h.fortranOrder, h.shape, h.nbytes], ['I16', 'big', true, [3, 4], 24]);
  assert.equal(h.dataOffset, 10 + hdr("'>i2'", '(3, 4)', 'True').length);
  assert.equal(parseNpyHeader(npyBytes(hdr("'|u1'", '()')), 'x.npy').numel, 1);
  assert.equal(parseNpyHeader(npyBytes(hdr("'>u1'")), 'x.npy').byteOrder, 'little');
});

// --- bad .npz files ---------------------------------------------------------------------------

/** A minimal zip writer (no ZIP64) for building broken archives. */
function zipOf(entries: { name: string; data: Uint8Array; deflate?: boolean; claimSize?: number }[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const payload = e.deflate ? deflateRawSync(e.data) : Buffer.from(e.data);
    const fields = (b: Buffer, at: number): void => {
      b.writeUInt16LE(e.deflate ? 8 : 0, at);
      b.writeUInt32LE(crc32(e.data), at + 6);
      b.writeUInt32LE(payload.length, at + 10);
      b.writeUInt32LE(e.claimSize ?? e.data.length, at + 14);
      b.writeUInt16LE(name.length, at + 18);
    };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    fields(local, 8);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(0x02014b50, 0);
    cen.writeUInt16LE(20, 4);
    cen.writeUInt16LE(20, 6);
    fields(cen, 10);
    cen.writeUInt32LE(offset, 42);
    locals.push(local, name, payload);
    central.push(cen, name);
    offset += 30 + name.length + payload.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

async function npzRejects(name: string, zip: Buffer, pattern: RegExp): Promise<void> {
  const path = join(tmp, name);
  writeFileSync(path, zip);
  await assert.rejects(openNpz(path), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${(e as Error).stack}`);
    assert.ok(e.message.startsWith(path), e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

test('bad .npz archives: object arrays, corrupt deflate, short entries, not a zip', async () => {
  const f4 = (n: number): Uint8Array => npyBytes(hdr("'<f4'", `(${n},)`), new Uint8Array(4 * n));
  // Object, string and record members are skipped with the reason; the numeric ones open.
  for (const [name, deflate] of [['object.npz', false], ['object-deflated.npz', true]] as const) {
    const p = join(tmp, name);
    const utf32 = new Uint8Array(new Uint32Array([...'hi\0ok!'].map((ch) => ch.codePointAt(0)!)).buffer);
    const big = npyBytes(hdr("'|S1'", '(2000000,)'), new Uint8Array(2000000));
    writeFileSync(p, zipOf([{ name: 'a.npy', data: f4(2) }, { name: 'o.npy', data: npyBytes(hdr("'|O'"), new Uint8Array(10)), deflate }, { name: 's.npy', data: npyBytes(hdr("'<U3'"), utf32), deflate }, { name: 'big.npy', data: big }]));
    const c = await openNpz(p);
    assert.deepEqual(c.tensors.map((t) => t.name), ['a']);
    assert.match(c.warnings.join('\n'), /o: skipped, array holds Python objects/);
    assert.deepEqual(c.values.s, ['hi', 'ok!']);
    assert.match(c.warnings.join('\n'), /big: skipped, dtype "\|S1" array of 2000000 strings \(2000000 bytes\) is larger than/);
    await c.close();
  }
  const corrupt = zipOf([{ name: 'a.npy', data: f4(100), deflate: true }]);
  corrupt.fill(0xff, 30 + 5, 30 + 5 + 8); // scribble over the deflate stream
  await npzRejects('corrupt.npz', corrupt, /a\.npy.*inflate|a\.npy: not a \.npy file/);
  const short = f4(4).subarray(0, f4(4).length - 4);
  await npzRejects('short.npz', zipOf([{ name: 'a.npy', data: short }]), /a\.npy: array data needs 16 bytes .* only 12 \(truncated\)/);
  await npzRejects('short-deflated.npz', zipOf([{ name: 'a.npy', data: short, deflate: true }]), /a\.npy: array data needs 16 bytes .* only 12 \(truncated\)/);
  await npzRejects('notzip.npz', Buffer.from('this is not a zip archive at all, just text'), /not a readable zip archive/);
  // An entry that inflates to more than its directory claims is caught when its values are read.
  const path = join(tmp, 'liar.npz');
  const longer = npyBytes(hdr("'<f4'", '(999,)'), new Uint8Array(4000));
  writeFileSync(path, zipOf([{ name: 'a.npy', data: longer, deflate: true, claimSize: longer.length - 4 }]));
  const ckpt = await openNpz(path);
  try {
    await assert.rejects(readTensor(ckpt.tensors[0]), CheckpointError);
  } finally {
    await ckpt.close();
  }
});

test('.npz: non-array entries warn, directories are ignored, keys keep their slashes', async () => {
  const path = join(tmp, 'mixed.npz');
  writeFileSync(path, zipOf([
    { name: 'dir/', data: new Uint8Array(0) },
    { name: 'layer/w.npy', data: npyBytes(hdr("'<i2'", '(2,)'), Buffer.from([1, 0, 0xff, 0xff])) },
    { name: 'README', data: Buffer.from('hi') },
  ]));
  const ckpt = await openNpz(path);
  try {
    assert.deepEqual(ckpt.tensors.map((t) => t.name), ['layer/w']);
    assert.deepEqual(Array.from(await readTensor(ckpt.tensors[0])), [1, -1]);
    assert.equal(ckpt.warnings.length, 1);
    assert.match(ckpt.warnings[0], /"README" is not a \.npy array/);
  } finally {
    await ckpt.close();
  }
});
