// Statistics of many tensors on several threads. Each thread opens the file itself and takes
// the next tensor when it finishes one, largest tensors first, so the threads end together.
import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Checkpoint, hasValues } from '../core/checkpoint';
import { CancelledError, CheckpointError } from '../core/errors';
import { computeTensorStats, type TensorStats } from './tensorStats';

export type PoolRequest = { type: 'stats'; index: number; name: string };
export type PoolReply =
  | { type: 'result'; index: number; stats: TensorStats }
  | { type: 'error'; index: number; name: string; message: string };

export interface PoolOptions {
  /** Threads to use (default: the machine's cores). 1 computes in this thread. */
  threads?: number;
  /** The bundled worker script (default: statsWorker.js beside this bundle). */
  workerScript?: string;
  isCancelled?: () => boolean;
  /** Called as each tensor's statistics arrive (in completion order). */
  onResult?: (index: number, stats: TensorStats) => void;
  /** Tensor indices to compute (default: all whose values can be decoded). */
  indices?: number[];
}

const SMALL_BYTES = 32 * 1024 * 1024;

/** Statistics of the tensors of `ckpt`, in parallel. Returns them indexed like ckpt.tensors. */
export async function computeAllStats(ckpt: Checkpoint, opts: PoolOptions = {}): Promise<(TensorStats | undefined)[]> {
  const indices = opts.indices ?? ckpt.tensors.flatMap((t, i) => (hasValues(t) ? [i] : []));
  const out: (TensorStats | undefined)[] = new Array(ckpt.tensors.length);
  // Starting a thread costs ~40 ms: small checkpoints are done sooner on this one.
  const bytes = indices.reduce((s, i) => s + ckpt.tensors[i].nbytes, 0);
  const wanted = opts.threads ?? (bytes < SMALL_BYTES ? 1 : availableParallelism());
  const threads = Math.max(1, Math.min(wanted, indices.length));
  if (threads === 1) {
    for (const i of indices) {
      if (opts.isCancelled?.()) throw new CancelledError();
      out[i] = await computeTensorStats(ckpt.tensors[i], { isCancelled: opts.isCancelled });
      opts.onResult?.(i, out[i]!);
    }
    return out;
  }

  const queue = [...indices].sort((a, b) => ckpt.tensors[b].nbytes - ckpt.tensors[a].nbytes);
  const cancelFlag = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancelFlag);
  const script = opts.workerScript ?? join(__dirname, 'statsWorker.js');
  const workers: Worker[] = [];
  const poll = opts.isCancelled ? setInterval(() => opts.isCancelled!() && Atomics.store(flag, 0, 1), 50) : undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      let running = 0;
      let failed = false;
      const fail = (e: Error): void => {
        if (failed) return;
        failed = true;
        Atomics.store(flag, 0, 1);
        reject(e);
      };
      const feed = (w: Worker): void => {
        const i = queue.shift();
        if (i === undefined) {
          if (--running === 0) resolve();
          return;
        }
        w.postMessage({ type: 'stats', index: i, name: ckpt.tensors[i].name } satisfies PoolRequest);
      };
      for (let k = 0; k < threads; k++) {
        const w = new Worker(script, { workerData: { path: ckpt.path, cancelFlag } });
        workers.push(w);
        running++;
        w.on('message', (m: PoolReply) => {
          if (failed) return;
          if (m.type === 'error') {
            fail(m.name === 'CancelledError' ? new CancelledError() : new CheckpointError(ckpt.path, m.message.startsWith(ckpt.path) ? m.message.slice(ckpt.path.length + 2) : m.message));
            return;
          }
          out[m.index] = m.stats;
          opts.onResult?.(m.index, m.stats);
          feed(w);
        });
        w.on('error', (e) => fail(new CheckpointError(ckpt.path, `statistics thread failed: ${e.message}`)));
        w.on('exit', (code) => code !== 0 && fail(new CheckpointError(ckpt.path, `statistics thread exited with code ${code}`)));
        feed(w);
      }
    });
  } finally {
    if (poll) clearInterval(poll);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
