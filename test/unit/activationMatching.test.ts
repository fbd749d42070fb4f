// Activation matching (Git Re-Basin §1.5): exact recovery of a known permutation on every
// fixture family, function preservation of activation-aligned models, E_ab and correlations
// against numpy (test/fixtures/align/make_activation_expectations.py), `ckpt-lens align
// --method activations`, and, on the Fashion-MNIST MLP pair (test/fixtures/fmnist), weight
// matching against the numpy/scipy reference (bench/wm_reference.py). Runs on the wasm backend.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { activationCapturePoints, activationMatching, activationStatistics, groupEab } from '../../src/analysis/align/activationMatching';
import { alignStateDicts, permutationsPath } from '../../src/analysis/align/alignCheckpoint';
import { applyPermutation, invertPermutation, randomPermutations } from '../../src/analysis/align/applyPermutation';
import { permutationSpecWithValues } from '../../src/analysis/align/permutationSpec';
import { CancelledError } from '../../src/analysis/core/errors';
import { listArrays } from '../../src/analysis/data/arrays';
import { type Dataset, findFashionMnist, loadDataset } from '../../src/analysis/data/dataset';
import { writeSafetensors } from '../../src/analysis/formats/safetensorsWriter';
import { initBackend } from '../../src/analysis/model/backend';
import { evaluate } from '../../src/analysis/model/evaluate';
import { createModel } from '../../src/analysis/model/execute';
import type { ModelGraph } from '../../src/analysis/model/ir';
import { recognizeCheckpoint } from '../../src/analysis/model/recognize';
import { type StateDict, loadStateDict } from '../../src/analysis/model/stateDict';
import { openCheckpoint } from '../../src/analysis/open';
import { MODEL_FIXTURES, REPO_ROOT, fixture } from '../helpers';
import { logits, maxAbsDiff } from '../modelHelpers';

const PRESERVATION = 1e-5;
const MODELS = fixture('models');
const FMNIST = fixture('fmnist');
const tmp = mkdtempSync(join(tmpdir(), 'ckpt-actmatch-'));

async function loadPath(path: string): Promise<{ graph: ModelGraph; sd: StateDict }> {
  const ckpt = await openCheckpoint(path);
  try {
    const { graph } = await recognizeCheckpoint(ckpt);
    return { graph, sd: await loadStateDict(ckpt, graph) };
  } finally {
    await ckpt.close();
  }
}

/** A fixture model and its batch (x, y) as a dataset. */
async function loadFixture(name: string): Promise<{ graph: ModelGraph; sd: StateDict; data: Dataset }> {
  return { ...(await loadPath(join(MODELS, MODEL_FIXTURES[name]))), data: await loadDataset(join(MODELS, `${name}.batch.npz`)) };
}


/** Every floating tensor scaled by 1 + 0.3·sin(k): a different model of the same shape. */
function perturbed(sd: StateDict): StateDict {
  const out: StateDict = new Map();
  let k = 0;
  for (const [name, t] of sd) {
    const v = Float32Array.from(t.values, (x) => (name.endsWith('running_var') ? x : x * (1 + 0.3 * Math.sin(k++))));
    out.set(name, { shape: t.shape, values: v });
  }
  return out;
}

before(async () => {
  assert.equal((await initBackend('wasm')).name, 'wasm');
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

test('capture points: hidden layers after the activation, conv channels, residual streams at block outputs, heads', async () => {
  const mlp = await loadFixture('mlp');
  const m = permutationSpecWithValues(mlp.graph);
  const pm = activationCapturePoints(mlp.graph, m.spec, m.values);
  // Post-ReLU outputs of each hidden Linear.
  assert.deepEqual(pm, m.spec.groups.map((g) => [`${g.name}.act`]));
  for (const name of ['resnet_basic', 'gpt2_hf']) {
    const { graph } = await loadFixture(name);
    const { spec, values } = permutationSpecWithValues(graph);
    const points = activationCapturePoints(graph, spec, values);
    spec.groups.forEach((g, gi) => {
      assert.ok(points[gi].length >= 1, g.name);
      if (g.kind === 'stream') for (const p of points[gi]) assert.ok(graph.blocks.some((b) => b.output === p), `${g.name}: ${p} is a block output`);
      if (g.kind === 'heads') assert.deepEqual(points[gi], [`${g.name.replace(/\.heads$/, '')}:heads`]);
    });
  }
});

for (const name of Object.keys(MODEL_FIXTURES)) {
  test(`${name}: activation matching recovers a random permutation exactly (on every unit the data activates)`, async (t) => {
    const { graph, sd, data } = await loadFixture(name);
    const { spec } = permutationSpecWithValues(graph);
    const pi = randomPermutations(spec, 77);
    const b = applyPermutation(spec, pi, sd);
    const r = await activationMatching(graph, sd, b, data);
    const dead = r.deadUnits.reduce((s, d) => s + d.length, 0);
    t.diagnostic(`${name}: ${spec.groups.length} groups, ${dead} units dead on the ${data.n} examples; mean correlation after ${r.correlationAfter.map((c) => c.toFixed(4)).join(', ')}`);
    // B = A∘π, so the match must be π⁻¹ on every unit that the data activates; units dead on all
    // of it have flat E_ab rows and may pair with any other dead unit.
    r.perms.forEach((p, gi) => {
      const want = invertPermutation(pi[gi]);
      const deadSet = new Set(r.deadUnits[gi]);
      for (let i = 0; i < p.length; i++) if (!deadSet.has(i)) assert.equal(p[i], want[i], `${spec.groups[gi].name} unit ${i}`);
      for (const i of deadSet) assert.ok(deadSet.has(pi[gi][p[i]]), `${spec.groups[gi].name}: dead unit ${i} matched a live one`);
    });
    const aligned = applyPermutation(spec, r.perms, b);
    if (dead === 0) for (const [k, v] of sd) assert.deepEqual(aligned.get(k)!.values, v.values, k);
    assert.ok(maxAbsDiff(logits(graph, sd, data.x), logits(graph, aligned, data.x)) <= 1e-5 * Math.max(1, ...logits(graph, sd, data.x).map(Math.abs)));
    r.correlationAfter.forEach((c, gi) => {
      const live = 1 - r.deadUnits[gi].length / spec.groups[gi].size;
      assert.ok(Math.abs(c - live) <= 1e-5, `${spec.groups[gi].name}: mean correlation ${c}, live fraction ${live}`);
    });
  });

  test(`${name}: an activation-aligned model computes B's function (logits within ${PRESERVATION}${name.includes('gpt') ? ' × max |logit|' : ''})`, async (t) => {
    const { graph, sd, data } = await loadFixture(name);
    const { spec } = permutationSpecWithValues(graph);
    const b = applyPermutation(spec, randomPermutations(spec, 5), perturbed(sd));
    const r = await alignStateDicts(graph, sd, b, { method: 'activations', dataset: data });
    assert.equal(r.method, 'activations');
    assert.equal(r.data?.examples, data.n);
    const base = logits(graph, b, data.x);
    const err = maxAbsDiff(base, logits(graph, r.aligned, data.x));
    const scale = base.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.diagnostic(`${name}: max |logit(B) − logit(π(B))| = ${err.toExponential(2)} (max |logit| ${scale.toFixed(2)}); correlation ${r.groups.map((g) => `${g.similarityBefore.toFixed(3)}→${g.similarityAfter.toFixed(3)}`).join(', ')}`);
    assert.ok(err <= (graph.family === 'gpt2' ? PRESERVATION * Math.max(1, scale) : PRESERVATION), `${err}`);
    for (const g of r.groups) assert.ok(g.similarityAfter >= g.similarityBefore - 1e-12 && g.objectiveAfter >= g.objectiveBefore - 1e-9, g.name);
    assert.ok(r.distanceAfter < r.distanceBefore);
  });
}

test('progress goes through capture then match; cancellation stops activation matching', async () => {
  const { graph, sd, data } = await loadFixture('cnn');
  const stages: string[] = [];
  await alignStateDicts(graph, sd, sd, { method: 'activations', dataset: data, batchSize: 8, onProgress: (stage, done, total) => stages.push(`${stage} ${done}/${total}`) });
  assert.deepEqual(stages, ['capture 8/32', 'capture 16/32', 'capture 24/32', 'capture 32/32', 'match 1/3', 'match 2/3', 'match 3/3']);
  let polls = 0;
  await assert.rejects(alignStateDicts(graph, sd, sd, { method: 'activations', dataset: data, batchSize: 8, isCancelled: () => ++polls > 2 }), CancelledError);
  await assert.rejects(alignStateDicts(graph, sd, sd, { method: 'activations' }), /needs a dataset/);
});

test('E_ab, correlations and assignments agree with numpy/scipy (make_activation_expectations.py)', async () => {
  const a = await loadPath(join(REPO_ROOT, 'demo/checkpoints/mlp_seed0.safetensors'));
  const b = await loadPath(join(REPO_ROOT, 'demo/checkpoints/mlp_seed1.safetensors'));
  const data = await loadDataset(join(MODELS, 'mlp.batch.npz'));
  const file = await listArrays(fixture('align', 'mlp_eab.npz'));
  const want = async (k: string): Promise<number[]> => Array.from((await file.read(k)).values as ArrayLike<number>, Number);
  try {
    // Batches of 5 exercise the streaming merge (32 examples: 7 batches, the last of 2).
    const { groups } = await activationStatistics(a.graph, a.sd, b.sd, data, { batchSize: 5 });
    const r = await activationMatching(a.graph, a.sd, b.sd, data);
    assert.equal(groups.length, 2);
    for (const [g, stats] of groups.entries()) {
      const eab = groupEab(stats);
      const ref = await want(`eab_${g}`);
      const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(maxAbsDiff(eab, ref) <= 1e-5 * scale, `E_ab ${g}: ${maxAbsDiff(eab, ref)} (scale ${scale})`);
      const corr = await want(`corr_${g}`);
      const n = stats.moments[0].n;
      let worst = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(stats.moments[0].correlation(i, j) - corr[i * n + j]));
      assert.ok(worst <= 1e-4, `correlation ${g}: ${worst}`);
      // Same optimum as scipy. Units dead on all 32 examples (in A: flat rows; in B: flat columns)
      // tie with each other; every other pair agrees.
      const sp = await want(`perm_${g}`);
      let ours = 0, theirs = 0;
      for (let i = 0; i < n; i++) {
        ours += ref[i * n + r.perms[g][i]];
        theirs += ref[i * n + sp[i]];
      }
      assert.ok(Math.abs(ours - theirs) <= 1e-9 * Math.abs(theirs), `objective ${ours} vs scipy ${theirs}`);
      const m = stats.moments[0];
      for (let i = 0; i < n; i++) if (m.sqA[i] > 0 && m.sqB[sp[i]] > 0) assert.equal(r.perms[g][i], sp[i], `assignment ${g} row ${i}`);
      assert.ok(Math.abs(r.correlationBefore[g] - (await want(`before_${g}`))[0]) < 1e-5);
      assert.ok(Math.abs(r.correlationAfter[g] - (await want(`after_${g}`))[0]) < 1e-5);
    }
  } finally {
    await file.close();
  }
});

test('ckpt-lens align --method activations: JSON report (mean correlations), aligned safetensors, permutations', async () => {
  const run = promisify(execFile);
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const aPath = join(MODELS, MODEL_FIXTURES.cnn);
  const { graph, sd } = await loadPath(aPath);
  const { spec } = permutationSpecWithValues(graph);
  const pi = randomPermutations(spec, 11);
  const b = applyPermutation(spec, pi, sd);
  const bPath = join(tmp, 'cnn_shuffled.safetensors');
  await writeSafetensors(bPath, [...b].map(([name, t]) => ({ name, dtype: 'F32' as const, shape: t.shape, data: t.values })));
  const out = join(tmp, 'cnn_aligned.safetensors');
  const { stdout } = await run(process.execPath, [cli, 'align', aPath, bPath, '--out', out, '--method', 'activations', '--data', join(MODELS, 'cnn.batch.npz'), '--limit', '24', '--backend', 'wasm', '--json']);
  const r = JSON.parse(stdout);
  assert.deepEqual(Object.keys(r).sort(), ['groups', 'iterations', 'method', 'seconds']);
  assert.equal(r.method, 'activations');
  assert.equal(r.iterations, 1);
  assert.equal(r.groups.length, spec.groups.length);
  for (const [i, g] of r.groups.entries()) {
    assert.deepEqual(Object.keys(g).sort(), ['name', 'similarityAfter', 'similarityBefore', 'size']);
    assert.equal(g.name, spec.groups[i].name);
    assert.ok(g.similarityAfter > g.similarityBefore && g.similarityAfter <= 1 + 1e-6, `${g.name}: ${g.similarityBefore} → ${g.similarityAfter}`);
  }
  const aligned = await loadPath(out);
  const perm = JSON.parse(readFileSync(permutationsPath(out), 'utf8'));
  assert.equal(perm.method, 'activations');
  assert.equal(perm.data.examples, 24);
  perm.groups.forEach((g: { perm: number[]; capturePoints: string[] }, gi: number) => {
    // Groups without units dead on the data (mean correlation 1) come back exactly.
    if (Math.abs(r.groups[gi].similarityAfter - 1) < 1e-6) assert.deepEqual(g.perm, Array.from(invertPermutation(pi[gi])), r.groups[gi].name);
    assert.ok(g.capturePoints.length >= 1);
  });
  // The written file is B permuted by the reported permutations.
  const again = applyPermutation(spec, perm.groups.map((g: { perm: number[] }) => Int32Array.from(g.perm)), b);
  for (const [k, v] of again) assert.deepEqual(aligned.sd.get(k)!.values, v.values, k);
  // Text output names the method and the similarity.
  const text = await run(process.execPath, [cli, 'align', aPath, bPath, '--out', join(tmp, 'cnn_aligned2.safetensors'), '--method', 'activations', '--data', join(MODELS, 'cnn.batch.npz'), '--backend', 'wasm']);
  assert.match(text.stdout, /activation matching on 32 examples/);
  assert.match(text.stdout, /corr before +corr after/);
  await assert.rejects(run(process.execPath, [cli, 'align', aPath, bPath, '--out', join(tmp, 'z.safetensors'), '--method', 'activations', '--data', join(tmp, 'missing.npz'), '--backend', 'wasm']), (e: { code: number; stderr: string }) => e.code === 1 && /missing\.npz: cannot open the dataset/.test(e.stderr));
  assert.ok(!existsSync(join(tmp, 'z.safetensors')));
});

// --- Fashion-MNIST pair (test/fixtures/fmnist/train_fmnist_pair.py) ------------------------------

const fmnist = findFashionMnist();
const skipFmnist = fmnist ? false : 'Fashion-MNIST is not installed (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist)';

/** Σ over the spec's tensors of ⟨A, B⟩ in float64: the weight-matching objective (paper Eq. 2). */
function innerProduct(spec: ReturnType<typeof permutationSpecWithValues>['spec'], a: StateDict, b: StateDict): number {
  const names = new Set(spec.groups.flatMap((g) => g.members.map((m) => m.tensor)));
  let s = 0;
  for (const k of names) {
    const x = a.get(k)!.values, y = b.get(k)!.values;
    for (let i = 0; i < x.length; i++) s += x[i] * y[i];
  }
  return s;
}

test('Fashion-MNIST MLP pair: weight-matched B keeps its test loss and accuracy; our objective reaches the reference', { skip: skipFmnist }, async (t) => {
  const expected = JSON.parse(readFileSync(join(FMNIST, 'expected.json'), 'utf8'));
  const a = await loadPath(join(FMNIST, 'mlp_seed0.safetensors'));
  const b = await loadPath(join(FMNIST, 'mlp_seed1.safetensors'));
  const test10k = await loadDataset(fmnist!, { split: 'test' });
  const r = await alignStateDicts(a.graph, a.sd, b.sd, { seed: 0 });
  const evalOf = async (sd: StateDict) => {
    const m = createModel(a.graph, sd);
    try {
      return await evaluate(m, test10k);
    } finally {
      m.dispose();
    }
  };
  const eb = await evalOf(b.sd);
  const ealigned = await evalOf(r.aligned);
  const ref = expected.models.mlp_seed1;
  t.diagnostic(`B: loss ${eb.loss.toFixed(6)} acc ${eb.accuracy.toFixed(4)} (PyTorch ${ref.testLoss.toFixed(6)} / ${ref.testAcc.toFixed(4)}); π(B): loss ${ealigned.loss.toFixed(6)} acc ${ealigned.accuracy.toFixed(4)}`);
  assert.ok(Math.abs(ealigned.loss - eb.loss) <= 1e-5, `${ealigned.loss} vs ${eb.loss}`);
  assert.ok(Math.abs(ealigned.accuracy - eb.accuracy) <= 1e-5);
  assert.ok(Math.abs(eb.loss - ref.testLoss) <= 1e-4 && Math.abs(eb.accuracy - ref.testAcc) <= 1e-4, 'tfjs agrees with PyTorch on B');
  const ours = innerProduct(r.spec, a.sd, r.aligned);
  const wm = expected.weightMatching;
  t.diagnostic(`objective: ours ${ours.toFixed(6)} in ${r.iterations} sweeps (${r.seconds.toFixed(2)} s), reference ${wm.objective.toFixed(6)} in ${wm.sweeps} sweeps; identity ${wm.objectiveIdentity.toFixed(6)}`);
  assert.ok(Math.abs(innerProduct(r.spec, a.sd, b.sd) - wm.objectiveIdentity) <= 1e-9 * Math.abs(wm.objectiveIdentity), 'same objective at the identity');
  // Same seed, same visiting orders (the reference reuses our generator): the same local optimum,
  // up to float32 summation order in the similarity products.
  assert.deepEqual(r.sweeps.map((s) => s.order), wm.orders.slice(0, r.sweeps.length));
  assert.ok(ours >= wm.objective - 1e-9 * Math.abs(wm.objective), `ours ${ours} < reference ${wm.objective}`);
});
