// Chains are independent: worker threads (one per core by default) each run whole chains, the
// next chain going to whichever thread finishes first (core/threadPool). Every chain's result
// depends only on (seed, chain) and the engine, and every chain runs in a pool thread, so the
// thread count never changes a number. The engine: the XNNPACK float32 products of xnnDense.ts
// when tfjs-wasm's binaries are found (each thread sets up its own wasm backend), else the
// float64 JS loops of mlpNet.ts.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { CancelledError } from '../core/errors';
import { type TaskReply, ThreadPool } from '../core/threadPool';
import { WASM_FILE, findWasmDir } from '../model/backend';
import type { ChainResult, ChainSettings } from './llcChain';
import { type NetSpec, isGraphSpec } from './graphNet';
import type { TaskData } from './taskData';

/** How a chain computes its losses and gradients. */
export type ChainEngine = 'xnnpack' | 'float64' | 'graph-wasm' | 'graph-cpu';

const GRAPH_NOTE = 'the graph IR\'s tfjs ops and their gradients (tf.valueAndGrads) in float32, as devinterp runs in float32, with BatchNorm in training mode (batch statistics, as devinterp samples in model.train()) and no dropout (checkpoints do not record it); the SGLD update in float64';
export const ENGINE_NOTES: Record<ChainEngine, string> = {
  xnnpack: 'products in float32 on XNNPACK (tfjs-wasm), as devinterp runs in float32; the SGLD update in float64',
  float64: 'in float64 JS loops (tfjs-wasm binaries not found)',
  'graph-wasm': `${GRAPH_NOTE}, on tfjs-wasm (XNNPACK)`,
  'graph-cpu': `${GRAPH_NOTE}, on tfjs's plain JS backend (tfjs-wasm binaries not found)`,
};

/** What every thread of a pool holds: the network, w*, the data and the engine (settings come per chain). */
export interface ChainTask {
  spec: NetSpec;
  wStar: Float64Array;
  data: TaskData;
  engine: ChainEngine;
  wasmDir?: string;
}

export interface ChainJob extends ChainTask {
  settings: ChainSettings;
}

export type LlcWorkerRequest = { type: 'chain'; index: number; settings: ChainSettings };
export type LlcWorkerReply =
  | { type: 'ready' }
  | { type: 'draw'; chain: number; draw: number; loss: number }
  | { type: 'result'; index: number; result: ChainResult }
  | { type: 'error'; message: string; cancelled?: boolean };

export interface LlcWorkerData {
  job: ChainTask;
  cancelFlag: SharedArrayBuffer;
}

export interface PoolOptions {
  threads?: number;
  /** The bundled worker (default: llcWorker.js beside this bundle, or in the nearest dist/ above it). */
  workerScript?: string;
  isCancelled?: () => boolean;
  /** Progress: a chain reached a draw (throttled to about 20 calls per chain). */
  onDraw?: (chain: number, draw: number, loss: number) => void;
  onChain?: (result: ChainResult) => void;
}

export function chainThreads(chains: number, requested?: number): number {
  return Math.max(1, Math.min(requested ?? availableParallelism(), chains));
}

/**
 * The engine chains of `spec` use here: XNNPACK when tfjs-wasm's binaries are found, beside the
 * worker script (dist/ keeps them there, wherever the calling bundle runs from), beside this
 * bundle or in node_modules.
 */
export function chainEngine(spec: NetSpec, workerScript?: string): { engine: ChainEngine; wasmDir?: string } {
  const dir = findWasmDir(dirname(workerScript ?? defaultWorkerScript()));
  if (isGraphSpec(spec)) return dir ? { engine: 'graph-wasm', wasmDir: dir } : { engine: 'graph-cpu' };
  return dir ? { engine: 'xnnpack', wasmDir: dir } : { engine: 'float64' };
}

/** A report's first warning when the chains fell back to a slower engine: which one ran, and why. */
export function engineFallbackWarning(engine: ChainEngine, workerScript?: string): string | undefined {
  if (engine !== 'float64' && engine !== 'graph-cpu') return undefined;
  const ran = engine === 'float64' ? 'the float64 JS engine instead of XNNPACK (float32)' : "tfjs's plain JS backend instead of tfjs-wasm";
  const looked = [...new Set([dirname(workerScript ?? defaultWorkerScript()), __dirname])].join(', ');
  return `the chains ran on ${ran}: tfjs-wasm's ${WASM_FILE} was not found in ${looked} or node_modules (an incomplete installation: dist/ holds it).`;
}

/** llcWorker.js beside this bundle (dist/), or in the nearest dist/ above it (tests and benchmarks bundle elsewhere). */
export function defaultWorkerScript(): string {
  for (let d = __dirname; ; d = dirname(d)) {
    for (const p of [join(d, 'llcWorker.js'), join(d, 'dist', 'llcWorker.js')]) if (existsSync(p)) return p;
    if (dirname(d) === d) return join(__dirname, 'llcWorker.js');
  }
}

/** Throttles a chain's draws to about 20 progress reports. */
export function reportsDraw(draw: number, draws: number): boolean {
  const every = Math.max(1, Math.floor(draws / 20));
  return draw % every === every - 1 || draw === draws - 1;
}

/**
 * Threads holding one task, started once and given runs of chains with any settings: the
 * sweep's cells share one pool (each thread sets up its engine once, not per cell).
 */
export class ChainPool {
  private readonly pool: ThreadPool<ChainResult>;
  private onDraw?: PoolOptions['onDraw'];
  /** The engine every thread runs. */
  readonly engine: ChainEngine;

  constructor(task: ChainTask, threads: number, workerScript?: string) {
    this.engine = task.engine;
    this.pool = new ThreadPool<ChainResult>({
      script: workerScript ?? defaultWorkerScript(),
      workerData: { job: task } satisfies Omit<LlcWorkerData, 'cancelFlag'>,
      threads,
      decode: (raw): TaskReply<ChainResult> => {
        const m = raw as LlcWorkerReply;
        if (m.type === 'draw') {
          this.onDraw?.(m.chain, m.draw, m.loss);
          return { type: 'progress' };
        }
        if (m.type === 'error') return { type: 'error', error: m.cancelled ? new CancelledError() : new Error(m.message) };
        return m;
      },
      waitReady: true,
      threadError: (what) => new Error(`SGLD thread ${what}`),
    });
  }

  /** Runs `chains` chains with `settings`; results in chain order. */
  async run(settings: ChainSettings, chains: number, opts: Omit<PoolOptions, 'threads' | 'workerScript'> = {}): Promise<ChainResult[]> {
    const out: ChainResult[] = new Array(chains);
    this.onDraw = opts.onDraw;
    try {
      await this.pool.runTasks({
        order: Array.from({ length: chains }, (_, i) => i),
        request: (index) => ({ type: 'chain', index, settings }) satisfies LlcWorkerRequest,
        isCancelled: opts.isCancelled,
        onResult: (i, r) => {
          out[i] = r;
          opts.onChain?.(r);
        },
      });
    } finally {
      this.onDraw = undefined;
    }
    return out;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** Runs `chains` chains of `job` on a pool of their own; results in chain order. */
export async function runChains(job: ChainJob, chains: number, opts: PoolOptions = {}): Promise<ChainResult[]> {
  const { settings, ...task } = job;
  const pool = new ChainPool(task, chainThreads(chains, opts.threads), opts.workerScript);
  try {
    return await pool.run(settings, chains, opts);
  } finally {
    await pool.close();
  }
}
