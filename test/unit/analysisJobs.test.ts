// Analyses as the extension runs them: WorkerHost → dist/worker.js → the analysis → its
// AnalysisView (facts, charts, tables), with progress, partial views, cancel and clear errors;
// and the view exports (CSV/JSON) the panel offers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerHost, WorkerJobError, type Logger } from '../../src/extension/workerHost';
import { viewExport } from '../../src/extension/viewExport';
import { isAnalysisView, isHostToPanel, isPanelToHost, isHostToWorker, type AnalysisView } from '../../src/analysis/protocol';
import { REPO_ROOT } from '../helpers';

const quiet: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const demo = (name: string): string => join(REPO_ROOT, 'demo', 'checkpoints', name);

function withHost<T>(fn: (host: WorkerHost) => Promise<T>): Promise<T> {
  const host = new WorkerHost({ workerPath: join(REPO_ROOT, 'dist', 'worker.js'), log: quiet });
  return fn(host).finally(() => host.dispose());
}

test('align in the worker: a view with the similarity chart and group table, the files written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-align-job-'));
  try {
    const out = join(dir, 'aligned.safetensors');
    const view = await withHost(async (host) => {
      const fractions: number[] = [];
      const v = await host.analysis({ kind: 'align', params: { a: demo('mlp_seed0.safetensors'), b: demo('mlp_seed1.safetensors'), out }, backend: 'wasm' }, { onProgress: (f) => fractions.push(f) }).promise;
      assert.ok(fractions.length > 0, 'progress reported');
      return v;
    });
    assert.ok(isAnalysisView(view));
    assert.equal(view.kind, 'align');
    assert.equal(view.complete, true);
    assert.ok(existsSync(out) && existsSync(join(dir, 'aligned.perm.json')));
    const chart = view.charts.find((c) => c.id === 'align-similarity')!;
    const groups = (view.report as { groups: { name: string; size: number; similarityBefore: number; similarityAfter: number }[] }).groups;
    assert.deepEqual(groups.map((g) => g.size), [128, 128], 'the demo MLP has two hidden layers of 128');
    assert.equal(chart.rows.length, 2 * groups.length);
    for (const g of groups) {
      assert.ok(g.similarityAfter > g.similarityBefore, `${g.name}: ${g.similarityBefore} → ${g.similarityAfter}`);
      assert.deepEqual(chart.rows.filter((r) => r.group === g.name).map((r) => r.similarity), [g.similarityBefore, g.similarityAfter]);
    }
    // Exports: the chart's rows as CSV (header + one line per row), the table as JSON records.
    const csv = viewExport(view, { what: 'rows', id: 'align-similarity', format: 'csv' }).content.trimEnd().split('\r\n');
    assert.equal(csv[0], 'group,size,when,similarity');
    assert.equal(csv.length, 1 + chart.rows.length);
    const table = JSON.parse(viewExport(view, { what: 'table', id: 'align-groups', format: 'json' }).content) as Record<string, unknown>[];
    assert.equal(table.length, groups.length);
    assert.equal(table[0]['similarity after'], groups[0].similarityAfter);
    assert.deepEqual(JSON.parse(viewExport(view, { what: 'report', format: 'json' }).content).groups.length, groups.length);
    assert.throws(() => viewExport(view, { what: 'rows', id: 'nope', format: 'csv' }), /no chart "nope"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('analysis jobs: bad params and bad files give clear errors; cancel stops the job', async () => {
  await withHost(async (host) => {
    await assert.rejects(host.analysis({ kind: 'align', params: { a: demo('mlp_seed0.safetensors') }, backend: 'wasm' }).promise, (e: Error) => e instanceof WorkerJobError && /align: "b" must be a file path/.test(e.message));
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-align-job-'));
    try {
      const bad = host.analysis({ kind: 'align', params: { a: demo('mlp_seed0.safetensors'), b: join(REPO_ROOT, 'test', 'fixtures', 'models', 'cnn.safetensors'), out: join(dir, 'x.safetensors') }, backend: 'wasm' });
      await assert.rejects(bad.promise, (e: Error) => e instanceof WorkerJobError && /cnn\.safetensors/.test(e.message));
      const job = host.analysis({ kind: 'align', params: { a: demo('mlp_seed0.safetensors'), b: demo('mlp_seed1.safetensors'), out: join(dir, 'y.safetensors') }, backend: 'wasm' });
      job.cancel();
      await assert.rejects(job.promise, (e: Error) => e.name === 'CancelledError');
      assert.ok(!existsSync(join(dir, 'y.safetensors')), 'nothing written after cancel');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('protocol: analysis requests and panel messages are checked on arrival', () => {
  const flag = new SharedArrayBuffer(4);
  assert.ok(isHostToWorker({ type: 'analysis', id: 1, kind: 'align', params: { a: 'x' }, backend: 'auto', cancelFlag: flag }));
  assert.ok(!isHostToWorker({ type: 'analysis', id: 1, kind: 'rm -rf', params: {}, backend: 'auto', cancelFlag: flag }));
  assert.ok(!isHostToWorker({ type: 'analysis', id: 1, kind: 'align', params: [], backend: 'auto', cancelFlag: flag }));
  const view: AnalysisView = { kind: 'align', title: 't', facts: [{ label: 'a', value: 'b' }], charts: [{ id: 'c', title: 'c', spec: { mark: 'bar' }, rows: [{ x: 1, y: null }] }], tables: [], notes: [], report: { ok: true }, complete: false };
  assert.ok(isHostToPanel({ type: 'view', view }));
  assert.ok(!isHostToPanel({ type: 'view', view: { ...view, charts: [{ id: 'c', title: 'c', spec: {}, rows: [{ x: {} }] }] } }), 'rows hold scalars only');
  assert.ok(isHostToPanel({ type: 'job', state: 'running', fraction: 0.5, message: 'α = 0.5' }));
  assert.ok(isPanelToHost({ type: 'exportView', what: 'chart', id: 'c', format: 'svg', content: '<svg></svg>' }));
  assert.ok(!isPanelToHost({ type: 'exportView', what: 'chart', id: 'c', format: 'png', content: 'javascript:alert(1)' }));
  assert.ok(isPanelToHost({ type: 'exportView', what: 'report', format: 'json' }));
  assert.ok(!isPanelToHost({ type: 'exportView', what: 'table', id: '', format: 'csv' }));
  assert.ok(isPanelToHost({ type: 'cancelJob' }));
});
