// Worker thread of the SGLD pool (bundled as dist/llcWorker.js): runs the chains it is handed
// and reports draws and results. The data arrays arrive in shared memory.
import { parentPort, workerData } from 'node:worker_threads';
import { CancelledChain, runChain } from './llcChain';
import type { LlcWorkerData, LlcWorkerReply, LlcWorkerRequest } from './llcPool';

const { job, cancelFlag } = workerData as LlcWorkerData;
const flag = new Int32Array(cancelFlag);
const post = (m: LlcWorkerReply): void => parentPort!.postMessage(m);
const every = Math.max(1, Math.floor(job.settings.draws / 20));

parentPort!.on('message', (m: LlcWorkerRequest) => {
  try {
    const result = runChain(job.spec, job.wStar, job.data, job.settings, m.chain, {
      isCancelled: () => Atomics.load(flag, 0) === 1,
      onDraw: (draw, loss) => {
        if (draw % every === every - 1 || draw === job.settings.draws - 1) post({ type: 'draw', chain: m.chain, draw, loss });
      },
    });
    post({ type: 'result', result });
  } catch (e) {
    post({ type: 'error', message: (e as Error).message, cancelled: e instanceof CancelledChain });
  }
});
post({ type: 'ready' });
