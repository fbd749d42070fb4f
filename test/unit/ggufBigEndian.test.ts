// Big-endian GGUF (formats/gguf/gguf.ts, formats/gguf/bigEndian.ts). Fixtures and values from
// test/fixtures/gguf/make_big_endian_fixtures.py: gguf-py's GGUFWriter(endianess=BIG), and a
// gguf-py file converted by llama.cpp's gguf_convert_endian.py; values from gguf-py's reader.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ggufCheckpoint, readGgufHeader } from '../../src/analysis/formats/gguf/gguf';
import { CheckpointError } from '../../src/analysis/core/errors';
import { readTensor } from '../../src/analysis/core/tensorData';
import { FileSource, MemorySource } from '../../src/analysis/io/byteSource';
import { openCheckpoint } from '../../src/analysis/open';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { fixture } from '../helpers';

interface Expected {
  byteOrder: string;
  listing: { name: string; type: string; shape: number[] }[];
  metadata: Record<string, { types: string[]; value?: unknown; length?: number }>;
}
const SHORT: Record<string, string> = { UINT8: 'u8', INT8: 'i8', UINT16: 'u16', INT16: 'i16', UINT32: 'u32', INT32: 'i32', FLOAT32: 'f32', BOOL: 'bool', STRING: 'string', ARRAY: 'array', UINT64: 'u64', INT64: 'i64', FLOAT64: 'f64' };

for (const stem of ['big_endian', 'big_endian_quant']) {
  test(`big-endian GGUF ${stem}: listing, metadata and every decoded value equal gguf-py's`, async () => {
    const want = JSON.parse(readFileSync(fixture('gguf', `${stem}.expected.json`), 'utf8')) as Expected;
    const g = await openCheckpoint(fixture('gguf', `${stem}.gguf`));
    const ref = await openCheckpoint(fixture('gguf', `${stem}.expected.safetensors`));
    try {
      assert.equal(g.format, 'gguf');
      assert.match(String(g.values.GGUF), /big-endian/);
      assert.deepEqual(g.tensors.map((t) => ({ name: t.name, type: t.quant?.type ?? t.dtype, shape: t.shape })), want.listing);
      for (const r of ref.tensors) {
        const t = g.tensors.find((x) => x.name === r.name)!;
        const ours = await readTensor(t);
        const theirs = await readTensor(r);
        assert.equal(ours.length, theirs.length, r.name);
        let bad = -1;
        for (let i = 0; i < ours.length && bad < 0; i++) if (!Object.is(Number(ours[i]), Number(theirs[i]))) bad = i;
        assert.equal(bad, -1, `${r.name}: value ${bad} is ${ours[bad]}, gguf-py gives ${theirs[bad]}`);
        await computeTensorStats(t);
      }
      const src = await FileSource.open(fixture('gguf', `${stem}.gguf`));
      try {
        const h = await readGgufHeader(src);
        assert.equal(h.byteOrder, want.byteOrder);
        for (const [key, e] of Object.entries(want.metadata)) {
          const v = h.kv.get(key);
          assert.ok(v, key);
          assert.equal(v.type, SHORT[e.types[0]], key);
          if (key === 'test.nested') assert.equal(v.length, 2);
          else if (e.types[0] === 'ARRAY') {
            assert.equal(v.length, e.length, key);
            assert.equal(v.elementType, SHORT[e.types[1]], key);
            if (key === 'test.ints') assert.deepEqual((v.value as { value: unknown }[]).slice(0, 6).map((x) => x.value), [-5, -4, -3, -2, -1, 0]);
          } else if (typeof e.value === 'number' && v.type === 'f32') assert.equal(v.value, Math.fround(e.value), key);
          else assert.equal(v.value, e.value, key);
        }
      } finally {
        await src.close();
      }
    } finally {
      await g.close();
      await ref.close();
    }
  });
}

test('big-endian GGUF: a block type with no defined big-endian layout is listed, its values refused with the reason', async () => {
  const g = await openCheckpoint(fixture('gguf', 'big_endian.gguf'));
  try {
    const t = g.tensors.find((x) => x.name === 'q5_k')!;
    assert.equal(t.quant?.kernel, null);
    await assert.rejects(readTensor(t), /Q5_K in a big-endian GGUF: values not decoded \(llama\.cpp's gguf_convert_endian\.py defines/);
    assert.match(String(g.values['Values not decoded (big-endian)']), /^Q5_K: /);
  } finally {
    await g.close();
  }
});

test('big-endian GGUF: 300 seeded byte mutations of the header give a checkpoint or a CheckpointError', async () => {
  const bytes = readFileSync(fixture('gguf', 'big_endian_quant.gguf'));
  const h = await readGgufHeader(new MemorySource(bytes, 'x.gguf'));
  let seed = 777;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let k = 0; k < 300; k++) {
    const m = Uint8Array.from(bytes);
    for (let j = 0; j <= k % 3; j++) m[rand(h.dataStart)] = rand(256);
    try {
      const c = await ggufCheckpoint(`mutation ${k}`, new MemorySource(m, `mutation ${k}`));
      for (const t of c.tensors) await computeTensorStats(t).catch((e: unknown) => assert.ok(e instanceof CheckpointError, `mutation ${k}: ${String(e)}`));
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `mutation ${k}: ${String(e)}`);
    }
  }
});
