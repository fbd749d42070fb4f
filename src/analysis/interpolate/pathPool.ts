// Points of a path (or plane) are independent: spread them over worker threads, one per core,
// each with its own tfjs backend, models and copy of the data (core/threadPool: a bundled
// worker script, a shared cancel flag, the next point handed to whichever thread finishes).
// threads = 1 evaluates in this thread.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CancelledError, CheckpointError } from '../core/errors';
import { runThreadPool } from '../core/threadPool';
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
  /** onnxruntime intra-op threads per worker: the cores shared among the pool's sessions. */
  intraOpThreads: number;
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
  const shared: PathSetup = { ...setup, data: compact(setup.data), bnData: setup.bnData && compact(setup.bnData) };
  await runThreadPool<PointResult>({
    script: opts.workerScript ?? join(__dirname, 'pathWorker.js'),
    workerData: { setup: shared, backend, wasmDir: opts.wasmDir, intraOpThreads: Math.max(1, Math.floor(availableParallelism() / threads)) } satisfies Omit<PathWorkerData, 'cancelFlag'>,
    threads,
    order: points.map((_, i) => i),
    request: (i) => ({ type: 'point', index: i, coefs: [...points[i]] }) satisfies PathRequest,
    decode: (raw) => {
      const m = raw as PathReply;
      if (m.type !== 'error') return m;
      if (m.name === 'CancelledError') return { type: 'error', error: new CancelledError() };
      return { type: 'error', error: m.file !== undefined ? new CheckpointError(m.file, m.problem ?? m.message) : new Error(m.message) };
    },
    waitReady: true,
    isCancelled: opts.isCancelled,
    onResult: (i, result) => {
      out[i] = result;
      opts.onPoint?.(i, result);
    },
    threadError: (what) => new Error(`interpolation thread ${what}`),
  });
  return out;
}
