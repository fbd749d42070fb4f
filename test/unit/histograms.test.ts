// One tensor's distribution over a run (src/analysis/sets/runHistograms.ts) against numpy
// (test/fixtures/histograms/make_histogram_reference.py): shared edges, each checkpoint's
// np.histogram counts, mean/std/norm/min/max; a module prefix pools its tensors; numpy's
// binning at the edges; the CLI's JSON; the view.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binOf, histogramEdges, runHistograms } from '../../src/analysis/sets/runHistograms';
import { histogramsView } from '../../src/analysis/views/histogramsView';
import { REPO_ROOT, fixture } from '../helpers';
import { checkView } from '../viewCheck';

const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const RUN = fixture('runs', 'run_seed0');
const expected = JSON.parse(readFileSync(fixture('histograms', 'expected.json'), 'utf8')) as {
  files: string[];
  cases: { tensor: string; bins: number; edges: number[]; checkpoints: { counts: number[]; mean: number; std: number; norm: number; min: number; max: number; count: number }[] }[];
};
const close = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe('histograms over a run equal numpy', () => {
  for (const c of expected.cases) {
    test(`${c.tensor}, ${c.bins} bins`, async () => {
      const r = await runHistograms({ paths: [RUN], tensor: c.tensor, bins: c.bins });
      assert.deepEqual(r.checkpoints.map((x) => `${x.name}.safetensors`), expected.files);
      assert.deepEqual(r.checkpoints.map((x) => x.step), [0, 5, 10, 15, 20]);
      r.edges.forEach((e, i) => assert.ok(close(e, c.edges[i], 1e-12), `edge ${i}`));
      r.checkpoints.forEach((got, k) => {
        const want = c.checkpoints[k];
        assert.deepEqual(got.counts, want.counts, `${got.name} counts`);
        assert.equal(got.count, want.count);
        for (const key of ['mean', 'std', 'norm', 'min', 'max'] as const) assert.ok(close(got[key], want[key]), `${got.name} ${key}: ${got[key]} vs ${want[key]}`);
      });
      if (c.tensor === 'layers') assert.deepEqual(r.tensors.sort(), ['layers.0.bias', 'layers.0.weight', 'layers.2.bias', 'layers.2.weight']);
      await checkView(histogramsView(r));
    });
  }
  test('numpy\'s binning: edges belong to the bin above, the last edge to the last bin', () => {
    const edges = histogramEdges(0, 1, 10);
    const norm = 10 / (edges[10] - edges[0]);
    assert.equal(binOf(0, edges, norm), 0);
    assert.equal(binOf(1, edges, norm), 9);
    assert.equal(binOf(edges[3], edges, norm), 3);
    assert.equal(binOf(0.3, edges, norm), 0.3 >= edges[3] ? 3 : 2);
    assert.deepEqual(histogramEdges(2, 2, 2), [1.5, 2, 2.5]);
  });
  test('nested .pt checkpoints ({"model_state_dict", "global_step"}): the tensor and a module found inside, ordered by global_step', async () => {
    const r = await runHistograms({ paths: [fixture('runs', 'run_seed1')], tensor: 'layers.0.weight', bins: 8 });
    assert.equal(r.tensors.length, 1);
    assert.match(r.tensors[0], /layers\.0\.weight$/);
    const steps = r.checkpoints.map((c) => c.step!);
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b));
    assert.ok(r.checkpoints.every((c) => c.count === 48 * 20));
    const m = await runHistograms({ paths: [fixture('runs', 'run_seed1')], tensor: 'layers', bins: 8 });
    assert.equal(m.tensors.length, 4);
  });
  test('an unknown tensor names the file and the tensor', async () => {
    await assert.rejects(runHistograms({ paths: [RUN], tensor: 'nope' }), /no tensor nope/);
  });
});

test('CLI histograms --json', async () => {
  const { stdout } = await run('node', [CLI, 'histograms', RUN, '--tensor', 'head.weight', '--bins', '16', '--json']);
  const r = JSON.parse(stdout) as { edges: number[]; checkpoints: { counts: number[]; step: number }[] };
  assert.equal(r.edges.length, 17);
  assert.equal(r.checkpoints.length, 5);
  assert.equal(r.checkpoints[0].counts.reduce((s, v) => s + v, 0), 160);
});
