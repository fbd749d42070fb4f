// Points of a path (or plane) are independent: spread them over worker threads, one per core,
// each with its own tfjs backend, models and copy of the data (core/threadPool: a bundled
// worker script, a shared cancel flag, the next point handed to whichever thread finishes).
// threads = 1 evaluates in this thread. With onnxruntime, whose sessions can use every core
// themselves, a short measurement chooses between parallel sessions and one session on all
// cores (poolPlan.ts), and the job log says which and why.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { CancelledError, CheckpointError } from '../core/errors';
import { runThreadPool } from '../core/threadPool';
import type { Dataset } from '../data/dataset';
import { type BackendName, currentBackend } from '../model/backend';
import { ortThreads, setOrtThreads } from '../model/onnx/ortModel';
import { firstLayerOutputs } from './firstLayerCache';
import { type PathSetup, PointEvaluator, type PointResult, hasBatchNorm } from './pointEvaluator';
import { type CalibrationRunners, planPool } from './poolPlan';

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
  /** The job log (the onnxruntime pool's choice is stated there). */
  log?: (message: string) => void;
  /** `threads` was asked for by the user: with onnxruntime, that many workers, no calibration. */
  threadsRequested?: boolean;
}

/**
 * Threads a pool would use for `points` points: by default the cores, or with onnxruntime the
 * cores it may use (CKPT_LENS_ORT_THREADS, the threads setting), so that a 1-thread setting
 * means one thread in all; 1 with the multi-threaded tensorflow backend.
 */
export function poolThreads(points: number, requested?: number): number {
  const backend = currentBackend()?.name;
  const dflt = backend === 'tensorflow' ? 1 : backend === 'onnxruntime' ? ortThreads() : availableParallelism();
  return Math.max(1, Math.min(requested ?? dflt, points));
}

type TypedArray = Dataset['x']['values'];

/** A copy of `a` in a SharedArrayBuffer: pool threads then share one copy instead of each cloning it. */
export function sharedCopy<T extends TypedArray>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(new SharedArrayBuffer(a.byteLength));
  out.set(a as never);
  return out;
}

/** The dataset with its arrays in shared memory, owning exactly its examples. */
function shareDataset(ds: Dataset): Dataset {
  const opt = <T extends TypedArray>(a: T | undefined): T | undefined => a && sharedCopy(a);
  return { ...ds, x: { ...ds.x, values: sharedCopy(ds.x.values as TypedArray) as Dataset['x']['values'] }, y: opt(ds.y), attentionMask: opt(ds.attentionMask), tokenTypes: opt(ds.tokenTypes) };
}

/** Loss and accuracy at each point (coefficients over setup.endpoints), in point order. */
export async function evaluatePoints(setup: PathSetup, points: readonly number[][], opts: PathPoolOptions = {}): Promise<PointResult[]> {
  const out: PointResult[] = new Array(points.length);
  const onOrt = currentBackend()?.name === 'onnxruntime';
  // The cores onnxruntime may use (CKPT_LENS_ORT_THREADS, else all), shared among the pool's sessions:
  // unless the user asked for more workers, never more than that budget.
  const cores = onOrt ? ortThreads() : availableParallelism();
  let threads = poolThreads(points.length, opts.threads);
  if (onOrt && !opts.threadsRequested) threads = Math.min(threads, cores);
  let intraOpThreads = Math.max(1, Math.floor(cores / threads));
  if (threads > 1 && !opts.threadsRequested && onOrt) {
    const plan = await planPool(setup, points.length, threads, cores, calibrationRunners(opts));
    opts.log?.(plan.reason);
    threads = plan.workers;
    intraOpThreads = plan.intraOpThreads;
  }
  // Caching the first layer costs about half a point per endpoint: worth it when there are a few more points than endpoints.
  setup = { ...setup, cacheFirstLayer: setup.cacheFirstLayer ?? points.length >= setup.endpoints.length + 2 };
  if (threads === 1) return evaluateHere(setup, points, opts, out);

  const backend = currentBackend()?.name;
  if (!backend) throw new Error('no tfjs backend: call initBackend first');
  if (setup.cacheFirstLayer && !setup.firstLayer && !(setup.bn.reset && hasBatchNorm(setup.graph))) {
    // Computed once here, on every core, into shared memory: the threads read the one copy.
    const firstLayer = await firstLayerOutputs(setup.graph, setup.endpoints, setup.data, { batchSize: setup.batchSize, isCancelled: opts.isCancelled, shared: true });
    setup = { ...setup, firstLayer };
  }
  await runPool(setup, threads, intraOpThreads, points, opts, (i, result) => {
    out[i] = result;
    opts.onPoint?.(i, result);
  });
  return out;
}

/** The points one after another in this thread (its onnxruntime sessions use its thread setting: the cores). */
async function evaluateHere(setup: PathSetup, points: readonly number[][], opts: PathPoolOptions, out: PointResult[]): Promise<PointResult[]> {
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

function runPool(setup: PathSetup, threads: number, intraOpThreads: number, points: readonly number[][], opts: PathPoolOptions, onResult: (i: number, r: PointResult) => void, onRequest?: (i: number) => void): Promise<void> {
  const backend = currentBackend()!.name;
  // Data, endpoints and first-layer outputs in shared memory: one copy however many threads.
  const shared: PathSetup = {
    ...setup,
    data: shareDataset(setup.data),
    bnData: setup.bnData && shareDataset(setup.bnData),
    endpoints: setup.endpoints.map((sd) => new Map([...sd].map(([k, t]) => [k, { shape: t.shape, values: sharedCopy(t.values) }]))),
  };
  return runThreadPool<PointResult>({
    script: opts.workerScript ?? join(__dirname, 'pathWorker.js'),
    workerData: { setup: shared, backend, wasmDir: opts.wasmDir, intraOpThreads } satisfies Omit<PathWorkerData, 'cancelFlag'>,
    threads,
    order: points.map((_, i) => i),
    request: (i) => {
      onRequest?.(i);
      return { type: 'point', index: i, coefs: [...points[i]] } satisfies PathRequest;
    },
    decode: (raw) => {
      const m = raw as PathReply;
      if (m.type !== 'error') return m;
      if (m.name === 'CancelledError') return { type: 'error', error: new CancelledError() };
      return { type: 'error', error: m.file !== undefined ? new CheckpointError(m.file, m.problem ?? m.message) : new Error(m.message) };
    },
    waitReady: true,
    isCancelled: opts.isCancelled,
    onResult,
    threadError: (what) => new Error(`interpolation thread ${what}`),
  });
}

const MAX_CALIBRATION_RUNS = 6;
const WORKER_ROUNDS = 3;

/** At least four runs, and the two latest within 15 % of the fastest after the first. */
function settled(times: readonly number[]): boolean {
  if (times.length < 4) return false;
  const best = Math.min(...times.slice(1));
  return times.slice(-2).every((t) => t <= best * 1.15);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The calibration's measurements (poolPlan.ts), on the job's own setup cut to a slice. */
function calibrationRunners(opts: PathPoolOptions): CalibrationRunners {
  // A point in the middle of the endpoints: the same work as any other.
  const middle = (setup: PathSetup): number[] => setup.endpoints.map(() => 1 / setup.endpoints.length);
  return {
    async inThread(setup, threads) {
      const before = ortThreads();
      setOrtThreads(threads);
      const ev = new PointEvaluator(setup);
      try {
        // A fresh session runs its first few batches up to 4× slower (arena growth, V8 warming
        // up), and a point now and then stalls on a collection: time until the fastest settles.
        const times: number[] = [];
        for (let k = 0; k < MAX_CALIBRATION_RUNS; k++) {
          const t = performance.now();
          await ev.evaluate(middle(setup), opts.isCancelled);
          times.push((performance.now() - t) / 1000);
          if (settled(times)) break;
        }
        return Math.min(...times.slice(1));
      } finally {
        ev.dispose();
        setOrtThreads(before);
      }
    },
    async inWorkers(setup, workers) {
      // The first round pays each worker's start and first session; the later ones, warm, run side by side.
      const points = Array.from({ length: WORKER_ROUNDS * workers }, () => middle(setup));
      const sent = new Array<number>(points.length);
      const done = new Array<number>(points.length);
      const t0 = performance.now();
      await runPool(setup, workers, 1, points, opts, (i) => (done[i] = performance.now()), (i) => (sent[i] = performance.now()));
      // The rounds after the first: the workers have warmed up, as they have in a real job.
      const warm = points.map((_, i) => i).filter((i) => i >= workers);
      const perPoint = median(warm.map((i) => done[i] - sent[i])) / 1000;
      const firstRound = Math.max(...points.map((_, i) => i).filter((i) => i < workers).map((i) => done[i])) - t0;
      return { perPoint, startup: Math.max(0, firstRound / 1000 - perPoint) };
    },
  };
}
