// Checks an AnalysisView the way the panel will use it: every chart compiles with vega-lite
// without warnings, data inline, no literal colours, and the report is JSON.
import assert from 'node:assert/strict';
import type { AnalysisView } from '../src/analysis/report/analysisView';

type Compile = (spec: unknown, opt?: { logger?: unknown }) => unknown;
let compile: Compile | undefined;

export async function checkView(view: AnalysisView): Promise<void> {
  // vega-lite is ESM with top-level await: load it with import().
  compile ??= ((await import('vega-lite' as string)) as { compile: Compile }).compile;
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...a: unknown[]) => { throw new Error(a.join(' ')); },
    warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; },
    info: () => logger,
    debug: () => logger,
  };
  assert.ok(view.charts.length > 0, `${view.kind}: has charts`);
  for (const c of view.charts) {
    compile(c.spec, { logger });
    assert.deepEqual(warnings, [], `${view.kind}/${c.id} compiled without warnings`);
    assert.ok(!JSON.stringify(c.spec).includes('"url"'), `${c.id}: data inline`);
    assert.ok(!/"(color|fill|stroke)"\s*:\s*"#/.test(JSON.stringify(c.spec)), `${c.id}: no literal colours`);
  }
  JSON.parse(JSON.stringify(view.report));
}
