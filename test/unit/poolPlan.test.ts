// The point pools' choice, with onnxruntime, between parallel sessions and one session on every
// core (src/analysis/interpolate/poolPlan.ts): the rule on given measurements, the calibration's
// cache, and a real interpolation that calibrates, states its choice in the job log and gives the
// same numbers as one thread. No timing is asserted: which plan wins depends on the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runInterpolation } from '../../src/analysis/interpolate/linearPath';
import { type Calibration, type CalibrationRunners, choosePlan, clearPoolPlans, planPool } from '../../src/analysis/interpolate/poolPlan';
import type { PathSetup } from '../../src/analysis/interpolate/pointEvaluator';
import { initBackend } from '../../src/analysis/model/backend';
import { loadOrt, loadProblem } from '../../src/analysis/model/onnx/loadOrt';
import { ortThreads, setOrtThreads } from '../../src/analysis/model/onnx/ortModel';
import { openModel } from '../../src/analysis/model/openModel';
import { loadDataset } from '../../src/analysis/data/dataset';
import { REPO_ROOT, fixture } from '../helpers';

const skip = loadOrt() ? false : `onnxruntime-node does not load here: ${loadProblem()}`;
const I = (name: string): string => fixture('interp', name);
const WORKER = join(REPO_ROOT, 'dist', 'pathWorker.js');

const calib = (c: Partial<Calibration>): Calibration => ({ intra: 1e-4, single: 1.8e-4, workers: 2, examples: 512, ...c });

test('the plan: one session unless measured parallel sessions finish the whole job sooner, start-up included', () => {
  // Not measured (could not win even with perfect scaling): one session on every core.
  let p = choosePlan(calib({}), 25, 10000, 2, false);
  assert.deepEqual([p.workers, p.intraOpThreads], [1, 2]);
  assert.match(p.reason, /^point pool: one onnxruntime session on 2 intra-op threads \(predicted .* perfect scaling.*calibrated on 512 examples\)$/);
  // Measured faster per point, with a small start-up: parallel sessions.
  p = choosePlan(calib({ single: 1.2e-4, parallel: 1.3e-4, startup: 0.2 }), 25, 10000, 2, true);
  assert.deepEqual([p.workers, p.intraOpThreads], [2, 1]);
  assert.match(p.reason, /^point pool: 2 parallel onnxruntime sessions, one thread each \(predicted .* against .* for one session on 2 threads; calibration cached/);
  // Same per-point figures, but the start-up outweighs the gain on a short job: one session.
  p = choosePlan(calib({ single: 1.2e-4, parallel: 1.3e-4, startup: 0.2 }), 3, 1000, 2, true);
  assert.equal(p.workers, 1);
  // Parallel sessions slower under contention than their ideal: one session.
  p = choosePlan(calib({ single: 1.2e-4, parallel: 2.5e-4, startup: 0 }), 25, 10000, 2, false);
  assert.equal(p.workers, 1);
  assert.match(p.reason, /against .* for 2 parallel sessions/);
});

test('the calibration runs once per architecture and measures parallel sessions only when they could win', { skip }, async () => {
  await initBackend('onnxruntime');
  const { graph, stateDict, model } = await openModel(I('mlp_a.safetensors'));
  model.dispose();
  const data = await loadDataset(I('digits.npz'));
  const setup: PathSetup = { graph, endpoints: [stateDict, stateDict], data, bn: { reset: false, batchSize: 128, batches: 1 }, batchSize: 64 };
  const calls: string[] = [];
  const runners = (single: number, intra: number): CalibrationRunners => ({
    inThread: async (s, threads) => {
      assert.equal(s.data.n, Math.min(data.n, 128), 'the calibration runs on two batches');
      calls.push(`thread ${threads}`);
      return threads === 1 ? single : intra;
    },
    inWorkers: async (_s, workers) => {
      calls.push(`workers ${workers}`);
      return { perPoint: single * 1.1, startup: 0.01 };
    },
  });
  clearPoolPlans();
  // Intra-op scales perfectly: no workers are started.
  let p = await planPool(setup, 9, 2, 2, runners(0.02, 0.01));
  assert.deepEqual(calls, ['thread 2', 'thread 1']);
  assert.equal(p.workers, 1);
  // Cached: nothing runs again, and the log says so.
  p = await planPool(setup, 9, 2, 2, runners(0.02, 0.01));
  assert.deepEqual(calls, ['thread 2', 'thread 1']);
  assert.match(p.reason, /calibration cached for this architecture/);
  // Another machine shape (4 cores) calibrates anew; intra-op scaling poorly: workers are measured.
  calls.length = 0;
  p = await planPool(setup, 9, 2, 4, runners(0.02, 0.018));
  assert.deepEqual(calls, ['thread 4', 'thread 1', 'workers 2']);
  assert.equal(p.workers, 2);
  clearPoolPlans();
});

test('an interpolation on onnxruntime with the default threads calibrates, logs its choice, and equals one thread', { skip }, async (t) => {
  await initBackend('onnxruntime');
  clearPoolPlans();
  const logs: string[] = [];
  const opts = { a: I('mlp_a.safetensors'), b: I('mlp_b.safetensors'), data: I('digits.npz'), steps: 7, workerScript: WORKER };
  const pooled = await runInterpolation(opts, { log: (m) => logs.push(m) });
  const one = await runInterpolation({ ...opts, threads: 1 });
  const lines = logs.filter((l) => l.startsWith('point pool:'));
  assert.equal(lines.length, 1, logs.join('\n'));
  t.diagnostic(lines[0]);
  assert.match(lines[0], /^point pool: (one onnxruntime session on \d+ intra-op threads|\d+ parallel onnxruntime sessions, one thread each) \(predicted /);
  for (const [i, l] of pooled.loss.entries()) assert.ok(Math.abs(l - one.loss[i]) <= 1e-6, `α ${pooled.alphas[i]}: ${l} vs ${one.loss[i]}`);
  assert.deepEqual(pooled.accuracy, one.accuracy);
  // The same architecture again: the cached calibration.
  logs.length = 0;
  await runInterpolation(opts, { log: (m) => logs.push(m) });
  assert.match(logs.find((l) => l.startsWith('point pool:')) ?? '', /calibration cached/);
  clearPoolPlans();
});

test('the onnxruntime thread budget bounds the pool: one thread, one session in this thread and no calibration', { skip }, async () => {
  await initBackend('onnxruntime');
  clearPoolPlans();
  const before = ortThreads();
  setOrtThreads(1);
  try {
    const logs: string[] = [];
    const opts = { a: I('mlp_a.safetensors'), b: I('mlp_b.safetensors'), data: I('digits.npz'), steps: 5, workerScript: WORKER };
    await runInterpolation(opts, { log: (m) => logs.push(m) });
    assert.deepEqual(logs.filter((l) => l.startsWith('point pool:')), []);
  } finally {
    setOrtThreads(before);
  }
});
