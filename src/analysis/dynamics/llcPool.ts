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
import { runThreadPool } from '../core/threadPool';
import { findWasmDir } from '../model/backend';
import type { ChainResult, ChainSettings } from './llcChain';
import type { DenseNetSpec } from './mlpNet';
import type { TaskData } from './taskData';

/** How a chain computes its losses and gradients. */
export type ChainEngine = 'xnnpack' | 'float64';

export const ENGINE_NOTES: Record<ChainEngine, string> = {
  xnnpack: 'products in float32 on XNNPACK (tfjs-wasm), as devinterp runs in float32; the SGLD update in float64',
  float64: 'in float64 JS loops (tfjs-wasm binaries not found)',
};

export interface ChainJob {
  spec: DenseNetSpec;
  wStar: Float64Array;
  data: TaskData;
  settings: ChainSettings;
  engine: ChainEngine;
  wasmDir?: string;
}

export type LlcWorkerRequest = { type: 'chain'; index: number };
export type LlcWorkerReply =
  | { type: 'ready' }
  | { type: 'draw'; chain: number; draw: number; loss: number }
  | { type: 'result'; index: number; result: ChainResult }
  | { type: 'error'; message: string; cancelled?: boolean };

export interface LlcWorkerData {
  job: ChainJob;
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

/** The engine chains use here: XNNPACK when tfjs-wasm's binaries are found. */
export function chainEngine(wasmDir?: string): { engine: ChainEngine; wasmDir?: string } {
  const dir = findWasmDir(wasmDir);
  return dir ? { engine: 'xnnpack', wasmDir: dir } : { engine: 'float64' };
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

/** Runs `chains` chains of `job`; results in chain order. */
export async function runChains(job: ChainJob, chains: number, opts: PoolOptions = {}): Promise<ChainResult[]> {
  const out: ChainResult[] = new Array(chains);
  await runThreadPool<ChainResult>({
    script: opts.workerScript ?? defaultWorkerScript(),
    workerData: { job } satisfies Omit<LlcWorkerData, 'cancelFlag'>,
    threads: chainThreads(chains, opts.threads),
    order: Array.from({ length: chains }, (_, i) => i),
    request: (index) => ({ type: 'chain', index }) satisfies LlcWorkerRequest,
    decode: (raw) => {
      const m = raw as LlcWorkerReply;
      if (m.type === 'draw') {
        opts.onDraw?.(m.chain, m.draw, m.loss);
        return { type: 'progress' };
      }
      if (m.type === 'error') return { type: 'error', error: m.cancelled ? new CancelledError() : new Error(m.message) };
      return m;
    },
    waitReady: true,
    isCancelled: opts.isCancelled,
    onResult: (i, r) => {
      out[i] = r;
      opts.onChain?.(r);
    },
    threadError: (what) => new Error(`SGLD thread ${what}`),
  });
  return out;
}
