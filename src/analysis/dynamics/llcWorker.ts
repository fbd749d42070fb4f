// Worker thread of the SGLD pool (bundled as dist/llcWorker.js): sets up its engine (its own
// tfjs wasm backend for XNNPACK), then runs the chains it is handed and reports draws and
// results. The data arrays arrive in shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../model/backend';
import { CancelledChain, runChain } from './llcChain';
import { type LlcWorkerData, type LlcWorkerReply, type LlcWorkerRequest, reportsDraw } from './llcPool';
import { GraphNet, isGraphSpec } from './graphNet';
import { DenseNet, type LossGrad } from './mlpNet';
import { XnnDenseNet } from './xnnDense';

const { job, cancelFlag } = workerData as LlcWorkerData;
const flag = new Int32Array(cancelFlag);
const post = (m: LlcWorkerReply): void => parentPort!.postMessage(m);

const ready: Promise<LossGrad> = (async () => {
  const spec = job.spec;
  if (isGraphSpec(spec)) {
    await initBackend(job.engine === 'graph-wasm' ? 'wasm' : 'cpu', { wasmDir: job.wasmDir });
    return new GraphNet(spec, job.wStar);
  }
  if (job.engine === 'float64') return new DenseNet(spec);
  await initBackend('wasm', { wasmDir: job.wasmDir });
  return new XnnDenseNet(spec);
})();

ready.then(
  () => post({ type: 'ready' }),
  (e: Error) => post({ type: 'error', message: `the ${job.engine} engine could not start: ${e.message}` }),
);

parentPort!.on('message', async (m: LlcWorkerRequest) => {
  try {
    const net = await ready;
    const result = runChain(job.spec, job.wStar, job.data, m.settings, m.index, {
      isCancelled: () => Atomics.load(flag, 0) === 1,
      onDraw: (draw, loss) => {
        if (reportsDraw(draw, m.settings.draws)) post({ type: 'draw', chain: m.index, draw, loss });
      },
    }, net);
    post({ type: 'result', index: m.index, result });
  } catch (e) {
    post({ type: 'error', message: (e as Error).message, cancelled: e instanceof CancelledChain });
  }
});
