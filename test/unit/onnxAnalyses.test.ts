// Every forward-pass analysis on the onnxruntime engine against the same analysis on the tfjs
// engine (wasm): each number of the reports within 1e-5 (+1e-6 of its size). Interpolation
// (with BatchNorm reset, and through the worker pool, whose workers pick the engine by name),
// MLI, LLFC, the loss plane, layer dropping (BatchNorm recomputed too), stitching (forward
// captures on onnxruntime, training on tfjs), swaps, activation matching and, with Fashion-MNIST,
// CKA and the barrier matrix. Skips, saying why, where onnxruntime-node is not installed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { activationMatching } from '../../src/analysis/align/activationMatching';
import { findFashionMnist, loadDataset } from '../../src/analysis/data/dataset';
import { runDrop } from '../../src/analysis/dropping/runDrop';
import { runInterpolation } from '../../src/analysis/interpolate/linearPath';
import { runLlfc } from '../../src/analysis/interpolate/llfc';
import { runPlane } from '../../src/analysis/interpolate/lossPlane';
import { runMli } from '../../src/analysis/interpolate/mli';
import { initBackend } from '../../src/analysis/model/backend';
import { forwardEngine } from '../../src/analysis/model/engine';
import { loadOrt, loadProblem } from '../../src/analysis/model/onnx/loadOrt';
import { cachedSessionCount, clearSessions } from '../../src/analysis/model/onnx/ortModel';
import { openModel } from '../../src/analysis/model/openModel';
import { runBasins } from '../../src/analysis/sets/barrierMatrix';
import { runCka } from '../../src/analysis/sets/ckaAnalysis';
import { runSwap } from '../../src/analysis/sets/runSwap';
import { runStitch } from '../../src/analysis/stitch/runStitch';
import { MODEL_FIXTURES, REPO_ROOT, fixture } from '../helpers';

const skip = loadOrt() ? false : `onnxruntime-node does not load here: ${loadProblem()}`;
const fmnist = findFashionMnist();
const skipFmnist = skip || (fmnist ? false : 'Fashion-MNIST is not installed (/usr/share/datasets/fashion-mnist)');
const WORKER = join(REPO_ROOT, 'dist', 'pathWorker.js');
const I = (name: string): string => fixture('interp', name);
const DIGITS = I('digits.npz');
const MODEL = (name: string): string => fixture('models', MODEL_FIXTURES[name]);
const BATCH = (name: string): string => fixture('models', `${name}.batch.npz`);
const ATOL = 1e-5;
const REL = 1e-6;
// Wall-clock, engine and thread fields differ by design.
const NOT_NUMBERS = /^(seconds|backend|threads|elapsed|ms|timings?)$/i;

/** Over every number both reports hold: the worst |a − b| − (ATOL + REL·max(|a|, |b|)), and the largest |a − b| and where. */
function compare(a: unknown, b: unknown, { atol, rel }: { atol: number; rel: number }): { excess: number; diff: number; path: string; count: number } {
  let worst = { excess: -Infinity, diff: 0, path: '', count: 0 };
  const visit = (x: unknown, y: unknown, p: string) => {
    if (typeof x === 'number' && typeof y === 'number') {
      worst.count++;
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        assert.ok(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)), `${p}: ${x} vs ${y}`);
        return;
      }
      const d = Math.abs(x - y);
      const e = d - (atol + rel * Math.max(Math.abs(x), Math.abs(y)));
      worst.excess = Math.max(worst.excess, e);
      if (d >= worst.diff) Object.assign(worst, { diff: d, path: p });
      return;
    }
    if (x && y && typeof x === 'object' && typeof y === 'object') {
      if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) return visit(Array.from(x as unknown as number[]), Array.from(y as unknown as number[]), p);
      for (const k of Object.keys(x)) if (!NOT_NUMBERS.test(k) && k in (y as object)) visit((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${p}.${k}`);
    }
  };
  visit(a, b, '');
  return worst;
}

async function bothEngines<T>(t: { diagnostic(s: string): void }, label: string, fn: () => Promise<T>, tolerance = { atol: ATOL, rel: REL }): Promise<void> {
  await initBackend('onnxruntime');
  assert.equal(forwardEngine(), 'onnxruntime');
  const ort = await fn();
  await initBackend('wasm');
  assert.equal(forwardEngine(), 'tfjs');
  const tfjs = await fn();
  const r = compare(ort, tfjs, tolerance);
  t.diagnostic(`${label}: ${r.count} numbers, max |Δ| onnxruntime vs tfjs ${r.diff.toExponential(2)} (at ${r.path || '-'})`);
  assert.ok(r.count > 0, 'the reports hold numbers');
  assert.ok(r.excess <= 0, `${label}: ${r.path} differs by ${r.diff}`);
  const b = (ort as { backend?: string }).backend;
  if (b !== undefined) assert.equal(b, 'onnxruntime');
}

after(async () => {
  clearSessions();
});

test('linear interpolation: MLP; CNN with BatchNorm reset, in-process and on the 2-thread worker pool', { skip }, async (t) => {
  await bothEngines(t, 'mlp', () => runInterpolation({ a: I('mlp_a.safetensors'), b: I('mlp_b.safetensors'), data: DIGITS, steps: 5, threads: 1 }));
  await bothEngines(t, 'cnn, BatchNorm reset', () => runInterpolation({ a: I('cnn_a.safetensors'), b: I('cnn_b.safetensors'), data: DIGITS, steps: 5, threads: 1, bnBatches: 4, bnBatchSize: 64 }));
  await bothEngines(t, 'cnn, BatchNorm reset, worker pool', () => runInterpolation({ a: I('cnn_a.safetensors'), b: I('cnn_b.safetensors'), data: DIGITS, steps: 5, threads: 2, bnBatches: 4, bnBatchSize: 64, workerScript: WORKER }));
});

test('MLI, LLFC (aligned) and the loss plane', { skip }, async (t) => {
  await bothEngines(t, 'mli', () => runMli({ init: I('mlp_init.safetensors'), final: I('mlp_a.safetensors'), data: DIGITS, steps: 5, threads: 1 }));
  await bothEngines(t, 'llfc', () => runLlfc({ a: I('mlp_a.safetensors'), b: I('mlp_b.safetensors'), data: DIGITS, align: true, limit: 128 }));
  await bothEngines(t, 'plane', () => runPlane({ a: I('mlp_a.safetensors'), b: I('mlp_b.safetensors'), c: I('mlp_c.safetensors'), data: DIGITS, grid: 3, threads: 1 }));
});

test('layer dropping: ResNet with BatchNorm recomputed, nanoGPT', { skip }, async (t) => {
  await bothEngines(t, 'resnet_basic', () => runDrop({ model: MODEL('resnet_basic'), data: BATCH('resnet_basic'), trainData: BATCH('resnet_basic'), recomputeBatchNorm: 1, strategies: ['single', 'symmetric'] }));
  await bothEngines(t, 'nanogpt', () => runDrop({ model: MODEL('nanogpt'), data: BATCH('nanogpt'), strategies: ['single'] }));
});

test('layer dropping keeps no session of a dropped configuration (each is an architecture of its own, evaluated once)', { skip }, async () => {
  await initBackend('onnxruntime');
  clearSessions();
  const r = await runDrop({ model: MODEL('resnet_basic'), data: BATCH('resnet_basic'), strategies: ['single', 'symmetric'] });
  assert.ok(r.results.length >= 2, `${r.results.length} configurations`);
  // The full network's: its logits, and its block outputs for the similarity ranking.
  assert.ok(cachedSessionCount() <= 2, `${cachedSessionCount()} sessions cached`);
});

test('stitching: identity stitches and trained ones (with the control) agree between engines', { skip }, async (t) => {
  await bothEngines(t, 'resnet_basic identity', () => runStitch({ a: MODEL('resnet_basic'), b: MODEL('resnet_basic'), data: BATCH('resnet_basic'), epochs: 0, init: 'identity', control: false }));
  // Stitches train and are measured on tfjs whatever the forward engine (Adam would turn the
  // engines' 1e-6 feature differences into steps of the learning rate's size, g/√v): only the
  // baselines come from onnxruntime, so trained stitches agree as closely as a forward pass.
  await bothEngines(t, 'mlp trained', () => runStitch({ a: MODEL('mlp'), b: MODEL('mlp'), data: BATCH('mlp'), epochs: 1, batchSize: 16 }));
});

test('layer swaps (ResNet, GPT-2) and activation matching', { skip }, async (t) => {
  await bothEngines(t, 'swap resnet_basic', () => runSwap({ model: MODEL('resnet_basic'), data: BATCH('resnet_basic') }));
  await bothEngines(t, 'swap gpt2_hf', () => runSwap({ model: MODEL('gpt2_hf'), data: BATCH('gpt2_hf') }));
  const a = await openModel(join(REPO_ROOT, 'demo/checkpoints/mlp_seed0.safetensors'));
  const b = await openModel(join(REPO_ROOT, 'demo/checkpoints/mlp_seed1.safetensors'));
  const data = await loadDataset(BATCH('mlp'));
  try {
    // The correlations and objectives behind the assignment, and the assignment itself.
    await bothEngines(t, 'activation matching', async () => {
      const r = await activationMatching(a.graph, a.stateDict, b.stateDict, data);
      return { perms: r.perms, correlationBefore: r.correlationBefore, correlationAfter: r.correlationAfter, objectiveBefore: r.objectiveBefore, objectiveAfter: r.objectiveAfter };
    });
  } finally {
    a.model.dispose();
    b.model.dispose();
  }
});

test('sets of models on Fashion-MNIST: CKA and the barrier matrix', { skip: skipFmnist }, async (t) => {
  const B = (n: string) => fixture('basins', `${n}.safetensors`);
  await bothEngines(t, 'cka', () => runCka({ paths: [B('child_a'), B('seed_1')], data: fmnist!, limit: 200 }));
  await bothEngines(t, 'barrier matrix', () => runBasins({ paths: [B('child_a'), B('seed_1'), B('parent')], data: fmnist!, limit: 200, steps: 3, threads: 1 }));
});
