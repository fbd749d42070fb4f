import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { readSlice2D, readTensor, tensorChunks } from '../../src/analysis/core/tensorData';
import { MemorySource } from '../../src/analysis/io/byteSource';
import { ggufCheckpoint, readGgufHeader } from '../../src/analysis/formats/gguf/gguf';
import { openCheckpoint } from '../../src/analysis/open';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { checkpointTotals } from '../../src/analysis/stats/totals';
import { REPO_ROOT, close, fixture } from '../helpers';
import { buildGguf, str, u32, u64 } from '../ggufBuilder';
import { JS_KERNELS, KERNELS } from '../../src/analysis/formats/gguf/dequant';
import { GGML_TYPES } from '../../src/analysis/formats/gguf/ggmlTypes';
import { SIMD_TYPES, simdModule } from '../../src/analysis/formats/gguf/simdKernels';

const TYPES = fixture('gguf', 'types.gguf');
interface Expected {
  listing: { name: string; type: string; shape: number[] }[];
  metadata: Record<string, { types: string[]; value?: unknown; length?: number }>;
}
const expected = JSON.parse(readFileSync(fixture('gguf', 'types.expected.json'), 'utf8')) as Expected;

async function withBoth(fn: (g: Checkpoint, ref: Checkpoint) => Promise<void>): Promise<void> {
  const g = await openCheckpoint(TYPES);
  const ref = await openCheckpoint(fixture('gguf', 'types.expected.safetensors'));
  try {
    await fn(g, ref);
  } finally {
    await g.close();
    await ref.close();
  }
}

test('GGUF written by gguf-py: tensors listed with GGUF type names and PyTorch-order shapes', async () => {
  await withBoth(async (g) => {
    assert.equal(g.format, 'gguf');
    assert.deepEqual(
      g.tensors.map((t) => ({ name: t.name, type: t.quant?.type ?? t.dtype, shape: t.shape })),
      expected.listing,
    );
    // Quantization mix: bytes per stored type, the stored bytes of each tensor.
    const totals = checkpointTotals(g);
    const q4k = totals.byDtype.find((d) => d.dtype === 'Q4_K')!;
    assert.equal(q4k.tensors, 2);
    assert.equal(q4k.bytes, 16 * 144 + 6 * 144);
  });
});

test('GGUF dequantization equals gguf-py bit for bit for every decoded type', async () => {
  await withBoth(async (g, ref) => {
    const refByName = new Map(ref.tensors.map((t) => [t.name, t]));
    let checked = 0;
    for (const t of g.tensors) {
      const r = refByName.get(t.name);
      if (!r) continue;
      const ours = await readTensor(t);
      const theirs = await readTensor(r);
      assert.equal(ours.length, theirs.length, t.name);
      let mismatches = 0;
      let worst = 0;
      for (let i = 0; i < ours.length; i++) {
        if (Object.is(ours[i], theirs[i]) || ours[i] === theirs[i]) continue;
        mismatches++;
        worst = Math.max(worst, Math.abs(ours[i] - theirs[i]) / Math.max(Math.abs(theirs[i]), 1e-30));
      }
      assert.equal(mismatches, 0, `${t.name} (${t.quant?.type ?? t.dtype}): ${mismatches} values differ, worst relative error ${worst}`);
      checked++;
    }
    assert.equal(checked, ref.tensors.length);
  });
});

test('GGUF: chunked reads, statistics and heatmap rows agree with the whole tensor', async () => {
  await withBoth(async (g, ref) => {
    for (const name of ['q.q4_k', 'q.q6_k', 'q.iq4_xs', 'cube.q4_k', 'vec.q8_0']) {
      const t = g.tensors.find((x) => x.name === name)!;
      const r = ref.tensors.find((x) => x.name === name)!;
      const whole = await readTensor(r);
      // Chunks smaller than a row, reusing buffers: concatenated they are the whole tensor.
      const parts: number[] = [];
      for await (const c of tensorChunks(t, { chunkBytes: 3000, reuseBuffers: true })) parts.push(...c);
      assert.deepEqual(Float32Array.from(parts), whole, name);
      const ours = await computeTensorStats(t, { chunkBytes: 4096 });
      const theirs = await computeTensorStats(r, { chunkBytes: 4096 });
      // Chunk boundaries differ (stored vs decoded bytes), so sums may differ in the last bits.
      assert.deepEqual(ours.histogram, theirs.histogram, name);
      for (const k of ['mean', 'std', 'l2', 'min', 'max'] as const) assert.ok(close(ours[k], theirs[k], 1e-12), `${name} ${k}`);
      assert.deepEqual([ours.count, ours.zeros, ours.nan, ours.inf], [theirs.count, theirs.zeros, theirs.nan, theirs.inf]);
      const s1 = await readSlice2D(t, 4, 16);
      const s2 = await readSlice2D(r, 4, 16);
      assert.deepEqual(s1, s2, name);
    }
  });
});

test('GGUF metadata: every value type read as gguf-py reads it, arrays with their length', async () => {
  const src = new MemorySource(readFileSync(TYPES), 'types.gguf');
  const h = await readGgufHeader(src);
  const short: Record<string, string> = { UINT8: 'u8', INT8: 'i8', UINT16: 'u16', INT16: 'i16', UINT32: 'u32', INT32: 'i32', FLOAT32: 'f32', BOOL: 'bool', STRING: 'string', ARRAY: 'array', UINT64: 'u64', INT64: 'i64', FLOAT64: 'f64' };
  for (const [key, e] of Object.entries(expected.metadata)) {
    const v = h.kv.get(key);
    assert.ok(v, key);
    assert.equal(v.type, short[e.types[0]], key);
    if (key === 'test.nested') {
      // gguf-py counts the flattened elements; we count the outer array's.
      assert.equal(v.length, 2);
      assert.equal(((v.value as { length?: number }[])[1]).length, 3);
    } else if (e.types[0] === 'ARRAY') {
      assert.equal(v.length, e.length, key);
      assert.equal(v.elementType, short[e.types[1]], key);
    } else if (typeof e.value === 'number' && v.type === 'f32') {
      assert.equal(v.value, Math.fround(e.value), key);
    } else assert.equal(v.value, e.value, key);
  }
  const ckpt = await ggufCheckpoint('types.gguf', src);
  assert.match(String(ckpt.metadata['tokenizer.ggml.tokens']), /^array<string>\[300\]: \["<t0>", "<t1>",.*\(292 more\)\]$/);
  assert.match(String(ckpt.values['Model family']), /^llama/);
  assert.match(String(ckpt.values['Tokenizer']), /llama · 300 tokens · bos 1 "<t1>" · eos 2 "<t2>"/);
  assert.match(String(ckpt.values['Values not decoded']), /IQ2_XXS/);
  assert.match(String(ckpt.values['Dimension order']), /fastest-first/);
});

test('GGUF: a grid-coded type is listed, and reading its values says they are not decoded', async () => {
  await withBoth(async (g) => {
    const t = g.tensors.find((x) => x.name === 'q.iq2_xxs')!;
    assert.equal(t.quant?.type, 'IQ2_XXS');
    await assert.rejects(readTensor(t), /IQ2_XXS: values not decoded/);
  });
});

test('GGUF: the WebAssembly SIMD kernels equal the JavaScript ones bit for bit, across chunk boundaries and on any bytes', () => {
  assert.ok(simdModule(), 'WebAssembly SIMD is available in Node 20, so the SIMD kernels are the ones in use');
  for (const type of SIMD_TYPES) {
    const info = [...GGML_TYPES.values()].find((t) => t.name === type)!;
    assert.equal(info.kernel, KERNELS[type]);
    assert.notEqual(KERNELS[type], JS_KERNELS[type]);
    // Random bytes: scales of every kind (subnormal, NaN, infinite) and 1000+ blocks, more than one chunk.
    for (const nBlocks of [1, 3, 1001, 4099]) {
      const src = new Uint8Array(nBlocks * info.blockBytes + 7);
      let x = 12345 + nBlocks;
      for (let i = 0; i < src.length; i++) src[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
      const a = new Float32Array(nBlocks * info.blockElems + 5).fill(7);
      const b = new Float32Array(a.length).fill(7);
      KERNELS[type](src, nBlocks, a);
      JS_KERNELS[type](src, nBlocks, b);
      const ai = new Uint32Array(a.buffer), bi = new Uint32Array(b.buffer);
      let bad = -1;
      for (let i = 0; i < a.length && bad < 0; i++) if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) bad = i;
      assert.equal(bad, -1, `${type} × ${nBlocks} blocks: value ${bad} is ${a[bad]} (SIMD) vs ${b[bad]} (JS)`);
    }
  }
});

// --- malformed files: each must fail with a clear message, never hang or allocate wildly ----------

const kvString = (key: string, value: string): Uint8Array[] => [str(key), u32(8), str(value)];

test('malformed GGUF files get clear errors', async () => {
  const good = buildGguf({ kv: [kvString('general.architecture', 'llama')], tensors: [{ name: 'w', ne: [32, 2], type: 8, data: new Uint8Array(68) }] });
  const h = await readGgufHeader(new MemorySource(good, 'good.gguf'));
  assert.equal(h.tensors.length, 1);

  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated data', good.subarray(0, good.length - 40), /runs past the end/],
    ['truncated header', good.subarray(0, 40), /truncated|file ends/],
    ['version 1', buildGguf({ version: 1, kv: [], tensors: [] }), /version 1/],
    ['big-endian version, little-endian counts', (() => { const b = buildGguf({ kv: [], tensors: [], tensorCount: 1n }); b.set([0, 0, 0, 3], 4); return b; })(), /beyond any file size/],
    ['absurd tensor count', buildGguf({ kv: [], tensors: [], tensorCount: 2n ** 50n }), /tensor count .* cannot fit/],
    ['absurd kv count', buildGguf({ kv: [], tensors: [], kvCount: 2n ** 62n }), /beyond any file size|cannot fit/],
    ['2^60 string length', buildGguf({ kv: [[u64(2n ** 60n), new Uint8Array(16)]], tensors: [] }), /bytes long, but only|beyond/],
    ['huge array', buildGguf({ kv: [[str('a'), u32(9), u32(4), u64(2n ** 40n)]], tensors: [] }), /array of .* cannot fit/],
    ['unknown value type', buildGguf({ kv: [[str('a'), u32(99), u32(0)]], tensors: [] }), /unknown value type 99/],
    ['unknown tensor type', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [32], type: 77, data: new Uint8Array(64) }] }), /unknown ggml type id 77/],
    ['retired tensor type', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [32], type: 4, data: new Uint8Array(64) }] }), /retired type Q4_2/],
    ['offset past the end', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [32], type: 0, data: new Uint8Array(128), offset: 1n << 40n }] }), /runs past the end/],
    ['misaligned offset', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [32], type: 0, data: new Uint8Array(128), offset: 3n }] }), /not a multiple of the alignment/],
    ['row not whole blocks', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [33], type: 8, data: new Uint8Array(68) }] }), /not a multiple of Q8_0's block of 32/],
    ['too many dims', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [1, 1, 1, 1, 1], type: 0, data: new Uint8Array(4) }] }), /5 dimensions/],
    ['overflowing dims', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [2 ** 30, 2 ** 30, 2 ** 30], type: 0, data: new Uint8Array(4) }] }), /overflow/],
    ['duplicate tensor', buildGguf({ kv: [], tensors: [{ name: 'w', ne: [1], type: 0, data: new Uint8Array(4) }, { name: 'w', ne: [1], type: 0, data: new Uint8Array(4) }] }), /appears twice/],
    ['bad alignment', buildGguf({ kv: [[str('general.alignment'), u32(4), u32(3)]], tensors: [] }), /power-of-two/],
  ];
  for (const [what, bytes, re] of cases) {
    await assert.rejects(readGgufHeader(new MemorySource(bytes, `${what}.gguf`)), (e: Error) => {
      assert.match(e.message, re, `${what}: ${e.message}`);
      assert.ok(e.message.startsWith(`${what}.gguf: `), e.message);
      return true;
    }, what);
  }
});

test('a 26 MB GGUF header (2M-token vocabulary) is read in bounded windows and kept bounded', async () => {
  // Memory stays bounded however large the metadata: the header is read in windows of at most
  // 8 MiB, and long arrays keep their first 64 elements.
  const n = 2_000_000;
  const body = new Uint8Array(n * 13);
  const dv = new DataView(body.buffer);
  for (let i = 0; i < n; i++) {
    dv.setUint32(13 * i, 5, true); // u64 length 5, little-endian
    body.set([116, 111, 107, 101, 110], 13 * i + 8); // "token"
  }
  const file = buildGguf({ kv: [[str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(n), body]], tensors: [{ name: 'w', ne: [32], type: 0, data: new Uint8Array(128) }] });
  let maxRead = 0, total = 0;
  const inner = new MemorySource(file, 'vocab.gguf');
  const src = Object.assign(Object.create(inner) as MemorySource, {
    read: async (offset: number, length: number) => {
      maxRead = Math.max(maxRead, length);
      total += length;
      return inner.read(offset, length);
    },
  });
  const h = await readGgufHeader(src);
  const tokens = h.kv.get('tokenizer.ggml.tokens')!;
  assert.equal(tokens.length, n);
  assert.equal((tokens.value as unknown[]).length, 64);
  assert.equal(h.tensors[0].name, 'w');
  assert.ok(maxRead <= 8 << 20, `largest read ${maxRead} bytes`);
  assert.ok(total <= file.length, `read ${total} bytes of a ${file.length}-byte file`);
});

// --- real files written by llama.cpp (vocab-only GGUFs from its repository) ---------------------

const REAL = join(REPO_ROOT, '..', 'shared', 'realworld', 'github');
for (const name of ['llama.cpp_ggml-vocab-llama-spm.gguf', 'llama.cpp_ggml-vocab-bert-bge.gguf']) {
  const path = join(REAL, name);
  test(`real GGUF ${name}: header, metadata and tokenizer summary`, { skip: existsSync(path) ? false : `${path} absent (real-world files not on this machine)` }, async () => {
    const c = await openCheckpoint(path);
    try {
      assert.equal(c.format, 'gguf');
      const family = String(c.values['Model family']);
      assert.match(family, name.includes('llama-spm') ? /^llama/ : /^bert/);
      assert.match(String(c.values['Tokenizer']), name.includes('llama-spm') ? /^llama · 32000 tokens/ : /^bert · 30522 tokens/);
      assert.match(String(c.metadata['tokenizer.ggml.tokens']), /^array<string>\[\d+\]/);
    } finally {
      await c.close();
    }
  });
}
