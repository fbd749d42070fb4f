// Training dynamics that follow a watched run: each time the watcher reports a new checkpoint,
// the conserved quantities, lazy/rich measures and loss are recomputed over the report (cheap),
// while each checkpoint's LLC is estimated once and kept (keyed by file, size and modification
// time), with the same hyper-parameters at every step. One computation at a time; a report that
// arrives meanwhile waits, and only the latest waiting one is computed.
import type { RunsReport } from '../compare/trainingRuns';
import { isCancelled } from '../core/errors';
import type { DynamicsContext, DynamicsOptions, LlcCache } from './runDynamics';
import { type RunsWithDynamics, addDynamics } from './runsDynamics';

export interface FollowerEvents {
  /** The report with its dynamics, in arrival order of the computations. */
  onReport(r: RunsWithDynamics): void;
  /** Dynamics failed for this report (the report is passed on without them). */
  onError?(e: Error, r: RunsReport): void;
  /** What the computation is doing ("LLC at step 400, 2/4 chains"), or undefined when idle. */
  onStatus?(text: string | undefined): void;
}

export class DynamicsFollower {
  private readonly cache: LlcCache = new Map();
  private running: Promise<void> | undefined;
  private queued: RunsReport | undefined;

  constructor(
    private readonly opts: DynamicsOptions,
    private readonly events: FollowerEvents,
    private readonly ctx: Pick<DynamicsContext, 'isCancelled' | 'log'> = {},
  ) {}

  /** Checkpoints whose LLC is kept. */
  get cachedLlc(): number {
    return this.cache.size;
  }

  push(r: RunsReport): void {
    if (this.running) {
      this.queued = r;
      return;
    }
    this.running = this.compute(r).finally(() => {
      this.running = undefined;
      const next = this.queued;
      this.queued = undefined;
      if (next) this.push(next);
    });
  }

  /** Resolves when nothing is computing or waiting. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The dynamics of `r` with the LLC values kept so far, sampling none (the final report once
   * watching stops: a checkpoint still waiting for its LLC then has none).
   */
  async final(r: RunsReport): Promise<RunsWithDynamics> {
    await this.idle();
    return addDynamics(r, { ...this.opts, llcCache: this.cache, llcCachedOnly: true }, { log: this.ctx.log });
  }

  private async compute(r: RunsReport): Promise<void> {
    try {
      const d = await addDynamics(r, { ...this.opts, llcCache: this.cache }, {
        isCancelled: this.ctx.isCancelled,
        log: this.ctx.log,
        onProgress: (_f, m) => this.events.onStatus?.(m),
      });
      this.events.onStatus?.(undefined);
      this.events.onReport(d);
    } catch (e) {
      this.events.onStatus?.(undefined);
      if (isCancelled(e)) return;
      this.events.onError?.(e as Error, r);
    }
  }
}
