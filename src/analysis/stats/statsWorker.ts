// Worker-thread entry for statsPool: opens the checkpoint itself (listing is cheap) and
// computes statistics of the tensors the pool hands it, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { openCheckpoint } from '../open';
import { computeTensorStats } from './tensorStats';
import type { Checkpoint } from '../core/checkpoint';
import type { PoolRequest, PoolReply } from './statsPool';

const { path, cancelFlag } = workerData as { path: string; cancelFlag: SharedArrayBuffer };
const cancelled = new Int32Array(cancelFlag);
const isCancelled = (): boolean => Atomics.load(cancelled, 0) !== 0;
let ckpt: Promise<Checkpoint> | undefined;

parentPort!.on('message', async (req: PoolRequest) => {
  const post = (m: PoolReply): void => parentPort!.postMessage(m);
  try {
    ckpt ??= openCheckpoint(path);
    const c = await ckpt;
    const t = c.tensors[req.index];
    if (!t || t.name !== req.name) throw new Error(`tensor ${req.name} not found at index ${req.index}`);
    const stats = await computeTensorStats(t, { isCancelled });
    post({ type: 'result', index: req.index, stats });
  } catch (e) {
    post({ type: 'error', index: req.index, name: (e as Error).name, message: (e as Error).message });
  }
});
