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

/** What a pool is made with (the parts of ThreadPoolOptions that do not change between runs). */
export type PoolSetup<R> = Pick<ThreadPoolOptions<R>, 'script' | 'workerData' | 'threads' | 'decode' | 'waitReady' | 'threadError' | 'pollMs'>;

/** One batch of tasks for a pool (the parts of ThreadPoolOptions that do). */
export type PoolRun<R> = Pick<ThreadPoolOptions<R>, 'order' | 'request' | 'isCancelled' | 'onResult'>;

interface ActiveRun<R> {
  run: PoolRun<R>;
  queue: number[];
  /** Tasks whose results have not arrived. */
  pending: number;
  poll?: ReturnType<typeof setInterval>;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * Threads started once and given several batches of tasks in turn (the LLC sweep's cells run on
 * one pool instead of starting threads per cell). A run that fails or is cancelled closes the
 * pool: its threads may still be inside tasks of that run, so they are not reused.
 */
export class ThreadPool<R> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly flag: Int32Array;
  private active?: ActiveRun<R>;
  private failure?: Error;
  private closed = false;
  private closing?: Promise<void>;

  constructor(private readonly setup: PoolSetup<R>) {
    const cancelFlag = new SharedArrayBuffer(4);
    this.flag = new Int32Array(cancelFlag);
    for (let k = 0; k < Math.max(1, setup.threads); k++) {
      const w = new Worker(setup.script, { workerData: { ...setup.workerData, cancelFlag } });
      this.workers.push(w);
      w.on('message', (raw: unknown) => this.onMessage(w, raw));
      w.on('error', (e) => this.fail(setup.threadError(`failed: ${e.message}`)));
      w.on('exit', (code) => code !== 0 && !this.closed && this.fail(setup.threadError(`exited with code ${code}`)));
      if (!setup.waitReady) this.idle.push(w);
    }
  }

  /** Runs every task of `run.order`; rejects on the first error or on cancel (and the pool closes). */
  runTasks(run: PoolRun<R>): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the thread pool is closed'));
    if (this.active) return Promise.reject(new Error('the thread pool is busy'));
    if (run.order.length === 0) return Promise.resolve();
    Atomics.store(this.flag, 0, 0);
    return new Promise<void>((resolve, reject) => {
      const isCancelled = run.isCancelled;
      const poll = isCancelled ? setInterval(() => isCancelled() && Atomics.store(this.flag, 0, 1), this.setup.pollMs ?? 25) : undefined;
      this.active = { run, queue: [...run.order], pending: run.order.length, poll, resolve, reject };
      for (const w of this.idle.splice(0)) this.feed(w);
    });
  }

  private feed(w: Worker): void {
    const a = this.active;
    if (!a) {
      this.idle.push(w);
      return;
    }
    if (a.run.isCancelled?.()) return this.fail(new CancelledError());
    const i = a.queue.shift();
    if (i === undefined) {
      this.idle.push(w);
      return;
    }
    w.postMessage(a.run.request(i));
  }

  private onMessage(w: Worker, raw: unknown): void {
    if (this.failure || this.closed) return;
    const m = this.setup.decode(raw);
    if (m.type === 'ready') return this.feed(w);
    if (m.type === 'progress') return;
    if (m.type === 'error') return this.fail(m.error);
    const a = this.active;
    if (!a) return;
    a.run.onResult?.(m.index, m.result);
    if (--a.pending === 0) {
      this.idle.push(w);
      this.finish(a);
      a.resolve();
      return;
    }
    this.feed(w);
  }

  private finish(a: ActiveRun<R>): void {
    if (a.poll) clearInterval(a.poll);
    if (this.active === a) this.active = undefined;
  }

  /** The first error (or cancel) fails the run in progress and closes the pool. */
  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    Atomics.store(this.flag, 0, 1);
    const a = this.active;
    if (a) {
      this.finish(a);
      a.reject(e);
    }
    void this.close();
  }

  /** Stops the threads (the same promise however often it is called). */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    const a = this.active;
    if (a) {
      this.finish(a);
      a.reject(new Error('the thread pool was closed'));
    }
    this.closing = Promise.all(this.workers.map((w) => w.terminate())).then(() => undefined);
    return this.closing;
  }
}

/** Runs every task of `order` on `threads` threads (a pool for this one batch); rejects on the first error or on cancel. */
export async function runThreadPool<R>(opts: ThreadPoolOptions<R>): Promise<void> {
  if (opts.order.length === 0) return;
  const pool = new ThreadPool<R>({ ...opts, threads: Math.max(1, Math.min(opts.threads, opts.order.length)) });
  try {
    await pool.runTasks(opts);
  } finally {
    await pool.close();
  }
}
