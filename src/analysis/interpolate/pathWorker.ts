// Worker-thread entry for pathPool: sets up its own tfjs backend and models once, then evaluates
// the points the pool hands it, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { CheckpointError } from '../core/errors';
import { initBackend } from '../model/backend';
import type { PathReply, PathRequest, PathWorkerData } from './pathPool';
import { PointEvaluator } from './pointEvaluator';

const { setup, backend, wasmDir, intraOpThreads, cancelFlag } = workerData as PathWorkerData;
const cancelled = new Int32Array(cancelFlag);
const isCancelled = (): boolean => Atomics.load(cancelled, 0) !== 0;
const post = (m: PathReply): void => parentPort!.postMessage(m);
const failure = (index: number, e: Error): PathReply =>
  e instanceof CheckpointError ? { type: 'error', index, name: e.name, message: e.message, file: e.file, problem: e.problem } : { type: 'error', index, name: e.name, message: e.message };

const ready = (async () => {
  await initBackend(backend, { wasmDir, threads: intraOpThreads });
  return new PointEvaluator(setup);
})();

ready.then(
  () => post({ type: 'ready' }),
  (e: Error) => post(failure(-1, e)),
);

parentPort!.on('message', async (req: PathRequest) => {
  try {
    const ev = await ready;
    post({ type: 'result', index: req.index, result: await ev.evaluate(req.coefs, isCancelled) });
  } catch (e) {
    post(failure(req.index, e as Error));
  }
});
