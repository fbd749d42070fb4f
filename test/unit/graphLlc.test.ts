// The LLC on graph networks (test/fixtures/dynamics/make_graph_llc_fixtures.py): the loss and
// gradient through the tfjs executor against PyTorch in training mode (BatchNorm on batch
// statistics, as devinterp samples) for a CNN, a ResNet and GPT-2 (next-token cross-entropy,
// tied head); one SGLD step on the CNN against PyTorch's float64 step for a fixed noise draw;
// λ̂ on the CNN against the devinterp re-implementation within the chains' standard error;
// the CLI on a CNN and a language model.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { estimateLlc, loadTask } from '../../src/analysis/dynamics/llc';
import { GraphNet, type GraphNetSpec, isGraphSpec } from '../../src/analysis/dynamics/graphNet';
import { sgldStep } from '../../src/analysis/dynamics/sgld';
import { BatchMaker } from '../../src/analysis/dynamics/taskData';
import { initBackend } from '../../src/analysis/model/backend';
import { listArrays } from '../../src/analysis/data/arrays';
import { REPO_ROOT, close, fixture } from '../helpers';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const WORKER = join(REPO_ROOT, 'dist', 'llcWorker.js');
const D = (name: string): string => fixture('dynamics', name);
const M = (name: string): string => fixture('models', name);

type Summary = { norm: number; first: number[]; size: number };
interface ModelCase { batch: [number, number]; loss32: number; loss64: number; grad32: Record<string, number[] | Summary>; grad64: Record<string, number[] | Summary> }
const expected = JSON.parse(readFileSync(D('graph_expected.json'), 'utf8')) as {
  cnn: ModelCase;
  resnet_basic: ModelCase;
  gpt2_hf: ModelCase;
  cnnStep: { hyperparameters: { epsilon: number; nbeta: number; gamma: number; weightDecay: number }; noise: Record<string, number[]>; after: Record<string, number[]>; localization: number };
  cnnDevinterp: { hyperparameters: { epsilon: number; gamma: number; nbeta: number; chains: number; draws: number; burnIn: number; batchSize: number; seed: number }; llc: { mean: number; std: number; perChain: number[] }; initLoss: number; mala: number[] };
};

/** Our loss and gradient at w* on the case's batch (dataset order), on tfjs-wasm. */
async function ours(checkpoint: string, data: string, c: ModelCase): Promise<{ spec: GraphNetSpec; wStar: Float64Array; loss: number; grad: Float64Array }> {
  const task = await loadTask({ checkpoint, data });
  assert.ok(isGraphSpec(task.spec), 'a graph network');
  const spec = task.spec as GraphNetSpec;
  const net = new GraphNet(spec, task.wStar);
  try {
    const B = c.batch[1] - c.batch[0];
    const mk = new BatchMaker(task.data, B);
    const idx = Int32Array.from({ length: task.data.n }, (_, i) => i);
    const grad = new Float64Array(spec.size);
    const loss = net.lossAndGrad(task.wStar, mk.x, mk.fill(idx, c.batch[0], c.batch[1]), B, grad);
    return { spec, wStar: task.wStar, loss, grad };
  } finally {
    net.dispose();
  }
}

/** Our gradient of the tensor `name`. */
function tensorGrad(spec: GraphNetSpec, grad: Float64Array, name: string): Float64Array {
  const p = spec.params.find((q) => q.names.includes(name));
  assert.ok(p, `no parameter ${name}`);
  return grad.subarray(p.offset, p.offset + p.size);
}

/**
 * Float32 gradients agree with PyTorch's float64 one as PyTorch's own float32 one does: each
 * tensor's error relative to the largest gradient entry of the model, within `slack` × PyTorch's
 * float32 error and an absolute floor of a few float32 ulps.
 */
function checkGrads(spec: GraphNetSpec, grad: Float64Array, c: ModelCase, slack = 4): void {
  let scale = 0;
  for (const v of Object.values(c.grad64)) scale = Math.max(scale, Array.isArray(v) ? Math.max(...v.map(Math.abs)) : Math.max(...v.first.map(Math.abs)));
  const names = Object.keys(c.grad64);
  assert.equal(spec.params.length, names.length, `sampled tensors ${spec.params.map((p) => p.names.join('=')).join(', ')} vs PyTorch's ${names.join(', ')}`);
  const floor = 64 * 2 ** -24 * scale;
  for (const name of names) {
    const g = tensorGrad(spec, grad, name);
    const r64 = c.grad64[name];
    const r32 = c.grad32[name];
    const ref = Array.isArray(r64) ? r64 : r64.first;
    const ref32 = Array.isArray(r32) ? r32 : (r32 as Summary).first;
    let err = 0;
    let err32 = 0;
    for (let i = 0; i < ref.length; i++) {
      err = Math.max(err, Math.abs(g[i] - ref[i]));
      err32 = Math.max(err32, Math.abs(ref32[i] - ref[i]));
    }
    assert.ok(err <= slack * err32 + floor, `${name}: ours off PyTorch float64 by ${err.toExponential(2)}, PyTorch float32 by ${err32.toExponential(2)} (floor ${floor.toExponential(2)})`);
    if (!Array.isArray(r64)) {
      let n = 0;
      for (const v of g) n += v * v;
      assert.ok(close(Math.sqrt(n), r64.norm, 1e-4, floor), `${name}: gradient norm ${Math.sqrt(n)} vs ${r64.norm}`);
    }
  }
}

/**
 * The loss within float32 rounding: as close to PyTorch's float64 loss as PyTorch's float32 one
 * (× 4), or within 1e-6 or 64 float32 ulps of the loss (a mean of lse − logit in float32).
 */
function checkLoss(loss: number, c: ModelCase): void {
  const tol = 4 * Math.abs(c.loss32 - c.loss64) + Math.max(1e-6, 64 * 2 ** -24 * Math.abs(c.loss64));
  assert.ok(Math.abs(loss - c.loss64) <= tol, `loss ${loss} vs PyTorch ${c.loss64} (float64), ${c.loss32} (float32)`);
}

describe('graph networks: loss and gradient against PyTorch (training mode)', () => {
  before(async () => {
    await initBackend('wasm');
  });

  test('CNN with BatchNorm (batch statistics, as devinterp samples)', async () => {
    const c = expected.cnn;
    const r = await ours(M('cnn.safetensors'), D('digits.npz'), c);
    checkLoss(r.loss, c);
    checkGrads(r.spec, r.grad, c);
  });

  test('ResNet (BasicBlocks, strided and 1×1 downsample convolutions)', async () => {
    const c = expected.resnet_basic;
    const r = await ours(M('resnet_basic.safetensors'), D('digits.npz'), c);
    checkLoss(r.loss, c);
    checkGrads(r.spec, r.grad, c);
  });

  test('GPT-2: next-token cross-entropy, the tied head summed into wte', async () => {
    const c = expected.gpt2_hf;
    const r = await ours(M('gpt2_hf.safetensors'), D('addition.npz'), c);
    checkLoss(r.loss, c);
    checkGrads(r.spec, r.grad, c);
  });
});

describe('SGLD step on a CNN against PyTorch (fixed noise)', () => {
  test('the update from our gradient is PyTorch\'s float64 step to the float32 gradient\'s rounding; from PyTorch\'s gradient, to the last bit', async () => {
    await initBackend('wasm');
    const e = expected.cnnStep;
    const c = expected.cnn;
    const r = await ours(M('cnn.safetensors'), D('digits.npz'), c);
    const noise = new Float64Array(r.spec.size);
    const after = new Float64Array(r.spec.size);
    const refGrad = new Float64Array(r.spec.size);
    for (const p of r.spec.params) {
      const name = p.names[0];
      noise.set(e.noise[name], p.offset);
      after.set(e.after[name], p.offset);
      refGrad.set(c.grad64[name] as number[], p.offset);
    }
    const p = { ...e.hyperparameters, noiseLevel: 1 };
    // PyTorch's gradient through our update: the same arithmetic in the same order.
    const w1 = r.wStar.slice();
    const loc = sgldStep(w1, refGrad, r.wStar, p, noise);
    let exact = 0;
    for (let i = 0; i < after.length; i++) exact = Math.max(exact, Math.abs(w1[i] - after[i]));
    assert.ok(exact <= 1e-15, `update differs by ${exact}`);
    assert.ok(close(loc, e.localization, 1e-12, 1e-300));
    // Our float32 gradient: the step differs by (ε/2)·nβ·|Δgrad| at most.
    const w2 = r.wStar.slice();
    sgldStep(w2, r.grad, r.wStar, p, noise);
    let gradErr = 0;
    let stepErr = 0;
    for (let i = 0; i < after.length; i++) {
      gradErr = Math.max(gradErr, Math.abs(r.grad[i] - refGrad[i]));
      stepErr = Math.max(stepErr, Math.abs(w2[i] - after[i]));
    }
    assert.ok(stepErr <= (p.epsilon / 2) * p.nbeta * gradErr * (1 + 1e-9) + 1e-15, `step off by ${stepErr}, gradient by ${gradErr}`);
  });
});

describe('LLC on a CNN against devinterp (PyTorch re-implementation)', () => {
  test('L(w*) in training mode, and λ̂ within the chains\' standard error', async () => {
    const h = expected.cnnDevinterp.hyperparameters;
    const r = await estimateLlc({ checkpoint: M('cnn.safetensors'), data: D('digits.npz'), hyperparameters: { ...h, nbeta: undefined }, workerScript: WORKER, threads: 2 });
    assert.ok(close(r.hyperparameters.nbeta, h.nbeta, 1e-15));
    assert.match(r.engine.note, /BatchNorm in training mode/);
    // devinterp's init loss in float32 (PyTorch's); ours in float32 on tfjs: equal to rounding.
    assert.ok(Math.abs(r.lossAtCheckpoint - expected.cnnDevinterp.initLoss) <= 1e-6, `L(w*) ${r.lossAtCheckpoint} vs ${expected.cnnDevinterp.initLoss}`);
    const ref = expected.cnnDevinterp.llc;
    const se = Math.sqrt(r.llc.std ** 2 / h.chains + ref.std ** 2 / ref.perChain.length);
    const gap = Math.abs(r.llc.mean - ref.mean);
    assert.ok(gap <= 2 * se, `ours ${r.llc.mean.toFixed(3)} ± ${r.llc.std.toFixed(3)} vs devinterp ${ref.mean.toFixed(3)} ± ${ref.std.toFixed(3)}: gap ${gap.toFixed(3)} = ${(gap / se).toFixed(2)} standard errors`);
    const refMala = expected.cnnDevinterp.mala.reduce((a, b) => a + b, 0) / expected.cnnDevinterp.mala.length;
    assert.ok(Math.abs(r.diagnostics.malaAcceptance - refMala) < 0.1, `MALA ${r.diagnostics.malaAcceptance} vs ${refMala}`);
    assert.equal(r.parameters, Object.values(expected.cnn.grad64).reduce((n, v) => n + (v as number[]).length, 0));
  });
});

describe('every transformer family: L(w*) is Hugging Face\'s loss (labels=input_ids)', () => {
  const LMS = ['gpt2', 'tl_gpt2', 'tl_attn_only', 'llama_gqa', 'llama_linear_mqa', 'llama_tied_llama3', 'mistral', 'qwen2', 'neox_parallel', 'neox_sequential'];
  test(LMS.join(', '), async () => {
    for (const name of LMS) {
      const dir = fixture('transformers', name);
      const batch = join(dir, 'batch.npz');
      const hf = (await listArrays(batch).then(async (f) => {
        try {
          return (await f.read('loss')).values[0];
        } finally {
          await f.close();
        }
      })) as number;
      // One batch of all three sequences: L(w*) is the batch's next-token loss; a short chain runs.
      const r = await estimateLlc({ checkpoint: dir, data: batch, hyperparameters: { chains: 1, draws: 2, batchSize: 3, epsilon: 1e-6, gamma: 100 }, workerScript: WORKER, threads: 1 });
      assert.equal(r.nextToken, true, name);
      assert.ok(Math.abs(r.lossAtCheckpoint - hf) <= 64 * 2 ** -24 * hf, `${name}: L(w*) ${r.lossAtCheckpoint} vs transformers ${hf}`);
      assert.ok(r.llc.perChain.every((v) => v !== null && Number.isFinite(v)), `${name}: ${r.warnings.join('; ')}`);
    }
  });

  test('BERT: masked-LM refused, padded batches refused', async () => {
    const mlm = fixture('transformers', 'bert_mlm');
    await assert.rejects(loadTask({ checkpoint: mlm, data: D('addition.npz') }), /masked tokens/);
    const cls = fixture('transformers', 'bert_cls');
    await assert.rejects(loadTask({ checkpoint: cls, data: join(cls, 'batch.npz') }), /attention_mask with padding/);
  });
});

describe('CLI on graph networks', () => {
  test('llc --json on a CNN and on GPT-2 (next-token)', async () => {
    const cnn = JSON.parse((await run('node', [CLI, 'llc', M('cnn.safetensors'), '--data', D('digits.npz'), '--chains', '2', '--draws', '20', '--batch-size', '32', '--gamma', '100', '--epsilon', '1e-4', '--json'])).stdout) as { llc: { mean: number; perChain: number[] }; engine: { name: string }; parameters: number; loss: string };
    assert.equal(cnn.llc.perChain.length, 2);
    assert.ok(Number.isFinite(cnn.llc.mean));
    assert.match(cnn.engine.name, /^graph-/);
    const lm = JSON.parse((await run('node', [CLI, 'llc', M('gpt2_hf.safetensors'), '--data', D('addition.npz'), '--chains', '2', '--draws', '10', '--batch-size', '16', '--gamma', '100', '--epsilon', '1e-4', '--json'])).stdout) as { llc: { perChain: number[] }; n: number; lossAtCheckpoint: number };
    assert.equal(lm.n, 169);
    assert.ok(close(lm.lossAtCheckpoint, lm.lossAtCheckpoint) && lm.lossAtCheckpoint > 0);
    assert.equal(lm.llc.perChain.length, 2);
  });

  test('runs --data --llc over a CNN run: loss (BatchNorm in eval mode) and λ̂ per checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llc-cnn-run-'));
    copyFileSync(M('cnn.safetensors'), join(dir, 'step_100.safetensors'));
    copyFileSync(M('cnn.safetensors'), join(dir, 'step_200.safetensors'));
    const r = JSON.parse((await run('node', [CLI, 'runs', dir, '--data', D('digits.npz'), '--llc', '--chains', '2', '--draws', '10', '--batch-size', '32', '--gamma', '100', '--epsilon', '1e-4', '--json'], { maxBuffer: 1 << 26 })).stdout) as { runs: { checkpoints: { loss?: number; accuracy?: number; llc?: { perChain: number[] } }[] }[] };
    const cks = r.runs[0].checkpoints;
    assert.equal(cks.length, 2);
    for (const c of cks) {
      assert.ok(c.loss !== undefined && c.loss > 0 && c.loss < 1, `loss ${c.loss}`);
      assert.ok(c.accuracy !== undefined && c.accuracy > 0.9, `accuracy ${c.accuracy}`);
      assert.equal(c.llc?.perChain.length, 2);
    }
    // Same weights, same settings: the same λ̂.
    assert.deepEqual(cks[0].llc, cks[1].llc);
  });
});
