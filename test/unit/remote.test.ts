import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, openSync, closeSync, ftruncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { readTensor } from '../../src/analysis/core/tensorData';
import { HttpSource, NoRangeSupportError } from '../../src/analysis/io/httpSource';
import { openRemoteCheckpoint, parseHubRef, resolveRemote } from '../../src/analysis/io/remote';
import { openCheckpoint } from '../../src/analysis/open';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT, fixture } from '../helpers';
import { startServer, type TestServer } from '../httpServer';
import { buildGguf, str, u32, u64 } from '../ggufBuilder';

const bytesOf = (...p: string[]): Uint8Array => new Uint8Array(readFileSync(fixture(...p)));
const FAST = { backoffMs: 5, idleTimeoutMs: 2000 };

let server: TestServer;
before(async () => {
  server = await startServer({
    '/st.safetensors': { data: bytesOf('arrays', 'st_all_dtypes.safetensors') },
    '/types.gguf': { data: bytesOf('gguf', 'types.gguf') },
    '/dtypes.pt': { data: bytesOf('torch', 'dtypes.pt') },
    '/stored.npz': { data: bytesOf('arrays', 'npz_stored.npz') },
    '/compressed.npz': { data: bytesOf('arrays', 'npz_compressed.npz') },
    '/npy_fortran_f8.npy': { data: bytesOf('arrays', 'npy_fortran_f8.npy') },
    '/sharded/model.safetensors.index.json': { data: bytesOf('arrays', 'sharded', 'model.safetensors.index.json') },
    '/sharded/model-00001-of-00002.safetensors': { data: bytesOf('arrays', 'sharded', 'model-00001-of-00002.safetensors') },
    '/sharded/model-00002-of-00002.safetensors': { data: bytesOf('arrays', 'sharded', 'model-00002-of-00002.safetensors') },
  });
});
after(() => server.close());

/** Listing and statistics of every tensor, for comparing a remote file with its local copy. */
async function summary(c: Checkpoint): Promise<unknown> {
  const out = [];
  for (const t of c.tensors) {
    const readable = !t.quant || t.quant.kernel;
    out.push({ name: t.name, dtype: t.quant?.type ?? t.dtype, shape: t.shape, stats: readable ? await computeTensorStats(t) : null });
  }
  return { format: c.format, metadata: c.metadata, values: c.values, tensors: out };
}

for (const [remote, local] of [
  ['/st.safetensors', ['arrays', 'st_all_dtypes.safetensors']],
  ['/types.gguf', ['gguf', 'types.gguf']],
  ['/dtypes.pt', ['torch', 'dtypes.pt']],
  ['/stored.npz', ['arrays', 'npz_stored.npz']],
  ['/compressed.npz', ['arrays', 'npz_compressed.npz']],
  ['/npy_fortran_f8.npy', ['arrays', 'npy_fortran_f8.npy']],
  ['/sharded/model.safetensors.index.json', ['arrays', 'sharded', 'model.safetensors.index.json']],
] as const) {
  test(`remote ${remote}: same listing and statistics as the local file`, async () => {
    const r = await openRemoteCheckpoint(server.url + remote, FAST);
    const l = await openCheckpoint(fixture(...local));
    try {
      const rs = (await summary(r)) as { metadata: unknown };
      const ls = (await summary(l)) as { metadata: unknown };
      assert.deepEqual(rs, ls);
      assert.ok(r.bytesFetched() > 0);
    } finally {
      await r.close();
      await l.close();
    }
  });
}

test('openCheckpoint takes URLs; redirects are followed', async () => {
  const c = await openCheckpoint(`${server.url}/redirect/types.gguf`);
  try {
    assert.equal(c.format, 'gguf');
    const t = c.tensors.find((x) => x.name === 'q.q4_k')!;
    assert.equal((await readTensor(t)).length, 4096);
  } finally {
    await c.close();
  }
});

test('a multi-GB sharded model is listed through a few KB of range requests', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-remote-'));
  try {
    // Two sparse 1.5 GB shards: a real safetensors header, then a hole the size of the tensors.
    const weightMap: Record<string, string> = {};
    for (let s = 1; s <= 2; s++) {
      const name = `model-0000${s}-of-00002.safetensors`;
      const header: Record<string, unknown> = {};
      let off = 0;
      for (let i = 0; i < 6; i++) {
        const n = 4096 * 16384; // 64M F32... as BF16: 128 MiB each
        header[`layers.${s}.${i}.weight`] = { dtype: 'BF16', shape: [4096, 16384], data_offsets: [off, off + n * 2] };
        weightMap[`layers.${s}.${i}.weight`] = name;
        off += n * 2;
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      const fd = openSync(join(dir, name), 'w');
      writeSync(fd, len);
      writeSync(fd, json);
      ftruncateSync(fd, 8 + json.length + off);
      closeSync(fd);
      server.files.set(`/big/${name}`, { file: join(dir, name) });
    }
    server.files.set('/big/model.safetensors.index.json', { data: Buffer.from(JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap })) });
    const before = server.bytesSent;
    const c = await openRemoteCheckpoint(`${server.url}/big/model.safetensors.index.json`, FAST);
    try {
      assert.equal(c.tensors.length, 12);
      assert.equal(c.tensors.reduce((a, t) => a + t.nbytes, 0), 12 * 4096 * 16384 * 2);
      const sent = server.bytesSent - before;
      assert.ok(sent < 1_000_000, `listing fetched ${sent} bytes`);
      assert.equal(c.bytesFetched(), sent);
    } finally {
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a remote GGUF costs little more than its header: the header window starts small and grows with the metadata', async () => {
  // 4 MiB of F32 values behind a header of a few hundred bytes: the old 1 MiB window fetched 1 MiB.
  const values = new Float32Array(1 << 20).map((_, i) => Math.cos(i));
  const small = buildGguf({ kv: [[str('general.architecture'), u32(8), str('llama')]], tensors: [{ name: 'w', ne: [1024, 1024], type: 0, data: new Uint8Array(values.buffer) }] });
  // A 150k-token vocabulary: about 2 MB of strings to read before the tensor list.
  const tokens = Array.from({ length: 150_000 }, (_, i) => `tok_${i}_${'x'.repeat(i % 7)}`);
  const vocab = buildGguf({
    kv: [[str('general.architecture'), u32(8), str('llama')], [str('tokenizer.ggml.tokens'), u32(9), u32(8), u64(tokens.length), ...tokens.map((t) => str(t))]],
    tensors: [{ name: 'w', ne: [1024, 1024], type: 0, data: new Uint8Array(values.buffer) }],
  });
  server.files.set('/small.gguf', { data: small });
  server.files.set('/vocab.gguf', { data: vocab });
  for (const [path, file] of [['/small.gguf', small], ['/vocab.gguf', vocab]] as const) {
    const before = server.bytesSent, requests = server.requests.length;
    const c = await openRemoteCheckpoint(server.url + path, FAST);
    try {
      const sent = server.bytesSent - before;
      const headerBytes = file.length - values.byteLength;
      assert.equal(c.tensors.length, 1);
      assert.equal(c.bytesFetched(), sent);
      // Past the header: at most the last (doubled) window and the rounding to 64 KiB cache blocks.
      assert.ok(sent <= 2 * headerBytes + 2 * 65536, `${path}: listing fetched ${sent} bytes for a ${headerBytes}-byte header`);
      assert.ok(server.requests.length - requests <= 12, `${path}: ${server.requests.length - requests} requests`);
      if (path === '/small.gguf') assert.ok(sent <= 65537, `${sent} bytes`);
      // Values still read correctly after the header.
      assert.deepEqual(await readTensor(c.tensors[0]), values);
    } finally {
      await c.close();
    }
  }
});

// --- faults ---------------------------------------------------------------------------------

test('a server without Range support is refused clearly, unless a full download is allowed', async () => {
  server.files.set('/norange.gguf', { data: bytesOf('gguf', 'types.gguf'), faults: { noRange: true } });
  await assert.rejects(HttpSource.open(`${server.url}/norange.gguf`, FAST), (e: Error) => {
    assert.ok(e instanceof NoRangeSupportError);
    assert.match(e.message, /does not support Range requests.*downloading the whole file \(34080 bytes\); refused/);
    return true;
  });
  const c = await openRemoteCheckpoint(`${server.url}/norange.gguf`, { ...FAST, allowFullDownload: true });
  try {
    assert.equal(c.tensors.length, 24);
    assert.equal(c.bytesFetched(), 34080);
  } finally {
    await c.close();
  }
});

test('4xx errors fail at once with the cause first; a token goes to the Hub host only', async () => {
  await assert.rejects(openRemoteCheckpoint(`${server.url}/missing.safetensors`, FAST), /missing\.safetensors: HTTP 404 Not Found \(not found/);
  server.files.set('/gated.safetensors', { data: bytesOf('arrays', 'st_all_dtypes.safetensors'), faults: { failStatus: 401 } });
  await assert.rejects(openRemoteCheckpoint(`${server.url}/gated.safetensors`, FAST), /HTTP 401.*HF_TOKEN/);
  assert.equal(server.requests.filter((r) => r.path === '/gated.safetensors').length, 1, 'no retries on 4xx');
  // Not the Hub endpoint: no Authorization header even with a token.
  server.requests.length = 0;
  const c = await openRemoteCheckpoint(`${server.url}/st.safetensors`, { ...FAST, token: 'secret', endpoint: 'https://hub.invalid' });
  await c.close();
  assert.ok(server.requests.every((r) => r.auth === undefined));
});

test('5xx answers are retried with backoff; persistent ones fail after a bounded number of attempts', async () => {
  server.files.set('/flaky.gguf', { data: bytesOf('gguf', 'types.gguf'), faults: { failStatus: 503, failTimes: 2 } });
  const c = await openRemoteCheckpoint(`${server.url}/flaky.gguf`, FAST);
  await c.close();
  server.files.set('/down.gguf', { data: bytesOf('gguf', 'types.gguf'), faults: { failStatus: 500 } });
  const before = server.requests.length;
  await assert.rejects(openRemoteCheckpoint(`${server.url}/down.gguf`, { ...FAST, retries: 3 }), /HTTP 500.*after 4 attempts/);
  assert.equal(server.requests.length - before, 4);
});

test('a connection reset mid-body is resumed after the bytes received; values equal the local file', async () => {
  const data = bytesOf('gguf', 'types.gguf');
  server.files.set('/reset.gguf', { data, faults: {} });
  const c = await openRemoteCheckpoint(`${server.url}/reset.gguf`, { ...FAST, cacheBytes: 0 });
  const l = await openCheckpoint(fixture('gguf', 'types.gguf'));
  try {
    // From now on, the next two responses are cut after 100 bytes.
    server.files.get('/reset.gguf')!.faults = { resetAfter: 100, resetTimes: 2 };
    const t = c.tensors.find((x) => x.name === 'q.q8_k')!;
    const want = await readTensor(l.tensors.find((x) => x.name === 'q.q8_k')!);
    assert.deepEqual(await readTensor(t), want);
    const ranges = server.requests.filter((r) => r.path === '/reset.gguf').map((r) => r.range);
    assert.ok(ranges.length >= 3, `expected resumed requests, saw ${ranges.join(' ')}`);
    // Persistent resets end in a clear error, not a hang.
    server.files.get('/reset.gguf')!.faults = { resetAfter: 10 };
    const t2 = c.tensors.find((x) => x.name === 'q.q6_k')!;
    await assert.rejects(readTensor(t2), /failed after 5 attempts: .*(closed after|mid-body)/);
  } finally {
    await c.close();
    await l.close();
  }
});

test('a stalled server times out and is retried, then reported', async () => {
  server.files.set('/stall.gguf', { data: bytesOf('gguf', 'types.gguf'), faults: { stallMs: 400 } });
  await assert.rejects(openRemoteCheckpoint(`${server.url}/stall.gguf`, { backoffMs: 5, idleTimeoutMs: 100, retries: 1 }), /failed after 2 attempts: no (response|data) (within|for) 100 ms/);
});

test('a file that changes between requests (ETag) is a clear error', async () => {
  server.files.set('/changing.gguf', { data: bytesOf('gguf', 'types.gguf'), faults: {} });
  const c = await openRemoteCheckpoint(`${server.url}/changing.gguf`, { ...FAST, cacheBytes: 0 });
  try {
    // The file is replaced after the header was read.
    server.files.get('/changing.gguf')!.faults = { changeEtagAfter: 1 };
    const t = c.tensors.find((x) => x.name === 'q.q8_k')!;
    await assert.rejects(readTensor(t), /file changed on the server.*ETag "v1" became "v2"/);
  } finally {
    await c.close();
  }
});

// --- Hub references ---------------------------------------------------------------------------

test('Hub shorthands resolve to resolve/ URLs; a repo id finds its main checkpoint; HF_TOKEN is sent to the Hub', async () => {
  assert.deepEqual(parseHubRef('hf://org/repo@v1.0/sub/model.gguf'), { repo: 'org/repo', revision: 'v1.0', file: 'sub/model.gguf' });
  assert.deepEqual(parseHubRef('org/repo'), { repo: 'org/repo', revision: 'main', file: undefined });
  assert.equal(parseHubRef('./runs/ckpt'), undefined);
  assert.equal(parseHubRef('hf://org/repo/../x'), undefined);
  const opts = { ...FAST, endpoint: server.url, token: 'hf_test' };
  assert.equal(await resolveRemote('hf://org/repo@dev/model.gguf', opts), `${server.url}/org/repo/resolve/dev/model.gguf`);
  server.files.set('/api/models/org/repo/tree/main', { data: Buffer.from(JSON.stringify([
    { type: 'file', path: 'README.md', size: 10 },
    { type: 'directory', path: 'sub' },
    { type: 'file', path: 'model.safetensors', size: 1 },
  ])) });
  server.files.set('/org/repo/resolve/main/model.safetensors', { data: bytesOf('arrays', 'st_all_dtypes.safetensors') });
  server.requests.length = 0;
  const c = await openRemoteCheckpoint('org/repo', opts);
  try {
    assert.equal(c.format, 'safetensors');
    assert.ok(server.requests.length >= 2 && server.requests.every((r) => r.auth === 'Bearer hf_test'));
  } finally {
    await c.close();
  }
});

test('ckpt-lens inspect URL --stats --json equals the local file\'s output and reports the bytes fetched', async () => {
  const run = promisify(execFile);
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const remote = await run(process.execPath, [cli, 'inspect', `${server.url}/types.gguf`, '--stats', '--json', '--threads', '1']);
  const local = await run(process.execPath, [cli, 'inspect', fixture('gguf', 'types.gguf'), '--stats', '--json', '--threads', '1']);
  assert.deepEqual(JSON.parse(remote.stdout).tensors, JSON.parse(local.stdout).tensors);
  assert.match(remote.stderr, /fetched [\d.]+ KB from the server/);
});
