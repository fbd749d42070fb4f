// The analysis worker (worker_threads entry, bundled to dist/worker.js with no externals).
//
// It keeps opened checkpoints by path (re-opening lazily after a restart), runs jobs the host
// asks for and answers on the same port. Protocol: src/analysis/protocol.ts.
//
// Cancellation: each job carries a SharedArrayBuffer flag that the host sets; CPU loops poll it
// through `isCancelled()` (an Atomics.load), so a job stops mid-loop without this thread having
// to return to its event loop. A `cancel` message sets the same flag for jobs that are waiting.
import { parentPort, workerData } from 'node:worker_threads';
import { basename } from 'node:path';
import { type Checkpoint, type TensorInfo, storedDescription, storedType } from '../core/checkpoint';
import { CancelledError, CheckpointError, isCancelled as isCancelledError } from '../core/errors';
import { readSlice2D } from '../core/tensorData';
import { formatEngine } from '../core/format';
import { PackedRowsBuilder } from '../core/tensorTable';
import { openCheckpoint } from '../open';
import type { RemoteCheckpoint } from '../io/remote';
import {
  errorInfo,
  isHostToWorker,
  type HostToWorker,
  type Listing,
  type EvalSummary,
  type Slice2D,
  type StatsJobResult,
  type WorkerEvaluateRequest,
  type WorkerAnalysisRequest,
  type AnalysisView,
  type TensorStats,
  type WorkerToHost,
} from '../protocol';
import { computeTensorStats } from '../stats/tensorStats';
import { checkpointTotals } from '../stats/totals';
import { loadDataset } from '../data/dataset';
import { initBackend } from '../model/backend';
import { defaultOrtThreads } from '../model/onnx/ortModel';
import { evaluate } from '../model/evaluate';
import { openModel } from '../model/openModel';
import { recognizeCheckpoint } from '../model/recognize';
import { runAnalysis } from '../jobs/analysisJobs';
import { jsonSafe } from '../views/viewHelpers';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');
const testHooks = (workerData as { testHooks?: unknown } | null)?.testHooks === true;

/** At most one progress message per job per this many ms (≤ 4/s). */
const PROGRESS_INTERVAL_MS = 250;

function post(msg: WorkerToHost): void {
  port!.postMessage(msg);
}

function log(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string): void {
  post({ type: 'log', level, message });
}

// --- Opened checkpoints ------------------------------------------------------------------------

interface Opened {
  checkpoint: Checkpoint;
  /** Built on the first lookup, not at open: a million names would sit in memory beside the listing being sent. */
  byName?: Map<string, TensorInfo>;
  listing: Listing;
  /** Finished statistics, so a tensor is never computed twice for the same open file. */
  stats: Map<string, TensorStats>;
  /** Statistics being computed now, shared between a background job and a priority job. */
  inflight: Map<string, Promise<TensorStats>>;
  /** Remote checkpoints: stops the byte counter's updates. */
  stopCounter?: () => void;
}

/** A remote checkpoint's byte count goes to the host at most this often, when it has grown. */
const REMOTE_BYTES_INTERVAL_MS = 300;

/** Posts the bytes a remote checkpoint has fetched whenever they grow (statistics, heatmaps, analyses). */
function watchRemoteBytes(path: string, c: RemoteCheckpoint): () => void {
  let last = 0; // a second worker reading the same file reports its header bytes too
  const timer = setInterval(() => {
    const now = c.bytesFetched();
    if (now === last) return;
    last = now;
    post({ type: 'remoteBytes', path, bytes: now });
  }, REMOTE_BYTES_INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    const now = c.bytesFetched();
    if (now !== last) post({ type: 'remoteBytes', path, bytes: now });
  };
}

const opened = new Map<string, Promise<Opened>>();

function getOpened(path: string): Promise<Opened> {
  let p = opened.get(path);
  if (!p) {
    const started = Date.now();
    p = openCheckpoint(path).then(async (checkpoint) => {
      log('debug', `opened ${path}: ${checkpoint.tensors.length} tensors in ${Date.now() - started} ms`);
      const listing = { ...toListing(checkpoint), ...(await modelOf(checkpoint)) };
      const stopCounter = 'bytesFetched' in checkpoint ? watchRemoteBytes(path, checkpoint as RemoteCheckpoint) : undefined;
      return { checkpoint, listing, stats: new Map(), inflight: new Map(), stopCounter };
    });
    opened.set(path, p);
    // A failed open is not cached: the next request tries again (the file may have been fixed).
    p.catch(() => {
      if (opened.get(path) === p) opened.delete(path);
    });
  }
  return p;
}

async function closeOpened(path: string): Promise<void> {
  const p = opened.get(path);
  if (!p) return;
  opened.delete(path);
  try {
    const o = await p;
    o.stopCounter?.();
    await o.checkpoint.close();
    log('debug', `closed ${path}`);
  } catch {
    // It never opened; nothing to close.
  }
}

/** The network its names and shapes make (pickers and the header show the family); none is fine. */
async function modelOf(c: Checkpoint): Promise<Pick<Listing, 'model'>> {
  try {
    const { graph } = await recognizeCheckpoint(c);
    return { model: { family: graph.family, description: graph.description } };
  } catch {
    return {};
  }
}

function toListing(c: Checkpoint): Listing {
  const rows = new PackedRowsBuilder();
  for (const t of c.tensors) {
    const stored = storedDescription(t);
    rows.add({
      name: t.name,
      dtype: storedType(t),
      shape: t.shape,
      numel: t.numel,
      nbytes: t.nbytes,
      storageId: t.storageId,
      // Past a storage's first 17 tensors every list is one frozen array (linkSharedStorages):
      // not repeated per row; TensorTable.sharing derives it from the storage.
      sharesStorageWith: t.sharesStorageWith?.length && !Object.isFrozen(t.sharesStorageWith) ? t.sharesStorageWith.slice() : undefined,
      stored,
    });
  }
  return {
    path: c.path,
    format: c.format,
    metadata: c.metadata,
    values: c.values,
    tensors: rows.finish(),
    stateDictPrefix: c.stateDictPrefix,
    warnings: c.warnings.slice(),
    totals: checkpointTotals(c),
    ...(c.risk ? { risk: c.risk } : {}),
    ...(c.sourceFiles ? { sourceFiles: c.sourceFiles } : {}),
    ...('bytesFetched' in c ? { remote: { url: (c as RemoteCheckpoint).url, bytesFetched: (c as RemoteCheckpoint).bytesFetched() } } : {}),
  };
}

function tensorByName(o: Opened, name: string): TensorInfo | undefined {
  if (!o.byName) {
    o.byName = new Map();
    for (const t of o.checkpoint.tensors) o.byName.set(t.name, t);
  }
  return o.byName.get(name);
}

function tensorOf(o: Opened, name: string): TensorInfo {
  const t = tensorByName(o, name);
  if (!t) throw new CheckpointError(o.checkpoint.path, `no tensor named "${name}"`);
  return t;
}

// --- Jobs and cancellation ---------------------------------------------------------------------

class Job {
  private readonly flag: Int32Array;
  private lastProgress = 0;
  private readonly onCancel = new Set<() => void>();

  constructor(
    readonly id: number,
    flag: SharedArrayBuffer,
  ) {
    this.flag = new Int32Array(flag, 0, 1);
  }

  readonly isCancelled = (): boolean => Atomics.load(this.flag, 0) !== 0;

  check(): void {
    if (this.isCancelled()) throw new CancelledError();
  }

  cancel(): void {
    Atomics.store(this.flag, 0, 1);
    for (const f of [...this.onCancel]) f();
  }

  /** Registers a callback for a cancel message; returns its remover. */
  whenCancelled(f: () => void): () => void {
    this.onCancel.add(f);
    return () => this.onCancel.delete(f);
  }

  progress(fraction: number, tensor?: string, force = false, message?: string): void {
    const now = Date.now();
    if (!force && now - this.lastProgress < PROGRESS_INTERVAL_MS) return;
    this.lastProgress = now;
    post({
      type: 'progress',
      id: this.id,
      fraction: Math.min(1, Math.max(0, fraction)),
      ...(tensor !== undefined ? { tensor } : {}),
      ...(message !== undefined ? { message } : {}),
    });
  }
}

const jobs = new Map<number, Job>();

/**
 * One tensor's statistics at a time: the CPU is the bottleneck, so concurrent jobs (the
 * background pass over all tensors and the user's selected tensor) take turns per tensor, and
 * a priority waiter goes before the others.
 */
class CpuQueue {
  private busy = false;
  private readonly waiting: { priority: boolean; wake: () => void }[] = [];

  async acquire(priority: boolean, job: Job): Promise<() => void> {
    if (this.busy) {
      await new Promise<void>((resolve, reject) => {
        const entry = { priority, wake: () => { remove(); resolve(); } };
        const remove = job.whenCancelled(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          remove();
          reject(new CancelledError());
        });
        if (priority) {
          const firstNormal = this.waiting.findIndex((w) => !w.priority);
          this.waiting.splice(firstNormal < 0 ? this.waiting.length : firstNormal, 0, entry);
        } else this.waiting.push(entry);
      });
    }
    this.busy = true;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.wake();
      else this.busy = false;
    };
  }
}

const cpu = new CpuQueue();

async function statsOf(o: Opened, t: TensorInfo, job: Job, priority: boolean, onFraction: (f: number) => void): Promise<TensorStats> {
  for (;;) {
    const known = o.stats.get(t.name);
    if (known) return known;
    const running = o.inflight.get(t.name);
    if (running) {
      try {
        return await running;
      } catch (e) {
        // The job computing it was cancelled, but this one was not: compute it here.
        if (isCancelledError(e) && !job.isCancelled()) continue;
        throw e;
      }
    }
    const p = (async () => {
      const release = await cpu.acquire(priority, job);
      try {
        job.check();
        const again = o.stats.get(t.name);
        if (again) return again;
        const s = await computeTensorStats(t, { isCancelled: job.isCancelled, onProgress: onFraction });
        o.stats.set(t.name, s);
        return s;
      } finally {
        release();
      }
    })();
    o.inflight.set(t.name, p);
    try {
      return await p;
    } finally {
      if (o.inflight.get(t.name) === p) o.inflight.delete(t.name);
    }
  }
}

async function runStats(job: Job, path: string, names: string[], priority: boolean): Promise<StatsJobResult> {
  const o = await getOpened(path);
  const tensors = names.map((n) => tensorByName(o, n));
  const weight = (t: TensorInfo | undefined): number => Math.max(1, t?.nbytes ?? 1);
  const total = tensors.reduce((a, t) => a + weight(t), 0);
  let doneBytes = 0;
  let done = 0;
  let failed = 0;
  job.progress(0, undefined, true);
  for (let i = 0; i < names.length; i++) {
    job.check();
    const t = tensors[i];
    if (!t) {
      failed++;
      post({ type: 'statsItem', id: job.id, tensor: names[i], stats: null, error: { name: 'CheckpointError', message: `${basename(path)}: no tensor named "${names[i]}"`, file: path } });
      continue;
    }
    const base = doneBytes;
    try {
      const s = await statsOf(o, t, job, priority, (f) => job.progress((base + f * weight(t)) / total, t.name));
      done++;
      post({ type: 'statsItem', id: job.id, tensor: t.name, stats: s });
    } catch (e) {
      if (isCancelledError(e) || job.isCancelled()) throw new CancelledError();
      failed++;
      log('warn', `statistics of "${t.name}" failed: ${(e as Error).message}`);
      post({ type: 'statsItem', id: job.id, tensor: t.name, stats: null, error: errorInfo(e) });
    }
    doneBytes += weight(t);
    job.progress(doneBytes / total, t.name);
    // Reads may be synchronous (small chunks), so a tensor's statistics never give the event
    // loop a turn: yield after each tensor so new jobs (the user's selection) and cancel
    // messages get in before the next tensor takes the CPU.
    if (i + 1 < names.length) await yieldToEventLoop();
  }
  job.progress(1, undefined, true);
  return { done, failed };
}

/**
 * Lets one full event-loop iteration pass. Messages from the host are delivered in the poll
 * phase, which a single setImmediate (check phase) can skip; the second one runs after it.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}

async function runSlice(job: Job, path: string, name: string, maxRows: number, maxCols: number): Promise<Slice2D> {
  const o = await getOpened(path);
  const t = tensorOf(o, name);
  const s = await readSlice2D(t, maxRows, maxCols, { isCancelled: job.isCancelled });
  job.check();
  const values = new Array<number | null>(s.values.length);
  for (let i = 0; i < s.values.length; i++) {
    const v = s.values[i];
    values[i] = Number.isFinite(v) ? v : null;
  }
  return { rows: s.rows, cols: s.cols, values, rowIndex: s.rowIndex.slice(), colStep: s.colStep, sourceShape: [s.sourceShape[0], s.sourceShape[1]] };
}

async function runEvaluate(job: Job, req: WorkerEvaluateRequest): Promise<EvalSummary> {
  // The wasm binaries are copied beside the bundles (scripts/build.mjs).
  await initBackend(req.backend, { wasmDir: __dirname, log: (m) => log('info', m), threads: req.threads || defaultOrtThreads() });
  job.progress(0, undefined, true);
  const data = await loadDataset(req.data, { labels: req.labels, split: req.split });
  job.check();
  const { model } = await openModel(req.checkpoint, { archFile: req.arch, isCancelled: job.isCancelled });
  try {
    const r = await evaluate(model, data, { isCancelled: job.isCancelled, onProgress: (done, total) => job.progress(done / total) });
    log('info', `evaluated ${basename(req.checkpoint)} on ${basename(req.data)}: loss ${r.loss.toFixed(4)}, accuracy ${(100 * r.accuracy).toFixed(2)}% (n=${r.n}, ${formatEngine(r.backend, r.threads)}, ${r.seconds.toFixed(1)} s)`);
    return { loss: r.loss, accuracy: r.accuracy, n: r.n, backend: r.backend, ...(r.threads !== undefined ? { threads: r.threads } : {}), seconds: r.seconds };
  } finally {
    model.dispose();
  }
}

async function runAnalysisJob(job: Job, req: WorkerAnalysisRequest): Promise<AnalysisView> {
  job.progress(0, undefined, true, 'starting');
  // Weight spectra run no model: no tfjs backend to load (the editor's diagnostics start at once).
  if (req.kind !== 'spectra') await initBackend(req.backend, { wasmDir: __dirname, log: (m) => log('info', m), threads: req.threads || defaultOrtThreads() });
  const started = Date.now();
  // At most one partial view per progress interval; the newest one held back is sent when the
  // interval ends (a watched run folder may only change once more), unless the job has ended.
  let lastView = 0;
  let held: AnalysisView | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ended = false;
  const sendView = (v: AnalysisView): void => {
    lastView = Date.now();
    post({ type: 'partial', id: job.id, view: jsonSafe(v) });
  };
  const run = runAnalysis(req.kind, req.params, {
    isCancelled: job.isCancelled,
    onProgress: (f, message) => job.progress(f, undefined, false, message),
    onView: (v) => {
      const wait = PROGRESS_INTERVAL_MS - (Date.now() - lastView);
      if (wait <= 0 && !timer) return sendView(v);
      held = v;
      timer ??= setTimeout(() => {
        timer = undefined;
        if (!ended && held) sendView(held);
        held = undefined;
      }, Math.max(0, wait));
    },
    log: (m) => log('info', m),
    wasmDir: __dirname,
  });
  const view = await run.finally(() => {
    ended = true;
    if (timer) clearTimeout(timer);
  });
  log('info', `${req.kind} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return jsonSafe(view);
}

async function runJob(id: number, flag: SharedArrayBuffer, body: (job: Job) => Promise<unknown>): Promise<void> {
  const job = new Job(id, flag);
  jobs.set(id, job);
  const started = Date.now();
  try {
    const result = await body(job);
    post({ type: 'reply', id, result });
  } catch (e) {
    const cancelled = isCancelledError(e);
    post({ type: 'failure', id, cancelled, error: errorInfo(e) });
    if (!cancelled) log('debug', `job ${id} failed after ${Date.now() - started} ms: ${(e as Error).message}`);
  } finally {
    jobs.delete(id);
  }
}

function handle(msg: HostToWorker): void {
  switch (msg.type) {
    case 'open': {
      // `open` has no cancel flag: opening reads headers only.
      void runJob(msg.id, new SharedArrayBuffer(4), async () => (await getOpened(msg.path)).listing);
      return;
    }
    case 'close':
      void closeOpened(msg.path);
      return;
    case 'stats':
      void runJob(msg.id, msg.cancelFlag, (job) => runStats(job, msg.path, msg.tensors, msg.priority));
      return;
    case 'slice2d':
      void runJob(msg.id, msg.cancelFlag, (job) => runSlice(job, msg.path, msg.tensor, msg.maxRows, msg.maxCols));
      return;
    case 'evaluate':
      void runJob(msg.id, msg.cancelFlag, (job) => runEvaluate(job, msg));
      return;
    case 'analysis':
      void runJob(msg.id, msg.cancelFlag, (job) => runAnalysisJob(job, msg));
      return;
    case 'cancel':
      jobs.get(msg.id)?.cancel();
      return;
    case 'debug':
      if (!testHooks) {
        post({ type: 'failure', id: msg.id, cancelled: false, error: { name: 'Error', message: 'debug requests are disabled' } });
        return;
      }
      if (msg.action === 'throw') {
        setImmediate(() => {
          throw new Error('debug: deliberate crash of the analysis worker');
        });
      } else if (msg.action === 'exit') {
        process.exit(3);
      } else {
        // A CPU loop that ignores cancellation, to exercise the host's terminate fallback.
        const until = Date.now() + 60_000;
        while (Date.now() < until) {
          /* spin */
        }
        post({ type: 'reply', id: msg.id, result: null });
      }
      return;
  }
}

port.on('message', (raw: unknown) => {
  if (!isHostToWorker(raw)) {
    log('warn', `dropped a malformed message: ${describe(raw)}`);
    return;
  }
  handle(raw);
});

process.on('unhandledRejection', (e) => log('error', `unhandled rejection in worker: ${(e as Error)?.stack ?? String(e)}`));

function describe(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? typeof v : s.length > 200 ? s.slice(0, 200) + '…' : s;
  } catch {
    return typeof v;
  }
}
