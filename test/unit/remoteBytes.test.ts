// The live byte counter of a remote checkpoint in the editor: the worker reports the bytes each
// remote file has fetched as they grow (not only at open), and the host sums them over workers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { WorkerHost, type Logger } from '../../src/extension/workerHost';
import { REPO_ROOT } from '../helpers';
import { startServer } from '../httpServer';
import { tableOf } from '../../src/analysis/core/tensorTable';

const WORKER = join(REPO_ROOT, 'dist', 'worker.js');
const quiet: Logger = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: (m) => console.error(m) };

async function until(what: string, ok: () => boolean, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A safetensors file of four 64 KiB F32 tensors, so statistics read well past the header's first block. */
function safetensors(): Uint8Array {
  const header: Record<string, unknown> = {};
  const n = 128 * 128;
  for (let i = 0; i < 4; i++) header[`w${i}`] = { dtype: 'F32', shape: [128, 128], data_offsets: [i * n * 4, (i + 1) * n * 4] };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = new Float32Array(4 * n).map((_, i) => Math.sin(i));
  return Buffer.concat([len, json, Buffer.from(data.buffer)]);
}

test('a remote checkpoint\'s byte counter grows as statistics fetch tensor bytes, and ends equal to what the server sent', async () => {
  const server = await startServer({ '/st.safetensors': { data: safetensors() } });
  const host = new WorkerHost({ workerPath: WORKER, log: quiet });
  const url = `${server.url}/st.safetensors`;
  const seen: number[] = [];
  host.onRemoteBytes = (path, bytes) => {
    if (path === url) seen.push(bytes);
  };
  try {
    const listing = await host.open(url).promise;
    const atOpen = listing.remote!.bytesFetched;
    assert.ok(atOpen > 0 && atOpen <= 65537, `opening fetched ${atOpen} bytes`);
    await host.stats(url, [...tableOf(listing.tensors).names()]).promise;
    await until('the counter to reach the bytes the server sent', () => seen.at(-1) === server.bytesSent);
    assert.ok(seen.at(-1)! > atOpen, `counter ${seen.at(-1)} after statistics, ${atOpen} at open`);
    // Growing, never shrinking.
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1]);
    // A closed editor's counts are forgotten: a reopen counts from zero.
    host.close(url);
    host.forgetRemoteBytes(url);
    seen.length = 0;
    const before = server.bytesSent;
    await host.open(url).promise;
    await until('the reopened file\'s header bytes', () => seen.length > 0);
    assert.equal(seen.at(-1), server.bytesSent - before);
  } finally {
    host.dispose();
    await server.close();
  }
});
