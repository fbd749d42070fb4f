// Opens one file the way the editor does: a WorkerHost (src/extension/workerHost.ts) sends the
// open to a reader worker (dist/worker.js, READER_HEAP_MB of heap), and the listing comes back
// to this thread as packed columns. bench/memory-bench.mjs measures this process's peak RSS.
import { join } from 'node:path';
import { WorkerHost } from '../src/extension/workerHost';
import { tableOf } from '../src/analysis/core/tensorTable';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const host = new WorkerHost({ workerPath: join(__dirname, '..', '..', 'dist', 'worker.js'), log: quiet, spareWorker: false });
host.open(process.argv[2]).promise.then(
  (listing) => {
    console.log(tableOf(listing.tensors).length);
    host.dispose();
  },
  (e: Error) => {
    console.error(e.message);
    host.dispose();
    process.exitCode = 1;
  },
);
