// PyTorch's ≤ 0.1.9 tar format (formats/torchTar.ts). Fixtures and expectations come from
// test/fixtures/make_legacy_tar_fixtures.py, which lays the archives out as that release's
// torch.save did and takes names, shapes, dtypes and statistics from torch 1.13's torch.load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/analysis/core/errors';
import { openCheckpoint, sniff } from '../../src/analysis/open';
import { riskSummary } from '../../src/analysis/formats/pickleRisk';
import { computeTensorStats, type TensorStats } from '../../src/analysis/stats/tensorStats';
import { assertStats } from '../expectations';
import { fixture } from '../helpers';

const DIR = fixture('legacy_tar');

interface Expected {
  format: string;
  stateDictPrefix: string;
  tensors: Array<{ name: string; dtype: string; shape: number[]; stats: TensorStats }>;
  globals: string[];
}

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.expected.json'))) {
  const name = file.slice(0, -'.expected.json'.length);
  test(`legacy tar ${name}: names, shapes, dtypes and statistics equal torch.load's; globals equal pickletools'`, async () => {
    const want = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Expected;
    const c = await openCheckpoint(join(DIR, name));
    try {
      assert.equal(c.format, want.format);
      assert.match(String(c.metadata.legacyFormat), /^tar/);
      assert.deepEqual(c.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
      assert.equal(c.stateDictPrefix, want.stateDictPrefix);
      for (const [i, w] of want.tensors.entries()) {
        const t = c.tensors[i];
        assert.equal(t.dtype, w.dtype, w.name);
        assert.deepEqual(t.shape, w.shape, w.name);
        assertStats(await computeTensorStats(t), w.stats, `${name} ${w.name}`);
      }
      assert.deepEqual([...new Set(c.risk!.globals.map((g) => g.written ?? g.name))].sort(), want.globals);
      assert.notEqual(c.risk!.verdict, 'dangerous');
      assert.deepEqual(c.warnings, []);
    } finally {
      await c.close();
    }
  });
}

test('legacy tar: views share their storage; a storage view shares its root; sys_info is shown', async () => {
  const c = await openCheckpoint(join(DIR, 'views.pt'));
  try {
    const id = (n: string): string | undefined => c.tensors.find((t) => t.name === n)?.storageId;
    for (const n of ['rows', 'column', 'transposed', 'alias']) assert.equal(id(n), id('full'), n);
    for (const n of ['on_view', 'on_view_tail']) assert.equal(id(n), id('root'), n);
    assert.notEqual(id('root'), id('full'));
    assert.equal(c.metadata.protocol_version, 1000);
    assert.equal(c.metadata.little_endian, true);
  } finally {
    await c.close();
  }
});

test('legacy tar: a whole pickled module gives state_dict names, its classes inert and named', async () => {
  const c = await openCheckpoint(join(DIR, 'whole_module.pt'));
  try {
    assert.equal(c.values['head.in_features'], 5);
    assert.equal(c.risk?.verdict, 'unknown-classes');
    assert.match(riskSummary(c.risk!) ?? '', /pylib\.models\.HeadMLP/);
  } finally {
    await c.close();
  }
});

test('legacy tar: os.system in the object pickle or in a tensor record opens with the danger shown, nothing run', async () => {
  for (const name of ['os_system_in_pickle.pt', 'os_system_as_tensor_class.pt']) {
    const c = await openCheckpoint(join(DIR, 'malicious', name));
    try {
      assert.equal(c.risk?.verdict, 'dangerous', name);
      assert.match(riskSummary(c.risk!) ?? '', /DANGEROUS: loading this file with torch\.load would call posix\.system\('echo checkpoint-lens-must-not-run/, name);
      assert.ok(c.tensors.length >= 1, `${name}: tensors still listed`);
      for (const t of c.tensors) await computeTensorStats(t);
    } finally {
      await c.close();
    }
  }
});

test('legacy tar: damaged archives are refused with one clear line', async () => {
  const dir = join(DIR, 'bad');
  // cases.json also says what torch 1.13's torch.load does with each (most fail; a view past its
  // storage is read by growing the storage with uninitialised memory).
  const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Record<string, { why: string; torch: string }>;
  assert.ok(Object.keys(cases).length >= 8);
  for (const [name, { why }] of Object.entries(cases)) {
    await assert.rejects(
      (async () => {
        const c = await openCheckpoint(join(dir, name));
        try {
          for (const t of c.tensors) await computeTensorStats(t);
        } finally {
          await c.close();
        }
      })(),
      (e: unknown) => {
        assert.ok(e instanceof CheckpointError, `${name}: ${String(e)}`);
        assert.ok(!e.message.includes('\n'), `${name}: one line`);
        assert.ok(e.message.includes(why), `${name}: ${e.message}`);
        return true;
      },
    );
  }
});

test('legacy tar: sniffed by content whatever the extension (.pt, .pth, .t7, .bin, .ckpt)', async () => {
  const src = join(DIR, 'dtypes.pt');
  const head = readFileSync(src).subarray(0, 512);
  assert.equal(sniff(head), 'tar');
  assert.equal(sniff(head.subarray(0, 16)), 'unknown', 'a tar is only recognised from its whole first header');
  const tmp = mkdtempSync(join(tmpdir(), 'ckpt-tar-'));
  try {
    for (const ext of ['pth', 't7', 'bin', 'ckpt']) {
      const p = join(tmp, `model.${ext}`);
      copyFileSync(src, p);
      const c = await openCheckpoint(p);
      assert.equal(c.tensors.length, 10, ext);
      await c.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/**
 * Lua Torch7's binary torch.save of a 2-element torch.FloatTensor, laid out as torch7's File.lua
 * writeObject and its Tensor/Storage write do it: int32 type code (4: torch object), int32 object
 * index, the version "V 1" and the class name as int32-length strings, then the tensor's int32
 * dimension count, int64 sizes, strides and 1-based offset, and its storage as object 2.
 */
function luaTorch7Tensor(): Buffer {
  const i32 = (...v: number[]): Buffer => Buffer.from(Int32Array.from(v).buffer);
  const i64 = (...v: number[]): Buffer => Buffer.from(BigInt64Array.from(v, BigInt).buffer);
  const str = (t: string): Buffer => Buffer.concat([i32(t.length), Buffer.from(t, 'latin1')]);
  return Buffer.concat([
    ...[i32(4, 1), str('V 1'), str('torch.FloatTensor')], // object 1: the tensor
    ...[i32(1), i64(2), i64(1), i64(1)], // 1 dimension: size 2, stride 1, offset 1
    ...[i32(4, 2), str('V 1'), str('torch.FloatStorage'), i64(2)], // object 2: its storage of 2
    Buffer.from(Float32Array.of(1.5, -2).buffer),
  ]);
}

test('a Lua Torch7 .t7 (Lua Torch\'s own format) is named as such and refused in one line; PyTorch .t7 files open', async () => {
  const lua = luaTorch7Tensor();
  assert.equal(sniff(lua), 'lua-torch7');
  // A table at the top (type code 3), as `torch.save('m.t7', {model = net})` wrote it.
  const table = Buffer.concat([Buffer.from(Int32Array.of(3, 1, 1).buffer), lua]);
  assert.equal(sniff(table), 'lua-torch7');
  const tmp = mkdtempSync(join(tmpdir(), 'ckpt-lua-'));
  try {
    for (const [name, bytes] of [['model.t7', lua], ['table.t7', table], ['odd.pt', lua]] as const) {
      writeFileSync(join(tmp, name), bytes);
      await assert.rejects(openCheckpoint(join(tmp, name)), (e: Error) => e instanceof CheckpointError && e.message === `${join(tmp, name)}: a Lua Torch7 file (Lua Torch's torch.save), not a PyTorch checkpoint: not read here; PyTorch has not read these since 1.0 (load_lua), the Python package torchfile does`);
    }
    // The PyTorch .t7 files of pytorch-cifar's day start with a pickle (legacy stream) or a tar.
    copyFileSync(join(DIR, 'dtypes.pt'), join(tmp, 'ckpt.t7'));
    const c = await openCheckpoint(join(tmp, 'ckpt.t7'));
    assert.equal(c.tensors.length, 10);
    await c.close();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('legacy tar: every truncation and 300 seeded byte mutations give a checkpoint or a CheckpointError', async () => {
  const bytes = readFileSync(join(DIR, 'nested.pt'));
  const tmp = mkdtempSync(join(tmpdir(), 'ckpt-tar-fuzz-'));
  const p = join(tmp, 'x.pt');
  const attempt = async (data: Uint8Array, label: string): Promise<void> => {
    writeFileSync(p, data);
    try {
      const c = await openCheckpoint(p);
      try {
        for (const t of c.tensors) await computeTensorStats(t);
      } finally {
        await c.close();
      }
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw new Error(`${label}: ${String(e)}`);
      assert.ok(!e.message.includes('\n'), `${label}: one line`);
    }
  };
  try {
    for (let cut = 0; cut < bytes.length; cut += 61) await attempt(bytes.subarray(0, cut), `cut at ${cut}`);
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const used = 4 * 512 + 4096; // mutate the headers and pickles, not only the zero padding
    for (let k = 0; k < 300; k++) {
      const m = Uint8Array.from(bytes);
      for (let j = 0; j <= k % 3; j++) m[rand(Math.min(used, m.length))] = rand(256);
      await attempt(m, `mutation ${k}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
