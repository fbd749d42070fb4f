// Points of a path (or plane) are independent: spread them over worker threads, one per core,
// each with its own tfjs backend, models and copy of the data (statsPool's pattern: a bundled
// worker script, a shared cancel flag, the next point handed to whichever thread finishes).
// threads = 1 evaluates in this thread.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CancelledError, CheckpointError } from '../core/errors';
import type { Dataset } from '../data/dataset';
import { type BackendName, currentBackend } from '../model/backend';
import { type PathSetup, PointEvaluator, type PointResult } from './pointEvaluator';

export type PathRequest = { type: 'point'; index: number; coefs: number[] };
export type PathReply =
  | { type: 'ready' }
  | { type: 'result'; index: number; result: PointResult }
  | { type: 'error'; index: number; name: string; message: string; file?: string; problem?: string };

export interface PathWorkerData {
  setup: PathSetup;
  backend: BackendName;
  wasmDir?: string;
  cancelFlag: SharedArrayBuffer;
}

export interface PathPoolOptions {
  /** Threads (default: the cores, at most one per point; 1 with the multi-threaded tensorflow backend). */
  threads?: number;
  /** The bundled worker script (default: pathWorker.js beside this bundle). */
  workerScript?: string;
  wasmDir?: string;
  isCancelled?: () => boolean;
  /** Called as each point's result arrives (in completion order). */
  onPoint?: (index: number, result: PointResult) => void;
}

/** Threads a pool would use for `points` points. */
export function poolThreads(points: number, requested?: number): number {
  const dflt = currentBackend()?.name === 'tensorflow' ? 1 : availableParallelism();
  return Math.max(1, Math.min(requested ?? dflt, points));
}

/** A copy of the dataset owning exactly its examples (a subarray view would clone its whole buffer). */
function compact(ds: Dataset): Dataset {
  return { ...ds, x: { ...ds.x, values: ds.x.values.slice() as Dataset['x']['values'] }, y: ds.y?.slice() };
}

/** Loss and accuracy at each point (coefficients over setup.endpoints), in point order. */
export async function evaluatePoints(setup: PathSetup, points: readonly number[][], opts: PathPoolOptions = {}): Promise<PointResult[]> {
  const out: PointResult[] = new Array(points.length);
  const threads = poolThreads(points.length, opts.threads);
  // Caching the first layer costs about half a point per endpoint and thread: worth it when a thread has a few more points than endpoints.
  setup = { ...setup, cacheFirstLayer: setup.cacheFirstLayer ?? points.length / threads >= setup.endpoints.length + 2 };
  if (threads === 1) {
    const ev = new PointEvaluator(setup);
    try {
      for (const [i, coefs] of points.entries()) {
        if (opts.isCancelled?.()) throw new CancelledError();
        out[i] = await ev.evaluate(coefs, opts.isCancelled);
        opts.onPoint?.(i, out[i]);
      }
    } finally {
      ev.dispose();
    }
    return out;
  }

  const backend = currentBackend()?.name;
  if (!backend) throw new Error('no tfjs backend: call initBackend first');
  const queue = points.map((_, i) => i);
  const cancelFlag = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancelFlag);
  const script = opts.workerScript ?? join(__dirname, 'pathWorker.js');
  const shared: PathSetup = { ...setup, data: compact(setup.data), bnData: setup.bnData && compact(setup.bnData) };
  const workerData: PathWorkerData = { setup: shared, backend, wasmDir: opts.wasmDir, cancelFlag };
  const workers: Worker[] = [];
  const poll = opts.isCancelled ? setInterval(() => opts.isCancelled!() && Atomics.store(flag, 0, 1), 25) : undefined;
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
        if (opts.isCancelled?.()) return fail(new CancelledError());
        const i = queue.shift();
        if (i === undefined) {
          if (--running === 0) resolve();
          return;
        }
        w.postMessage({ type: 'point', index: i, coefs: [...points[i]] } satisfies PathRequest);
      };
      for (let k = 0; k < threads; k++) {
        const w = new Worker(script, { workerData });
        workers.push(w);
        running++;
        w.on('message', (m: PathReply) => {
          if (failed) return;
          if (m.type === 'ready') return feed(w);
          if (m.type === 'error') {
            if (m.name === 'CancelledError') return fail(new CancelledError());
            return fail(m.file !== undefined ? new CheckpointError(m.file, m.problem ?? m.message) : new Error(m.message));
          }
          out[m.index] = m.result;
          opts.onPoint?.(m.index, m.result);
          feed(w);
        });
        w.on('error', (e) => fail(new Error(`interpolation thread failed: ${e.message}`)));
        w.on('exit', (code) => code !== 0 && fail(new Error(`interpolation thread exited with code ${code}`)));
      }
    });
  } finally {
    if (poll) clearInterval(poll);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
