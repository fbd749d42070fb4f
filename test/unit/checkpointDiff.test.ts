// `diff` against numpy (test/fixtures/runs/make_runs_fixtures.py): added/removed/renamed,
// dtype and shape changes, per-tensor relative change / cosine / max |b − a|; --align undoing a
// planted permutation; the CLI's JSON and human output; bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type DiffReport, nameSimilarity, runDiff } from '../../src/analysis/compare/checkpointDiff';
import type { PairMetrics } from '../../src/analysis/compare/pairMetrics';
import { diffView } from '../../src/analysis/views/diffView';
import { REPO_ROOT, close, fixture } from '../helpers';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
type Pair = Omit<PairMetrics, 'nonFinite'>;
const expected = JSON.parse(readFileSync(fixture('runs', 'expected.json'), 'utf8')) as {
  diff: { shared: Record<string, Pair>; removed: string[]; added: string[]; renamed: ({ from: string; to: string } & Pair)[]; dtypeChanged: unknown[]; shapeChanged: unknown[] };
  align: { naive: Record<string, Pair>; aligned: Record<string, Pair> };
};

function assertPair(got: PairMetrics | undefined, want: Pair, label: string, rel = 1e-9): void {
  assert.ok(got, label);
  for (const k of ['normA', 'normB', 'distance', 'relChange', 'cosine', 'maxAbsDiff'] as const) assert.ok(close(got[k], want[k], rel, 1e-12), `${label} ${k}: ${got[k]} vs ${want[k]}`);
}

function checkDiff(r: DiffReport): void {
  const w = expected.diff;
  assert.deepEqual(r.shared.map((s) => s.name).sort(), Object.keys(w.shared).sort());
  for (const s of r.shared) assertPair(s.metrics, w.shared[s.name], s.name);
  assert.deepEqual(r.removed.map((t) => t.name), w.removed);
  assert.deepEqual(r.added.map((t) => t.name), w.added);
  assert.deepEqual(r.renamed.map((t) => [t.from, t.to]), w.renamed.map((t) => [t.from, t.to]));
  assertPair(r.renamed[0].metrics, w.renamed[0], 'rename');
  assert.deepEqual(r.dtypeChanged, w.dtypeChanged);
  assert.deepEqual(r.shapeChanged.map(({ name, from, to }) => ({ name, from, to })), w.shapeChanged);
  assert.equal(r.summary.identical, 1);
}

test('diff of two checkpoints matches numpy', async () => {
  const partials: unknown[] = [];
  const r = await runDiff({ a: fixture('runs', 'diff_a.safetensors'), b: fixture('runs', 'diff_b.safetensors') }, { onPartial: (p) => partials.push(p) });
  checkDiff(r);
  assert.equal(r.complete, true);
  assert.equal(r.alignment, null);
  const view = diffView(r);
  assert.equal(view.kind, 'diff');
  assert.equal(view.charts[0].rows.length, r.shared.length);
  assert.equal(view.tables[0].rows.length, 4 + 1 + 1 + 1 + 1);
  assert.doesNotThrow(() => JSON.stringify(view));
});

test('diff across formats: a .pt with a state-dict prefix against a safetensors file', async () => {
  const r = await runDiff({ a: fixture('runs', 'run_seed1', 'banana.pt'), b: fixture('runs', 'run_seed0', 'step_0020.safetensors') });
  assert.equal(r.prefixA, 'model_state_dict');
  assert.equal(r.summary.shared, 6);
  assert.equal(r.added.length + r.removed.length + r.renamed.length, 0);
});

test('diff --align undoes a permutation of hidden units', async () => {
  const r = await runDiff({ a: fixture('runs', 'align_a.safetensors'), b: fixture('runs', 'align_b.safetensors'), align: true, backend: 'cpu' });
  assert.ok(r.alignment);
  assert.equal(r.alignment.family, 'mlp');
  for (const s of r.shared) {
    assertPair(s.metrics, expected.align.naive[s.name], `naive ${s.name}`);
    // The aligned state dict is float32 (what the model reads), so 1e-6.
    assertPair(s.aligned, expected.align.aligned[s.name], `aligned ${s.name}`, 1e-6);
  }
  assert.ok(r.alignment.overall.relChange! < 1e-3 && r.overall.relChange! > 0.5);
  assert.equal(diffView(r).charts[0].rows.length, 2 * r.shared.length);
});

test('name similarity', () => {
  assert.equal(nameSimilarity('a.weight', 'a.weight'), 1);
  assert.ok(nameSimilarity('old_name.weight', 'new_name.weight') > 0.7);
  assert.ok(nameSimilarity('enc.weight', 'xyz') < 0.2);
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('ckpt-lens diff --json and human output', async () => {
  const a = fixture('runs', 'diff_a.safetensors'), b = fixture('runs', 'diff_b.safetensors');
  const json = await cli('diff', a, b, '--json');
  assert.equal(json.code, 0, json.stderr);
  checkDiff(JSON.parse(json.stdout) as DiffReport);
  const human = await cli('diff', a, b);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /renamed\s+old_name\.weight → new_name\.weight/);
  assert.match(human.stdout, /removed\s+gone\.weight/);
  assert.match(human.stdout, /half\.weight.*F32 → F16/);
  const aligned = await cli('diff', fixture('runs', 'align_a.safetensors'), fixture('runs', 'align_b.safetensors'), '--align', '--backend', 'cpu', '--json');
  assert.equal(aligned.code, 0, aligned.stderr);
  assert.ok((JSON.parse(aligned.stdout) as DiffReport).alignment!.overall.relChange! < 1e-3);
});

test('ckpt-lens diff: bad input names the file; --align without a model is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-diff-'));
  const bad = join(dir, 'truncated.safetensors');
  writeFileSync(bad, readFileSync(fixture('runs', 'diff_b.safetensors')).subarray(0, 100));
  const r = await cli('diff', fixture('runs', 'diff_a.safetensors'), bad, '--json');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.ok(r.stderr.includes(bad), r.stderr);
  const noModel = await cli('diff', fixture('runs', 'diff_a.safetensors'), fixture('runs', 'diff_b.safetensors'), '--align', '--backend', 'cpu');
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /diff_a\.safetensors: not recognised/);
  assert.equal((await cli('diff', 'only-one')).code, 2);
});
