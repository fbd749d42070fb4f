// Statistics of many tensors on several threads. Each thread opens the file itself and takes
// the next tensor when it finishes one, largest tensors first, so the threads end together
// (core/threadPool does the handing out).
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { type Checkpoint, hasValues } from '../core/checkpoint';
import { CancelledError, CheckpointError } from '../core/errors';
import { runThreadPool } from '../core/threadPool';
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

  const path = ckpt.path;
  await runThreadPool<TensorStats>({
    script: opts.workerScript ?? join(__dirname, 'statsWorker.js'),
    workerData: { path },
    threads,
    order: [...indices].sort((a, b) => ckpt.tensors[b].nbytes - ckpt.tensors[a].nbytes),
    request: (i) => ({ type: 'stats', index: i, name: ckpt.tensors[i].name }) satisfies PoolRequest,
    decode: (raw) => {
      const m = raw as PoolReply;
      if (m.type === 'result') return { type: 'result', index: m.index, result: m.stats };
      const message = m.message.startsWith(path) ? m.message.slice(path.length + 2) : m.message;
      return { type: 'error', error: m.name === 'CancelledError' ? new CancelledError() : new CheckpointError(path, message) };
    },
    isCancelled: opts.isCancelled,
    pollMs: 50,
    onResult: (i, stats) => {
      out[i] = stats;
      opts.onResult?.(i, stats);
    },
    threadError: (what) => new CheckpointError(path, `statistics thread ${what}`),
  });
  return out;
}
