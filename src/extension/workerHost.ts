// The host side of the analysis workers: a small RPC over worker_threads, and a pool.
//
// vscode-free on purpose (unit-tested with node:test). Workers are created lazily. A long job
// never blocks a short one: "heavy" jobs (analyses, evaluations, background statistics) each get
// a worker of their own, at most `maxWorkers` at a time, and wait in a FIFO queue beyond that
// (their `onQueued` callback names the jobs they wait behind, and they can be cancelled while
// queued); "light" jobs (opening a file, a heatmap slice, the selected tensor's statistics) go
// to reader workers, which never take a heavy job: the one that has the file open (or is
// opening it) even when busy, else an idle one, at most two of them. Readers run with a small
// heap (`readerHeapMb`): V8 lets garbage pile up towards a heap's limit, and under the
// analyses' 4 GB a million-tensor open took the process to 1.4 GB resident for a live set under
// 0.5 GB; under 560 MB it peaks at 0.85 GB.
//
// Every job gets an id and a 4-byte SharedArrayBuffer cancel flag; cancelling sets the flag
// (seen at once by the worker's CPU loops) and posts a `cancel` message (seen by jobs that are
// waiting). A job that has not stopped `cancelGraceMs` after cancel gets its worker terminated;
// a worker that crashes, exits or runs out of heap rejects its pending jobs with
// WorkerCrashedError. Either way the next job starts a fresh worker. Nothing here can throw
// into the caller's thread except through a job's promise.
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CancelledError } from '../analysis/core/errors';
import {
  isAnalysisView,
  isEvalSummary,
  isListing,
  isSlice2D,
  isStatsJobResult,
  isWorkerToHost,
  type ErrorInfo,
  type AnalysisView,
  type EvalSummary,
  type Guard,
  type HostToWorker,
  type Listing,
  type Slice2D,
  type StatsJobResult,
  type TensorStats,
  type WorkerAnalysisRequest,
  type WorkerEvaluateRequest,
  type WorkerToHost,
} from '../analysis/protocol';

export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface JobHandle<T> {
  readonly id: number;
  /** What the job is ("spectra of big.safetensors"), as other jobs' "queued behind …" name it. */
  readonly label: string;
  /** Settles when the worker has finished, failed or actually stopped the job. */
  readonly promise: Promise<T>;
  /**
   * Asks the job to stop; its promise then rejects with CancelledError (or still resolves if
   * the job finished before it saw the request). A queued job is dropped at once. Idempotent.
   */
  cancel(): void;
}

/** The worker died (crash, exit, or terminated for not honouring a cancel) with this job pending. */
export class WorkerCrashedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerCrashedError';
  }
}

/** An error the worker reported for a job (its name, message and file come from the worker). */
export class WorkerJobError extends Error {
  readonly file?: string;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = info.name;
    if (info.file !== undefined) this.file = info.file;
  }
}

export interface WorkerHostOptions {
  /** Absolute path of dist/worker.js. */
  workerPath: string;
  log: Logger;
  /** How long a cancelled job may run on before the worker is terminated. Default 2000 ms. */
  cancelGraceMs?: number;
  workerData?: Record<string, unknown>;
  /** Environment of each new worker (default: a copy of this process's), read when it starts. */
  workerEnv?: () => Record<string, string | undefined>;
  /** Heap limit of each heavy worker in MB (typed arrays live outside it). Default 4096. */
  maxOldGenerationSizeMb?: number;
  /** Heap limit of each reader worker (light jobs) in MB. Default READER_HEAP_MB. */
  readerHeapMb?: number;
  /** Heavy jobs (analyses, evaluations, background statistics) run at once. Default 2. */
  maxWorkers?: number;
  /** A worker with no job for this long is stopped (the last one, and the last reader, are kept). Default 60 s. */
  idleMs?: number;
  /** Start a reader when a heavy job starts and none is running (default true). */
  spareWorker?: boolean;
}

export interface StatsCallbacks {
  onItem?: (tensor: string, stats: TensorStats | null, error?: ErrorInfo) => void;
  /** `tensor` for statistics jobs; `message` says what an analysis is doing. */
  onProgress?: (fraction: number, tensor?: string, message?: string) => void;
  /** Analyses: the results so far. */
  onPartial?: (view: AnalysisView) => void;
}

/** Scheduling callbacks every job kind takes. */
export interface JobOptions {
  /** Names the job in "queued behind …" (default: its kind and file). */
  label?: string;
  /** The job must wait for a worker: the labels of the jobs it waits behind. */
  onQueued?: (behind: string[]) => void;
  /** A queued job got a worker. */
  onStarted?: () => void;
}

/** One job as listed by `jobs()` (the "Running jobs" command). */
export interface JobInfo {
  id: number;
  label: string;
  /** cancelling: asked to stop, still on its worker. */
  state: 'running' | 'queued' | 'cancelling';
  /** Milliseconds since it was asked for. */
  ageMs: number;
  fraction: number;
  cancel(): void;
}

interface Pending {
  id: number;
  kind: string;
  label: string;
  heavy: boolean;
  /** Undefined while queued. */
  worker: Worker | undefined;
  message: HostToWorker;
  flag: Int32Array;
  guard: Guard<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  callbacks: StatsCallbacks & JobOptions;
  fraction: number;
  cancelled: boolean;
  cancelledAt?: number;
  asked: number;
  started: number;
  graceTimer?: NodeJS.Timeout;
}

/** The last sign of life of a worker: when, and for which job. */
interface Activity {
  at: number;
  jobId: number;
}

const anyResult: Guard<unknown> = (_v): _v is unknown => true;

/**
 * Heap of a reader worker in MB. The largest listing the readers accept (1.6 million views of
 * one storage, the pickle's tensor cap) opens and is sent within 480 MB (not within 440).
 */
export const READER_HEAP_MB = 560;

/** Reader workers at most: a second one answers while the first opens a slow file. */
const MAX_READERS = 2;

/** The file a job reads, for sending it to the reader that has that file open. */
function pathOf(msg: HostToWorker): string | undefined {
  return msg.type === 'open' || msg.type === 'stats' || msg.type === 'slice2d' ? msg.path : undefined;
}

function fileOf(v: unknown): string {
  return typeof v === 'string' ? basename(v) : Array.isArray(v) && typeof v[0] === 'string' ? basename(v[0]) + (v.length > 1 ? ` +${v.length - 1}` : '') : '';
}

/** "spectra of big.safetensors", "statistics of model.pt". */
export function defaultLabel(msg: HostToWorker): string {
  switch (msg.type) {
    case 'analysis': {
      const p = msg.params as Record<string, unknown>;
      const files = [p.a ?? p.init ?? p.model ?? p.dirs, p.b ?? p.final].map(fileOf).filter(Boolean);
      return files.length ? `${msg.kind} of ${files.join(' × ')}` : msg.kind;
    }
    case 'evaluate':
      return `evaluation of ${basename(msg.checkpoint)}`;
    case 'stats':
      return `statistics of ${basename(msg.path)}`;
    case 'slice2d':
      return `heatmap of ${msg.tensor}`;
    case 'open':
      return `opening ${basename(msg.path)}`;
    default:
      return msg.type;
  }
}

export class WorkerHost {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  /** Why a worker was terminated on purpose (so its exit is not reported as a crash). */
  private readonly terminating = new WeakMap<Worker, string>();
  private readonly activity = new WeakMap<Worker, Activity>();
  private readonly idleTimers = new Map<Worker, NodeJS.Timeout>();
  /** Bytes fetched per remote path, per worker thread (a stopped worker's bytes still count). */
  private readonly remoteBytes = new Map<string, Map<number, number>>();
  /** Called when a remote checkpoint has fetched more bytes: the total over all workers. */
  onRemoteBytes: ((path: string, bytes: number) => void) | undefined;
  /** Workers started with an outdated environment, stopped when their last job ends. */
  private readonly stale = new WeakSet<Worker>();
  /** Workers started for light jobs (small heap), and the files each has been asked to read. */
  private readonly readers = new WeakMap<Worker, Set<string>>();
  private nextId = 1;
  private disposed = false;
  private maxWorkers: number;
  /** How many workers have been started (tests and logs). */
  workersStarted = 0;

  constructor(private readonly opts: WorkerHostOptions) {
    this.maxWorkers = Math.max(1, Math.floor(opts.maxWorkers ?? 2));
  }

  /** Heavy jobs allowed at once (a setting); queued jobs start if it grew. */
  /**
   * The workers' environment changed (a new Hub token or endpoint): idle workers stop now and
   * busy ones once their jobs end, so the next job runs in a worker started with the new one.
   */
  renewWorkers(reason: string): void {
    for (const w of [...this.workers]) {
      if (this.jobsOn(w).length) this.stale.add(w);
      else this.stopWorker(w, reason);
    }
  }

  /** Forgets a remote path's byte counts (its editor closed; a reopen counts from zero). */
  forgetRemoteBytes(path: string): void {
    this.remoteBytes.delete(path);
  }

  setMaxWorkers(n: number): void {
    this.maxWorkers = Math.max(1, Math.floor(n));
    this.pump();
  }

  open(path: string, opts: JobOptions = {}): JobHandle<Listing> {
    return this.start<Listing>('open', isListing, (id) => ({ type: 'open', id, path }), opts);
  }

  /** Lets every worker close the file; a no-op when no worker is running. */
  close(path: string): void {
    for (const w of this.workers) {
      this.readers.get(w)?.delete(path);
      if (!this.terminating.has(w)) this.send(w, { type: 'close', path });
    }
  }

  stats(path: string, tensors: string[], opts: StatsCallbacks & JobOptions & { priority?: boolean } = {}): JobHandle<StatsJobResult> {
    return this.start<StatsJobResult>(
      'stats',
      isStatsJobResult,
      (id, cancelFlag) => ({ type: 'stats', id, path, tensors, priority: opts.priority === true, cancelFlag }),
      opts,
    );
  }

  slice2d(path: string, tensor: string, maxRows = 128, maxCols = 128, opts: JobOptions = {}): JobHandle<Slice2D> {
    return this.start<Slice2D>('slice2d', isSlice2D, (id, cancelFlag) => ({ type: 'slice2d', id, path, tensor, maxRows, maxCols, cancelFlag }), opts);
  }

  evaluate(req: Omit<WorkerEvaluateRequest, 'type' | 'id' | 'cancelFlag'>, opts: Pick<StatsCallbacks, 'onProgress'> & JobOptions = {}): JobHandle<EvalSummary> {
    return this.start<EvalSummary>('evaluate', isEvalSummary, (id, cancelFlag) => ({ ...req, type: 'evaluate', id, cancelFlag }), opts);
  }

  /** Runs an analysis (alignment, interpolation, …); its views stream through onPartial. */
  analysis(req: Omit<WorkerAnalysisRequest, 'type' | 'id' | 'cancelFlag'>, opts: Pick<StatsCallbacks, 'onProgress' | 'onPartial'> & JobOptions = {}): JobHandle<AnalysisView> {
    return this.start<AnalysisView>('analysis', isAnalysisView, (id, cancelFlag) => ({ ...req, type: 'analysis', id, cancelFlag }), opts);
  }

  /** Test hook (the worker refuses it unless started with workerData.testHooks). */
  debug(action: 'throw' | 'exit' | 'spin'): JobHandle<unknown> {
    return this.start<unknown>('debug', anyResult, (id) => ({ type: 'debug', id, action }));
  }

  get pendingJobs(): number {
    return this.pending.size;
  }

  /** Workers alive now. */
  get liveWorkers(): number {
    return this.workers.length;
  }

  /** Running jobs, then queued ones in the order they will start. */
  jobs(): JobInfo[] {
    const now = Date.now();
    const info = (p: Pending): JobInfo => ({
      id: p.id,
      label: p.label,
      state: !p.worker ? 'queued' : p.cancelled ? 'cancelling' : 'running',
      ageMs: now - p.asked,
      fraction: p.fraction,
      cancel: () => this.cancel(p),
    });
    return [...[...this.pending.values()].filter((p) => p.worker).map(info), ...this.queue.map(info)];
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.queue.splice(0)) {
      this.pending.delete(p.id);
      p.reject(new WorkerCrashedError('the analysis worker has been shut down'));
    }
    for (const w of [...this.workers]) this.stopWorker(w, 'the extension is shutting down');
  }

  // --- internals -------------------------------------------------------------------------

  private start<T>(
    kind: string,
    guard: Guard<T>,
    build: (id: number, cancelFlag: SharedArrayBuffer) => HostToWorker,
    callbacks: StatsCallbacks & JobOptions & { priority?: boolean } = {},
  ): JobHandle<T> {
    const id = this.nextId++;
    const sab = new SharedArrayBuffer(4);
    const message = build(id, sab);
    const label = callbacks.label ?? defaultLabel(message);
    let pending: Pending | undefined;
    const promise = new Promise<T>((resolve, reject) => {
      if (this.disposed) {
        reject(new WorkerCrashedError('the analysis worker has been shut down'));
        return;
      }
      pending = {
        id,
        kind,
        label,
        heavy: kind === 'analysis' || kind === 'evaluate' || (kind === 'stats' && callbacks.priority !== true),
        worker: undefined,
        message,
        flag: new Int32Array(sab),
        guard,
        resolve: resolve as (v: unknown) => void,
        reject,
        callbacks,
        fraction: 0,
        cancelled: false,
        asked: Date.now(),
        started: 0,
      };
      this.pending.set(id, pending);
      if (pending.heavy && (this.queue.length > 0 || this.heavyRunning() >= this.maxWorkers)) {
        this.queue.push(pending);
        const behind = this.runningHeavy().map((p) => p.label).concat(this.queue.slice(0, -1).map((p) => p.label));
        this.opts.log.info(`${label} queued behind ${behind.join(', ')}`);
        callbacks.onQueued?.(behind);
        return;
      }
      this.dispatch(pending);
    });
    return {
      id,
      label,
      promise,
      cancel: () => {
        if (pending) this.cancel(pending);
      },
    };
  }

  private runningHeavy(): Pending[] {
    return [...this.pending.values()].filter((p) => p.heavy && p.worker);
  }

  private heavyRunning(): number {
    return this.runningHeavy().length;
  }

  private jobsOn(w: Worker): Pending[] {
    return [...this.pending.values()].filter((p) => p.worker === w);
  }

  /** Picks (or starts) a worker for the job and sends it. */
  private dispatch(p: Pending): void {
    let worker: Worker;
    try {
      worker = this.pickWorker(p.heavy, pathOf(p.message));
    } catch (e) {
      this.pending.delete(p.id);
      p.reject(new WorkerCrashedError(`cannot start the analysis worker: ${(e as Error).message}`));
      return;
    }
    const idle = this.idleTimers.get(worker);
    if (idle) {
      clearTimeout(idle);
      this.idleTimers.delete(worker);
    }
    p.worker = worker;
    p.started = Date.now();
    worker.ref();
    const path = pathOf(p.message);
    if (path !== undefined) this.readers.get(worker)?.add(path);
    this.send(worker, p.message);
    // A heavy job started with no reader running: start one now, so the next light job does
    // not pay for a thread start (it is stopped again after idleMs if nothing comes).
    if (p.heavy && !this.disposed && this.opts.spareWorker !== false && !this.usable(true).length) {
      try {
        this.armIdle(this.newWorker(true));
      } catch (e) {
        this.opts.log.warn(`could not start a spare reader worker: ${(e as Error).message}`);
      }
    }
  }

  /** Running workers that take new jobs: readers, or heavy workers. */
  private usable(reader: boolean): Worker[] {
    return this.workers.filter((w) => !this.terminating.has(w) && !this.stale.has(w) && this.readers.has(w) === reader);
  }

  /**
   * Heavy: an idle heavy worker, else a new one. Light: the least busy reader that has the file
   * open (or is opening it), even if busy: another reader would open it again, costing as much
   * memory and time as the file's listing; else an idle reader, else a new one (up to
   * MAX_READERS), else the least busy reader.
   */
  private pickWorker(heavy: boolean, path?: string): Worker {
    if (heavy) return this.usable(false).find((w) => !this.jobsOn(w).length) ?? this.newWorker(false);
    const readers = this.usable(true);
    const load = (w: Worker): number => this.jobsOn(w).length;
    const byLoad = (a: Worker, b: Worker): number => load(a) - load(b);
    const holding = path === undefined ? [] : readers.filter((w) => this.readers.get(w)!.has(path));
    if (holding.length) return holding.sort(byLoad)[0];
    const idle = readers.find((w) => !load(w));
    if (idle) return idle;
    if (readers.length < MAX_READERS) return this.newWorker(true);
    return readers.sort(byLoad)[0];
  }

  /** Starts queued heavy jobs while there is room. */
  private pump(): void {
    while (!this.disposed && this.queue.length && this.heavyRunning() < this.maxWorkers) {
      const p = this.queue.shift()!;
      this.opts.log.info(`${p.label} starts after ${Date.now() - p.asked} ms in the queue`);
      this.dispatch(p);
      if (p.worker) p.callbacks.onStarted?.();
    }
  }

  private cancel(p: Pending): void {
    if (p.cancelled || !this.pending.has(p.id)) return;
    p.cancelled = true;
    p.cancelledAt = Date.now();
    Atomics.store(p.flag, 0, 1);
    if (!p.worker) {
      // Still queued: nothing runs, drop it now.
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
      this.pending.delete(p.id);
      p.reject(new CancelledError());
      return;
    }
    this.send(p.worker, { type: 'cancel', id: p.id });
    this.armGraceTimer(p);
  }

  /**
   * After `cancelGraceMs`, a cancelled job that has not stopped gets the worker terminated,
   * unless the worker has meanwhile been reporting progress on another, live job: then the
   * cancelled job is only waiting behind it (the worker's thread is busy, so it cannot see the
   * cancel message yet) and will stop as soon as it gets the thread. Terminating would throw
   * away the other job's work, so wait another period instead.
   */
  private armGraceTimer(p: Pending): void {
    const grace = this.opts.cancelGraceMs ?? 2000;
    const since = Date.now();
    p.graceTimer = setTimeout(() => {
      if (!this.pending.has(p.id) || !p.worker) return;
      const act = this.activity.get(p.worker);
      const other = act && act.at >= since && act.jobId !== p.id ? this.pending.get(act.jobId) : undefined;
      if (other && !other.cancelled) {
        this.opts.log.debug(`cancelled ${p.kind} job ${p.id} is waiting behind ${other.kind} job ${other.id}`);
        this.armGraceTimer(p);
        return;
      }
      this.opts.log.warn(`${p.kind} job ${p.id} did not stop within ${Date.now() - p.cancelledAt!} ms of being cancelled; restarting the analysis worker`);
      this.stopWorker(p.worker, `the analysis worker was restarted because a cancelled ${p.kind} job did not stop`);
    }, grace);
    p.graceTimer.unref();
  }

  private newWorker(reader: boolean): Worker {
    const heapMb = reader ? (this.opts.readerHeapMb ?? READER_HEAP_MB) : (this.opts.maxOldGenerationSizeMb ?? 4096);
    const w = new Worker(this.opts.workerPath, {
      workerData: this.opts.workerData ?? {},
      env: this.opts.workerEnv?.() ?? process.env,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
    });
    if (reader) this.readers.set(w, new Set());
    this.workersStarted++;
    this.opts.log.info(`${reader ? 'reader' : 'analysis'} worker #${this.workersStarted} started (thread ${w.threadId}; heap limit ${heapMb} MB; ${this.workers.length + 1} running)`);
    let lastError: Error | undefined;
    w.on('message', (m: unknown) => this.onMessage(w, m));
    w.on('messageerror', (e) => this.opts.log.warn(`analysis worker sent a message that could not be deserialised: ${e.message}`));
    w.on('error', (e) => {
      lastError = e;
      this.opts.log.error(`analysis worker crashed: ${e.stack ?? e.message}`);
    });
    w.on('exit', (code) => {
      this.forget(w);
      const reason = this.terminating.get(w);
      const outOfMemory = (lastError as NodeJS.ErrnoException | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY';
      const message =
        reason ??
        (outOfMemory
          ? `the ${reader ? 'reader' : 'analysis'} worker ran out of its ${heapMb} MB of memory and stopped; it will be restarted for the next job`
          : `the analysis worker stopped unexpectedly (exit code ${code}${lastError ? `: ${lastError.message}` : ''}); it will be restarted for the next job`);
      if (reason === undefined) this.opts.log.error(message);
      else this.opts.log.info(`analysis worker stopped: ${reason}`);
      this.rejectAll(w, message);
    });
    this.workers.push(w);
    return w;
  }

  private forget(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    const t = this.idleTimers.get(w);
    if (t) clearTimeout(t);
    this.idleTimers.delete(w);
  }

  private stopWorker(w: Worker, reason: string): void {
    if (this.terminating.has(w)) return;
    this.terminating.set(w, reason);
    this.forget(w);
    // Settle the jobs now; 'exit' will find nothing left to reject.
    this.rejectAll(w, reason);
    void w.terminate().catch((e: Error) => this.opts.log.warn(`terminating the analysis worker failed: ${e.message}`));
  }

  private rejectAll(w: Worker, message: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.worker !== w) continue;
      this.settle(p);
      p.reject(p.cancelled ? new CancelledError() : new WorkerCrashedError(message));
    }
  }

  private settle(p: Pending): void {
    this.pending.delete(p.id);
    if (p.graceTimer) clearTimeout(p.graceTimer);
    const w = p.worker;
    if (w && !this.jobsOn(w).length) {
      if (this.stale.has(w)) this.stopWorker(w, 'its environment changed');
      else this.armIdle(w);
    }
    if (p.heavy) queueMicrotask(() => this.pump());
  }

  /**
   * An idle worker is unref'd and stops after idleMs, except the last one running and the last
   * reader (its opened files stay warm).
   */
  private armIdle(w: Worker): void {
    w.unref();
    if (this.terminating.has(w) || this.disposed || this.idleTimers.has(w) || !this.mayIdleOut(w)) return;
    const t = setTimeout(() => {
      this.idleTimers.delete(w);
      if (!this.jobsOn(w).length && this.mayIdleOut(w)) this.stopWorker(w, 'idle');
    }, this.opts.idleMs ?? 60_000);
    t.unref();
    this.idleTimers.set(w, t);
  }

  private mayIdleOut(w: Worker): boolean {
    if (this.workers.length <= 1) return false;
    return !this.readers.has(w) || this.workers.some((o) => o !== w && this.readers.has(o) && !this.terminating.has(o));
  }

  private send(w: Worker, msg: HostToWorker): void {
    try {
      w.postMessage(msg);
    } catch (e) {
      this.opts.log.error(`posting to the analysis worker failed: ${(e as Error).message}`);
    }
  }

  private onMessage(w: Worker, raw: unknown): void {
    if (!isWorkerToHost(raw)) {
      this.opts.log.warn('dropped a malformed message from the analysis worker');
      return;
    }
    const msg: WorkerToHost = raw;
    if (msg.type === 'log') {
      this.opts.log[msg.level](`[worker] ${msg.message}`);
      return;
    }
    if (msg.type === 'remoteBytes') {
      // Each worker reads a remote file through its own connection: the total is their sum.
      let byWorker = this.remoteBytes.get(msg.path);
      if (!byWorker) this.remoteBytes.set(msg.path, (byWorker = new Map()));
      byWorker.set(w.threadId, msg.bytes);
      this.onRemoteBytes?.(msg.path, [...byWorker.values()].reduce((a, b) => a + b, 0));
      return;
    }
    this.activity.set(w, { at: Date.now(), jobId: msg.id });
    const p = this.pending.get(msg.id);
    if (!p || p.worker !== w) return; // a job already settled (e.g. cancelled, then restarted)
    switch (msg.type) {
      case 'progress':
        p.fraction = msg.fraction;
        if (!p.cancelled) p.callbacks.onProgress?.(msg.fraction, msg.tensor, msg.message);
        return;
      case 'partial':
        if (!p.cancelled) p.callbacks.onPartial?.(msg.view);
        return;
      case 'statsItem':
        p.callbacks.onItem?.(msg.tensor, msg.stats, msg.error);
        return;
      case 'reply':
        this.settle(p);
        if (p.guard(msg.result)) {
          this.opts.log.trace(`${p.kind} job ${p.id} done in ${Date.now() - p.started} ms`);
          p.resolve(msg.result);
        } else {
          this.opts.log.error(`${p.kind} job ${p.id}: malformed reply from the analysis worker`);
          p.reject(new Error(`malformed ${p.kind} reply from the analysis worker`));
        }
        return;
      case 'failure':
        this.settle(p);
        if (msg.cancelled || p.cancelled) {
          this.opts.log.debug(`${p.kind} job ${p.id} cancelled after ${Date.now() - p.started} ms`);
          p.reject(new CancelledError());
        } else p.reject(new WorkerJobError(msg.error));
        return;
    }
  }
}
