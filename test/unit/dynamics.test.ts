// Training dynamics against independent references (test/fixtures/dynamics/make_dynamics_fixtures.py):
// the LLC on reduced-rank regression against Aoyagi–Watanabe's λ and on a regular model against
// d/2; λ̂ against a PyTorch re-implementation of devinterp's estimate_learning_coeff_with_summary
// at the same hyper-parameters; one SGLD step and the MALA acceptance against PyTorch in float64
// for a fixed noise draw; conserved quantities and lazy/rich measures against numpy; the CLI.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CancelledError } from '../../src/analysis/core/errors';
import { RHAT_SETTLED, estimateLlc, loadTask, resolveHyperparameters, defaultNbeta, splitRhat } from '../../src/analysis/dynamics/llc';
import { textOnViridis } from '../../src/analysis/views/viewParts';
import { initLoss, runChain } from '../../src/analysis/dynamics/llcChain';
import { DenseNet, type DenseNetSpec } from '../../src/analysis/dynamics/mlpNet';
import { XnnDenseNet } from '../../src/analysis/dynamics/xnnDense';
import { Rng } from '../../src/analysis/dynamics/gaussian';
import { initBackend } from '../../src/analysis/model/backend';
import { NOISE_BLOCK, malaAcceptance, malaFromSums, sgldDrawStep, sgldStep } from '../../src/analysis/dynamics/sgld';
import { runLlcSweep } from '../../src/analysis/dynamics/llcSweep';
import { type LlcCache, runDynamics } from '../../src/analysis/dynamics/runDynamics';
import { runRuns } from '../../src/analysis/compare/trainingRuns';
import { BatchMaker } from '../../src/analysis/dynamics/taskData';
import { REPO_ROOT, close, fixture } from '../helpers';
import { runAnalysis } from '../../src/analysis/jobs/analysisJobs';
import type { AnalysisView } from '../../src/analysis/report/analysisView';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const WORKER = join(REPO_ROOT, 'dist', 'llcWorker.js');
const F = (name: string): string => fixture('dynamics', name);

interface Measures { balances: number[]; unitBalanceDrift: number[]; relativeChange: number[]; patternChange: number; kernelDistance: number; loss: number; accuracy: number }
const expected = JSON.parse(readFileSync(F('expected.json'), 'utf8')) as {
  rrr: { trueLambda: number; loss: number };
  regular: { d: number; trueLambda: number };
  devinterp: { hyperparameters: { epsilon: number; gamma: number; nbeta: number; chains: number; draws: number; burnIn: number; batchSize: number; seed: number }; llc: { mean: number; std: number; perChain: number[] }; initLoss: number; mala: number[] };
  sgldStep: { hyperparameters: { epsilon: number; nbeta: number; gamma: number; weightDecay: number }; w0: number[]; w: number[]; batch: [number, number]; loss: number; grad: number[]; noise: number[]; after: number[]; localization: number; loss2: number; batch2: [number, number]; mala: number };
  runs: { steps: number[]; sgd: Measures[]; adam: Measures[] };
};

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / scale);
  return m;
}

describe('SGLD step against PyTorch (float64, fixed noise)', () => {
  test('gradient, update and MALA acceptance equal the PyTorch reference to rounding', async () => {
    const e = expected.sgldStep;
    const task = await loadTask({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz') });
    const net = new DenseNet(task.spec as DenseNetSpec);
    const idx = Int32Array.from({ length: task.data.n }, (_, i) => i);
    const mk = new BatchMaker(task.data, 32);
    const w = Float64Array.from(e.w);
    const w0 = Float64Array.from(e.w0);
    assert.equal(maxRel(w0, task.wStar), 0, 'the checkpoint read is the reference w*');
    const grad = new Float64Array(w.length);
    const loss = net.lossAndGrad(w, mk.x, mk.fill(idx, e.batch[0], e.batch[1]), 32, grad);
    assert.ok(close(loss, e.loss, 1e-13), `loss ${loss} vs ${e.loss}`);
    assert.ok(maxRel(grad, e.grad) < 1e-12, `gradient differs by ${maxRel(grad, e.grad)}`);
    const p = { ...e.hyperparameters, noiseLevel: 1 };
    const before = Float64Array.from(w);
    const drift = new Float64Array(w.length);
    // The reference's own gradient, so the step itself is compared exactly.
    const loc = sgldStep(w, Float64Array.from(e.grad), w0, p, Float64Array.from(e.noise), { drift });
    assert.ok(maxRel(w, e.after) < 1e-15, `update differs by ${maxRel(w, e.after)}`);
    assert.ok(close(loc, e.localization, 1e-13), `localisation energy ${loc} vs ${e.localization}`);
    // The next point's drift (no noise), and the acceptance of the move before → after.
    const grad2 = new Float64Array(w.length);
    const loss2 = net.lossAndGrad(w, mk.x, mk.fill(idx, e.batch2[0], e.batch2[1]), 32, grad2);
    assert.ok(close(loss2, e.loss2, 1e-12));
    const drift2 = new Float64Array(w.length);
    const after = Float64Array.from(w);
    const loc2 = sgldStep(Float64Array.from(w), grad2, w0, p, new Float64Array(w.length), { drift: drift2 });
    const acc = malaAcceptance(before, drift, e.loss * p.nbeta + loc, after, drift2, loss2 * p.nbeta + loc2, p.epsilon);
    assert.ok(close(acc, e.mala, 1e-9), `MALA ${acc} vs ${e.mala}`);
  });
});

describe('settled chains: split-R̂', () => {
  test('≈ 1 for stationary chains, above the threshold for a drifting one or chains at different levels', () => {
    const rng = new Rng(4, 0);
    const iid = (n: number, shift = 0, slope = 0): number[] => Array.from({ length: n }, (_, i) => rng.normal() + shift + slope * i);
    const flat = splitRhat([iid(2000), iid(2000), iid(2000), iid(2000)]);
    assert.ok(Math.abs(flat - 1) < 0.01, `stationary: ${flat}`);
    assert.ok(splitRhat([iid(200, 0, 0.02)]) > RHAT_SETTLED, 'a drifting trace');
    assert.ok(splitRhat([iid(200), iid(200, 1)]) > RHAT_SETTLED, 'two chains at different levels');
    // By hand: halves [0, 2], [4, 6] → means 1, 5; B = 2·8 = 16, W = 2, R̂ = √((½·2 + 8)/2) = √4.5.
    assert.ok(close(splitRhat([[0, 2, 4, 6]]), Math.sqrt(4.5), 1e-15));
    assert.ok(Number.isNaN(splitRhat([[1, 2, 3]])));
  });
});

describe('sweep heatmap labels', () => {
  test('black or white by the viridis fill\'s luminance', () => {
    assert.equal(textOnViridis(0), '#ffffff');
    assert.equal(textOnViridis(0.3), '#ffffff');
    assert.equal(textOnViridis(0.8), '#000000');
    assert.equal(textOnViridis(1), '#000000');
  });
});

describe('SGLD noise (ziggurat)', () => {
  test('standard normal: moments, Kolmogorov–Smirnov, tail mass; fillNormal draws what normal() draws', () => {
    const n = 1_000_000;
    const v = new Float64Array(n);
    new Rng(11, 2).fillNormal(v);
    const one = new Rng(11, 2);
    for (let i = 0; i < 1000; i++) assert.equal(v[i], one.normal());
    let m1 = 0;
    let m2 = 0;
    let m4 = 0;
    let tail = 0;
    for (const x of v) {
      m1 += x;
      m2 += x * x;
      m4 += x ** 4;
      if (Math.abs(x) > 3.442619855899) tail++;
    }
    m1 /= n;
    m2 /= n;
    m4 /= n;
    // Standard errors: mean 1/√n, variance √(2/n), fourth moment √(96/n).
    assert.ok(Math.abs(m1) < 4 / Math.sqrt(n), `mean ${m1}`);
    assert.ok(Math.abs(m2 - 1) < 4 * Math.sqrt(2 / n), `variance ${m2}`);
    assert.ok(Math.abs(m4 - 3) < 4 * Math.sqrt(96 / n), `fourth moment ${m4}`);
    // The tail beyond the base layer's edge R: 2(1 − Φ(R)) = 5.7e-4 of the draws.
    const pTail = 2 * (1 - phi(3.442619855899));
    assert.ok(Math.abs(tail - n * pTail) < 4 * Math.sqrt(n * pTail), `${tail} draws beyond R, expected ${n * pTail}`);
    const sorted = Float64Array.from(v).sort();
    let d = 0;
    for (let i = 0; i < n; i++) d = Math.max(d, Math.abs(phi(sorted[i]) - i / n), Math.abs(phi(sorted[i]) - (i + 1) / n));
    assert.ok(d < 1.95 / Math.sqrt(n), `Kolmogorov–Smirnov D = ${d} (0.1 % critical value ${1.95 / Math.sqrt(n)})`);
  });
});

/** The standard normal CDF (Abramowitz & Stegun 7.1.26 erf, error < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

describe('the XNNPACK engine (float32, as devinterp runs) against PyTorch', () => {
  test('loss and gradient within float32 rounding of PyTorch\'s float32 and float64 ones', async () => {
    await initBackend('wasm');
    const e = expected.sgldStep;
    const f32 = JSON.parse(readFileSync(F('float32_step.json'), 'utf8')) as { loss: number; grad: number[] };
    const task = await loadTask({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz') });
    const net = new XnnDenseNet(task.spec as DenseNetSpec);
    const idx = Int32Array.from({ length: task.data.n }, (_, i) => i);
    const mk = new BatchMaker(task.data, 32);
    const grad = new Float64Array(task.spec.size);
    const loss = net.lossAndGrad(Float64Array.from(e.w), mk.x, mk.fill(idx, e.batch[0], e.batch[1]), 32, grad);
    const ours64 = maxRel(grad, e.grad);
    const torch64 = maxRel(f32.grad, e.grad);
    const pair = maxRel(grad, f32.grad);
    // Float32 rounding bound for a sum of K products, γ_K = K·u / (1 − K·u) with u = 2⁻²⁴; the
    // longest sum here is the weight gradient's over the batch of 32 (fan-ins are 8 and 16).
    const u = 2 ** -24;
    const gamma = (32 * u) / (1 - 32 * u);
    const why = `float32 gradients against float64: ours ${ours64.toExponential(2)}, PyTorch's ${torch64.toExponential(2)}; ours against PyTorch's float32 ${pair.toExponential(2)}; bound γ_32 = ${gamma.toExponential(2)}`;
    assert.ok(ours64 <= gamma && torch64 <= gamma, why);
    assert.ok(pair <= 2 * gamma, why);
    assert.ok(Math.abs(loss - e.loss) <= gamma * e.loss && Math.abs(loss - f32.loss) <= 2 * gamma * e.loss, `loss ${loss} vs PyTorch float32 ${f32.loss}, float64 ${e.loss}`);
  });
});

describe('the fused SGLD draw step', () => {
  test('equals fillNormal, sgldStep and malaAcceptance called in turn, bit for bit', () => {
    const P = 10_000; // crosses noise blocks, the last one partial
    const g = new Rng(9, 0);
    const rand = (): Float64Array => Float64Array.from({ length: P }, () => g.normal());
    const w0 = rand();
    const p = { epsilon: 1e-3, nbeta: 9.5, gamma: 3, weightDecay: 0.01, noiseLevel: 0.7 };
    const a = w0.slice();
    const b = w0.slice();
    const ra = new Rng(5, 1);
    const rb = new Rng(5, 1);
    const prev = { w: new Float64Array(P), drift: new Float64Array(P) };
    const block = new Float64Array(NOISE_BLOCK);
    let prevW = new Float64Array(P);
    let prevDrift = new Float64Array(P);
    let prevU = NaN;
    let prevUb = NaN;
    for (let k = 0; k < 3; k++) {
      const grad = rand();
      const loss = 0.5 + 0.01 * k;
      // Separate, as the chain ran before.
      const noise = new Float64Array(P);
      const drift = new Float64Array(P);
      const cur = a.slice();
      ra.fillNormal(noise, p.noiseLevel);
      const loc = sgldStep(a, grad, w0, p, noise, { drift });
      const u = p.nbeta * loss + loc;
      const accA = k >= 1 ? malaAcceptance(prevW, prevDrift, prevU, cur, drift, u, p.epsilon) : undefined;
      [prevW, prevDrift, prevU] = [cur, drift, u];
      // Fused.
      const st = sgldDrawStep(b, grad, w0, p, rb, block, k === 0 ? 'keep' : 'score', prev);
      const ub = p.nbeta * loss + st.loc;
      const accB = k >= 1 ? malaFromSums(st.back, st.fwd, prevUb, ub, p.epsilon) : undefined;
      prevUb = ub;
      assert.deepEqual(b, a, `step ${k}: weights`);
      assert.equal(st.loc, loc);
      assert.equal(accB, accA, `step ${k}: MALA`);
    }
  });
});

describe('LLC against devinterp (PyTorch re-implementation)', () => {
  test('L(w*) is devinterp\'s multi-batch init_loss exactly', async () => {
    const h = expected.devinterp.hyperparameters;
    const task = await loadTask({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz') });
    assert.ok(close(initLoss(task.spec, task.wStar, task.data, h.batchSize, h.chains), expected.devinterp.initLoss, 1e-12));
    assert.ok(close(defaultNbeta(h.batchSize), h.nbeta, 1e-15));
  });

  test('λ̂ agrees with estimate_learning_coeff_with_summary within the chains\' standard error', async () => {
    const h = expected.devinterp.hyperparameters;
    const r = await estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: { ...h, nbeta: undefined }, workerScript: WORKER, threads: 2 });
    assert.ok(close(r.hyperparameters.nbeta, h.nbeta, 1e-15), 'default nβ = m / log m');
    assert.ok(close(r.lossAtCheckpoint, expected.devinterp.initLoss, 1e-12));
    const ref = expected.devinterp.llc;
    const se = Math.sqrt(r.llc.std ** 2 / h.chains + ref.std ** 2 / ref.perChain.length);
    const gap = Math.abs(r.llc.mean - ref.mean);
    assert.ok(gap <= 2 * se, `ours ${r.llc.mean.toFixed(3)} ± ${r.llc.std.toFixed(3)} vs devinterp ${ref.mean.toFixed(3)} ± ${ref.std.toFixed(3)}: gap ${gap.toFixed(3)} = ${(gap / se).toFixed(2)} standard errors`);
    // MALA acceptance comparable too (same proposal and potential).
    const refMala = expected.devinterp.mala.reduce((a, b) => a + b, 0) / expected.devinterp.mala.length;
    assert.ok(Math.abs(r.diagnostics.malaAcceptance - refMala) < 0.05, `MALA ${r.diagnostics.malaAcceptance} vs ${refMala}`);
    assert.equal(r.traces.length, h.chains);
    assert.ok(r.traces.every((t) => t.length === h.draws));
  });

  test('results depend on the seed only, not on the threads', async () => {
    const hp = { epsilon: 1e-3, gamma: 10, chains: 3, draws: 30, burnIn: 10, batchSize: 64, seed: 5 };
    const one = await estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: hp, threads: 1 });
    const two = await estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: hp, threads: 2, workerScript: WORKER });
    assert.deepEqual(one.traces, two.traces);
    assert.deepEqual(one.llc, two.llc);
    const other = await estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: { ...hp, seed: 6 }, threads: 1 });
    assert.notDeepEqual(one.traces, other.traces);
  });
});

describe('LLC ground truth', () => {
  test('reduced-rank regression: λ̂ within 15 % of Aoyagi–Watanabe\'s λ', async () => {
    const r = await estimateLlc({ checkpoint: F('rrr.safetensors'), data: F('rrr.npz'), hyperparameters: { epsilon: 6e-4, gamma: 1, chains: 2, draws: 1500, burnIn: 1000, batchSize: 1000, seed: 1 }, workerScript: WORKER, threads: 2 });
    assert.equal(r.loss, 'mse', 'a float y is a regression target');
    assert.ok(close(r.lossAtCheckpoint, expected.rrr.loss, 1e-6));
    const err = Math.abs(r.llc.mean - expected.rrr.trueLambda) / expected.rrr.trueLambda;
    assert.ok(err < 0.15, `λ̂ ${r.llc.mean} vs λ ${expected.rrr.trueLambda} (${(100 * err).toFixed(1)} %)`);
    assert.ok(Math.abs(r.llc.mean - r.parameters / 2) > 0.3 * (r.parameters / 2), 'a singular model is far below d/2');
  });

  test('a regular model: λ̂ ≈ d/2', async () => {
    const r = await estimateLlc({ checkpoint: F('regular.safetensors'), data: F('regular.npz'), hyperparameters: { epsilon: 6e-4, gamma: 1, chains: 2, draws: 1000, burnIn: 500, batchSize: 1000, seed: 1 }, workerScript: WORKER, threads: 2 });
    assert.equal(r.parameters, expected.regular.d);
    const err = Math.abs(r.llc.mean - expected.regular.trueLambda) / expected.regular.trueLambda;
    assert.ok(err < 0.1, `λ̂ ${r.llc.mean} vs d/2 = ${expected.regular.trueLambda}`);
  });
});

describe('LLC diagnostics', () => {
  test('divergence and negative estimates are put in words', async () => {
    const r = await estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: { epsilon: 10, gamma: 0, chains: 2, draws: 20, batchSize: 64 }, threads: 1 });
    assert.equal(r.diagnostics.divergedChains, 2);
    assert.ok(r.warnings.some((w) => /diverged/.test(w)), r.warnings.join('\n'));
    assert.deepEqual(r.llc.perChain, [null, null]);
    assert.ok(r.warnings.some((w) => /γ = 0/.test(w)));
  });

  test('cancel stops every chain', async () => {
    let calls = 0;
    await assert.rejects(
      estimateLlc({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), hyperparameters: { chains: 4, draws: 100000, batchSize: 64, epsilon: 1e-4, gamma: 10 }, workerScript: WORKER, threads: 2 }, { isCancelled: () => ++calls > 8 }),
      CancelledError,
    );
  });

  test('hyper-parameters: devinterp defaults, and bad values refused', () => {
    const h = resolveHyperparameters({}, 1000);
    assert.deepEqual({ ...h, nbeta: undefined }, { epsilon: 0.01, gamma: 0, nbeta: undefined, chains: 10, draws: 100, burnIn: 0, batchSize: 256, seed: 0, noiseLevel: 1, weightDecay: 0, stepsBetweenDraws: 1 });
    assert.ok(close(h.nbeta, 256 / Math.log(256), 1e-15));
    assert.equal(resolveHyperparameters({ batchSize: 1 }, 10).nbeta, 1);
    assert.throws(() => resolveHyperparameters({ epsilon: -1 }, 10), /epsilon/);
    assert.throws(() => resolveHyperparameters({ chains: 1.5 }, 10), /chains/);
  });

  test('a single chain is reproducible and records draws after burn-in', async () => {
    const task = await loadTask({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz') });
    const s = { epsilon: 1e-3, nbeta: 10, gamma: 5, weightDecay: 0, noiseLevel: 1, draws: 12, burnIn: 5, batchSize: 64, seed: 3 };
    const a = runChain(task.spec, task.wStar, task.data, s, 0);
    const b = runChain(task.spec, task.wStar, task.data, s, 0);
    assert.deepEqual(a.trace, b.trace);
    assert.equal(a.trace.length, 12);
    assert.equal(a.steps, 17);
    assert.equal(a.acceptance.length, 11);
  });

  test('the sweep marks every cell and suggests a healthy one', async () => {
    const r = await runLlcSweep({ checkpoint: F('mlp.safetensors'), data: F('mlp.npz'), epsilons: [1e-4, 1e-3, 10], nbetas: [15.38874710281561], hyperparameters: { gamma: 10, chains: 2, draws: 60, burnIn: 60, batchSize: 64 }, threads: 1 });
    assert.equal(r.cells.length, 3);
    assert.ok(r.cells[2].diverged > 0);
    assert.ok(r.suggestion && r.suggestion.epsilon !== 10);
  });
});

describe('conserved quantities and lazy vs rich against numpy', () => {
  test('per checkpoint, both runs, within 1e-9 relative; SGD conserved, Adam not', async () => {
    const report = await runRuns({ paths: [F('runs/sgd'), F('runs/adam')], align: 'off' });
    const d = await runDynamics(report, { data: F('runs_data.npz'), probeData: F('probe.npz'), probe: 24 });
    assert.equal(d.kernel, 'ntk');
    for (const [i, kind] of (['sgd', 'adam'] as const).entries()) {
      const run = d.runs[i];
      assert.deepEqual(run.checkpoints.map((c) => c.step), expected.runs.steps);
      assert.deepEqual(run.pairs.map((p) => `${p.layer}>${p.next}`), ['0>2', '2>4']);
      run.checkpoints.forEach((c, k) => {
        const e = expected.runs[kind][k];
        const check = (name: string, a: number[] | number | undefined, b: number[] | number): void => {
          const av = ([] as number[]).concat(a as number);
          const bv = ([] as number[]).concat(b);
          av.forEach((v, j) => assert.ok(close(v, bv[j], 1e-9, 1e-13), `${kind} step ${c.step} ${name}[${j}]: ${v} vs numpy ${bv[j]}`));
        };
        check('balances', c.balances, e.balances);
        check('unitBalanceDrift', c.unitBalanceDrift, e.unitBalanceDrift);
        check('relativeChange', c.relativeChange, e.relativeChange);
        check('patternChange', c.patternChange, e.patternChange);
        check('kernelDistance', c.kernelDistance, e.kernelDistance);
        check('loss', c.loss, e.loss);
        check('accuracy', c.accuracy, e.accuracy);
      });
    }
    assert.equal(d.runs[0].conserved, true, d.runs[0].verdict);
    assert.match(d.runs[0].verdict, /conserved within/);
    assert.equal(d.runs[1].conserved, false);
    assert.match(d.runs[1].verdict, /Adam/);
    // The report's checkpoints carry the fields too (runs --json).
    const c = report.runs[0].checkpoints[1] as unknown as Measures;
    assert.equal(c.balances.length, 2);
  });
});

describe('CLI', () => {
  test('llc --json prints the fields the issue lists', async () => {
    const { stdout } = await run('node', [CLI, 'llc', F('mlp.safetensors'), '--data', F('mlp.npz'), '--epsilon', '1e-3', '--gamma', '10', '--chains', '2', '--draws', '20', '--burn-in', '10', '--batch-size', '64', '--seed', '3', '--json']);
    const r = JSON.parse(stdout);
    for (const k of ['mean', 'std', 'perChain']) assert.ok(k in r.llc, k);
    for (const k of ['epsilon', 'gamma', 'nbeta', 'chains', 'draws', 'burnIn', 'batchSize', 'seed']) assert.ok(k in r.hyperparameters, k);
    assert.equal(r.hyperparameters.seed, 3);
    assert.equal(r.traces.length, 2);
    assert.equal(typeof r.lossAtCheckpoint, 'number');
    assert.equal(r.n, 512);
  });

  test('llc from a bundle folder without the tfjs-wasm binaries runs on the float64 engine and says so first', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llc-nowasm-'));
    try {
      for (const f of ['cli.js', 'llcWorker.js']) copyFileSync(join(REPO_ROOT, 'dist', f), join(dir, f));
      const args = ['llc', F('mlp.safetensors'), '--data', F('mlp.npz'), '--chains', '1', '--draws', '5', '--burn-in', '5', '--batch-size', '64', '--seed', '3'];
      const r = JSON.parse((await run('node', [join(dir, 'cli.js'), ...args, '--json'])).stdout);
      assert.equal(r.engine.name, 'float64');
      assert.match(r.warnings[0], /^the chains ran on the float64 JS engine instead of XNNPACK \(float32\): tfjs-wasm's tfjs-backend-wasm\.wasm was not found in /);
      assert.match((await run('node', [join(dir, 'cli.js'), ...args])).stdout, /^warning {4}the chains ran on the float64 JS engine/m);
      // From dist/, beside its binaries: XNNPACK, and no such warning.
      const ok = JSON.parse((await run('node', [CLI, ...args, '--json'])).stdout);
      assert.equal(ok.engine.name, 'xnnpack');
      assert.ok(!ok.warnings.some((w: string) => w.startsWith('the chains ran on')), ok.warnings.join('; '));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('runs --json gains the per-checkpoint dynamics; bad flags are usage errors', async () => {
    const { stdout } = await run('node', [CLI, 'runs', F('runs/sgd'), '--data', F('runs_data.npz'), '--llc', '--chains', '2', '--draws', '10', '--epsilon', '1e-4', '--gamma', '10', '--batch-size', '64', '--json']);
    const r = JSON.parse(stdout);
    const c = r.runs[0].checkpoints[2];
    for (const k of ['balances', 'unitBalanceDrift', 'relativeChange', 'patternChange', 'loss', 'accuracy', 'llc']) assert.ok(k in c, k);
    assert.ok(r.dynamics.llcHyperparameters.chains === 2);
    await assert.rejects(run('node', [CLI, 'llc', F('mlp.safetensors')]), (e: { code: number }) => e.code === 2);
    await assert.rejects(run('node', [CLI, 'runs', F('runs/sgd'), '--llc']), (e: { code: number }) => e.code === 2);
    await assert.rejects(run('node', [CLI, 'llc', F('mlp.safetensors'), '--data', F('mlp.npz'), '--loss', 'mse']), (e: { code: number; stderr: string }) => e.code === 1 && /targets have 1 values per example, the model outputs 3/.test(e.stderr));
  });

  test('data that does not fit the model is refused with the reason', async () => {
    await assert.rejects(run('node', [CLI, 'llc', fixture('models', 'cnn.safetensors'), '--data', F('mlp.npz')]), (e: { code: number; stderr: string }) => e.code === 1 && /do not fit the cnn model/.test(e.stderr));
  });
});

describe('dynamics following a watched run', () => {
  const STEPS = [0, 50, 100, 200];
  const name = (s: number): string => `step_${String(s).padStart(4, '0')}.safetensors`;
  const llcParams = { chains: 2, draws: 10, epsilon: 1e-4, gamma: 10, batchSize: 64 };

  test('each checkpoint\'s LLC is sampled once and kept; the cached-only pass samples none', async () => {
    const report = await runRuns({ paths: [F('runs/sgd')], align: 'off' });
    const cache: LlcCache = new Map();
    const opts = { data: F('runs_data.npz'), llc: llcParams, threads: 1, llcCache: cache };
    const first = await runDynamics(report, opts);
    assert.equal(cache.size, report.runs[0].checkpoints.length);
    const again = await runDynamics(report, { ...opts, llcCachedOnly: true });
    assert.deepEqual(again.runs[0].checkpoints.map((c) => c.llc), first.runs[0].checkpoints.map((c) => c.llc));
    const none = await runDynamics(report, { ...opts, llcCache: new Map(), llcCachedOnly: true });
    assert.ok(none.runs[0].checkpoints.every((c) => c.llc === undefined));
  });

  test('the live runs job: a new checkpoint gets its dynamics and LLC, same settings at every step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llc-watch-'));
    for (const s of STEPS.slice(0, 3)) copyFileSync(join(F('runs/sgd'), name(s)), join(dir, name(s)));
    const views: AnalysisView[] = [];
    let stop = false;
    const withLlc = (v: AnalysisView): number => ((v.report as { runs: { checkpoints: { llc?: unknown }[] }[] }).runs[0]?.checkpoints ?? []).filter((c) => c.llc).length;
    const until = async (pred: () => boolean, what: string): Promise<void> => {
      for (let t = 0; !pred(); t += 100) {
        if (t > 120_000) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const job = runAnalysis('runs', { dirs: [dir], align: 'off', watch: true, data: F('runs_data.npz'), probe: 16, llc: true, ...llcParams, threads: 1 }, { onView: (v) => views.push(v), isCancelled: () => stop });
    try {
      await until(() => views.some((v) => withLlc(v) === 3), 'the LLC of the first three checkpoints');
      copyFileSync(join(F('runs/sgd'), name(200)), join(dir, name(200)));
      await until(() => views.some((v) => withLlc(v) === 4), 'the LLC of the new checkpoint');
    } finally {
      stop = true;
    }
    const final = await job;
    assert.equal(withLlc(final), 4);
    const llcChart = views[views.length - 1].charts.find((c) => c.id === 'dynamics-llc')!;
    assert.match(llcChart.title, /ε 0\.0001, γ 10, nβ [\d.]+, 2 chains × 10 draws/);
    // The three first values were kept, not sampled again (the same seed would give the same numbers, so compare with a batch run's).
    const batch = await runAnalysis('runs', { dirs: [dir], align: 'off', data: F('runs_data.npz'), probe: 16, llc: true, ...llcParams, threads: 1 });
    type Llc = { runs: { checkpoints: { step: number; llc?: { mean: number } }[] }[] };
    assert.deepEqual((final.report as Llc).runs[0].checkpoints.map((c) => c.llc?.mean), (batch.report as Llc).runs[0].checkpoints.map((c) => c.llc?.mean));
  });

  test('ckpt-lens runs --watch --llc prints each new checkpoint with its λ̂', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llc-watch-cli-'));
    for (const s of STEPS.slice(0, 2)) copyFileSync(join(F('runs/sgd'), name(s)), join(dir, name(s)));
    const child = spawn(process.execPath, [CLI, 'runs', dir, '--align', 'off', '--watch', '--debounce-ms', '150', '--data', F('runs_data.npz'), '--llc', '--chains', '2', '--draws', '10', '--epsilon', '1e-4', '--gamma', '10', '--batch-size', '64']);
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    let gone = false;
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => ((gone = true), r(code))));
    try {
      for (let t = 0; !/watching for new checkpoints/.test(err) || !/λ̂/.test(out); t += 100) {
        if (t > 120_000 || gone) throw new Error(`no first report: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      copyFileSync(join(F('runs/sgd'), name(100)), join(dir, name(100)));
      for (let t = 0; !/step 100 .*λ̂ \S+ ± \S+/.test(out); t += 100) {
        if (t > 120_000 || gone) throw new Error(`no line for step 100: ${out} ${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
    assert.match(out, /llc\s+ε 0\.0001, γ 10, nβ [\d.]+, 2 chains × 10 draws, burn-in 0, batch 64, seed 0 at every step/);
  });
});

describe('views (the worker jobs the commands run)', () => {
  type Compile = (spec: unknown, opt?: { logger?: unknown }) => { spec: unknown };
  let compile: Compile;
  before(async () => {
    ({ compile } = (await import('vega-lite' as string)) as { compile: Compile });
  });
  const valid = (v: AnalysisView): void => {
    for (const c of v.charts) {
      const warnings: string[] = [];
      const logger = { level: () => logger, error: (...a: unknown[]) => { throw new Error(`${c.id}: ${a.join(' ')}`); }, warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; }, info: () => logger, debug: () => logger };
      compile(c.spec, { logger });
      assert.deepEqual(warnings, [], `${c.id} compiles without warnings`);
      assert.ok(c.rows.length > 0, `${c.id} has rows`);
    }
    JSON.stringify(v);
  };

  test('llc: facts, traces, per-chain table; progress per chain', async () => {
    const messages: string[] = [];
    const v = await runAnalysis('llc', { a: F('mlp.safetensors'), data: F('mlp.npz'), epsilon: 1e-3, gamma: 10, chains: 2, draws: 40, burnIn: 20, batchSize: 64, threads: 1 }, { onProgress: (_f, m) => m && messages.push(m) });
    assert.equal(v.kind, 'llc');
    assert.ok(v.facts.some((f) => f.label === 'λ̂'));
    assert.deepEqual(v.charts.map((c) => c.id), ['llc-traces', 'llc-per-chain']);
    assert.ok(messages.some((m) => /chain \d of 2: draw \d+\/40/.test(m)), messages.join('; '));
    valid(v);
  });

  test('llc-sweep: heatmap and lines', async () => {
    const v = await runAnalysis('llc-sweep', { a: F('mlp.safetensors'), data: F('mlp.npz'), epsilons: '1e-4,1e-3', nbetas: '15', gamma: 10, chains: 2, draws: 20, burnIn: 20, batchSize: 64, threads: 1 });
    assert.equal(v.kind, 'llc-sweep');
    assert.equal((v.report as { cells: unknown[] }).cells.length, 2);
    const heat = v.charts.find((c) => c.id === 'llc-sweep-heatmap')!;
    assert.ok(heat.rows.every((r) => r.labelColour === '#000000' || r.labelColour === '#ffffff'), 'every filled cell has a label colour');
    assert.match(heat.caption ?? '', /split-R̂ of the loss traces < 1\.1/);
    valid(v);
  });

  test('runs: conserved quantities, lazy/rich, loss and the LLC curve', async () => {
    const v = await runAnalysis('runs', { dirs: [F('runs/sgd'), F('runs/adam')], align: 'off', data: F('runs_data.npz'), probe: 16, llc: true, chains: 2, draws: 10, epsilon: 1e-4, gamma: 10, batchSize: 64, threads: 1 });
    const ids = v.charts.map((c) => c.id);
    for (const id of ['dynamics-balance', 'dynamics-unit-drift', 'dynamics-relative-change', 'dynamics-pattern-change', 'dynamics-kernel-distance', 'dynamics-loss', 'dynamics-accuracy', 'dynamics-llc']) assert.ok(ids.includes(id), id);
    assert.ok(v.facts.some((f) => /conserved within/.test(f.value)));
    assert.ok(v.facts.some((f) => /not conserved/.test(f.value)));
    valid(v);
  });
});
