import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { CheckpointError } from '../../src/analysis/core/errors';
import { FileSource, MemorySource } from '../../src/analysis/io/byteSource';
import { openTorch, readTorch } from '../../src/analysis/formats/torch';
import { openTorchShards } from '../../src/analysis/formats/torchShards';
import { ZipArchive } from '../../src/analysis/formats/zip';
import { riskSummary } from '../../src/analysis/formats/pickleRisk';
import { checkpointTotals } from '../../src/analysis/stats/totals';
import { computeTensorStats, type TensorStats } from '../../src/analysis/stats/tensorStats';
import { type Part, bytes, fixture } from '../helpers';
import { makeZip } from '../zipBuilder';
import { CountingSource, WorkBudgetError, countDictWalk } from '../workCounter';
import { assertStats } from '../expectations';

const TORCH = fixture('torch');

// --- expectations written by make_torch_fixtures.py from torch.load ----------------------------

interface ExpectedTensor {
  name: string;
  dtype: string;
  shape: number[];
  sharesStorageWith?: string[];
  stats: TensorStats;
}
interface Expected {
  format: string;
  stateDictPrefix: string;
  values: Record<string, unknown>;
  tensors: ExpectedTensor[];
  metadata?: Record<string, unknown>;
}

function expectedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'pickles' && name !== 'malicious') out.push(...expectedFiles(p));
    } else if (name.endsWith('.expected.json')) out.push(p);
  }
  return out.sort();
}


async function assertMatches(ckpt: Checkpoint, exp: Expected, label: string): Promise<void> {
  assert.equal(ckpt.format, exp.format, label);
  assert.equal(ckpt.stateDictPrefix, exp.stateDictPrefix, `${label}: stateDictPrefix`);
  assert.deepEqual(JSON.parse(JSON.stringify(ckpt.values)), exp.values, `${label}: values`);
  assert.deepEqual(ckpt.tensors.map((t) => t.name), exp.tensors.map((t) => t.name), `${label}: tensor names`);
  for (const [i, want] of exp.tensors.entries()) {
    const t = ckpt.tensors[i];
    const where = `${label}: ${t.name}`;
    assert.equal(t.dtype, want.dtype, where);
    assert.deepEqual(t.shape, want.shape, where);
    assert.equal(t.numel, want.shape.reduce((a, b) => a * b, 1), where);
    assert.deepEqual([...(t.sharesStorageWith ?? [])].sort(), [...(want.sharesStorageWith ?? [])].sort(), `${where}: sharesStorageWith`);
    assertStats(await computeTensorStats(t), want.stats, where);
  }
  if (exp.metadata) for (const [k, v] of Object.entries(exp.metadata)) assert.deepEqual(ckpt.metadata[k], v, `${label}: metadata.${k}`);
}

for (const file of expectedFiles(TORCH)) {
  const ckptPath = file.slice(0, -'.expected.json'.length);
  const label = relative(TORCH, ckptPath);
  test(`matches torch.load: ${label}`, async () => {
    const exp = JSON.parse(readFileSync(file, 'utf8')) as Expected;
    const ckpt = ckptPath.endsWith('.index.json') ? await openTorchShards(ckptPath) : await openTorch(ckptPath);
    try {
      await assertMatches(ckpt, exp, label);
    } finally {
      await ckpt.close();
    }
  });
}

test('format metadata: archive version and byte order, legacy sys_info', async () => {
  const zip = await openTorch(join(TORCH, 'mlp_state_dict.pt'));
  assert.equal(zip.metadata.archiveVersion, 3);
  assert.equal(zip.metadata.byteorder, 'little');
  assert.equal(zip.metadata.archiveFolder, 'mlp_state_dict');
  assert.deepEqual(zip.metadata.pickleGlobals, ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2', 'torch.FloatStorage']);
  assert.ok(!(zip.tensors[0].location.source instanceof MemorySource), 'stored records are read in place, not copied');
  await zip.close();
  const be = await openTorch(join(TORCH, 'big_endian.pt'));
  assert.equal(be.metadata.byteorder, 'big');
  assert.ok(be.tensors.every((t) => t.location.byteOrder === 'big'));
  await be.close();
  const legacy = await openTorch(join(TORCH, 'mlp_legacy.pt'));
  assert.equal(legacy.metadata.legacyProtocolVersion, 1001);
  assert.equal(legacy.metadata.little_endian, true);
  assert.deepEqual(JSON.parse(JSON.stringify(legacy.metadata.type_sizes)), { short: 2, int: 4, long: 4 });
  await legacy.close();
  const sharded = await openTorchShards(join(TORCH, 'sharded', 'pytorch_model.bin.index.json'));
  assert.deepEqual(sharded.metadata.shards, ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']);
  assert.ok(sharded.tensors.every((t) => t.storageId?.startsWith('pytorch_model-0000')));
  await sharded.close();
});

test('tied weights and views: one storage id, offsets and strides in elements', async () => {
  const c = await openTorch(join(TORCH, 'tied_views.pt'));
  const by = new Map(c.tensors.map((t) => [t.name, t]));
  assert.equal(by.get('emb.weight')!.storageId, by.get('head.weight')!.storageId);
  assert.equal(by.get('window')!.location.elementOffset, 5);
  assert.deepEqual(by.get('matrix_t')!.location.strides, [1, 5]);
  assert.deepEqual(by.get('strided_rows')!.location.strides, [8, 1]);
  await c.close();
});

// --- laziness ------------------------------------------------------------------------------------

const BIG_FLOATS = 2 * 1024 * 1024; // an 8 MiB storage

test('opening reads the zip directory and data.pkl, never the storages', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-lazy-'));
  try {
    const data = new Uint8Array(BIG_FLOATS * 4);
    new Float32Array(data.buffer).forEach((_, i, a) => (a[i] = i % 7));
    const path = join(dir, 'big.pt');
    writeFileSync(path, makeZip([
      ['big/data.pkl', statePickle([['w', tensorV2('0', BIG_FLOATS, 0, [1024, 2048], [2048, 1])]])],
      ['big/data/0', data],
      ['big/version', enc('3\n')],
    ]));
    const src = new CountingSource(await FileSource.open(path));
    const c = await readTorch(src, path);
    const zip = await ZipArchive.open(await FileSource.open(path));
    const rec = zip.get('big/data/0')!;
    assert.ok(src.bytesRead < 256 * 1024, `read ${src.bytesRead} bytes`);
    for (const [off, len] of src.reads) assert.ok(off + len <= rec.dataOffset || off >= rec.dataOffset + rec.uncompressedSize - 64 * 1024 - 100, `read ${off}+${len} inside the storage`);
    const stats = await computeTensorStats(c.tensors[0]);
    assert.equal(stats.count, BIG_FLOATS);
    assert.equal(stats.max, 6);
    await c.close();
    await zip.source.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('opening a legacy stream reads only the pickles and the 8-byte storage counts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-lazy-'));
  try {
    const floats = new Float32Array(BIG_FLOATS).map((_, i) => i % 5);
    const path = join(dir, 'big_legacy.pt');
    writeFileSync(path, legacyStream(statePickle([['a', tensorV2('1', BIG_FLOATS, 0, [BIG_FLOATS], [1], true)], ['b', tensorV2('2', 4, 1, [3], [1], true)]]), [
      ['1', new Uint8Array(floats.buffer)],
      ['2', new Uint8Array(Float32Array.of(10, 11, 12, 13).buffer)],
    ]));
    const src = new CountingSource(await FileSource.open(path));
    const c = await readTorch(src, path);
    assert.ok(src.bytesRead < 128 * 1024, `read ${src.bytesRead} bytes`);
    assert.deepEqual(c.tensors.map((t) => [t.name, t.shape]), [['a', [BIG_FLOATS]], ['b', [3]]]);
    const b = await computeTensorStats(c.tensors[1]);
    assert.deepEqual([b.min, b.max, b.count], [11, 13, 3]);
    assert.equal((await computeTensorStats(c.tensors[0])).max, 4);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('legacy storage views (view_metadata) index into the root storage', async () => {
  const pid = bytes('(', str('storage'), glob('torch', 'FloatStorage'), str('root'), str('cpu'), 'K', 10, '(', str('view1'), 'K', 2, 'K', 5, 't', 't', 'Q');
  const t = bytes(glob('torch._utils', '_rebuild_tensor_v2'), '(', pid, 'K', 1, '(', 'K', 3, 't', '(', 'K', 1, 't', '\x89', '}', 't', 'R');
  const root = new Float32Array(10).map((_, i) => i);
  const c = await readTorch(new MemorySource(legacyStream(statePickle([['v', t]]), [['root', new Uint8Array(root.buffer)]]), 'views.pt'), 'views.pt');
  const s = await computeTensorStats(c.tensors[0]);
  assert.deepEqual([s.min, s.max, s.count], [3, 5, 3]);
  assert.equal(c.tensors[0].location.storageBytes, 20);
});

// --- hostile and broken files ------------------------------------------------------------------

async function assertRejects(p: Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `${file}: not a CheckpointError: ${(e as Error).stack}`);
    assert.ok(e.message.includes(file), `${file}: message does not name the file: ${e.message}`);
    assert.match(e.message, pattern, file);
    return true;
  });
}

test('malicious pickles open with their danger shown, tensors listed, nothing executed (zip and legacy, top and nested)', async () => {
  const dir = join(TORCH, 'malicious');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, string | null>;
  assert.ok(Object.keys(manifest).length >= 17);
  for (const [name, global] of Object.entries(manifest)) {
    const path = join(dir, name);
    if (!global) {
      await assertRejects(openTorch(path), path, /\(archive\/data\.pkl, byte \d+\)/);
      continue;
    }
    const c = await openTorch(path);
    try {
      assert.equal(c.risk?.verdict, 'dangerous', name);
      const call = c.risk.calls.find((x) => x.callable === global);
      assert.ok(call, `${name}: a call of ${global} is reported (${JSON.stringify(c.risk.calls)})`);
      assert.equal(call.severity, 'dangerous');
      assert.match(call.args, /pwned/);
      assert.ok(c.risk.globals.some((g) => g.name === global && g.risk === 'dangerous'), name);
      assert.match(riskSummary(c.risk) ?? '', new RegExp(`would call ${global.replace('.', '\\.')}\\(`));
      if (name.includes('nested')) assert.deepEqual(c.tensors.map((t) => t.name), ['fc.weight', 'fc.bias'], name);
    } finally {
      await c.close();
    }
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('prototype-named keys stay plain data', async () => {
  const c = await openTorch(join(TORCH, 'proto_keys.pt'));
  assert.deepEqual(c.tensors.map((t) => t.name), ['__proto__', 'constructor']);
  assert.equal(Object.getPrototypeOf(c.values), null);
  assert.ok(Object.prototype.hasOwnProperty.call(c.values.hp, '__proto__'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal(typeof ({}).constructor, 'function');
  await c.close();
});

test('non-checkpoints get a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-bad-'));
  try {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      ['plain.pkl', new Uint8Array(readFileSync(join(TORCH, 'pickles', 'values_p2.pkl'))), /not one written by torch\.save/],
      ['text.pt', enc('hello world, not a checkpoint'), /not a PyTorch checkpoint.*68 65 6c 6c/],
      ['empty.pt', new Uint8Array(0), /not a PyTorch checkpoint/],
      ['preview.pt', enc('PYTORCH1........'), /preview-release/],
      ['flat.zip', makeZip([['a.txt', enc('x')]]), /first entry is not inside a folder/],
      ['other.zip', makeZip([['folder/readme.txt', enc('x')]]), /without folder\/data\.pkl/],
      ['export.pt2', makeZip([['model/archive_format', enc('pt3')], ['model/data.pkl', enc('.')]]), /a torch\.export archive of format "pt3", which this reader does not know/],
      ['early-export.pt2', makeZip([['model/serialized_exported_program.json', enc('{}')], ['model/data.pkl', enc('.')]]), /an early torch\.export archive .* re-save it/],
      ['aoti.pt2', makeZip([['model/archive_format', enc('pt2')], ['model/data/aotinductor/model/model.so', enc('x')]]), /an AOTInductor package/],
      ['proto.pt', legacyStream(statePickle([]), [], 1000), /legacy PyTorch protocol version 1000/],
    ];
    for (const [name, data, pattern] of cases) {
      const p = join(dir, name);
      writeFileSync(p, data);
      await assertRejects(openTorch(p), p, pattern);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('inconsistent archives: missing records, short records, views outside their storage', async () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['missing.pt', makeZip([['m/data.pkl', statePickle([['w', tensorV2('0', 4, 0, [4], [1])]])]]), /storage record m\/data\/0 is missing/],
    ['short.pt', makeZip([['m/data.pkl', statePickle([['w', tensorV2('0', 8, 0, [8], [1])]])], ['m/data/0', new Uint8Array(16)]]), /needs 32 bytes but its record has 16/],
    ['outside.pt', makeZip([['m/data.pkl', statePickle([['w', tensorV2('0', 4, 2, [2, 2], [2, 1])]])], ['m/data/0', new Uint8Array(16)]]), /"w": its view .* reaches outside its storage of 16 bytes/],
    ['order.pt', makeZip([['m/data.pkl', statePickle([])], ['m/byteorder', enc('middle')]]), /unknown byteorder record "middle"/],
    ['legacy_count.pt', legacyStream(statePickle([['w', tensorV2('k', 4, 0, [4], [1], true)]]), [['k', new Uint8Array(12)]]), /storage k: the file holds 3 elements, the pickle says 4/],
  ];
  for (const [name, data, pattern] of cases) await assertRejects(readTorch(new MemorySource(data, name), name), name, pattern);
});

test('truncated files: every cut of a zip and of a legacy stream is a CheckpointError', async () => {
  for (const name of ['mlp_state_dict.pt', 'mlp_legacy.pt', 'tied_views_legacy.pt']) {
    const data = new Uint8Array(readFileSync(join(TORCH, name)));
    for (let n = 0; n < data.length; n++) {
      const label = `cut-${n}-${name}`;
      await assertRejects(readTorch(new MemorySource(data.subarray(0, n), label), label), label, /./);
    }
  }
  // The two cuts named in the brief, through real files: mid-storage and mid-central-directory.
  const dir = mkdtempSync(join(tmpdir(), 'torch-cut-'));
  try {
    const path = join(TORCH, 'mlp_state_dict.pt');
    const data = new Uint8Array(readFileSync(path));
    const zip = await ZipArchive.open(new MemorySource(data, path));
    const rec = zip.get('mlp_state_dict/data/0')!;
    const eocd = data.length - 22;
    const cdStart = new DataView(data.buffer, data.byteOffset).getUint32(eocd + 16, true);
    for (const [what, at] of [['storage', rec.dataOffset + 10], ['central directory', cdStart + 20]] as const) {
      const p = join(dir, `cut-in-${what.replace(' ', '-')}.pt`);
      writeFileSync(p, data.subarray(0, at));
      await assertRejects(openTorch(p), p, /truncated|not a readable zip/);
    }
    const legacy = new Uint8Array(readFileSync(join(TORCH, 'mlp_legacy.pt')));
    const p = join(dir, 'cut-legacy.pt');
    writeFileSync(p, legacy.subarray(0, legacy.length - 10));
    await assertRejects(openTorch(p), p, /storage \S+: \d+ bytes at byte \d+ run past the end of the file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('100 000-level nesting: no stack overflow, a clear error', async () => {
  const deep = 100_000;
  const leaf = tensorV2('0', 1, 0, [1], [1]);
  const obj = bytes('\x80\x02', '}K\x00'.repeat(deep), leaf, 's'.repeat(deep), '.');
  const zipped = makeZip([['d/data.pkl', obj], ['d/data/0', new Uint8Array(4)]]);
  await assertRejects(readTorch(new MemorySource(zipped, 'deep.pt'), 'deep.pt'), 'deep.pt', /nested more than 1000 levels deep/);
  const legacyObj = bytes('\x80\x02', '}K\x00'.repeat(deep), tensorV2('0', 1, 0, [1], [1], true), 's'.repeat(deep), '.');
  const legacy = legacyStream(legacyObj, [['0', new Uint8Array(4)]]);
  await assertRejects(readTorch(new MemorySource(legacy, 'deep_legacy.pt'), 'deep_legacy.pt'), 'deep_legacy.pt', /nested more than 1000 levels deep/);
  // Moderate nesting is fine and named with dots.
  const ok = bytes('\x80\x02', '}K\x00'.repeat(50), leaf, 's'.repeat(50), '.');
  const c = await readTorch(new MemorySource(makeZip([['d/data.pkl', ok], ['d/data/0', new Uint8Array(4)]]), 'ok.pt'), 'ok.pt');
  assert.equal(c.tensors[0].name, Array(50).fill('0').join('.'));
});

// The reader stops flattening at 2 × 2M entry steps (or 64M name characters); besides that it
// walks each distinct container once. A walk that expands shared containers instead (2^40
// entries below) trips this budget and fails at once instead of running for hours.
const FLATTEN_WALK_BUDGET = 2 * 2_000_000 + 100_000;

test('memo sharing cannot blow up flattening: exponential and quadratic DAGs end in a clear error after bounded work', async () => {
  const leaf = tensorV2('0', 1, 0, [1], [1]);
  const source = (name: string, parts: Part[]): MemorySource => new MemorySource(makeZip([[`${name}/data.pkl`, bytes(...parts)], [`${name}/data/0`, new Uint8Array(4)]]), `${name}.pt`);
  const CAPS = /nested more than 1000 levels|more than 2000000 entries|names add up to more than/;
  // d0 = {t: tensor}; d_i = {a: d_{i-1}, b: d_{i-1}}: 2^40 tensor names if expanded naively.
  const dicts: Part[] = ['\x80\x02', '}', str('t'), leaf, 's', 'r', u32(0)];
  for (let i = 1; i <= 40; i++) dicts.push('}', str('a'), 'j', u32(i - 1), 's', str('b'), 'j', u32(i - 1), 's', 'r', u32(i), '0');
  dicts.push('j', u32(40), '.');
  // c_n = {t: tensor}; c_i = {n: c_{i+1}}; root = {k_n: c_n, …, k_1: c_1}: DFS depth stays small,
  // but expanding every key walks ever longer chains (n²/2 entries).
  const n = 3000;
  const chain: Part[] = ['\x80\x02', '}', str('t'), leaf, 's', 'r', u32(n)];
  for (let i = n - 1; i >= 1; i--) chain.push('}', str('n'), 'j', u32(i + 1), 's', 'r', u32(i), '0');
  chain.push('}');
  for (let i = n; i >= 1; i--) chain.push(str(`k${i}`), 'j', u32(i), 's');
  chain.push('.');
  for (const [name, parts] of [['expdict', dicts], ['quad', chain]] as const) {
    const run = await countDictWalk(FLATTEN_WALK_BUDGET, () => readTorch(source(name, parts), `${name}.pt`));
    assert.ok('error' in run, `${name}.pt opened`);
    assert.ok(!(run.error instanceof WorkBudgetError), `${name}.pt: ${(run.error as Error).message} before the reader's caps stopped it`);
    await assertRejects(Promise.reject(run.error), `${name}.pt`, CAPS);
    assert.ok(run.walked > 0, 'the walk was counted');
  }
  // The exponential DAG of lists (not counted: lists are plain arrays) ends in the same caps.
  const lists: Part[] = ['\x80\x02', ']', leaf, 'a', 'r', u32(0)];
  for (let i = 1; i <= 40; i++) lists.push('(', 'j', u32(i - 1), 'j', u32(i - 1), 'l', 'r', u32(i), '0');
  lists.push('j', u32(40), '.');
  await assertRejects(readTorch(source('exp', lists), 'exp.pt'), 'exp.pt', CAPS);
});

test('shard indexes: unsafe names, missing shards and too many shards are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-shards-'));
  try {
    const shard = readFileSync(join(TORCH, 'sharded', 'pytorch_model-00001-of-00002.bin'));
    writeFileSync(join(dir, 'ok.bin'), shard);
    const cases: Array<[unknown, RegExp]> = [
      [{ weight_map: { a: '../secret.bin' } }, /refusing shard name "\.\.\/secret\.bin": contains "\.\."/],
      [{ weight_map: { a: '/etc/passwd' } }, /absolute path/],
      [{ weight_map: { a: 'C:\\x.bin' } }, /absolute path/],
      [{ weight_map: { a: 'https://example.com/x.bin' } }, /a URL/],
      [{ weight_map: { a: 'pytorch_model-00009.bin' } }, /shard pytorch_model-00009\.bin is missing/],
      [{ weight_map: Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`t${i}`, `s${i}.bin`])) }, /more than 10000 shards/],
      [{ metadata: {} }, /no "weight_map" object/],
      [{ weight_map: { a: 5 } }, /is not a file name/],
      [{ weight_map: {} }, /lists no tensors/],
    ];
    for (const [i, [doc, pattern]] of cases.entries()) {
      const p = join(dir, `case${i}.bin.index.json`);
      writeFileSync(p, JSON.stringify(doc));
      await assertRejects(openTorchShards(p), p, pattern);
    }
    const bad = join(dir, 'bad.bin.index.json');
    writeFileSync(bad, '{"weight_map": ');
    await assertRejects(openTorchShards(bad), bad, /not valid JSON/);

    // A tensor the index assigns to a shard that lacks it is a warning, not a failure.
    const partial = join(dir, 'partial.bin.index.json');
    writeFileSync(partial, '{"weight_map": {"0.weight": "ok.bin", "ghost": "ok.bin", "__proto__": "ok.bin"}}');
    const c = await openTorchShards(partial);
    assert.deepEqual(c.tensors.map((t) => t.name), ['0.weight']);
    assert.ok(c.warnings.some((w) => /ok\.bin: 2 tensor\(s\) the index assigns to this shard are not in it \(ghost, __proto__\)/.test(w)), c.warnings.join('\n'));
    assert.ok(c.warnings.some((w) => /1 tensor\(s\) not assigned to this shard/.test(w)));
    await c.close();
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('many shards share a small pool of file handles and reopen on demand', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'torch-pool-'));
  try {
    mkdirSync(join(dir, 'sub'));
    const weightMap: Record<string, string> = {};
    const shards = 40;
    for (let i = 0; i < shards; i++) {
      const values = new Uint8Array(Float32Array.of(0, i, -i, 1).buffer);
      const pkl = statePickle([[`t${i}`, tensorV2('0', 4, 0, [4], [1])]]);
      writeFileSync(join(dir, 'sub', `s${i}.bin`), makeZip([[`s${i}/data.pkl`, pkl], [`s${i}/data/0`, values]]));
      weightMap[`t${i}`] = `sub/s${i}.bin`;
    }
    const p = join(dir, 'many.bin.index.json');
    writeFileSync(p, JSON.stringify({ metadata: { total_size: shards * 16, nested: { ignored: true } }, weight_map: weightMap }));
    const c = await openTorchShards(p);
    assert.equal(c.tensors.length, shards);
    assert.equal(c.metadata.total_size, shards * 16);
    assert.equal(c.metadata.nested, undefined);
    const fds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
    const before = fds();
    // Read every tensor twice, in parallel: handles are evicted and reopened.
    for (let round = 0; round < 2; round++) {
      const stats = await Promise.all(c.tensors.map((t) => computeTensorStats(t)));
      stats.forEach((s, i) => {
        const n = Number(c.tensors[i].name.slice(1));
        assert.ok(s.max === Math.max(n, 1) && s.min === -n, c.tensors[i].name);
      });
    }
    assert.ok(fds() - before <= 16, `${fds() - before} more open files than before reading`);
    await c.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// --- builders for hand-made archives and streams ------------------------------------------------

function enc(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const str = (s: string): Uint8Array => bytes('X', u32(enc(s).length), enc(s));
const glob = (m: string, n: string): string => `c${m}\n${n}\n`;
const int = (n: number): Part[] => (n < 256 ? ['K', n] : ['J', u32(n)]);

/** A `_rebuild_tensor_v2` call over a FloatStorage; legacy ids carry a sixth field (no view). */
function tensorV2(key: string, numel: number, offset: number, size: number[], stride: number[], legacy = false): Uint8Array {
  const pid = bytes('(', str('storage'), glob('torch', 'FloatStorage'), str(key), str('cpu'), ...int(numel), ...(legacy ? ['N'] : []), 't', 'Q');
  return bytes(
    glob('torch._utils', '_rebuild_tensor_v2'), '(', pid, ...int(offset),
    '(', ...size.flatMap(int), 't', '(', ...stride.flatMap(int), 't', '\x89', glob('collections', 'OrderedDict'), ')', 'R', 't', 'R',
  );
}

function statePickle(items: Array<[string, Uint8Array]>): Uint8Array {
  return bytes('\x80\x02', '}', '(', ...items.flatMap(([k, v]) => [str(k), v]), 'u', '.');
}

function legacyStream(obj: Uint8Array, storages: Array<[string, Uint8Array]>, protocol = 1001): Uint8Array {
  const magic = bytes('\x80\x02\x8a\x0a', [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], '.');
  const proto = bytes('\x80\x02', 'M', protocol & 255, protocol >> 8, '.');
  const sysInfo = bytes('\x80\x02', '}', str('little_endian'), '\x88', 's', '.');
  const keys = bytes('\x80\x02', ']', '(', ...storages.map(([k]) => str(k)), 'e', '.');
  const raw = storages.flatMap(([, data]) => {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(data.length / 4), true);
    return [count, data];
  });
  return bytes(magic, proto, sysInfo, obj, keys, ...raw);
}


test('totals.bytes counts each storage once, overlapping views and tied weights included', async () => {
  // torch 1.13: sum of storage().nbytes() over the distinct storages of tied_views.pt = 476.
  const c = await openTorch(join(TORCH, 'tied_views.pt'));
  try {
    assert.equal(checkpointTotals(c).bytes, 476);
  } finally {
    await c.close();
  }
});
