// The graph IR against real PyTorch: recognition of each family from the checkpoints made by
// test/fixtures/models/make_model_fixtures.py, logits on a fixed batch within 1e-4 of
// PyTorch's, loss/accuracy, BatchNorm recomputation, feature capture, recognition errors and
// `ckpt-lens eval`. Everything runs on the wasm backend.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { CheckpointError } from '../../src/analysis/core/errors';
import { type ArrayData, listArrays } from '../../src/analysis/data/arrays';
import type { Dataset } from '../../src/analysis/data/dataset';
import { inputSamples, planInputs } from '../../src/analysis/data/inputs';
import { initBackend } from '../../src/analysis/model/backend';
import { recomputeBatchNorm } from '../../src/analysis/model/batchnorm';
import { captureFeatures, evaluate } from '../../src/analysis/model/evaluate';
import { type Model, createModel } from '../../src/analysis/model/execute';
import { type ModelGraph, capturePoints, dropBlocks, inferShapes, stitchPoints } from '../../src/analysis/model/ir';
import { MAX_RECOGNISED_TENSORS, recognize, recognizeCheckpoint } from '../../src/analysis/model/recognize';
import { loadStateDict } from '../../src/analysis/model/stateDict';
import { openCheckpoint } from '../../src/analysis/open';
import { MODEL_FIXTURES, REPO_ROOT, fixture } from '../helpers';

const TOLERANCE = 1e-4;
const MODELS = fixture('models');
const FILES = MODEL_FIXTURES;
const FAMILY: Record<string, string> = { mlp: 'mlp', cnn: 'cnn', resnet_basic: 'resnet', resnet_bottleneck: 'resnet', gpt2_hf: 'gpt2', nanogpt: 'gpt2' };
const expected = JSON.parse(readFileSync(join(MODELS, 'expected.json'), 'utf8')) as Record<string, { loss: number; accuracy: number; n: number }>;

interface Loaded {
  ckpt: Checkpoint;
  graph: ModelGraph;
  model: Model;
  arrays: Map<string, ArrayData>;
}
const loaded = new Map<string, Loaded>();

async function load(name: string): Promise<Loaded> {
  const hit = loaded.get(name);
  if (hit) return hit;
  const batch = await listArrays(join(MODELS, `${name}.batch.npz`));
  const arrays = new Map<string, ArrayData>();
  for (const k of batch.names.keys()) arrays.set(k, await batch.read(k));
  await batch.close();
  const ckpt = await openCheckpoint(join(MODELS, FILES[name]));
  // No input hint: recognition must stand on the weights, sidecars and defaults alone.
  const { graph } = await recognizeCheckpoint(ckpt);
  const model = createModel(graph, await loadStateDict(ckpt, graph));
  const l = { ckpt, graph, model, arrays };
  loaded.set(name, l);
  return l;
}

function inputTensor(a: ArrayData, graph: ModelGraph): tf.Tensor {
  return graph.input.kind === 'tokens' ? tf.tensor(Int32Array.from(a.values), a.shape, 'int32') : tf.tensor(Float32Array.from(a.values), a.shape, 'float32');
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function datasetOf(l: Loaded): Dataset {
  const x = l.arrays.get('x')!;
  return { name: 'fixed batch', n: x.shape[0], x, y: Int32Array.from(l.arrays.get('y')!.values) };
}

before(async () => {
  const info = await initBackend('wasm');
  assert.equal(info.name, 'wasm');
});

after(async () => {
  for (const l of loaded.values()) {
    l.model.dispose();
    await l.ckpt.close();
  }
});

for (const name of Object.keys(FILES)) {
  test(`${name}: recognised as ${FAMILY[name]}, logits within ${TOLERANCE} of PyTorch's on wasm`, async (t) => {
    const l = await load(name);
    assert.equal(l.graph.family, FAMILY[name]);
    const x = inputTensor(l.arrays.get('x')!, l.graph);
    const { output } = l.model.forward(x);
    const want = l.arrays.get('logits')!;
    assert.deepEqual(output.shape, want.shape);
    const err = maxAbsDiff(await output.data(), want.values);
    t.diagnostic(`${name}: max |logit - PyTorch| = ${err.toExponential(2)}`);
    tf.dispose([x, output]);
    assert.ok(err <= TOLERANCE, `max abs logit error ${err}`);
  });

  test(`${name}: loss and accuracy on the fixed batch match PyTorch's`, async () => {
    const l = await load(name);
    const r = await evaluate(l.model, datasetOf(l), { batchSize: 10 });
    const e = expected[name];
    assert.equal(r.n, e.n);
    assert.equal(r.backend, 'wasm');
    assert.ok(Math.abs(r.loss - e.loss) <= TOLERANCE, `loss ${r.loss} vs ${e.loss}`);
    assert.ok(Math.abs(r.accuracy - e.accuracy) < 1e-9, `accuracy ${r.accuracy} vs ${e.accuracy}`);
  });
}

for (const name of ['cnn', 'resnet_basic', 'resnet_bottleneck']) {
  test(`${name}: BatchNorm statistics recomputed on 3 batches match PyTorch's (momentum=None)`, async (t) => {
    // A fresh model: recomputation changes the one it runs on.
    const base = await load(name);
    const model = createModel(base.graph, await loadStateDict(base.ckpt, base.graph));
    try {
      const bx = base.arrays.get('bn_x')!;
      const train: Dataset = { name: 'bn batches', n: bx.shape[0], x: bx };
      const batches = inputSamples(train, planInputs(train, base.graph), { batchSize: 32, numBatches: 3 });
      let progress = 0;
      const stats = await recomputeBatchNorm(model, batches, { onProgress: (k) => (progress = k) });
      assert.equal(progress, 3);
      const bns = base.graph.nodes.filter((n) => n.op === 'batchnorm');
      assert.equal(stats.size, 2 * bns.length);
      let worst = 0;
      for (const n of bns) {
        if (n.op !== 'batchnorm') continue;
        for (const [tensor, key] of [[n.runningMean, 'running_mean'], [n.runningVar, 'running_var']] as const) {
          const want = base.arrays.get(`bn.${n.id}.${key}`);
          assert.ok(want, `PyTorch statistics for ${n.id}`);
          worst = Math.max(worst, maxAbsDiff(stats.get(tensor)!.values, want.values));
        }
      }
      t.diagnostic(`${name}: max |running stat - PyTorch| = ${worst.toExponential(2)}`);
      assert.ok(worst <= TOLERANCE, `running statistics differ by ${worst}`);
      // And the network evaluated with them.
      const x = inputTensor(base.arrays.get('x')!, base.graph);
      const { output } = model.forward(x);
      const err = maxAbsDiff(await output.data(), base.arrays.get('bn_logits')!.values);
      tf.dispose([x, output]);
      assert.ok(err <= TOLERANCE, `logits after recomputation differ by ${err}`);
    } finally {
      model.dispose();
    }
  });
}

test('language models without y are scored on next-token prediction; cancellation stops evaluation', async () => {
  const l = await load('nanogpt');
  const x = l.arrays.get('x')!;
  const r = await evaluate(l.model, { name: 'tokens', n: x.shape[0], x }, { batchSize: 7 });
  // The same score from PyTorch's logits, in float64.
  const [B, T, V] = l.arrays.get('logits')!.shape;
  const logits = l.arrays.get('logits')!.values;
  let sum = 0;
  let hits = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const row = Array.from(logits.subarray((b * T + t) * V, (b * T + t + 1) * V));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
      const target = x.values[b * T + t + 1];
      sum += lse - row[target];
      if (row.indexOf(m) === target) hits++;
    }
  }
  assert.equal(r.predictions, B * (T - 1));
  assert.ok(Math.abs(r.loss - sum / (B * (T - 1))) <= TOLERANCE, `${r.loss} vs ${sum / (B * (T - 1))}`);
  assert.equal(r.accuracy, hits / (B * (T - 1)));
  let calls = 0;
  await assert.rejects(evaluate(l.model, datasetOf(l), { batchSize: 4, isCancelled: () => ++calls > 2 }), (e: Error) => e.name === 'CancelledError');
});

test('capture points are the block outputs, with PyTorch-layout shapes', async () => {
  const resnet = await load('resnet_basic');
  assert.deepEqual(
    capturePoints(resnet.graph, [1, 8, 8]).map((p) => `${p.name} [${p.shape}]`),
    ['stem [8,8,8]', 'layer1.0 [8,8,8]', 'layer1.1 [8,8,8]', 'layer2.0 [16,4,4]', 'layer3.0 [32,2,2]', 'layer4.0 [64,1,1]', 'avgpool [64]', 'fc [10]'],
  );
  assert.deepEqual(resnet.graph.blocks.filter((b) => b.droppable).map((b) => b.name), ['layer1.0', 'layer1.1']);
  assert.deepEqual(stitchPoints(resnet.graph, [1, 8, 8]).map((p) => p.name), ['stem', 'layer1.0', 'layer1.1', 'layer2.0', 'layer3.0', 'layer4.0', 'avgpool']);

  const cnn = await load('cnn');
  assert.deepEqual(cnn.graph.input.shape, [1, 8, 8], 'input size inferred from the first Linear layer');
  assert.deepEqual(capturePoints(cnn.graph).map((p) => `${p.name} [${p.shape}]`), ['features.0 [8,4,4]', 'features.4 [16,2,2]', 'flatten [64]', 'classifier.0 [32]', 'classifier.3 [10]']);

  const mlp = await load('mlp');
  assert.deepEqual(capturePoints(mlp.graph).map((p) => p.name), ['layers.0', 'layers.2', 'head'], 'head is last although it sorts first');

  const gpt = await load('gpt2_hf');
  assert.deepEqual(capturePoints(gpt.graph, [3]).map((p) => `${p.name} [${p.shape}]`), ['transformer.wte [3,48]', 'transformer.h.0 [3,48]', 'transformer.h.1 [3,48]', 'transformer.ln_f [3,48]', 'lm_head [3,14]']);
  assert.ok(gpt.graph.blocks.filter((b) => b.name.startsWith('transformer.h.')).every((b) => b.droppable));
});

test('captured features equal PyTorch module outputs (NCHW)', async () => {
  for (const [name, point] of [['cnn', 'features.4'], ['resnet_basic', 'layer2.0']]) {
    const l = await load(name);
    const feats = await captureFeatures(l.model, datasetOf(l), [point, 'logits'], { batchSize: 12 });
    const want = l.arrays.get(`feature.${point}`)!;
    assert.deepEqual(feats[point].shape, want.shape);
    const err = maxAbsDiff(feats[point].values, want.values);
    assert.ok(err <= TOLERANCE, `${name} ${point}: ${err}`);
    assert.ok(maxAbsDiff(feats.logits.values, l.arrays.get('logits')!.values) <= TOLERANCE);
  }
});

test('dropping a residual block leaves a runnable graph; non-residual blocks cannot be dropped', async () => {
  const l = await load('resnet_basic');
  const dropped = dropBlocks(l.graph, ['layer1.1']);
  assert.ok(!dropped.nodes.some((n) => n.id.startsWith('layer1.1.')));
  assert.equal(inferShapes(dropped, [1, 8, 8]).get(dropped.output)!.join(), '10');
  const sd = await loadStateDict(l.ckpt, dropped);
  const m = createModel(dropped, sd);
  const x = inputTensor(l.arrays.get('x')!, l.graph);
  const { output } = m.forward(x);
  assert.deepEqual(output.shape, [32, 10]);
  tf.dispose([x, output]);
  m.dispose();
  assert.throws(() => dropBlocks(l.graph, ['layer2.0']), /cannot be dropped/);
});

test('architecture hints: the gpt2 sidecar sets n_head, nanoGPT model_args too, --arch overrides', async () => {
  const hf = await load('gpt2_hf');
  assert.ok(hf.graph.nodes.some((n) => n.op === 'causal_self_attention' && n.nHead === 4));
  assert.ok(!hf.graph.assumptions.some((a) => a.includes('attention head')), hf.graph.assumptions.join('; '));
  const nano = await load('nanogpt');
  assert.equal(nano.graph.prefix, 'model._orig_mod.');
  assert.ok(nano.graph.nodes.some((n) => n.op === 'causal_self_attention' && n.nHead === 2 && n.layout === 'out_in'));
  assert.ok(nano.graph.nodes.some((n) => n.op === 'activation' && n.fn === 'gelu'));

  const dir = mkdtempSync(join(tmpdir(), 'arch-'));
  const archFile = join(dir, 'arch.json');
  writeFileSync(archFile, JSON.stringify({ activation: 'tanh', normalize: { mean: 0.5, std: 0.25 } }));
  const mlp = await load('mlp');
  const { graph } = await recognizeCheckpoint(mlp.ckpt, { archFile });
  assert.deepEqual(graph.nodes.filter((n) => n.op === 'activation').map((n) => n.op === 'activation' && n.fn), ['tanh', 'tanh']);
  assert.deepEqual(graph.input.normalize, { mean: [0.5], std: [0.25] });
  writeFileSync(archFile, JSON.stringify({ activaton: 'tanh' }));
  await assert.rejects(recognizeCheckpoint(mlp.ckpt, { archFile }), (e: Error) => e instanceof CheckpointError && e.message.includes(archFile) && e.message.includes('unknown key "activaton"'));
});

test('recognition failures name the tensors that could not be placed', async () => {
  const resnet = (await load('resnet_basic')).ckpt.tensors.map((t) => ({ name: t.name, shape: t.shape }));
  assert.throws(
    () => recognize('extra.safetensors', [...resnet, { name: 'layer2.0.se.fc.weight', shape: [4, 16] }]),
    (e: Error) => e instanceof CheckpointError && /extra\.safetensors: not recognised as a torchvision ResNet/.test(e.message) && e.message.includes('layer2.0.se.fc.weight [4, 16]'),
  );
  assert.throws(
    () => recognize('mlp.pt', [{ name: 'fc1.weight', shape: [32, 64] }, { name: 'fc1.bias', shape: [32] }, { name: 'fc2.weight', shape: [10, 32] }, { name: 'scale', shape: [7] }]),
    (e: Error) => e instanceof CheckpointError && /not recognised as an MLP/.test(e.message) && e.message.includes('could not place 1 tensor: scale [7]'),
  );
  assert.throws(
    () => recognize('odd.pt', [{ name: 'w', shape: [2, 3, 4] }]),
    (e: Error) => e instanceof CheckpointError && e.message.includes('could not place any of its 1 tensors (w [2, 3, 4])'),
  );
  assert.throws(
    () => recognize('mlp.pt', [{ name: 'a.weight', shape: [32, 64] }, { name: 'b.weight', shape: [10, 31] }]),
    /do not chain/,
  );
});

// Recognition copies and indexes every name; a million-tensor listing must not pay for that.
test('recognition declines at once past MAX_RECOGNISED_TENSORS, naming the count', () => {
  const mlp = [{ name: 'fc1.weight', shape: [32, 64] }, { name: 'fc1.bias', shape: [32] }];
  const pad = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `pad.${i}`, shape: [1] }));
  assert.throws(
    () => recognize('many.pt', [...mlp, ...pad(MAX_RECOGNISED_TENSORS - 1)]),
    (e: Error) => e instanceof CheckpointError && /many\.pt: not recognised as a network: it holds 100,001 tensors, and recognition stops at 100,000$/.test(e.message),
  );
  // At the cap it tries, and fails on the names instead.
  assert.throws(() => recognize('many.pt', [...mlp, ...pad(MAX_RECOGNISED_TENSORS - 2)]), (e: Error) => e instanceof CheckpointError && /could not place/.test(e.message));
});

test('MLP naming variants: nn.Sequential indices, fcN, a Lightning prefix', () => {
  const seq = recognize('s.pt', [
    { name: 'state_dict.model.net.4.weight', shape: [10, 16] }, { name: 'state_dict.model.net.4.bias', shape: [10] },
    { name: 'state_dict.model.net.0.weight', shape: [16, 8] }, { name: 'state_dict.model.net.0.bias', shape: [16] },
    { name: 'state_dict.model.net.1.weight', shape: [16] }, { name: 'state_dict.model.net.1.bias', shape: [16] },
    { name: 'state_dict.model.net.1.running_mean', shape: [16] }, { name: 'state_dict.model.net.1.running_var', shape: [16] },
    { name: 'state_dict.model.net.1.num_batches_tracked', shape: [] },
  ], { stateDictPrefix: 'state_dict' });
  assert.equal(seq.prefix, 'state_dict.model.');
  assert.deepEqual(seq.nodes.map((n) => `${n.id}:${n.op}`), ['flatten:flatten', 'net.0:linear', 'net.1:batchnorm', 'net.0.act:activation', 'net.4:linear']);
  const fc = recognize('f.pt', ['fc3', 'fc1', 'fc2'].map((p, i) => ({ name: `${p}.weight`, shape: [[5, 6], [7, 4], [6, 7]][i] })));
  assert.deepEqual(fc.nodes.filter((n) => n.op === 'linear').map((n) => n.id), ['fc1', 'fc2', 'fc3']);
});

test('CNN padding and pooling are found from the first Linear layer (PyTorch MNIST example)', () => {
  // conv1 3×3 1→32, conv2 3×3 32→64, max-pool, fc1 9216→128, fc2: only "valid" padding and one pool fit 28×28.
  const g = recognize('mnist_cnn.pt', [
    { name: 'conv1.weight', shape: [32, 1, 3, 3] }, { name: 'conv1.bias', shape: [32] },
    { name: 'conv2.weight', shape: [64, 32, 3, 3] }, { name: 'conv2.bias', shape: [64] },
    { name: 'fc1.weight', shape: [128, 9216] }, { name: 'fc1.bias', shape: [128] },
    { name: 'fc2.weight', shape: [10, 128] }, { name: 'fc2.bias', shape: [10] },
  ]);
  assert.equal(g.family, 'cnn');
  assert.deepEqual(g.input.shape, [1, 28, 28]);
  assert.deepEqual(g.nodes.map((n) => n.id), ['conv1', 'conv1.act', 'conv2', 'conv2.act', 'conv2.pool', 'flatten', 'fc1', 'fc1.act', 'fc2']);
  assert.ok(g.nodes.every((n) => n.op !== 'conv2d' || n.padding[0] === 0));
  assert.throws(() => recognize('odd_cnn.pt', [{ name: 'conv1.weight', shape: [32, 1, 3, 3] }, { name: 'fc1.weight', shape: [10, 999] }]), /odd_cnn\.pt: not recognised as a plain CNN: no arrangement of padding and pooling/);
});

test('ckpt-lens eval: the demo MLP on the bundled digits, and a fixture with x/y in one .npz', async () => {
  const run = promisify(execFile);
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const demo = await run(process.execPath, [cli, 'eval', join(REPO_ROOT, 'demo/checkpoints/mlp_seed0.safetensors'), '--data', join(REPO_ROOT, 'demo/data/digits.npz'), '--backend', 'wasm', '--json']);
  const r = JSON.parse(demo.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(r), ['loss', 'accuracy', 'n', 'backend', 'seconds']);
  assert.equal(r.n, 1797);
  assert.equal(r.backend, 'wasm');
  assert.ok((r.accuracy as number) > 0.99, `accuracy ${r.accuracy}`);
  assert.ok(Math.abs((r.loss as number) - 0.0261478) < 1e-4, `loss ${r.loss}`);
  assert.match(demo.stderr, /tfjs backend: wasm/);

  const auto = await run(process.execPath, [cli, 'eval', join(MODELS, 'cnn.safetensors'), '--data', join(MODELS, 'cnn.batch.npz'), '--json']);
  const a = JSON.parse(auto.stdout) as { loss: number; accuracy: number; backend: string };
  assert.ok(Math.abs(a.loss - expected.cnn.loss) <= TOLERANCE);
  // Auto picks tfjs-node when it loads, and says why it did not otherwise.
  if (a.backend !== 'tensorflow') assert.match(auto.stderr, /tensorflow: cannot load @tensorflow\/tfjs-node/);

  await assert.rejects(run(process.execPath, [cli, 'eval', join(MODELS, 'gpt2_hf.safetensors'), '--data', join(REPO_ROOT, 'demo/data/digits.npz')]), (e: { code: number; stderr: string }) => e.code === 1 && /digits\.npz: examples of shape \[64\] do not fit the gpt2 model/.test(e.stderr));
  await assert.rejects(run(process.execPath, [cli, 'eval', 'x.pt']), (e: { code: number; stderr: string }) => e.code === 2 && e.stderr.includes('--data'));
});
