// One pool of worker threads for independent tasks (statistics of many tensors, the points of
// an interpolation path): a bundled worker script per thread, one shared cancel flag, and the
// next task handed to whichever thread finishes first. Callers only say how a task becomes a
// message and how a reply reads back; statsPool and pathPool are thin wrappers over it.
import { Worker } from 'node:worker_threads';
import { CancelledError } from './errors';

/** A reply from a pool thread, as the caller decodes it. */
export type TaskReply<R> =
  | { type: 'ready' }
  /** A message the decoder handled itself (progress within a task); the thread keeps its task. */
  | { type: 'progress' }
  | { type: 'result'; index: number; result: R }
  | { type: 'error'; error: Error };

export interface ThreadPoolOptions<R> {
  /** The bundled worker script each thread runs. */
  script: string;
  /** Passed to every thread, with `cancelFlag` (a 4-byte SharedArrayBuffer) added. */
  workerData: Record<string, unknown>;
  threads: number;
  /** Task indices in the order they are handed out. */
  order: readonly number[];
  /** The message that asks a thread to run task `index`. */
  request: (index: number) => unknown;
  /** Reads a thread's message. */
  decode: (message: unknown) => TaskReply<R>;
  /** Threads announce `ready` (after their own setup) before they are given a task. */
  waitReady?: boolean;
  isCancelled?: () => boolean;
  /** Called as each result arrives (in completion order). */
  onResult?: (index: number, result: R) => void;
  /** The error for a thread that crashed or exited (`what` says how). */
  threadError: (what: string) => Error;
  /** How often the caller's isCancelled is copied into the shared flag (default 25 ms). */
  pollMs?: number;
}

/** Runs every task of `order` on `threads` threads; rejects on the first error or on cancel. */
export async function runThreadPool<R>(opts: ThreadPoolOptions<R>): Promise<void> {
  const queue = [...opts.order];
  if (queue.length === 0) return;
  const cancelFlag = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancelFlag);
  const workers: Worker[] = [];
  const isCancelled = opts.isCancelled;
  const poll = isCancelled ? setInterval(() => isCancelled() && Atomics.store(flag, 0, 1), opts.pollMs ?? 25) : undefined;
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
        if (isCancelled?.()) return fail(new CancelledError());
        const i = queue.shift();
        if (i === undefined) {
          if (--running === 0) resolve();
          return;
        }
        w.postMessage(opts.request(i));
      };
      const threads = Math.max(1, Math.min(opts.threads, queue.length));
      for (let k = 0; k < threads; k++) {
        const w = new Worker(opts.script, { workerData: { ...opts.workerData, cancelFlag } });
        workers.push(w);
        running++;
        w.on('message', (raw: unknown) => {
          if (failed) return;
          const m = opts.decode(raw);
          if (m.type === 'ready') return feed(w);
          if (m.type === 'progress') return;
          if (m.type === 'error') return fail(m.error);
          opts.onResult?.(m.index, m.result);
          feed(w);
        });
        w.on('error', (e) => fail(opts.threadError(`failed: ${e.message}`)));
        w.on('exit', (code) => code !== 0 && fail(opts.threadError(`exited with code ${code}`)));
        if (!opts.waitReady) feed(w);
      }
    });
  } finally {
    if (poll) clearInterval(poll);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
