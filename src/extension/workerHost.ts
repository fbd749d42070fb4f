// The host side of the analysis worker: a small RPC over worker_threads.
//
// vscode-free on purpose (unit-tested with node:test). One long-lived worker, created lazily on
// the first job. Every job gets an id and a 4-byte SharedArrayBuffer cancel flag; cancelling
// sets the flag (seen at once by the worker's CPU loops) and posts a `cancel` message (seen by
// jobs that are waiting). A job that has not stopped `cancelGraceMs` after cancel gets the worker
// terminated; a worker that crashes or exits rejects its pending jobs with WorkerCrashedError.
// Either way the next job starts a fresh worker. Nothing here can throw into the caller's thread
// except through a job's promise.
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
  /** Settles when the worker has finished, failed or actually stopped the job. */
  readonly promise: Promise<T>;
  /**
   * Asks the job to stop; its promise then rejects with CancelledError (or still resolves if
   * the job finished before it saw the request). Idempotent.
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
  /** Heap limit of the worker in MB (typed arrays live outside it). Default 4096. */
  maxOldGenerationSizeMb?: number;
}

export interface StatsCallbacks {
  onItem?: (tensor: string, stats: TensorStats | null, error?: ErrorInfo) => void;
  /** `tensor` for statistics jobs; `message` says what an analysis is doing. */
  onProgress?: (fraction: number, tensor?: string, message?: string) => void;
  /** Analyses: the results so far. */
  onPartial?: (view: AnalysisView) => void;
}

interface Pending {
  id: number;
  kind: string;
  worker: Worker;
  flag: Int32Array;
  guard: Guard<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onItem?: StatsCallbacks['onItem'];
  onProgress?: StatsCallbacks['onProgress'];
  onPartial?: StatsCallbacks['onPartial'];
  cancelled: boolean;
  cancelledAt?: number;
  started: number;
  graceTimer?: NodeJS.Timeout;
}

/** The last sign of life of a worker: when, and for which job. */
interface Activity {
  at: number;
  jobId: number;
}

const anyResult: Guard<unknown> = (_v): _v is unknown => true;

export class WorkerHost {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  /** Why a worker was terminated on purpose (so its exit is not reported as a crash). */
  private readonly terminating = new WeakMap<Worker, string>();
  private readonly activity = new WeakMap<Worker, Activity>();
  private nextId = 1;
  private disposed = false;
  /** How many workers have been started (tests and logs). */
  workersStarted = 0;

  constructor(private readonly opts: WorkerHostOptions) {}

  open(path: string): JobHandle<Listing> {
    return this.start<Listing>('open', isListing, (id) => ({ type: 'open', id, path }));
  }

  /** Lets the worker close the file; a no-op when no worker is running. */
  close(path: string): void {
    if (this.worker && !this.terminating.has(this.worker)) this.send(this.worker, { type: 'close', path });
  }

  stats(path: string, tensors: string[], opts: StatsCallbacks & { priority?: boolean } = {}): JobHandle<StatsJobResult> {
    return this.start<StatsJobResult>(
      'stats',
      isStatsJobResult,
      (id, cancelFlag) => ({ type: 'stats', id, path, tensors, priority: opts.priority === true, cancelFlag }),
      opts,
    );
  }

  slice2d(path: string, tensor: string, maxRows = 128, maxCols = 128): JobHandle<Slice2D> {
    return this.start<Slice2D>('slice2d', isSlice2D, (id, cancelFlag) => ({ type: 'slice2d', id, path, tensor, maxRows, maxCols, cancelFlag }));
  }

  evaluate(req: Omit<WorkerEvaluateRequest, 'type' | 'id' | 'cancelFlag'>, opts: Pick<StatsCallbacks, 'onProgress'> = {}): JobHandle<EvalSummary> {
    return this.start<EvalSummary>('evaluate', isEvalSummary, (id, cancelFlag) => ({ ...req, type: 'evaluate', id, cancelFlag }), opts);
  }

  /** Runs an analysis (alignment, interpolation, …); its views stream through onPartial. */
  analysis(req: Omit<WorkerAnalysisRequest, 'type' | 'id' | 'cancelFlag'>, opts: Pick<StatsCallbacks, 'onProgress' | 'onPartial'> = {}): JobHandle<AnalysisView> {
    return this.start<AnalysisView>('analysis', isAnalysisView, (id, cancelFlag) => ({ ...req, type: 'analysis', id, cancelFlag }), opts);
  }

  /** Test hook (the worker refuses it unless started with workerData.testHooks). */
  debug(action: 'throw' | 'exit' | 'spin'): JobHandle<unknown> {
    return this.start<unknown>('debug', anyResult, (id) => ({ type: 'debug', id, action }));
  }

  get pendingJobs(): number {
    return this.pending.size;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.worker) this.stopWorker(this.worker, 'the extension is shutting down');
  }

  // --- internals -------------------------------------------------------------------------

  private start<T>(
    kind: string,
    guard: Guard<T>,
    build: (id: number, cancelFlag: SharedArrayBuffer) => HostToWorker,
    callbacks: StatsCallbacks = {},
  ): JobHandle<T> {
    const id = this.nextId++;
    const sab = new SharedArrayBuffer(4);
    let pending: Pending | undefined;
    const promise = new Promise<T>((resolve, reject) => {
      if (this.disposed) {
        reject(new WorkerCrashedError('the analysis worker has been shut down'));
        return;
      }
      let worker: Worker;
      try {
        worker = this.ensureWorker();
      } catch (e) {
        reject(new WorkerCrashedError(`cannot start the analysis worker: ${(e as Error).message}`));
        return;
      }
      pending = {
        id,
        kind,
        worker,
        flag: new Int32Array(sab),
        guard,
        resolve: resolve as (v: unknown) => void,
        reject,
        onItem: callbacks.onItem,
        onProgress: callbacks.onProgress,
        onPartial: callbacks.onPartial,
        cancelled: false,
        started: Date.now(),
      };
      this.pending.set(id, pending);
      worker.ref();
      this.send(worker, build(id, sab));
    });
    return {
      id,
      promise,
      cancel: () => {
        if (pending) this.cancel(pending);
      },
    };
  }

  private cancel(p: Pending): void {
    if (p.cancelled || !this.pending.has(p.id)) return;
    p.cancelled = true;
    p.cancelledAt = Date.now();
    Atomics.store(p.flag, 0, 1);
    this.send(p.worker, { type: 'cancel', id: p.id });
    this.armGraceTimer(p);
  }

  /**
   * After `cancelGraceMs`, a cancelled job that has not stopped gets the worker terminated,
   * unless the worker has meanwhile been reporting progress on another, live job: then the
   * cancelled job is only queued behind it (the worker's thread is busy, so it cannot see the
   * cancel message yet) and will stop as soon as it gets the thread. Terminating would throw
   * away the other job's work, so wait another period instead.
   */
  private armGraceTimer(p: Pending): void {
    const grace = this.opts.cancelGraceMs ?? 2000;
    const since = Date.now();
    p.graceTimer = setTimeout(() => {
      if (!this.pending.has(p.id)) return;
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

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.opts.workerPath, {
      workerData: this.opts.workerData ?? {},
      resourceLimits: { maxOldGenerationSizeMb: this.opts.maxOldGenerationSizeMb ?? 4096 },
    });
    this.workersStarted++;
    this.opts.log.info(`analysis worker #${this.workersStarted} started (thread ${w.threadId})`);
    let lastError: Error | undefined;
    w.on('message', (m: unknown) => this.onMessage(w, m));
    w.on('messageerror', (e) => this.opts.log.warn(`analysis worker sent a message that could not be deserialised: ${e.message}`));
    w.on('error', (e) => {
      lastError = e;
      this.opts.log.error(`analysis worker crashed: ${e.stack ?? e.message}`);
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      const reason = this.terminating.get(w);
      const message =
        reason ??
        `the analysis worker stopped unexpectedly (exit code ${code}${lastError ? `: ${lastError.message}` : ''}); it will be restarted for the next job`;
      if (reason === undefined) this.opts.log.error(message);
      else this.opts.log.info(`analysis worker stopped: ${reason}`);
      this.rejectAll(w, message);
    });
    this.worker = w;
    return w;
  }

  private stopWorker(w: Worker, reason: string): void {
    if (this.terminating.has(w)) return;
    this.terminating.set(w, reason);
    if (this.worker === w) this.worker = undefined;
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
    if (![...this.pending.values()].some((q) => q.worker === p.worker)) p.worker.unref();
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
    this.activity.set(w, { at: Date.now(), jobId: msg.id });
    const p = this.pending.get(msg.id);
    if (!p || p.worker !== w) return; // a job already settled (e.g. cancelled, then restarted)
    switch (msg.type) {
      case 'progress':
        if (!p.cancelled) p.onProgress?.(msg.fraction, msg.tensor, msg.message);
        return;
      case 'partial':
        if (!p.cancelled) p.onPartial?.(msg.view);
        return;
      case 'statsItem':
        p.onItem?.(msg.tensor, msg.stats, msg.error);
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
