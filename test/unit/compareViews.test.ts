// The diff, runs and spectra views: every chart compiles with vega-lite without warnings, carries
// its rows inline, loads no URL and sets no colours or fonts; partial reports give views too.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { runDiff } from '../../src/analysis/compare/checkpointDiff';
import { type RunsReport, runRuns } from '../../src/analysis/compare/trainingRuns';
import type { AnalysisView } from '../../src/analysis/report/analysisView';
import { runSpectra } from '../../src/analysis/spectra/spectra';
import { diffView } from '../../src/analysis/views/diffView';
import { runsView } from '../../src/analysis/views/runsView';
import { spectraView } from '../../src/analysis/views/spectraView';
import { fixture } from '../helpers';

type Compile = (spec: unknown, opt?: { logger?: unknown }) => { spec: unknown };
let compile: Compile;
before(async () => {
  ({ compile } = (await import('vega-lite' as string)) as { compile: Compile });
});

function keys(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) for (const x of v) keys(x, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
    out.add(k);
    if (k !== 'values') keys(x, out);
  }
  return out;
}

function checkView(view: AnalysisView): void {
  assert.ok(view.charts.length > 0);
  for (const c of view.charts) {
    const k = keys(c.spec);
    for (const banned of ['url', 'config', 'scheme', 'font', 'fontSize']) assert.ok(!k.has(banned), `${c.id}: ${banned}`);
    assert.deepEqual((c.spec.data as { values: unknown[] }).values, c.rows, `${c.id}: rows inline`);
    assert.equal(c.spec.$schema, 'https://vega.github.io/schema/vega-lite/v6.json');
    const warnings: string[] = [];
    const logger = {
      level: () => logger,
      error: (...a: unknown[]) => { throw new Error(a.join(' ')); },
      warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; },
      info: () => logger,
      debug: () => logger,
    };
    compile(c.spec, { logger });
    assert.deepEqual(warnings, [], `${c.id} compiled without warnings`);
  }
  for (const t of view.tables) for (const r of t.rows) assert.equal(r.length, t.columns.length, `${t.id}: row width`);
  assert.doesNotThrow(() => JSON.stringify(view));
}

test('diff view charts compile', async () => {
  checkView(diffView(await runDiff({ a: fixture('runs', 'diff_a.safetensors'), b: fixture('runs', 'diff_b.safetensors') })));
  checkView(diffView(await runDiff({ a: fixture('runs', 'align_a.safetensors'), b: fixture('runs', 'align_b.safetensors'), align: true, backend: 'cpu' })));
});

test('runs view charts compile, for partial reports too', async () => {
  const partials: RunsReport[] = [];
  const r = await runRuns({ paths: [fixture('runs', 'run_seed0'), fixture('runs', 'run_seed1')], align: 'off' }, { onPartial: (p) => partials.push(p as RunsReport) });
  checkView(runsView(r));
  const early = runsView(partials[3]);
  assert.equal(early.complete, false);
  checkView(early);
});

test('spectra view charts compile', async () => {
  checkView(spectraView(await runSpectra({ path: fixture('runs', 'spectra.safetensors') })));
});
