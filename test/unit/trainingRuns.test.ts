// `runs` against numpy (test/fixtures/runs/make_runs_fixtures.py): per layer and checkpoint the
// weight norm, distance from the first checkpoint and update size; between the two runs at equal
// steps the distance and cosine; steps from file names and from a .pt's global_step. The live
// RunsWatcher: a new checkpoint grows the report by one step and no old file is opened again.
// Bad input: a truncated file in a run folder is skipped with a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { checkpointStep, stepFromName } from '../../src/analysis/compare/runFiles';
import { RunsWatcher } from '../../src/analysis/compare/runsWatcher';
import { type RunsReport, runRuns } from '../../src/analysis/compare/trainingRuns';
import { openCheckpoint } from '../../src/analysis/open';
import { runsView } from '../../src/analysis/views/runsView';
import { readTensor } from '../../src/analysis/core/tensorData';
import { exactSingularValues } from '../../src/analysis/spectra/svd';
import { REPO_ROOT, close, fixture } from '../helpers';

const exec = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
interface ExpectedRuns {
  runs: { name: string; steps: number[]; layers: { step: number; layer: string; norm: number; distFromFirst: number; update: number | null }[] }[];
  cross: { step: number; layer: string; distance: number; cosine: number }[];
  weights: string[];
}
const expected = (JSON.parse(readFileSync(fixture('runs', 'expected.json'), 'utf8')) as { runs: ExpectedRuns }).runs;
const RUN0 = fixture('runs', 'run_seed0');
const RUN1 = fixture('runs', 'run_seed1');

function checkRunPoints(r: RunsReport, runName: string, steps?: number[]): void {
  const want = expected.runs.find((x) => x.name === runName)!;
  const wantRows = want.layers.filter((w) => !steps || steps.includes(w.step));
  const got = r.points.filter((p) => p.run === runName);
  assert.equal(got.length, wantRows.length, `${runName}: points`);
  for (const w of wantRows) {
    const g = got.find((p) => p.step === w.step && p.layer === w.layer);
    assert.ok(g, `${runName} step ${w.step} ${w.layer}`);
    const label = `${runName} step ${w.step} ${w.layer}`;
    assert.ok(close(g.norm, w.norm, 1e-9), `${label} norm ${g.norm} vs ${w.norm}`);
    assert.ok(close(g.distFromFirst, w.distFromFirst, 1e-9, 1e-12), `${label} distFromFirst ${g.distFromFirst} vs ${w.distFromFirst}`);
    assert.ok(close(g.update, w.update, 1e-9, 1e-12), `${label} update ${g.update} vs ${w.update}`);
  }
}

function checkReport(r: RunsReport): void {
  assert.deepEqual(r.runs.map((x) => x.name), ['run_seed0', 'run_seed1']);
  assert.deepEqual(r.layers, expected.weights);
  assert.deepEqual(r.runs[0].checkpoints.map((c) => [c.step, c.stepSource]), [0, 5, 10, 15, 20].map((s) => [s, 'name']));
  // run_seed1's names (kiwi, apple, …) do not sort by step: global_step orders them.
  assert.deepEqual(r.runs[1].checkpoints.map((c) => [c.file, c.step, c.stepSource]), ['kiwi', 'apple', 'mango', 'fig', 'banana'].map((f, i) => [`${f}.pt`, 5 * i, 'global_step']));
  checkRunPoints(r, 'run_seed0');
  checkRunPoints(r, 'run_seed1');
  assert.equal(r.cross.length, expected.cross.length);
  for (const w of expected.cross) {
    const g = r.cross.find((c) => c.step === w.step && c.layer === w.layer);
    assert.ok(g, `cross step ${w.step} ${w.layer}`);
    assert.equal(g.runA, 'run_seed0');
    assert.ok(close(g.distance, w.distance, 1e-9) && close(g.cosine, w.cosine, 1e-9), `cross ${w.step} ${w.layer}: ${g.distance}/${g.cosine} vs ${w.distance}/${w.cosine}`);
  }
}

test('runs over two run folders match numpy; aligned cross-run distances are smaller', async () => {
  const partials: number[] = [];
  const r = await runRuns({ paths: [RUN0, RUN1], backend: 'cpu' }, { onPartial: (p) => partials.push((p as RunsReport).points.length) });
  checkReport(r);
  assert.equal(r.complete, true);
  assert.equal(partials.length, 10);
  assert.ok(r.aligned, 'the MLP is recognised, so runs are aligned');
  assert.match(r.model ?? '', /MLP 20→48→32→5/);
  for (const step of [0, 20]) {
    const at = r.cross.filter((c) => c.step === step);
    const naive = Math.hypot(...at.map((c) => c.distance));
    const aligned = Math.hypot(...at.map((c) => c.alignedDistance!));
    assert.ok(aligned < naive, `step ${step}: aligned ${aligned} < naive ${naive}`);
  }
  const view = runsView(r);
  assert.equal(view.kind, 'runs');
  assert.deepEqual(view.charts.map((c) => c.id), ['runs-norm', 'runs-distance-from-first', 'runs-update', 'runs-spectral-norm', 'runs-stable-rank', 'runs-cross-distance', 'runs-cross-cosine']);
  assert.ok('facet' in view.charts[0].spec);
  assert.equal(view.charts[0].rows.length, r.points.length);
  assert.equal(view.charts[3].rows.length, 2 * r.cross.length);
  assert.doesNotThrow(() => JSON.stringify(view));
});

test('runs without alignment, from a glob', async () => {
  const r = await runRuns({ paths: [join(fixture('runs'), 'run_seed*')], align: 'off' });
  checkReport(r);
  assert.equal(r.aligned, false);
  assert.ok(r.cross.every((c) => c.alignedDistance === null));
});

test('steps from names and values', async () => {
  assert.deepEqual(stepFromName('/x/step_0010.safetensors'), { step: 10, source: 'name' });
  assert.deepEqual(stepFromName('epoch=3-step=1200.ckpt'), { step: 1200, source: 'name' });
  assert.deepEqual(stepFromName('checkpoint-500'), { step: 500, source: 'name' });
  assert.deepEqual(stepFromName('model_epoch7.pt'), { step: 7, source: 'name-epoch' });
  assert.deepEqual(stepFromName('weights_42.pt'), { step: 42, source: 'name-number' });
  assert.equal(stepFromName('final.pt'), undefined);
  const c = await openCheckpoint(join(RUN1, 'fig.pt'));
  assert.deepEqual(checkpointStep(c, join(RUN1, 'fig.pt')), { step: 15, source: 'global_step' });
  await c.close();
});

test('a truncated file in a run folder is skipped with a warning naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-runs-'));
  const run = join(dir, 'run_seed0');
  mkdirSync(run);
  for (const s of [0, 5, 10]) copyFileSync(join(RUN0, `step_${String(s).padStart(4, '0')}.safetensors`), join(run, `step_${String(s).padStart(4, '0')}.safetensors`));
  const bad = join(run, 'step_0015.safetensors');
  writeFileSync(bad, readFileSync(join(RUN0, 'step_0015.safetensors')).subarray(0, 300));
  writeFileSync(join(run, 'notes.txt'), 'not a checkpoint');
  const r = await runRuns({ paths: [run] });
  assert.deepEqual(r.runs[0].checkpoints.map((c) => c.step), [0, 5, 10]);
  assert.equal(r.runs[0].skipped.length, 1);
  assert.equal(r.runs[0].skipped[0].file, 'step_0015.safetensors');
  assert.ok(r.warnings.some((w) => w.includes(bad)), r.warnings.join('\n'));
  checkRunPoints(r, 'run_seed0', [0, 5, 10]);
  await assert.rejects(runRuns({ paths: [join(dir, 'nope')] }), /nope: cannot open/);
  await assert.rejects(runRuns({ paths: [join(run, 'step_0000.safetensors')] }), /not a folder/);
});

function nextReport(w: RunsWatcher, pred: (r: RunsReport) => boolean, ms = 20000): Promise<RunsReport> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no such report in time')), ms);
    const on = (r: RunsReport): void => {
      if (!pred(r)) return;
      clearTimeout(timer);
      w.off('report', on);
      resolve(r);
    };
    w.on('report', on);
  });
}

test('RunsWatcher: a new checkpoint grows the report by one step, old files are not re-read', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-watch-'));
  const run = join(dir, 'run_seed0');
  mkdirSync(run);
  const name = (s: number): string => `step_${String(s).padStart(4, '0')}.safetensors`;
  for (const s of [0, 5, 10]) copyFileSync(join(RUN0, name(s)), join(run, name(s)));
  const opens = new Map<string, number>();
  const open = (p: string): Promise<Checkpoint> => {
    opens.set(p, (opens.get(p) ?? 0) + 1);
    return openCheckpoint(p);
  };
  const warnings: string[] = [];
  const w = new RunsWatcher({ paths: [run], debounceMs: 150 }, { open });
  w.on('warning', (m: string) => warnings.push(m));
  try {
    const first = await w.start();
    assert.deepEqual(first.runs[0].checkpoints.map((c) => c.step), [0, 5, 10]);
    assert.equal(first.points.length, 3 * expected.weights.length);

    // Atomic save: written under a temporary name, then renamed.
    const grown = nextReport(w, (r) => r.runs[0].checkpoints.length === 4);
    const tmp = join(run, `.${name(15)}.tmp`);
    copyFileSync(join(RUN0, name(15)), tmp);
    renameSync(tmp, join(run, name(15)));
    const r4 = await grown;
    assert.deepEqual(r4.runs[0].checkpoints.map((c) => c.step), [0, 5, 10, 15]);
    assert.equal(r4.points.length, 4 * expected.weights.length);
    checkRunPoints(r4, 'run_seed0', [0, 5, 10, 15]);

    // A file written in two parts: read once, after it is complete.
    const grown5 = nextReport(w, (r) => r.runs[0].checkpoints.length === 5);
    const bytes = readFileSync(join(RUN0, name(20)));
    writeFileSync(join(run, name(20)), bytes.subarray(0, 200));
    await new Promise((res) => setTimeout(res, 30));
    writeFileSync(join(run, name(20)), bytes);
    const r5 = await grown5;
    checkRunPoints(r5, 'run_seed0');

    // A truncated file: a warning, not a crash; the report stays as it was.
    const warned = new Promise<void>((res) => w.once('warning', () => res()));
    writeFileSync(join(run, name(25)), bytes.subarray(0, 300));
    await warned;
    assert.ok(warnings.some((m) => m.includes(name(25))), warnings.join('\n'));
    assert.equal(w.report().runs[0].checkpoints.length, 5);

    for (const s of [0, 5, 10, 15, 20]) assert.equal(opens.get(join(run, name(s))), 1, `${name(s)} opened once`);
  } finally {
    await w.close();
  }
});

test('ckpt-lens runs --json and human output', async () => {
  const json = await exec(process.execPath, [CLI, 'runs', RUN0, RUN1, '--align', 'off', '--json'], { maxBuffer: 64 << 20 });
  checkReport(JSON.parse(json.stdout) as RunsReport);
  const human = await exec(process.execPath, [CLI, 'runs', RUN0, RUN1, '--align', 'off']);
  assert.match(human.stdout, /run\s+run_seed1: 5 checkpoints, steps 0, 5, 10, 15, 20 \(from global_step\)/);
  assert.match(human.stdout, /run_seed0 vs run_seed1\s+20\s+head\.weight/);
  const bad = await exec(process.execPath, [CLI, 'runs', join(RUN0, 'nope')]).catch((e: { code: number; stderr: string }) => e);
  assert.equal((bad as { code: number }).code, 1);
  assert.match((bad as { stderr: string }).stderr, /nope: cannot open/);
});

test('ckpt-lens spectra --json', async () => {
  const { stdout } = await exec(process.execPath, [CLI, 'spectra', fixture('runs', 'spectra.safetensors'), '--json'], { maxBuffer: 64 << 20 });
  const r = JSON.parse(stdout) as { layers: { name: string; units: { dead: number; duplicates: number } }[] };
  assert.deepEqual(r.layers.map((l) => [l.name, l.units.dead, l.units.duplicates]), [['l1.weight', 0, 0], ['l2.weight', 3, 3], ['l3.weight', 0, 0]]);
  const human = await exec(process.execPath, [CLI, 'spectra', fixture('runs', 'spectra.safetensors')]);
  assert.match(human.stdout, /l3\.weight\s+300×280\s+lanczos/);
});

test('spectral norm and stable rank per checkpoint: σ₁ equals the largest exact singular value of W as out × in·k·k', async () => {
  const r = await runRuns({ paths: [RUN0], align: 'off' });
  assert.ok(r.points.length > 0);
  for (const p of r.points) {
    const file = r.runs[0].checkpoints.find((c) => c.step === p.step)!.file;
    const ckpt = await openCheckpoint(join(RUN0, file));
    try {
      const t = ckpt.tensors.find((x) => x.name === p.layer)!;
      const values = Float64Array.from((await readTensor(t)) as Float32Array);
      const sv = exactSingularValues({ rows: t.shape[0], cols: values.length / t.shape[0], values });
      assert.ok(p.spectralNorm !== null && Math.abs(p.spectralNorm - sv[0]) <= 1e-9 * sv[0], `${file} ${p.layer}: σ₁ ${p.spectralNorm} vs ${sv[0]}`);
      assert.ok(p.stableRank !== null && Math.abs(p.stableRank - (p.norm * p.norm) / (sv[0] * sv[0])) < 1e-9 * p.stableRank);
    } finally {
      await ckpt.close();
    }
  }
  const view = runsView(r);
  assert.ok(view.charts.some((c) => c.id === 'runs-spectral-norm') && view.charts.some((c) => c.id === 'runs-stable-rank'));
});
