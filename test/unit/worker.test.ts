// The analysis worker in a real worker_threads thread (dist/worker.js; build it first with
// `node scripts/build.mjs`), driven through the host-side RPC (src/extension/workerHost.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { WorkerCrashedError, WorkerHost, WorkerJobError, type Logger } from '../../src/extension/workerHost';
import type { TensorStats } from '../../src/analysis/protocol';
import { isWorkerToHost } from '../../src/analysis/protocol';
import { REPO_ROOT } from '../helpers';
import { tableOf } from '../../src/analysis/core/tensorTable';

const WORKER = join(REPO_ROOT, 'dist', 'worker.js');

// --- a tiny safetensors writer (plain Buffer code) ---------------------------------------------

interface FixtureTensor {
  name: string;
  shape: number[];
  /** F32 values, or a byte size for a tensor of zeros left as a sparse hole in the file. */
  data: Float32Array | { zerosBytes: number };
}

async function writeSafetensors(path: string, tensors: FixtureTensor[], metadata?: Record<string, string>): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const n = t.data instanceof Float32Array ? t.data.byteLength : t.data.zerosBytes;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fh = await fsp.open(path, 'w');
  try {
    await fh.write(Buffer.concat([len, json]), 0, 8 + json.length, 0);
    let at = 8 + json.length;
    for (const t of tensors) {
      if (t.data instanceof Float32Array) {
        await fh.write(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), 0, t.data.byteLength, at);
        at += t.data.byteLength;
      } else at += t.data.zerosBytes;
    }
    await fh.truncate(at); // holes read back as zeros and take no disk space
  } finally {
    await fh.close();
  }
}

function quietLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, trace: add('trace'), debug: add('debug'), info: add('info'), warn: add('warn'), error: add('error') };
}

let dir: string;
let small: string;
let big: string;
let several: string;

const A = Float32Array.from([1, 2, 3, 4, 5, 6]);
const B = Float32Array.from([0, 0, NaN, Infinity, -2, 2, 0, 1]);

before(async () => {
  assert.ok(existsSync(WORKER), `${WORKER} is missing: run \`node scripts/build.mjs\` first`);
  dir = mkdtempSync(join(tmpdir(), 'ckpt-worker-'));
  small = join(dir, 'small.safetensors');
  await writeSafetensors(
    small,
    [
      { name: 'encoder.layer.0.weight', shape: [2, 3], data: A },
      { name: 'encoder.layer.0.bias', shape: [8], data: B },
      { name: 'head.weight', shape: [2, 2], data: Float32Array.from([-1, 1, -1, 1]) },
    ],
    { format: 'pt', note: 'fixture' },
  );
  // 1.6 GB of zeros (sparse): statistics stream it twice, which takes seconds.
  big = join(dir, 'big.safetensors');
  await writeSafetensors(big, [{ name: 'huge', shape: [400_000_000], data: { zerosBytes: 1_600_000_000 } }]);
  // Three 160 MB tensors and one tiny one, for the priority test.
  several = join(dir, 'several.safetensors');
  await writeSafetensors(several, [
    { name: 'a', shape: [40_000_000], data: { zerosBytes: 160_000_000 } },
    { name: 'b', shape: [40_000_000], data: { zerosBytes: 160_000_000 } },
    { name: 'c', shape: [40_000_000], data: { zerosBytes: 160_000_000 } },
    { name: 'tiny', shape: [3], data: Float32Array.from([1, 2, 3]) },
  ]);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Whether `p` is still pending (checked later): a job's order against another's, without a clock. */
function running(p: Promise<unknown>): () => boolean {
  let pending = true;
  p.then(
    () => (pending = false),
    () => (pending = false),
  );
  return () => pending;
}

function newHost(extra: Partial<ConstructorParameters<typeof WorkerHost>[0]> = {}): WorkerHost & { logger: ReturnType<typeof quietLog> } {
  const logger = quietLog();
  const h = new WorkerHost({ workerPath: WORKER, log: logger, ...extra }) as WorkerHost & { logger: ReturnType<typeof quietLog> };
  h.logger = logger;
  return h;
}

describe('analysis worker', () => {
  test('opens a safetensors file: tensors, totals, metadata', async () => {
    const host = newHost();
    try {
      const l = await host.open(small).promise;
      assert.equal(l.format, 'safetensors');
      assert.deepEqual(
        [...tableOf(l.tensors).rows()].map((t) => [t.name, t.dtype, t.shape, t.numel, t.nbytes]),
        [
          ['encoder.layer.0.weight', 'F32', [2, 3], 6, 24],
          ['encoder.layer.0.bias', 'F32', [8], 8, 32],
          ['head.weight', 'F32', [2, 2], 4, 16],
        ].sort(() => 0),
      );
      assert.equal(l.totals.params, 18);
      assert.equal(l.totals.bytes, 72);
      assert.equal(l.totals.tensors, 3);
      assert.deepEqual(l.metadata, { format: 'pt', note: 'fixture' });
      assert.equal(host.workersStarted, 1);
    } finally {
      host.dispose();
    }
  });

  test('the listing names the network recognised from names and shapes (the pickers show it); none for other tensors', async () => {
    const host = newHost();
    try {
      const resnet = await host.open(join(REPO_ROOT, 'demo', 'checkpoints', 'resnet_digits.safetensors')).promise;
      assert.equal(resnet.model?.family, 'resnet');
      assert.match(resnet.model!.description, /^ResNet, BasicBlock blocks \[2, 2, 2, 2\]/);
      const mlp = await host.open(join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.pt')).promise;
      assert.equal(mlp.model?.family, 'mlp');
      assert.equal((await host.open(small).promise).model, undefined);
    } finally {
      host.dispose();
    }
  });

  test('an unreadable file fails the job with an error naming the file; the worker lives on', async () => {
    const host = newHost();
    try {
      const missing = join(dir, 'nope.safetensors');
      await assert.rejects(host.open(missing).promise, (e: Error) => e instanceof WorkerJobError && e.message.includes(missing));
      const l = await host.open(small).promise;
      assert.equal(l.tensors.numel.length, 3);
      assert.equal(host.workersStarted, 1);
    } finally {
      host.dispose();
    }
  });

  test('statistics stream per tensor, with progress', async () => {
    const host = newHost();
    try {
      const items: Record<string, TensorStats | null> = {};
      const progress: number[] = [];
      const r = await host.stats(small, ['encoder.layer.0.weight', 'encoder.layer.0.bias', 'nope'], {
        onItem: (name, s) => void (items[name] = s),
        onProgress: (f) => void progress.push(f),
      }).promise;
      assert.deepEqual(r, { done: 2, failed: 1 });
      const w = items['encoder.layer.0.weight']!;
      assert.equal(w.count, 6);
      assert.equal(w.mean, 3.5);
      assert.equal(w.min, 1);
      assert.equal(w.max, 6);
      assert.ok(Math.abs(w.std! - Math.sqrt(3.5)) < 1e-9);
      assert.equal(w.histogram!.counts.length, 64);
      const b = items['encoder.layer.0.bias']!;
      assert.equal(b.nan, 1);
      assert.equal(b.inf, 1);
      assert.equal(b.zeros, 3);
      assert.equal(b.min, -2);
      assert.equal(items['nope'], null);
      assert.ok(progress.length >= 1 && progress.at(-1) === 1);
    } finally {
      host.dispose();
    }
  });

  test('slice2d returns a downsampled 2-D view with nulls for non-finite cells', async () => {
    const host = newHost();
    try {
      const s = await host.slice2d(small, 'encoder.layer.0.weight', 128, 128).promise;
      assert.equal(s.rows, 2);
      assert.equal(s.cols, 3);
      assert.deepEqual(s.values, [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(s.sourceShape, [2, 3]);
      const big1 = await host.slice2d(small, 'encoder.layer.0.bias', 4, 4).promise;
      assert.equal(big1.rows, 1);
      assert.equal(big1.values.length, big1.cols);
    } finally {
      host.dispose();
    }
  });

  // The flag is what stops it: with a 10 s grace, a job that ignored it would finish (resolve) or be
  // terminated (a second worker), and either fails below. How fast it stopped is logged, not asserted.
  test('a cancelled long job stops on the shared-memory flag, without a restart', async () => {
    const host = newHost({ cancelGraceMs: 10_000, spareWorker: false });
    try {
      let sawProgress!: () => void;
      const progressed = new Promise<void>((r) => (sawProgress = r));
      const t0 = Date.now();
      const job = host.stats(big, ['huge'], { onProgress: (f) => f > 0 && sawProgress() });
      await Promise.race([progressed, new Promise((r) => setTimeout(r, 1500))]);
      const tCancel = Date.now();
      job.cancel();
      await assert.rejects(job.promise, (e: Error) => e.name === 'CancelledError');
      const stopMs = Date.now() - tCancel;
      assert.equal(host.workersStarted, 1, 'the worker was not terminated');
      // The same worker still serves heavy jobs.
      assert.equal((await host.stats(small, ['head.weight']).promise).done, 1);
      assert.equal(host.workersStarted, 1);
      host.logger.lines.push(`info: cancel test: ran ${tCancel - t0} ms, stopped in ${stopMs} ms`);
    } finally {
      host.dispose();
    }
  });

  // The spin never ends on its own, so only the grace timer's restart settles it: a host that
  // never restarted would hang, which the timeout (not a speed bound) turns into a failure.
  test('a job that ignores cancel gets the worker terminated after the grace period and re-created lazily', { timeout: 60_000 }, async () => {
    const host = newHost({ cancelGraceMs: 300, workerData: { testHooks: true } });
    try {
      await host.open(small).promise;
      const spin = host.debug('spin');
      await new Promise((r) => setTimeout(r, 100));
      spin.cancel();
      await assert.rejects(spin.promise, (e: Error) => e.name === 'CancelledError');
      const warn = host.logger.lines.find((l) => l.startsWith('warn:') && l.includes('did not stop'));
      assert.ok(warn, 'the restart is logged');
      assert.ok(Number(/within (\d+) ms/.exec(warn)?.[1]) >= 300, `restarted before the grace period: ${warn}`);
      const l = await host.open(small).promise;
      assert.equal(l.tensors.numel.length, 3);
      assert.equal(host.workersStarted, 2);
    } finally {
      host.dispose();
    }
  });

  test('a light job does not wait behind a long one: it gets a worker of its own', async () => {
    const host = newHost({ cancelGraceMs: 300 });
    try {
      let sawProgress!: () => void;
      const progressed = new Promise<void>((r) => (sawProgress = r));
      const busy = host.stats(big, ['huge'], { onProgress: (f) => f > 0 && sawProgress() });
      const busyRunning = running(busy.promise);
      await progressed;
      const t = Date.now();
      const slice = await host.slice2d(small, 'head.weight').promise;
      const waited = Date.now() - t;
      assert.equal(slice.rows, 2);
      assert.ok(busyRunning(), 'the slice was answered only after the long job ended');
      assert.equal(host.workersStarted, 2);
      busy.cancel();
      await assert.rejects(busy.promise, (e: Error) => e.name === 'CancelledError');
      host.logger.lines.push(`info: light job answered in ${waited} ms beside a long job`);
    } finally {
      host.dispose();
    }
  });

  test('heavy jobs run side by side up to maxWorkers; beyond that one is queued behind named jobs, cancellable, and runs when the long one is cancelled', async () => {
    const host = newHost({ maxWorkers: 1, cancelGraceMs: 5000 });
    try {
      let sawProgress!: () => void;
      const progressed = new Promise<void>((r) => (sawProgress = r));
      const long = host.stats(big, ['huge'], { onProgress: (f) => f > 0 && sawProgress() });
      const longRunning = running(long.promise);
      await progressed;
      let behind: string[] = [];
      const q1 = host.stats(small, ['head.weight'], { onQueued: (b) => (behind = b) });
      assert.deepEqual(behind, ['statistics of big.safetensors']);
      assert.deepEqual(host.jobs().map((j) => [j.label, j.state]), [['statistics of big.safetensors', 'running'], ['statistics of small.safetensors', 'queued']]);
      // Cancelled while queued: settles at once, the long job goes on.
      q1.cancel();
      await assert.rejects(q1.promise, (e: Error) => e.name === 'CancelledError');
      assert.ok(longRunning(), 'the queued job settled only after the long one ended');
      let started = 0;
      const q2 = host.stats(small, ['head.weight'], { onStarted: () => (started = Date.now()) });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(started, 0, 'still queued');
      const tCancel = Date.now();
      long.cancel();
      await assert.rejects(long.promise, (e: Error) => e.name === 'CancelledError');
      assert.equal((await q2.promise).done, 1);
      assert.ok(started >= tCancel, 'q2 started after the long job was cancelled');
      host.logger.lines.push(`info: queued job started ${started - tCancel} ms after the long one was cancelled`);
      // With room for two, the same pair runs side by side.
      host.setMaxWorkers(2);
      const long2 = host.stats(big, ['huge']);
      const long2Running = running(long2.promise);
      let queued = false;
      const short = await host.stats(small, ['head.weight'], { onQueued: () => (queued = true) }).promise;
      assert.equal(short.done, 1);
      assert.equal(queued, false);
      assert.ok(long2Running(), 'the short job finished only after the long one');
      long2.cancel();
      await assert.rejects(long2.promise, (e: Error) => e.name === 'CancelledError');
    } finally {
      host.dispose();
    }
  });

  test('a crashing worker rejects its own jobs with a clear error, not those of other workers; the next job gets a new worker', async () => {
    const host = newHost({ workerData: { testHooks: true }, spareWorker: false });
    try {
      await host.open(small).promise;
      const long = host.stats(big, ['huge']);
      const crash = host.debug('throw');
      await assert.rejects(crash.promise, (e: Error) => e instanceof WorkerCrashedError && /stopped unexpectedly/.test(e.message) && /deliberate crash/.test(e.message));
      assert.ok(host.logger.lines.some((l) => l.startsWith('error:') && l.includes('crashed')));
      assert.equal(host.pendingJobs, 1, 'the long job on the other worker lives on');
      long.cancel();
      await assert.rejects(long.promise, (e: Error) => e.name === 'CancelledError');
      // Reader #1 crashed: the open gets reader #3 (#2 ran the long job).
      assert.equal((await host.open(small).promise).tensors.numel.length, 3);
      assert.equal(host.workersStarted, 3);

      const exit = host.debug('exit');
      await assert.rejects(exit.promise, (e: Error) => e instanceof WorkerCrashedError && /exit code 3/.test(e.message));
      // A heavy job goes to the heavy worker, which lived through both crashes.
      assert.equal((await host.stats(small, ['head.weight']).promise).done, 1);
      assert.equal(host.workersStarted, 3);
    } finally {
      host.dispose();
    }
  });

  // Readers run under their own small heap limit; running out of it is a clear error, and the
  // next light job gets a fresh reader. Heavy jobs never go to a reader.
  test('light jobs run in readers with a small heap: a file too big for it fails clearly, and the next job gets a new reader', async () => {
    const many = join(dir, 'many.safetensors');
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 400_000; i++) header[`block.${i}.weight`] = { dtype: 'F32', shape: [1], data_offsets: [4 * i, 4 * i + 4] };
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    await fsp.writeFile(many, Buffer.concat([len, json, Buffer.alloc(4 * 400_000)]));
    const host = newHost({ readerHeapMb: 64, spareWorker: false });
    try {
      await assert.rejects(host.open(many).promise, (e: Error) => e instanceof WorkerCrashedError && /the reader worker ran out of its 64 MB of memory/.test(e.message));
      assert.equal((await host.open(small).promise).tensors.numel.length, 3);
      assert.equal(host.workersStarted, 2);
      // Statistics of all its tensors are a heavy job: a worker with the analyses' heap opens it.
      assert.equal((await host.stats(many, ['block.0.weight']).promise).done, 1);
      assert.equal(host.workersStarted, 3);
      assert.ok(host.logger.lines.some((l) => /reader worker #1 started .*heap limit 64 MB/.test(l)));
      assert.ok(host.logger.lines.some((l) => /analysis worker #3 started .*heap limit 4096 MB/.test(l)));
    } finally {
      host.dispose();
      await fsp.rm(many, { force: true });
    }
  });

  test('a light job goes to the reader that has its file open, even while that one is busy opening it', async () => {
    const host = newHost({ spareWorker: false });
    try {
      // Asked together (the editor's selection asks statistics and a heatmap at once): one
      // reader opens the file once; a second reader would hold a second copy of its listing.
      const [, slice, stats] = await Promise.all([host.open(several).promise, host.slice2d(several, 'tiny').promise, host.stats(several, ['tiny'], { priority: true }).promise]);
      assert.equal(slice.rows, 1);
      assert.equal(stats.done, 1);
      assert.equal(host.workersStarted, 1);
    } finally {
      host.dispose();
    }
  });

  test('a light job goes to the idle reader that already has its file open', async () => {
    const host = newHost({ spareWorker: false });
    try {
      // Two opens at once take two readers; each then serves its own file.
      await Promise.all([host.open(small).promise, host.open(several).promise]);
      assert.equal(host.workersStarted, 2);
      for (let i = 0; i < 3; i++) {
        await host.slice2d(small, 'head.weight').promise;
        await host.stats(several, ['tiny'], { priority: true }).promise;
      }
      const opens = host.logger.lines.filter((l) => /\[worker\] opened /.test(l));
      assert.deepEqual(opens.length, 2, opens.join('\n'));
    } finally {
      host.dispose();
    }
  });

  test('debug hooks are refused unless enabled', async () => {
    const host = newHost();
    try {
      await assert.rejects(host.debug('exit').promise, /disabled/);
      assert.equal(host.workersStarted, 1);
    } finally {
      host.dispose();
    }
  });

  test('a priority job goes before the tensors a background job has not started yet', async () => {
    const host = newHost();
    try {
      const order: string[] = [];
      let firstProgress!: () => void;
      const started = new Promise<void>((r) => (firstProgress = r));
      const bg = host.stats(several, ['a', 'b', 'c', 'tiny'], {
        onItem: (n) => void order.push(`bg:${n}`),
        onProgress: (f) => f > 0 && firstProgress(),
      });
      await started;
      const pr = host.stats(several, ['tiny'], { priority: true, onItem: (n) => void order.push(`pr:${n}`) });
      await pr.promise;
      await bg.promise;
      const iTiny = order.indexOf('pr:tiny');
      assert.ok(iTiny >= 0 && iTiny < order.indexOf('bg:c'), order.join(' '));
      assert.equal(order.filter((x) => x.startsWith('bg:')).length, 4);
    } finally {
      host.dispose();
    }
  });

  test('dispose rejects new jobs instead of throwing', async () => {
    const host = newHost();
    host.dispose();
    await assert.rejects(host.open(small).promise, WorkerCrashedError);
  });

  test('the worker drops malformed messages and keeps serving', async () => {
    const w = new Worker(WORKER);
    try {
      const replies: unknown[] = [];
      const got = new Promise<void>((resolve) => {
        w.on('message', (m) => {
          assert.ok(isWorkerToHost(m));
          replies.push(m);
          if ((m as { type: string }).type === 'reply') resolve();
        });
      });
      w.postMessage({ type: 'open' }); // no id, no path
      w.postMessage({ type: 'stats', id: 1, path: small, tensors: ['a'], priority: false, cancelFlag: new ArrayBuffer(4) }); // not shared
      w.postMessage('hello');
      w.postMessage({ type: 'open', id: 7, path: small });
      await got;
      const logs = replies.filter((m) => (m as { type: string }).type === 'log' && (m as { message: string }).message.includes('malformed'));
      assert.equal(logs.length, 3);
      assert.equal((replies.at(-1) as { id: number }).id, 7);
    } finally {
      await w.terminate();
    }
  });
});
