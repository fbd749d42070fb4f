// Chains are independent: one worker thread per core, each running whole chains (the next chain
// goes to whichever thread finishes first). Every chain's result depends only on (seed, chain),
// so the thread count never changes a number. threads = 1 runs the chains in this thread.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CancelledError } from '../core/errors';
import { CancelledChain, type ChainResult, type ChainSettings, runChain } from './llcChain';
import type { DenseNetSpec } from './mlpNet';
import type { TaskData } from './taskData';

export interface ChainJob {
  spec: DenseNetSpec;
  wStar: Float64Array;
  data: TaskData;
  settings: ChainSettings;
}

export type LlcWorkerRequest = { type: 'chain'; chain: number };
export type LlcWorkerReply =
  | { type: 'ready' }
  | { type: 'draw'; chain: number; draw: number; loss: number }
  | { type: 'result'; result: ChainResult }
  | { type: 'error'; message: string; cancelled?: boolean };

export interface LlcWorkerData {
  job: ChainJob;
  cancelFlag: SharedArrayBuffer;
}

export interface PoolOptions {
  threads?: number;
  /** The bundled worker (default: llcWorker.js beside this bundle). */
  workerScript?: string;
  isCancelled?: () => boolean;
  /** Progress: a chain reached a draw (throttled to about 20 calls per chain). */
  onDraw?: (chain: number, draw: number, loss: number) => void;
  onChain?: (result: ChainResult) => void;
}

export function chainThreads(chains: number, requested?: number): number {
  return Math.max(1, Math.min(requested ?? availableParallelism(), chains));
}

/** Runs `chains` chains of `job`; results in chain order. */
export async function runChains(job: ChainJob, chains: number, opts: PoolOptions = {}): Promise<ChainResult[]> {
  const out: ChainResult[] = new Array(chains);
  const threads = chainThreads(chains, opts.threads);
  const every = Math.max(1, Math.floor((job.settings.draws) / 20));
  if (threads === 1) {
    for (let c = 0; c < chains; c++) {
      try {
        out[c] = runChain(job.spec, job.wStar, job.data, job.settings, c, {
          isCancelled: opts.isCancelled,
          onDraw: (d, l) => (d % every === every - 1 || d === job.settings.draws - 1) && opts.onDraw?.(c, d, l),
        });
      } catch (e) {
        if (e instanceof CancelledChain) throw new CancelledError();
        throw e;
      }
      opts.onChain?.(out[c]);
      // Let the event loop run (progress messages, cancel requests) between chains.
      await new Promise((r) => setImmediate(r));
    }
    return out;
  }
  const cancelFlag = new SharedArrayBuffer(4);
  const flag = new Int32Array(cancelFlag);
  const script = opts.workerScript ?? join(__dirname, 'llcWorker.js');
  const workerData: LlcWorkerData = { job, cancelFlag };
  const queue = Array.from({ length: chains }, (_, i) => i);
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
        const c = queue.shift();
        if (c === undefined) {
          if (--running === 0) resolve();
          return;
        }
        w.postMessage({ type: 'chain', chain: c } satisfies LlcWorkerRequest);
      };
      for (let k = 0; k < threads; k++) {
        const w = new Worker(script, { workerData });
        workers.push(w);
        running++;
        w.on('message', (m: LlcWorkerReply) => {
          if (failed) return;
          if (m.type === 'ready') return feed(w);
          if (m.type === 'draw') return void opts.onDraw?.(m.chain, m.draw, m.loss);
          if (m.type === 'error') return fail(m.cancelled ? new CancelledError() : new Error(m.message));
          out[m.result.chain] = m.result;
          opts.onChain?.(m.result);
          feed(w);
        });
        w.on('error', (e) => fail(new Error(`SGLD thread failed: ${e.message}`)));
        w.on('exit', (code) => code !== 0 && fail(new Error(`SGLD thread exited with code ${code}`)));
      }
    });
  } finally {
    if (poll) clearInterval(poll);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return out;
}
