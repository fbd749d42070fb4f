// Layer dropping against PyTorch: test/fixtures/dropping/make_dropping_reference.py evaluates the
// fixture models with blocks replaced by nn.Identity (single, top/bottom/alternate k, similarity
// order) and measures angular distance and block influence; runDrop must agree within 1e-3.
// Also: which blocks each strategy drops, cancellation, and `ckpt-lens drop --json`.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runDrop } from '../../src/analysis/dropping/runDrop';
import { dropSets } from '../../src/analysis/dropping/strategies';
import { initBackend } from '../../src/analysis/model/backend';
import { dropView } from '../../src/analysis/views/dropView';
import { MODEL_FIXTURES, REPO_ROOT, fixture } from '../helpers';

const TOLERANCE = 1e-3;
interface Metrics { loss: number; accuracy: number }
interface Expected {
  blocks: string[];
  baseline: Metrics;
  ranking: { block: string; angularDistance: number; blockInfluence: number }[];
  order: string[];
  results: (Metrics & { strategy: string; k: number; dropped: string[] })[];
}
const expected = JSON.parse(readFileSync(fixture('dropping', 'expected.json'), 'utf8')) as Record<string, Expected>;

before(async () => {
  await initBackend('wasm');
});

test('strategies: which blocks top, bottom, alternate and similarity drop for each k', () => {
  const b = ['b0', 'b1', 'b2', 'b3', 'b4'];
  assert.deepEqual(dropSets(b, 'single').map((s) => s.dropped), [['b0'], ['b1'], ['b2'], ['b3'], ['b4']]);
  assert.deepEqual(dropSets(b, 'top').map((s) => s.dropped), [['b4'], ['b3', 'b4'], ['b2', 'b3', 'b4'], ['b1', 'b2', 'b3', 'b4'], b]);
  assert.deepEqual(dropSets(b, 'bottom').map((s) => s.dropped), [['b0'], ['b0', 'b1'], ['b0', 'b1', 'b2'], ['b0', 'b1', 'b2', 'b3'], b]);
  assert.deepEqual(dropSets(b, 'alternate').map((s) => s.dropped), [['b4'], ['b2', 'b4'], ['b0', 'b2', 'b4']]);
  assert.deepEqual(dropSets(['b0', 'b1', 'b2', 'b3'], 'alternate').map((s) => s.dropped), [['b3'], ['b1', 'b3']]);
  assert.deepEqual(dropSets(b, 'similarity', ['b3', 'b1', 'b4', 'b0', 'b2']).map((s) => s.dropped), [['b3'], ['b1', 'b3'], ['b1', 'b3', 'b4'], ['b0', 'b1', 'b3', 'b4'], b]);
  assert.ok(dropSets(b, 'top').every((s, i) => s.k === i + 1 && s.strategy === 'top'));
  assert.throws(() => dropSets(b, 'similarity', ['b0']), /ranking/);
});

for (const name of Object.keys(expected)) {
  test(`${name}: every dropped configuration and the angular-distance ranking match PyTorch`, async (t) => {
    const e = expected[name];
    const partials: unknown[] = [];
    const r = await runDrop({ model: fixture('models', MODEL_FIXTURES[name]), data: fixture('models', `${name}.batch.npz`), batchSize: 16 }, { onPartial: (p) => partials.push(p) });
    assert.deepEqual(r.blocks, e.blocks);
    assert.ok(Math.abs(r.baseline.loss - e.baseline.loss) <= TOLERANCE && r.baseline.accuracy === e.baseline.accuracy);
    assert.deepEqual(r.ranking.map((x) => x.block), e.order);
    let worst = 0;
    for (const want of e.ranking) {
      const got = r.ranking.find((x) => x.block === want.block)!;
      worst = Math.max(worst, Math.abs(got.angularDistance - want.angularDistance), Math.abs(got.blockInfluence - want.blockInfluence));
    }
    assert.ok(worst <= TOLERANCE, `similarity differs by ${worst}`);
    assert.equal(r.results.length, e.results.length);
    let worstLoss = 0;
    for (const want of e.results) {
      const got = r.results.find((x) => x.strategy === want.strategy && x.k === want.k && (x.strategy !== 'single' || x.dropped[0] === want.dropped[0]));
      assert.ok(got, `${want.strategy} k=${want.k}`);
      assert.deepEqual(got.dropped, want.dropped, `${want.strategy} k=${want.k}`);
      worstLoss = Math.max(worstLoss, Math.abs(got.loss - want.loss));
      assert.ok(Math.abs(got.accuracy - want.accuracy) <= TOLERANCE, `${want.strategy} k=${want.k}: accuracy ${got.accuracy} vs ${want.accuracy}`);
    }
    t.diagnostic(`${name}: max |loss − PyTorch| ${worstLoss.toExponential(2)}, max |similarity − PyTorch| ${worst.toExponential(2)}`);
    assert.ok(worstLoss <= TOLERANCE, `loss differs by ${worstLoss}`);
    assert.equal(partials.length, r.results.length, 'one partial report per configuration');
    assert.equal(dropView(partials[0] as Parameters<typeof dropView>[0]).complete, false);
    const view = dropView(r);
    assert.equal(view.kind, 'drop');
    assert.ok(view.complete);
    assert.ok(view.charts.length >= 2);
    assert.doesNotThrow(() => JSON.stringify(view));
  });
}

test('runDrop: BatchNorm statistics recomputed for every configuration on request', async () => {
  const data = fixture('models', 'resnet_basic.batch.npz');
  const plain = await runDrop({ model: fixture('models', MODEL_FIXTURES.resnet_basic), data, strategies: ['single'] });
  const r = await runDrop({ model: fixture('models', MODEL_FIXTURES.resnet_basic), data, trainData: data, recomputeBatchNorm: 1, strategies: ['single'] });
  assert.match(r.batchNorm ?? '', /recomputed on 1 batches of 128/);
  assert.match(plain.batchNorm ?? '', /running statistics/);
  assert.notEqual(r.results[0].loss, plain.results[0].loss);
  assert.ok(r.results.every((x) => Number.isFinite(x.loss)));
});

test('runDrop: cancellation stops it', async () => {
  let calls = 0;
  await assert.rejects(
    runDrop({ model: fixture('models', MODEL_FIXTURES.nanogpt), data: fixture('models', 'nanogpt.batch.npz') }, { isCancelled: () => ++calls > 3 }),
    (e: Error) => e.name === 'CancelledError',
  );
});

test('ckpt-lens drop --json: baseline, results with dropped blocks, ranking; a clear error without droppable blocks', async () => {
  const run = promisify(execFile);
  const cli = join(REPO_ROOT, 'dist', 'cli.js');
  const { stdout } = await run(process.execPath, [cli, 'drop', fixture('models', MODEL_FIXTURES.gpt2_hf), '--data', fixture('models', 'gpt2_hf.batch.npz'), '--strategy', 'top', '--backend', 'wasm', '--json']);
  const r = JSON.parse(stdout) as { baseline: Metrics; results: (Metrics & { dropped: string[] })[]; ranking: { block: string }[] };
  const e = expected.gpt2_hf;
  assert.ok(Math.abs(r.baseline.loss - e.baseline.loss) <= TOLERANCE);
  assert.deepEqual(r.results.map((x) => x.dropped), [['transformer.h.1'], ['transformer.h.0', 'transformer.h.1']]);
  assert.deepEqual(r.ranking.map((x) => x.block), e.order);
  const human = await run(process.execPath, [cli, 'drop', fixture('models', MODEL_FIXTURES.gpt2_hf), '--data', fixture('models', 'gpt2_hf.batch.npz'), '--strategy', 'single', '--backend', 'wasm']);
  assert.match(human.stdout, /transformer\.h\.0/);
  await assert.rejects(run(process.execPath, [cli, 'drop', fixture('models', MODEL_FIXTURES.mlp), '--data', fixture('models', 'mlp.batch.npz')]), (err: { code: number; stderr: string }) => err.code === 1 && /mlp\.safetensors: .*no droppable blocks/.test(err.stderr));
  await assert.rejects(run(process.execPath, [cli, 'drop', 'x.pt', '--data', 'd', '--strategy', 'sideways']), (err: { code: number; stderr: string }) => err.code === 2 && err.stderr.includes('--strategy'));
});

test('angular distance and block influence per block match PyTorch when blocks have different spatial sizes (demo ResNet)', async () => {
  const want = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'fixtures', 'dropping', 'resnet_digits_similarity.json'), 'utf8')) as { examples: number; blocks: Record<string, { angularDistance: number; blockInfluence: number }> };
  const r = await runDrop({ model: join(REPO_ROOT, 'demo', 'checkpoints', 'resnet_digits.safetensors'), data: join(REPO_ROOT, 'demo', 'data', 'digits_images.npz'), strategies: ['single'], rankExamples: want.examples });
  assert.deepEqual(r.ranking.map((x) => x.block).sort(), Object.keys(want.blocks).sort());
  for (const x of r.ranking) {
    const w = want.blocks[x.block];
    assert.ok(Math.abs(x.angularDistance - w.angularDistance) < 1e-5, `${x.block}: angular distance ${x.angularDistance} vs PyTorch ${w.angularDistance}`);
    assert.ok(Math.abs(x.blockInfluence - w.blockInfluence) < 1e-5, `${x.block}: block influence ${x.blockInfluence} vs PyTorch ${w.blockInfluence}`);
  }
});
