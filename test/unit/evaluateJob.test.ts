// The evaluate job as the extension runs it: WorkerHost → dist/worker.js → recognise, tfjs,
// dataset, against PyTorch's numbers for the demo checkpoint (demo/eval_reference.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrt, loadProblem } from '../../src/analysis/model/onnx/loadOrt';
import { WorkerHost, WorkerJobError, type Logger } from '../../src/extension/workerHost';
import { REPO_ROOT } from '../helpers';

const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const expected = JSON.parse(readFileSync(join(REPO_ROOT, 'demo', 'eval.expected.json'), 'utf8')) as Record<string, { loss: number; accuracy: number; n: number }>;

test('evaluate in the worker matches PyTorch on the demo MLP, with progress', async () => {
  const host = new WorkerHost({ workerPath: join(REPO_ROOT, 'dist', 'worker.js'), log: quiet });
  try {
    const fractions: number[] = [];
    const job = host.evaluate(
      { checkpoint: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.pt'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz'), backend: 'wasm' },
      { onProgress: (f) => fractions.push(f) },
    );
    const r = await job.promise;
    const want = expected['mlp_seed0.pt'];
    assert.equal(r.n, want.n);
    assert.ok(Math.abs(r.loss - want.loss) < 1e-4, `loss ${r.loss} vs PyTorch ${want.loss}`);
    // PyTorch's accuracy is a float32 mean: compare the number of correct predictions.
    assert.equal(Math.round(r.accuracy * r.n), Math.round(want.accuracy * want.n), `accuracy ${r.accuracy} vs ${want.accuracy}`);
    assert.equal(r.backend, 'wasm');
    assert.equal(r.threads, undefined, 'tfjs reports no onnxruntime threads');
    assert.ok(fractions.length > 0);
  } finally {
    host.dispose();
  }
});

test('the worker picks the onnxruntime engine (the setting the extension passes) with the same numbers', { skip: loadOrt() ? false : `onnxruntime-node does not load here: ${loadProblem()}` }, async () => {
  const host = new WorkerHost({ workerPath: join(REPO_ROOT, 'dist', 'worker.js'), log: quiet });
  try {
    const r = await host.evaluate({ checkpoint: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.pt'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz'), backend: 'onnxruntime' }).promise;
    const want = expected['mlp_seed0.pt'];
    assert.equal(r.backend, 'onnxruntime');
    assert.equal(r.n, want.n);
    assert.ok(Math.abs(r.loss - want.loss) < 1e-4, `loss ${r.loss} vs PyTorch ${want.loss}`);
    assert.equal(Math.round(r.accuracy * r.n), Math.round(want.accuracy * want.n));
    // checkpointLens.onnxruntimeThreads travels with each job: each evaluation runs on sessions
    // of the count it was sent (a worker kept from the job before changes its count), and says so.
    const args = { checkpoint: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.pt'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz'), backend: 'onnxruntime' as const };
    const one = await host.evaluate({ ...args, threads: 1 }).promise;
    const two = await host.evaluate({ ...args, threads: 2 }).promise;
    assert.deepEqual([one.threads, two.threads], [1, 2]);
    assert.ok(Math.abs(one.loss - two.loss) < 1e-6, `loss on 1 thread ${one.loss}, on 2 ${two.loss}`);
  } finally {
    host.dispose();
  }
});

test('evaluate reports a clear error for a checkpoint it cannot place, and can be cancelled', async () => {
  const host = new WorkerHost({ workerPath: join(REPO_ROOT, 'dist', 'worker.js'), log: quiet });
  try {
    const bad = host.evaluate({ checkpoint: join(REPO_ROOT, 'test', 'fixtures', 'torch', 'dtypes.pt'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz'), backend: 'wasm' });
    await assert.rejects(bad.promise, (e: Error) => e instanceof WorkerJobError && /dtypes\.pt/.test(e.message));
    const job = host.evaluate({ checkpoint: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.pt'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz'), backend: 'wasm' });
    job.cancel();
    await assert.rejects(job.promise, (e: Error) => e.name === 'CancelledError');
  } finally {
    host.dispose();
  }
});
