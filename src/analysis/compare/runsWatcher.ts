// Live training runs: watch the run folders (plain fs.watch, no VS Code) and, when a checkpoint
// appears, read only that file and emit the grown report.
//
// A new file is read once its size and modification time have stayed the same over one debounce
// interval (a writer still appending is waited for; writers that save under a temporary name and
// rename — torch.save to a .tmp, safetensors via os.replace — are seen only under the final name,
// temporary names are ignored). A file that still fails to open is skipped with a warning and
// retried only if it changes. Old files are never re-read: the tracker keeps each run's first and
// last checkpoint's weight matrices in memory and per-checkpoint summaries (see trainingRuns.ts).
import { EventEmitter } from 'node:events';
import { type FSWatcher, promises as fsp, watch } from 'node:fs';
import type { Checkpoint } from '../core/checkpoint';
import { isCancelled } from '../core/errors';
import { openCheckpoint } from '../open';
import type { AnalysisContext } from '../report/analysisView';
import { expandRunPaths, listRunFolder } from './runFiles';
import { type Pending, type RunsOptions, type RunsReport, RunsTracker, addInStepOrder } from './trainingRuns';

export interface RunsWatchOptions extends RunsOptions {
  /** Quiet time after a folder changes before it is scanned, and the size-stability window (default 500 ms). */
  debounceMs?: number;
}

export interface RunsWatcherDeps {
  ctx?: AnalysisContext;
  /** Opens a checkpoint (default openCheckpoint); tests pass a counting one. */
  open?: (path: string) => Promise<Checkpoint>;
}

interface Seen {
  size: number;
  mtimeMs: number;
  /** done: read (or skipped for good until it changes); waiting: seen once, not yet stable. */
  state: 'done' | 'waiting';
}

/**
 * Events: 'report' (RunsReport) after the initial scan and after every new checkpoint;
 * 'warning' (string) for skipped files; 'error' (Error) when a scan fails.
 */
export class RunsWatcher extends EventEmitter {
  private tracker?: RunsTracker;
  private dirs: string[] = [];
  private readonly watchers: FSWatcher[] = [];
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly seen = new Map<string, Seen>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly open: (path: string) => Promise<Checkpoint>;
  private readonly ctx: AnalysisContext;

  constructor(private readonly opts: RunsWatchOptions, deps: RunsWatcherDeps = {}) {
    super();
    this.open = deps.open ?? openCheckpoint;
    this.ctx = deps.ctx ?? {};
  }

  /** Reads what the folders hold now, starts watching, and returns the first report. */
  async start(): Promise<RunsReport> {
    this.dirs = await expandRunPaths(this.opts.paths);
    if (!this.dirs.length) throw new Error('no run folders given');
    this.tracker = new RunsTracker(this.dirs, this.opts, this.ctx);
    const pending: Pending[] = [];
    for (const [i, dir] of this.dirs.entries()) {
      for (const path of await listRunFolder(dir)) {
        const st = await fsp.stat(path).catch(() => undefined);
        if (st) this.seen.set(path, { size: st.size, mtimeMs: st.mtimeMs, state: 'done' });
        const p = await this.prepare(i, path);
        if (p) pending.push(p);
      }
    }
    await addInStepOrder(this.tracker, pending, this.ctx);
    for (const [i, dir] of this.dirs.entries()) {
      const w = watch(dir, { persistent: true }, () => this.schedule(i));
      w.on('error', (e) => this.emit('error', e));
      this.watchers.push(w);
    }
    const r = this.report();
    this.emit('report', r);
    return r;
  }

  /** The report as it stands. */
  report(): RunsReport {
    if (!this.tracker) throw new Error('RunsWatcher.start() has not been called');
    return this.tracker.snapshot();
  }

  /** Stops watching; waits for a checkpoint being read to finish. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watchers) w.close();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await this.queue;
  }

  /** Scans the run folder `run` now (what a change event triggers after the debounce). */
  scanNow(run: number): Promise<void> {
    this.queue = this.queue.then(() => this.scan(run)).catch((e) => {
      if (!isCancelled(e)) this.emit('error', e);
    });
    return this.queue;
  }

  private schedule(run: number, delay = this.opts.debounceMs ?? 500): void {
    if (this.closed) return;
    clearTimeout(this.timers.get(run));
    this.timers.set(run, setTimeout(() => {
      this.timers.delete(run);
      void this.scanNow(run);
    }, delay));
  }

  private async prepare(run: number, path: string): Promise<Pending | undefined> {
    const before = this.tracker!.report.warnings.length;
    const p = await this.tracker!.prepare(run, path, this.open);
    for (const w of this.tracker!.report.warnings.slice(before)) this.emit('warning', w);
    return p;
  }

  private async scan(run: number): Promise<void> {
    if (this.closed || !this.tracker) return;
    const ready: string[] = [];
    let unstable = false;
    for (const path of await listRunFolder(this.dirs[run])) {
      const st = await fsp.stat(path).catch(() => undefined);
      if (!st) continue;
      const prev = this.seen.get(path);
      const same = prev && prev.size === st.size && prev.mtimeMs === st.mtimeMs;
      if (same && prev.state === 'done') continue;
      if (same && prev.state === 'waiting') ready.push(path);
      else {
        // New or changed since last look: wait one more quiet interval before reading.
        this.seen.set(path, { size: st.size, mtimeMs: st.mtimeMs, state: 'waiting' });
        unstable = true;
      }
    }
    if (unstable) this.schedule(run);
    if (!ready.length) return;
    const pending: Pending[] = [];
    for (const path of ready) {
      this.seen.get(path)!.state = 'done';
      const p = await this.prepare(run, path);
      if (p) pending.push(p);
    }
    const before = this.tracker.report.warnings.length;
    await addInStepOrder(this.tracker, pending, this.ctx);
    for (const w of this.tracker.report.warnings.slice(before)) this.emit('warning', w);
    if (!this.closed) this.emit('report', this.report());
  }
}
