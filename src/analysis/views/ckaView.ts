// CKA as a view: heatmaps of linear and debiased CKA (A's points × B's, one model's points
// against each other, or a run's checkpoints × points against the final checkpoint), and for a
// run the CKA of each point over training as lines.
import type { CkaReport } from '../sets/ckaAnalysis';
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import { type Row, chartSpec, jsonSafe } from './viewHelpers';
import { heatColours, heatLabels } from './viewParts';

function heatmap(id: string, title: string, r: CkaReport, m: (number | null)[][], caption: string): ChartView {
  const colours = heatColours(m.flat(), 'viridis', { domain: [0, 1] });
  const rows: Row[] = [];
  r.a.forEach((a, i) => r.b.forEach((b, j) => rows.push({ row: a, col: b, cka: m[i][j], labelColour: colours.labelColour(m[i][j]) })));
  const step = Math.max(16, Math.min(40, Math.floor(480 / Math.max(r.a.length, r.b.length))));
  const rowTitle = r.mode === 'run' ? 'checkpoint' : r.models[0].name;
  const colTitle = r.mode === 'run' ? `capture point (against ${r.reference})` : r.models[r.mode === 'pair' ? 1 : 0].name;
  return {
    id, title, rows, caption,
    spec: chartSpec(rows, {
      width: { step }, height: { step },
      layer: [
        {
          mark: { type: 'rect', tooltip: true },
          encoding: {
            x: { field: 'col', type: 'nominal', sort: r.b as ViewJson, title: colTitle, axis: { labelAngle: -40 } },
            y: { field: 'row', type: 'nominal', sort: r.a as ViewJson, title: rowTitle },
            color: { field: 'cka', type: 'quantitative', title: 'CKA', scale: colours.scale },
            tooltip: [{ field: 'row', title: rowTitle }, { field: 'col', title: colTitle }, { field: 'cka', type: 'quantitative', format: '.4f' }],
          },
        },
        ...(r.a.length * r.b.length <= 144
          ? [heatLabels({ field: 'col', type: 'nominal', sort: r.b as ViewJson }, { field: 'row', type: 'nominal', sort: r.a as ViewJson }, { field: 'cka', type: 'quantitative', format: '.2f' })]
          : []),
      ],
      // The labels' colours are literal (black or white by their cell's fill), not the cells' scale.
      resolve: { scale: { color: 'independent' } },
    }, { description: `${title}: ${r.a.length}×${r.b.length} heatmap` }),
  };
}

export function ckaView(r: CkaReport): AnalysisView {
  const what = r.mode === 'pair' ? `${r.models[0].name} × ${r.models[1].name}` : r.mode === 'self' ? `${r.models[0].name}, layer × layer` : `${r.models.length} checkpoints against ${r.reference}`;
  const charts: ChartView[] = [
    heatmap('cka-debiased', `Debiased CKA: ${what}`, r, r.debiased, r.definitions.debiased),
    heatmap('cka-linear', `Linear CKA: ${what}`, r, r.linear, r.definitions.linear),
  ];
  if (r.mode === 'run') {
    const rows: Row[] = [];
    r.a.forEach((c, t) => r.b.forEach((p, l) => rows.push({ checkpoint: c, step: r.steps?.[t] ?? t, point: p, debiased: r.debiased[t][l], linear: r.linear[t][l] })));
    charts.push({
      id: 'cka-run', title: 'Each capture point against the final checkpoint over training', rows,
      caption: 'Debiased CKA of each capture point with the same point of the final checkpoint (x: step from the file names, else the order).',
      spec: chartSpec(rows, {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: r.steps?.every((s) => s !== null) ? 'step' : 'checkpoint (order)' },
          y: { field: 'debiased', type: 'quantitative', title: 'debiased CKA', scale: { domain: [0, 1], clamp: true } },
          color: { field: 'point', type: 'nominal', title: 'capture point' },
          tooltip: [{ field: 'checkpoint' }, { field: 'point' }, { field: 'debiased', format: '.4f' }, { field: 'linear', format: '.4f' }],
        },
      }, { height: 260 }),
    });
  }
  return {
    kind: 'cka', title: `CKA: ${what}`, subtitle: `${r.n} examples of ${r.data}`,
    facts: [
      ...r.models.map((m) => ({ label: m.name, value: m.description })),
      { label: 'examples', value: `${r.n} (${r.data})` },
      { label: 'estimators', value: 'linear and debiased (unbiased HSIC)', definition: `${r.definitions.linear}; ${r.definitions.debiased}` },
      { label: 'time', value: `${r.seconds.toFixed(2)} s (${r.backend})` },
    ],
    charts,
    tables: [{ id: 'cka-table', title: 'CKA of every pair', columns: ['row', 'column', 'debiased', 'linear'], rows: r.a.flatMap((a, i) => r.b.map((b, j) => [a, b, r.debiased[i][j], r.linear[i][j]])) }],
    notes: ['Features of a capture point are flattened per example; moments accumulate in f64 over minibatches (memory bounded by the feature widths, not the examples).', 'Debiased CKA is the estimator to read at small sample counts: the linear one is biased upward when features outnumber examples.'],
    report: jsonSafe(r) as unknown as ViewJson, complete: true,
  };
}
