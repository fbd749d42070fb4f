// Model stitching: the identity check (A stitched to itself through an identity-initialised
// stitching layer computes exactly A at every stitch point, for every fixture family), gradients
// of the training step against finite differences (dense, 1×1-conv and token stitches, through
// the frozen top), cancellation, `ckpt-lens stitch --json`, and on Fashion-MNIST the penalty
// between two seeds of an MLP against the random-bottom control (skipped when absent).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { listArrays } from '../../src/analysis/data/arrays';
import { findFashionMnist } from '../../src/analysis/data/dataset';
import { initBackend } from '../../src/analysis/model/backend';
import { openModel } from '../../src/analysis/model/openModel';
import { stitchPoints } from '../../src/analysis/model/ir';
import { type StitchReport, runStitch } from '../../src/analysis/stitch/runStitch';
import { forwardEngine } from '../../src/analysis/model/engine';
import { loadOrt, loadProblem } from '../../src/analysis/model/onnx/loadOrt';
import { StitchLayer } from '../../src/analysis/stitch/stitchLayer';
import { crossEntropies, scoredLogits } from '../../src/analysis/stitch/taskLoss';
import { stitchView } from '../../src/analysis/views/stitchView';
import '../../src/analysis/model/gradients';
import { MODEL_FIXTURES, REPO_ROOT, fixture } from '../helpers';

before(async () => {
  await initBackend('wasm');
});

for (const [name, file] of Object.entries(MODEL_FIXTURES)) {
  test(`${name}: stitched to itself through an identity stitching layer, A's exact loss and accuracy at every point`, async () => {
    const partials: unknown[] = [];
    const r = await runStitch({ a: fixture('models', file), b: fixture('models', file), data: fixture('models', `${name}.batch.npz`), epochs: 0, init: 'identity', control: false }, { onPartial: (p) => partials.push(p) });
    assert.ok(r.points.length >= 2, `${r.points.length} stitch points`);
    for (const p of r.points) {
      assert.equal(p.accuracy, r.baselines.a.accuracy, `${p.name}: accuracy`);
      assert.equal(p.loss, r.baselines.a.loss, `${p.name}: loss`);
      assert.equal(p.penalty, 0);
    }
    assert.equal(partials.length, r.points.length);
    assert.equal(stitchView(partials[0] as Parameters<typeof stitchView>[0]).complete, false, 'a partial report makes an incomplete view');
    const view = stitchView(r);
    assert.equal(view.kind, 'stitch');
    assert.ok(view.charts.every((c) => JSON.stringify(c.spec).includes('"values"')));
  });
}

test('Model.forwardFrom at a block boundary reproduces the full forward exactly; inside a residual block it is refused', async () => {
  const z = await listArrays(fixture('models', 'resnet_basic.batch.npz'));
  const xa = await z.read('x');
  await z.close();
  const { model } = await openModel(fixture('models', MODEL_FIXTURES.resnet_basic), { inputHint: xa.shape.slice(1) });
  const x = tf.tensor(Float32Array.from(xa.values), xa.shape);
  try {
    const whole = model.forward(x).output;
    const full = await whole.data();
    whole.dispose();
    for (const point of ['stem', 'layer1.1', 'layer3.0', 'avgpool']) {
      const f = model.features(x, [point]);
      const out = model.forwardFrom(point, f[point]).output;
      assert.deepEqual(await out.data(), full, point);
      tf.dispose([out, f[point]]);
    }
    const inside = model.features(x, ['layer1.1.conv1']);
    assert.throws(() => model.forwardFrom('layer1.1.conv1', inside['layer1.1.conv1']), /cannot run from layer1\.1\.conv1/);
    tf.dispose(Object.values(inside));
  } finally {
    x.dispose();
    model.dispose();
  }
});

test('faster gradients: a stride-1 convolution\'s input gradient and matMul\'s with transposes equal tfjs\' kernels', () => {
  const x = tf.randomNormal([2, 6, 5, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as tf.Tensor4D;
  const r = tf.randomNormal([2, 6, 5, 4], 0, 1, 'float32', 3);
  for (const pad of ['same', 'valid', [[0, 0], [1, 1], [1, 1], [0, 0]], [[0, 0], [2, 0], [0, 1], [0, 0]]] as const) {
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(v as tf.Tensor4D, w, 1, pad as never), tf.slice(r, 0, tf.conv2d(x, w, 1, pad as never).shape))))(x);
    const dy = tf.slice(r, 0, tf.conv2d(x, w, 1, pad as never).shape) as tf.Tensor4D;
    const want = tf.conv2dTranspose(dy, w, x.shape, 1, pad as never);
    assert.ok(tf.max(tf.abs(tf.sub(dx, want))).dataSync()[0] < 1e-4, JSON.stringify(pad));
  }
  const a = tf.randomNormal([5, 7], 0, 1, 'float32', 4);
  const b = tf.randomNormal([7, 3], 0, 1, 'float32', 5);
  const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(p, q))))([a, b]);
  const g = tf.mul(tf.matMul(a, b), 2);
  assert.ok(tf.max(tf.abs(tf.sub(ga, tf.matMul(g, tf.transpose(b))))).dataSync()[0] < 1e-4);
  assert.ok(tf.max(tf.abs(tf.sub(gb, tf.matMul(tf.transpose(a), g)))).dataSync()[0] < 1e-4);
});

/** Loss of bottom → stitch (training mode) → top on one batch, as trainStep computes it. */
async function gradientCheck(name: string, point: string): Promise<number> {
  const path = fixture('models', MODEL_FIXTURES[name]);
  const z = await listArrays(fixture('models', `${name}.batch.npz`));
  const xa = await z.read('x');
  const ya = await z.read('y');
  await z.close();
  const { model, graph } = await openModel(path, { inputHint: xa.shape.slice(1) });
  const x = graph.input.kind === 'tokens' ? tf.tensor(Int32Array.from(xa.values), xa.shape, 'int32') : tf.tensor(Float32Array.from(xa.values), xa.shape);
  const y = tf.tensor1d(Int32Array.from(ya.values), 'int32');
  const shape = stitchPoints(graph, xa.shape.slice(1)).find((p) => p.name === point)!.shape;
  const layer = new StitchLayer(shape, shape, 'random', 3);
  const h0 = model.features(x, [point])[point];
  const loss = (): tf.Scalar => {
    const { output } = model.forwardFrom(point, layer.apply(h0, true), { differentiable: true });
    const [logits, labels] = scoredLogits(output, x, y);
    return tf.mean(crossEntropies(logits, labels)) as tf.Scalar;
  };
  try {
    const { value, grads } = tf.variableGrads(loss, layer.variables);
    const g = (await grads[layer.weight.name].data()) as Float32Array;
    // Central differences on the weights with the largest gradients.
    const idx = Array.from(g.keys()).sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 3);
    const w = (await layer.weight.data()) as Float32Array;
    let worst = 0;
    for (const i of idx) {
      const at = (d: number): number => {
        const v = w.slice();
        v[i] += d;
        layer.weight.assign(tf.tensor(v, layer.weight.shape));
        return tf.tidy(() => loss().dataSync()[0]);
      };
      const eps = 1e-2;
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - g[i]) / Math.max(1e-3, Math.abs(g[i])));
    }
    tf.dispose([value, ...Object.values(grads)]);
    return worst;
  } finally {
    layer.dispose();
    tf.dispose([x, y, h0]);
    model.dispose();
  }
}

for (const [name, point] of [['mlp', 'layers.0'], ['resnet_basic', 'layer1.1'], ['cnn', 'features.0'], ['nanogpt', 'transformer.h.0']]) {
  test(`${name} at ${point}: the stitching layer's gradient through the frozen top matches finite differences`, async (t) => {
    const worst = await gradientCheck(name, point);
    t.diagnostic(`${name} ${point}: max relative gradient error ${worst.toExponential(2)}`);
    assert.ok(worst < 0.05, `relative gradient error ${worst}`);
  });
}

test('runStitch: training a stitch and its control leaves no tensors behind', async () => {
  const m = fixture('models', MODEL_FIXTURES.resnet_basic);
  const before = tf.memory().numTensors;
  const r = await runStitch({ a: m, b: m, data: fixture('models', 'resnet_basic.batch.npz'), epochs: 2, batchSize: 16, points: ['layer2.0', 'avgpool'] });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(r.points.length, 2);
  assert.ok(r.points.every((p) => p.steps === 4 && p.trainLoss !== null && Number.isFinite(p.loss)));
  assert.equal(r.control?.points.length, 2);
});

test('runStitch: training cancels between steps', async () => {
  let calls = 0;
  const m = fixture('models', MODEL_FIXTURES.resnet_basic);
  await assert.rejects(runStitch({ a: m, b: m, data: fixture('models', 'resnet_basic.batch.npz'), epochs: 5, batchSize: 8 }, { isCancelled: () => ++calls > 6 }), (e: Error) => e.name === 'CancelledError');
});

test('ckpt-lens stitch --json: points with loss, accuracy and penalties, the control, both directions', async () => {
  const run = promisify(execFile);
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const m = fixture('models', MODEL_FIXTURES.gpt2_hf);
  const { stdout } = await run(process.execPath, [cli, 'stitch', m, m, '--data', fixture('models', 'gpt2_hf.batch.npz'), '--epochs', '1', '--points', 'transformer.h.0,transformer.h.1', '--both', '--backend', 'wasm', '--json']);
  const r = JSON.parse(stdout) as { points: Record<string, unknown>[]; control: { points: Record<string, unknown>[] }; directions: { label: string }[]; notes: string[] };
  assert.deepEqual(r.points.map((p) => p.name), ['transformer.h.0', 'transformer.h.1']);
  for (const p of [...r.points, ...r.control.points]) for (const k of ['loss', 'accuracy', 'penalty', 'accuracyPenalty', 'lossPenalty']) assert.equal(typeof p[k], 'number', k);
  assert.deepEqual(r.directions.map((d) => d.label), ['A→B', 'B→A']);
  assert.ok(r.notes.some((n) => n.includes('test data itself')));
  await assert.rejects(run(process.execPath, [cli, 'stitch', m, '--data', 'x']), (e: { code: number; stderr: string }) => e.code === 2 && e.stderr.includes('two checkpoints'));
  await assert.rejects(run(process.execPath, [cli, 'stitch', m, m, '--data', fixture('models', 'gpt2_hf.batch.npz'), '--points', 'nowhere', '--backend', 'wasm']), (e: { code: number; stderr: string }) => e.code === 1 && e.stderr.includes('no stitch point nowhere'));
});

test('runStitch: one seed, one result: twice in a row and on either forward engine, the random-bottom control too', async (t) => {
  // The demo's pair, whose control once read +49.08 points on tfjs-wasm and +49.47 on onnxruntime.
  const opts = { a: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed0.safetensors'), b: join(REPO_ROOT, 'demo', 'checkpoints', 'mlp_seed1.safetensors'), data: join(REPO_ROOT, 'demo', 'data', 'digits.npz') };
  const stitched = (r: StitchReport) => [...r.points, ...r.control!.points].map((p) => ({ name: p.name, loss: p.loss, accuracy: p.accuracy, trainLoss: p.trainLoss }));
  const first = await runStitch(opts);
  t.diagnostic(`control at ${first.control!.points.map((p) => `${p.name}: +${(100 * p.penalty).toFixed(2)}`).join(', ')} points`);
  assert.equal(first.control!.points.length, 2);
  assert.deepEqual(stitched(await runStitch(opts)), stitched(first), 'a second run');
  if (!loadOrt()) {
    t.diagnostic(`onnxruntime-node does not load here (${loadProblem()}): the engine comparison is skipped`);
    return;
  }
  await initBackend('onnxruntime');
  try {
    assert.equal(forwardEngine(), 'onnxruntime');
    assert.deepEqual(stitched(await runStitch(opts)), stitched(first), 'onnxruntime as the forward engine');
  } finally {
    await initBackend('wasm');
  }
});

const FMNIST_A = fixture('fmnist', 'mlp_seed0.safetensors');
const FMNIST_B = fixture('fmnist', 'mlp_seed1.safetensors');
const fmnist = findFashionMnist();
const skipFmnist = !fmnist ? 'Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)' : !existsSync(FMNIST_A) || !existsSync(FMNIST_B) ? 'test/fixtures/fmnist/mlp_seed{0,1}.safetensors not present (made by test/fixtures/fmnist/train_fmnist_pair.py)' : false;

test('Fashion-MNIST MLPs of two seeds: stitching penalty a few points at most, the random bottom far worse', { skip: skipFmnist }, async (t) => {
  // 79 Adam steps per point (one epoch of 10,000 images), tested on 2,000: enough to separate the two.
  const r = await runStitch({ a: FMNIST_A, b: FMNIST_B, data: fmnist!, epochs: 1, trainLimit: 10000, limit: 2000 });
  for (const p of r.points) t.diagnostic(`${p.name}: seeds ${(100 * p.penalty).toFixed(2)} points, random bottom ${(100 * r.control!.points.find((c) => c.name === p.name)!.penalty).toFixed(2)}`);
  assert.ok(r.trainData.includes('train split'), r.trainData);
  for (const p of r.points) assert.ok(p.penalty < 0.06, `${p.name}: penalty ${p.penalty}`);
  const deepest = r.points[r.points.length - 1];
  const control = r.control!.points[r.control!.points.length - 1];
  assert.ok(control.penalty > deepest.penalty + 0.04, `control ${control.penalty} vs ${deepest.penalty}`);
});

const CNN_A = fixture('stitch', 'cnn_seed0.safetensors');
const CNN_B = fixture('stitch', 'cnn_seed1.safetensors');
const skipCnn = !fmnist ? 'Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)' : !existsSync(CNN_A) || !existsSync(CNN_B) ? 'test/fixtures/stitch/cnn_seed{0,1}.safetensors missing (test/fixtures/stitch/train_cnn_pair.py)' : false;

test('Fashion-MNIST CNNs of two seeds: 1×1-convolution stitching trains to far above chance', { skip: skipCnn }, async (t) => {
  // A 1×1 convolution over 8 or 16 channels has few weights, and Adam moves each by about the
  // learning rate per step: 79 steps at the default 1e-3 leave the output BatchNorm far from B's
  // feature scale, so this short schedule uses 1e-2.
  const r = await runStitch({ a: CNN_A, b: CNN_B, data: fmnist!, epochs: 1, trainLimit: 10000, limit: 2000, lr: 1e-2, points: ['features.0', 'features.4'] });
  assert.deepEqual(r.points.map((p) => p.shape.length), [3, 3], 'convolutional stitch points');
  for (const p of r.points) t.diagnostic(`${p.name}: seeds ${(100 * p.penalty).toFixed(2)} points, random bottom ${(100 * r.control!.points.find((c) => c.name === p.name)!.penalty).toFixed(2)}`);
  // One short epoch leaves the early stitch under-trained (about 20 points at features.0); the
  // deeper one is within about 10 points, and both are far above chance (10 %).
  for (const p of r.points) assert.ok(p.accuracy > 0.6, `${p.name}: accuracy ${p.accuracy}`);
  assert.ok(r.points[1].penalty < 0.12, `features.4: penalty ${r.points[1].penalty}`);
});
