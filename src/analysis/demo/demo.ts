// `npm run demo`: inspects the bundled demo checkpoints with the same code the extension runs
// and writes a self-contained HTML report with the charts (demo/out/report.html).
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { openCheckpoint } from '../open';
import { storedType } from '../core/checkpoint';
import { computeAllStats } from '../stats/statsPool';
import { checkpointTotals } from '../stats/totals';
import { readSlice2D } from '../core/tensorData';
import { histogramSpec } from '../charts/histogramSpec';
import { heatmapSpec } from '../charts/heatmapSpec';
import { formatBytes, formatCount } from '../core/format';
import type { TensorStats } from '../stats/tensorStats';
import { initBackend } from '../model/backend';
import { openModel } from '../model/openModel';
import { evaluate } from '../model/evaluate';
import { findFashionMnist, loadDataset } from '../data/dataset';
import type { ReportData, ReportSection } from './reportTypes';
import type { AnalysisKind, JsonValue } from '../protocol';
import type { AnalysisView } from '../report/analysisView';
import { availableAnalyses, runAnalysis } from '../jobs/analysisJobs';


const ROOT = join(__dirname, '..');
const CHECKPOINTS = join(ROOT, 'demo', 'checkpoints');
const OUT = join(ROOT, 'demo', 'out');
const DIGITS = join(ROOT, 'demo', 'data', 'digits.npz');
const ckpt = (name: string): string => join(CHECKPOINTS, name);
/** Two small Llama-style models trained on the King James Bible (demo/train_kjv_llama.py), scored on held-out verses. */
const KJV_LLAMA = (seed: number): string => join(CHECKPOINTS, `kjv_llama_seed${seed}`, 'model.safetensors');
const KJV_VAL = join(ROOT, 'demo', 'data', 'kjv', 'val.txt');
/** A tiny Llama and its GGUF conversion (test/fixtures/gguf/make_quant_error_fixture.py). */
const GGUF_DIR = join(ROOT, 'test', 'fixtures', 'gguf');

/**
 * The analyses of the demo, each run exactly as the extension's worker runs it (same job
 * entry, same view). Demo MLPs: two seeds (0, 1) and seed 0's initialisation, on sklearn digits.
 */
const DEMO_ANALYSES: { kind: AnalysisKind; params: Record<string, JsonValue> }[] = [
  { kind: 'align', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), out: join(OUT, 'mlp_seed1.aligned-to-mlp_seed0.safetensors') } },
  { kind: 'align', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), out: join(OUT, 'mlp_seed1.act-aligned-to-mlp_seed0.safetensors'), method: 'activations', data: DIGITS } },
  { kind: 'interpolate', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), data: DIGITS, align: true } },
  { kind: 'mli', params: { init: ckpt('mlp_seed0_init.pt'), final: ckpt('mlp_seed0.safetensors'), data: DIGITS } },
  { kind: 'llfc', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), data: DIGITS, align: true } },
  { kind: 'diff', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), align: true } },
  // A GGUF against the safetensors it was quantized from: the quantization error per tensor.
  { kind: 'diff', params: { a: join(GGUF_DIR, 'tiny_llama.gguf'), b: join(GGUF_DIR, 'tiny_llama.safetensors') } },
  { kind: 'runs', params: { dirs: [join(ROOT, 'test', 'fixtures', 'runs', 'run_seed0'), join(ROOT, 'test', 'fixtures', 'runs', 'run_seed1')] } },
  { kind: 'histograms', params: { paths: [join(ROOT, 'test', 'fixtures', 'runs', 'run_seed0')], tensor: 'layers.0.weight' } },
  { kind: 'spectra', params: { a: ckpt('mlp_seed0.safetensors') } },
  // Training dynamics: the LLC of the demo MLP with its calibration sweep, and two runs of one
  // small MLP — plain SGD (small lr, no weight decay) keeps the layer balances, Adam drifts them.
  { kind: 'llc', params: { a: ckpt('mlp_seed0.safetensors'), data: DIGITS, epsilon: 1e-4, gamma: 100, chains: 4, draws: 200, burnIn: 200, batchSize: 64 } },
  { kind: 'llc-sweep', params: { a: ckpt('mlp_seed0.safetensors'), data: DIGITS, epsilons: '1e-5,1e-4,1e-3', gamma: 100, chains: 2, draws: 80, burnIn: 80, batchSize: 64 } },
  // The LLC of a ResNet (convolutions, BatchNorm on batch statistics as devinterp samples): the graph engine.
  { kind: 'llc', params: { a: ckpt('resnet_digits.safetensors'), data: join(ROOT, 'demo', 'data', 'digits_images.npz'), epsilon: 1e-5, gamma: 100, chains: 2, draws: 40, burnIn: 40, batchSize: 32 } },
  { kind: 'runs', params: { dirs: [join(ROOT, 'test', 'fixtures', 'dynamics', 'runs', 'sgd'), join(ROOT, 'test', 'fixtures', 'dynamics', 'runs', 'adam')], align: 'off', data: join(ROOT, 'test', 'fixtures', 'dynamics', 'runs_data.npz'), probe: 24, llc: true, epsilon: 1e-4, gamma: 100, chains: 2, draws: 100, burnIn: 100, batchSize: 64 } },
  { kind: 'stitch', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), data: DIGITS, both: true, epochs: 2 } },
  { kind: 'drop', params: { a: ckpt('resnet_digits.safetensors'), data: join(ROOT, 'demo', 'data', 'digits_images.npz') } },
  { kind: 'drop', params: { a: ckpt('resnet_digits.safetensors'), data: join(ROOT, 'demo', 'data', 'digits_images.npz'), strategy: 'random' } },
  { kind: 'swap', params: { a: join(ROOT, 'test', 'fixtures', 'models', 'nanogpt.pt'), data: join(ROOT, 'test', 'fixtures', 'models', 'nanogpt.batch.npz') } },
  { kind: 'interpolate', params: { a: KJV_LLAMA(0), b: KJV_LLAMA(1), data: KJV_VAL, align: true, steps: 9, limit: 48 } },
  { kind: 'drop', params: { a: KJV_LLAMA(0), data: KJV_VAL, limit: 48, strategy: 'single' } },
  { kind: 'plane', params: { a: ckpt('mlp_seed0.safetensors'), b: ckpt('mlp_seed1.safetensors'), c: join(OUT, 'mlp_seed1.aligned-to-mlp_seed0.safetensors'), data: DIGITS } },
  // Basins of Fashion-MNIST MLPs (two spawned children, two seeds; test/fixtures/basins), when the dataset is installed.
  ...(findFashionMnist() ? [{ kind: 'basins' as const, params: { paths: ['child_a', 'child_b', 'seed_1', 'seed_2'].map((n) => join(ROOT, 'test', 'fixtures', 'basins', `${n}.safetensors`)), data: findFashionMnist()!, align: true, threshold: 0.15, limit: 1000 } }] : []),
  { kind: 'cka', params: { paths: [ckpt('mlp_seed0.safetensors'), ckpt('mlp_seed1.safetensors')], data: DIGITS } },
  ...(findFashionMnist() ? [{ kind: 'cka' as const, params: { paths: ['parent', 'child_a'].map((n) => join(ROOT, 'test', 'fixtures', 'basins', `${n}.safetensors`)), mode: 'run', data: findFashionMnist()!, limit: 1000 } }] : []),
];

async function runDemoAnalyses(): Promise<AnalysisView[]> {
  const available = new Set(availableAnalyses());
  const views: AnalysisView[] = [];
  for (const { kind, params } of DEMO_ANALYSES) {
    if (!available.has(kind)) continue;
    const t0 = performance.now();
    const view = await runAnalysis(kind, params, { wasmDir: __dirname });
    console.log(`${kind}: ${view.title} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    for (const f of view.facts.slice(0, 6)) console.log(`  ${f.label}: ${f.value}`);
    views.push(view);
  }
  return views;
}

/** Runs the network on scikit-learn's digits (the data the demo MLPs were trained on). */
async function evaluateOne(path: string): Promise<string> {
  const data = await loadDataset(DIGITS);
  const { model, graph } = await openModel(path);
  try {
    const r = await evaluate(model, data);
    return `${graph.family} recognised · on sklearn digits (n = ${r.n}): mean cross-entropy ${r.loss.toFixed(4)} nats, accuracy ${(100 * r.accuracy).toFixed(2)}% · tfjs ${r.backend}, ${(1000 * r.seconds).toFixed(0)} ms`;
  } finally {
    model.dispose();
  }
}

function fmt(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : Number(v.toPrecision(4)).toString();
}

async function inspectOne(path: string): Promise<ReportSection> {
  const t0 = performance.now();
  const ckpt = await openCheckpoint(path);
  const listMs = performance.now() - t0;
  try {
    const stats = await computeAllStats(ckpt, { workerScript: join(__dirname, 'statsWorker.js') });
    const statsMs = performance.now() - t0 - listMs;
    const totals = checkpointTotals(ckpt);
    const rows = ckpt.tensors.map((t, i) => {
      const s = stats[i] as TensorStats;
      return [t.name, storedType(t), `[${t.shape.join(', ')}]`, t.numel, fmt(s.mean), fmt(s.std), fmt(s.min), fmt(s.max), fmt(s.l2), `${((100 * s.zeros) / Math.max(1, s.count)).toFixed(1)}%`];
    });
    const charts: ReportSection['charts'] = [];
    // Histograms of the weight matrices, and a heatmap of the first one.
    const matrices = ckpt.tensors.map((t, i) => [t, stats[i]] as const).filter(([t, s]) => t.shape.length >= 2 && s?.histogram);
    for (const [t, s] of matrices) charts.push({ title: `${t.name} — histogram`, spec: histogramSpec(s!.histogram!, { title: t.name, dtype: storedType(t), width: 320, height: 160 }) });
    if (matrices.length > 0) {
      const [t] = matrices[0];
      const sl = await readSlice2D(t, 64, 64);
      const slice = { ...sl, values: Array.from(sl.values, (v) => (Number.isFinite(v) ? v : null)) };
      charts.push({ title: `${t.name} — heatmap`, spec: heatmapSpec(slice, { title: `${t.name} (${sl.rows}×${sl.cols} view)`, maxWidth: 320, maxHeight: 320 }) });
    }
    const rel = relative(ROOT, path);
    // GGUF holds llama.cpp's names, which the model families do not read: its check is the quantization error.
    const evaluation = ckpt.format === 'gguf'
      ? `${String(ckpt.values['Model family'])} · ${String(ckpt.values['Quantization mix'])} (quantization error against the source: see the analyses)`
      : await evaluateOne(path).catch((e: Error) => `not evaluated: ${e.message}`);
    console.log(`${rel}: ${ckpt.format}, ${ckpt.tensors.length} tensors, ${formatCount(totals.params)} params, listed in ${listMs.toFixed(1)} ms, statistics in ${statsMs.toFixed(0)} ms`);
    console.log(`  ${evaluation}`);
    return {
      file: rel,
      evaluation,
      format: ckpt.format,
      summary: `${ckpt.tensors.length} tensors · ${formatCount(totals.params)} parameters · ${formatBytes(totals.bytes)}` + (ckpt.stateDictPrefix ? ` · state dict under “${ckpt.stateDictPrefix}”` : ''),
      metadata: { ...ckpt.metadata, ...ckpt.values },
      rows,
      charts,
    };
  } finally {
    await ckpt.close();
  }
}

async function main(): Promise<void> {
  const backend = await initBackend('auto', { wasmDir: __dirname });
  console.log(`tfjs backend: ${backend.name}${backend.skipped.length ? ` (${backend.skipped.join('; ')})` : ''}`);
  const files = readdirSync(CHECKPOINTS).filter((f) => /\.(safetensors|pt|pth|ckpt|bin|npz|npy)$/.test(f)).sort();
  const sections: ReportSection[] = [];
  for (const f of files) sections.push(await inspectOne(join(CHECKPOINTS, f)));
  sections.push(await inspectOne(join(GGUF_DIR, 'tiny_llama.gguf')));
  mkdirSync(OUT, { recursive: true });
  console.log('');
  const report: ReportData = { sections, analyses: await runDemoAnalyses() };

  const script = readFileSync(join(__dirname, 'webviews', 'report.js'), 'utf8');
  // JSON in a script element: escape '<' so no string can close the element.
  const data = JSON.stringify(report).replace(/</g, '\\u003c');
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:">
<title>Checkpoint Lens — demo report</title>
<style>
 :root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --rule: #d1d9e0; }
 @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --rule: #3d444d; } }
 body { font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
 h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2.5rem; border-bottom: 1px solid var(--rule); }
 .muted { color: var(--muted); } table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: .5rem 0; }
 td, th { padding: 2px 10px; border-bottom: 1px solid var(--rule); text-align: right; } td:first-child, th:first-child { text-align: left; font-family: ui-monospace, monospace; }
 .charts { display: flex; flex-wrap: wrap; gap: 1rem; } .chart { min-width: 340px; }
 pre { font-size: 12px; color: var(--muted); white-space: pre-wrap; }
 .facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; } .facts dt { color: var(--muted); } .facts dd { margin: 0; }
 .facts .def, .caption, .notes li { color: var(--muted); font-size: .92em; } .facts .def { margin-left: 8px; }
 .chart-box { border: 1px solid var(--rule); padding: 10px; margin: 10px 0; } .chart-head { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
 .chart-head h2 { flex: 1; margin: 0; border: 0; font-size: 1rem; } .chart { width: 100%; } .table-wrap { overflow: auto; max-height: 420px; }
</style></head>
<body><h1>Checkpoint Lens — demo report</h1>
<p class="muted">Generated by <code>npm run demo</code> from the checkpoints in <code>demo/checkpoints</code> with the extension's own readers and statistics (no Python, no pickle execution).</p>
<div id="report"></div>
<h1 id="analyses-title">Analyses</h1>
<div id="analyses"></div>
<script id="report-data" type="application/json">${data}</script>
<script>${script}</script>
</body></html>`;
  mkdirSync(OUT, { recursive: true });
  const target = join(OUT, 'report.html');
  writeFileSync(target + '.tmp', html);
  renameSync(target + '.tmp', target);
  console.log(`\nreport: ${relative(process.cwd(), target)}`);
}

main().catch((e) => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
