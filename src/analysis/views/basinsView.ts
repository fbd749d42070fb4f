// The barrier-matrix report as a view: N×N heatmaps of the loss and error barriers ordered basin
// by basin (naive, weight-matched, out of distribution), the basins of both clusterings as a
// table, each model's score, and every pair's curve. While pairs are pending the heatmap shows
// the entries computed so far.
import type { BarrierSet, BasinsProgress, BasinsReport } from '../sets/barrierMatrix';
import type { AnalysisView, ChartView, Fact, TableView, ViewJson } from '../report/analysisView';
import { type Row, chartSpec, fmt, jsonSafe, pct } from './viewHelpers';
import { heatColours, heatLabels } from './viewParts';

function heatmap(id: string, title: string, names: string[], m: (number | null)[][], order: number[], unit: 'nats' | 'error', caption: string): ChartView {
  const sorted = order.map((i) => names[i]);
  const colours = heatColours(order.flatMap((i) => order.map((j) => m[i][j])), 'viridis', { zero: true });
  const rows: Row[] = [];
  for (const i of order) for (const j of order) rows.push({ a: names[i], b: names[j], barrier: m[i][j], labelColour: colours.labelColour(m[i][j]) });
  return {
    id, title, rows, caption,
    spec: chartSpec(rows, {
      width: { step: Math.max(18, Math.min(48, Math.floor(480 / names.length))) },
      height: { step: Math.max(18, Math.min(48, Math.floor(480 / names.length))) },
      layer: [
        {
          mark: { type: 'rect', tooltip: true },
          encoding: {
            x: { field: 'b', type: 'nominal', sort: sorted as ViewJson, title: null, axis: { labelAngle: -40 } },
            y: { field: 'a', type: 'nominal', sort: sorted as ViewJson, title: null },
            color: { field: 'barrier', type: 'quantitative', title: unit === 'nats' ? 'loss barrier (nats)' : 'error barrier', scale: colours.scale, legend: { format: unit === 'nats' ? '.3~g' : '.1~%' } },
            tooltip: [{ field: 'a', title: 'model' }, { field: 'b', title: 'with' }, { field: 'barrier', type: 'quantitative', format: unit === 'nats' ? '.4f' : '.2%' }],
          },
        },
        ...(names.length <= 12
          ? [heatLabels({ field: 'b', type: 'nominal', sort: sorted as ViewJson }, { field: 'a', type: 'nominal', sort: sorted as ViewJson }, { field: 'barrier', type: 'quantitative', format: unit === 'nats' ? '.2f' : '.0%' })]
          : []),
      ],
      // The labels' colours are literal (black or white by their cell's fill), not the cells' scale.
      resolve: { scale: { color: 'independent' } },
    }, { description: `${title}: ${names.length}×${names.length} heatmap` }),
  };
}

function curvesChart(id: string, title: string, r: BasinsReport, s: BarrierSet): ChartView {
  const rows: Row[] = s.curves.flatMap((c) => c.loss.map((l, k) => ({ pair: `${r.names[c.i]} – ${r.names[c.j]}`, alpha: r.alphas[k], loss: l, error: c.error[k] })));
  return {
    id, title, rows,
    caption: 'Test loss along θ(α) = (1−α)θ_i + αθ_j for every pair (α = 0 is the first model of the pair).',
    spec: chartSpec(rows, {
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'alpha', type: 'quantitative', title: 'α' },
        y: { field: 'loss', type: 'quantitative', title: 'loss (nats)' },
        color: { field: 'pair', type: 'nominal', legend: s.curves.length > 20 ? null : { title: 'pair' } },
        tooltip: [{ field: 'pair' }, { field: 'alpha', format: '.3f' }, { field: 'loss', format: '.4f' }, { field: 'error', format: '.2%' }],
      },
    }, { height: 260 }),
  };
}

const basinText = (b: string[][]): string => b.map((x) => `{${x.join(', ')}}`).join('  ');

function setParts(prefix: string, label: string, r: BasinsReport, s: BarrierSet, charts: ChartView[], tables: TableView[], facts: Fact[]): void {
  const def = r.barrier === 'bump' ? 'bump height' : 'linear-baseline barrier';
  charts.push(heatmap(`${prefix}-loss`, `${label}: loss barrier (${def})`, r.names, s.loss, s.order, 'nats', `Pair barrier on the loss, ${r.definition}. Models ordered by spectral basin.`));
  charts.push(heatmap(`${prefix}-error`, `${label}: error barrier`, r.names, s.error, s.order, 'error', 'The same barrier on the error 1 − accuracy.'));
  charts.push(curvesChart(`${prefix}-curves`, `${label}: loss along every pair's line`, r, s));
  facts.push({ label: `${label} basins (spectral)`, value: basinText(s.basins), definition: r.method });
  facts.push({ label: `${label} basins (barrier < ${s.threshold.tau})`, value: basinText(s.threshold.basins), definition: r.thresholdMethod });
  tables.push({
    id: `${prefix}-basins`, title: `${label}: basin of each model`,
    columns: ['model', 'spectral basin', `basin at τ = ${s.threshold.tau}`, 'loss', 'accuracy'],
    rows: r.names.map((n, i) => [n, s.labels[i] + 1, s.threshold.labels[i] + 1, Number(s.models[i].loss.toFixed(5)), Number(s.models[i].accuracy.toFixed(5))]),
  });
}

export function basinsView(report: BasinsReport | BasinsProgress): AnalysisView {
  if (!report.complete) {
    const order = report.names.map((_, i) => i);
    const charts = [heatmap('basins-loss', 'Loss barrier (filling in)', report.names, report.loss, order, 'nats', 'Pairs appear as their points are evaluated.')];
    if (report.aligned) charts.push(heatmap('basins-aligned-loss', 'Weight-matched: loss barrier (filling in)', report.names, report.aligned.loss, order, 'nats', 'Pairs appear as their points are evaluated.'));
    return {
      kind: 'basins', title: `Barrier matrix of ${report.names.length} checkpoints`, subtitle: `${report.pairsDone} of ${report.pairsTotal} pairs`,
      facts: [{ label: 'pairs done', value: `${report.pairsDone} of ${report.pairsTotal}` }], charts, tables: [], notes: [], report: jsonSafe(report) as unknown as ViewJson, complete: false,
    };
  }
  const r = report;
  const charts: ChartView[] = [], tables: TableView[] = [];
  const facts: Fact[] = [
    { label: 'models', value: `${r.names.length} (${r.description})` },
    { label: 'data', value: `${r.data}, ${r.n} examples, ${r.alphas.length} points per pair` },
    { label: 'pair barrier', value: r.barrier === 'bump' ? 'bump height (Juneja et al.)' : 'linear baseline', definition: r.definition },
  ];
  setParts('basins', 'Naive', r, r, charts, tables, facts);
  if (r.aligned) setParts('basins-aligned', `Weight-matched onto ${r.aligned.reference}`, r, r.aligned, charts, tables, facts);
  if (r.ood) {
    facts.push({ label: 'out of distribution', value: `${r.ood.data}, ${r.ood.n} examples` });
    setParts('basins-ood', 'OOD', r, r.ood, charts, tables, facts);
    if (r.ood.aligned) setParts('basins-ood-aligned', 'OOD weight-matched', r, r.ood.aligned, charts, tables, facts);
    const rows: Row[] = r.ood.models.map((m, i) => ({ model: m.name, basin: `basin ${r.labels[i] + 1}`, oodAccuracy: m.accuracy, oodLoss: m.loss, accuracy: r.models[i].accuracy }));
    charts.push({
      id: 'basins-ood-score', title: 'Out-of-distribution accuracy by basin', rows,
      caption: 'Each model\'s accuracy on the OOD set, coloured by its in-distribution spectral basin (Juneja et al.\'s cluster-membership vs OOD plot).',
      spec: chartSpec(rows, {
        mark: { type: 'point', filled: true, size: 80 },
        encoding: {
          x: { field: 'accuracy', type: 'quantitative', title: 'in-distribution accuracy', scale: { zero: false }, axis: { format: '.1%' } },
          y: { field: 'oodAccuracy', type: 'quantitative', title: 'OOD accuracy', scale: { zero: false }, axis: { format: '.1%' } },
          color: { field: 'basin', type: 'nominal' },
          tooltip: [{ field: 'model' }, { field: 'basin' }, { field: 'accuracy', format: '.2%' }, { field: 'oodAccuracy', format: '.2%' }, { field: 'oodLoss', format: '.4f' }],
        },
      }),
    });
  }
  facts.push({ label: 'time', value: `${r.seconds.toFixed(2)} s (${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''})` });
  const notes = [r.batchNorm.note, `Spectral clustering: ${r.method}.`, `Threshold basins: ${r.thresholdMethod}.`];
  if (r.aligned) notes.push(...r.aligned.alignments.map((a) => `${a.name} weight-matched onto ${r.aligned!.reference}: ${a.iterations} sweeps, ‖θ_ref − θ‖ ${fmt(a.distanceBefore)} → ${fmt(a.distanceAfter)}`));
  return {
    kind: 'basins', title: `Barrier matrix and basins of ${r.names.length} checkpoints`, subtitle: `${r.names.length * (r.names.length - 1) / 2} pairs × ${r.alphas.length} points; ${pct(Math.min(...r.models.map((m) => m.accuracy)))} – ${pct(Math.max(...r.models.map((m) => m.accuracy)))} accuracy`,
    facts, charts, tables, notes, report: jsonSafe(r) as unknown as ViewJson, complete: true,
  };
}
