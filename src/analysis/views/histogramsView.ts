// One tensor's distribution over a run as a view: the histograms overlaid (coloured by step),
// the same as a step × value density map (a ridgeline seen from above), and the mean ± std and
// the L2 norm over steps.
import type { HistogramsReport } from '../sets/runHistograms';
import type { AnalysisView, ChartView } from '../report/analysisView';
import { type Row, chartSpec, fmt, jsonSafe } from './viewHelpers';

export function histogramsView(r: HistogramsReport): AnalysisView {
  const xOf = (c: (typeof r.checkpoints)[number], i: number): number | string => c.step ?? i;
  const stepTitle = r.checkpoints.every((c) => c.step !== null) ? 'step' : 'checkpoint (order)';
  const bins: Row[] = [];
  r.checkpoints.forEach((c, i) => c.counts.forEach((n, b) => bins.push({
    checkpoint: c.name, step: xOf(c, i), lo: r.edges[b], hi: r.edges[b + 1], center: (r.edges[b] + r.edges[b + 1]) / 2, density: c.count ? n / c.count : 0, count: n,
  })));
  const stats: Row[] = r.checkpoints.map((c, i) => ({ checkpoint: c.name, step: xOf(c, i), mean: c.mean, lower: c.mean - c.std, upper: c.mean + c.std, std: c.std, norm: c.norm, min: c.min, max: c.max }));
  const charts: ChartView[] = [
    {
      id: 'histograms-overlaid', title: `${r.tensor}: histogram at every checkpoint`, rows: bins,
      caption: `Share of values per bin (${r.edges.length - 1} bins shared by all checkpoints, ${fmt(r.edges[0])} … ${fmt(r.edges[r.edges.length - 1])}); colour by step (viridis: dark early, yellow late).`,
      spec: chartSpec(bins, {
        mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'lo', type: 'quantitative', title: 'value' },
          y: { field: 'density', type: 'quantitative', title: 'share of values', axis: { format: '.1~%' } },
          color: { field: 'step', type: stepTitle === 'step' ? 'quantitative' : 'ordinal', title: stepTitle, scale: { scheme: 'viridis' } },
          detail: { field: 'checkpoint', type: 'nominal' },
          tooltip: [{ field: 'checkpoint' }, { field: 'step' }, { field: 'lo', format: '.4~g', title: 'from' }, { field: 'hi', format: '.4~g', title: 'to' }, { field: 'count' }, { field: 'density', format: '.2%' }],
        },
      }, { height: 260 }),
    },
    {
      id: 'histograms-map', title: `${r.tensor}: distribution over training`, rows: bins,
      caption: 'Each row one checkpoint, each cell the share of its values in that bin (a ridgeline seen from above).',
      spec: chartSpec(bins, {
        mark: { type: 'rect', tooltip: true },
        encoding: {
          x: { field: 'lo', type: 'quantitative', bin: { binned: true }, title: 'value' },
          x2: { field: 'hi' },
          y: { field: 'checkpoint', type: 'ordinal', sort: r.checkpoints.map((c) => c.name), title: stepTitle },
          color: { field: 'density', type: 'quantitative', title: 'share', scale: { scheme: 'viridis' }, legend: { format: '.1~%' } },
          tooltip: [{ field: 'checkpoint' }, { field: 'lo', format: '.4~g', title: 'from' }, { field: 'hi', format: '.4~g', title: 'to' }, { field: 'count' }],
        },
      }, { height: Math.max(120, Math.min(480, 22 * r.checkpoints.length)) }),
    },
    {
      id: 'histograms-mean', title: `${r.tensor}: mean ± standard deviation over training`, rows: stats,
      caption: 'Mean (line) and mean ± one standard deviation (band) of the finite values at each checkpoint.',
      spec: chartSpec(stats, {
        layer: [
          { mark: { type: 'area', opacity: 0.3 }, encoding: { x: { field: 'step', type: 'quantitative', title: stepTitle }, y: { field: 'lower', type: 'quantitative', title: 'value' }, y2: { field: 'upper' } } },
          { mark: { type: 'line', point: true }, encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'mean', type: 'quantitative' }, tooltip: [{ field: 'checkpoint' }, { field: 'mean', format: '.5~g' }, { field: 'std', format: '.5~g' }, { field: 'min', format: '.5~g' }, { field: 'max', format: '.5~g' }] } },
        ],
      }, { height: 200 }),
    },
    {
      id: 'histograms-norm', title: `${r.tensor}: L2 norm over training`, rows: stats,
      caption: '‖θ‖₂ of the values at each checkpoint.',
      spec: chartSpec(stats, {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: stepTitle },
          y: { field: 'norm', type: 'quantitative', title: 'L2 norm', scale: { zero: false } },
          tooltip: [{ field: 'checkpoint' }, { field: 'norm', format: '.5~g' }],
        },
      }, { height: 200 }),
    },
  ];
  const nonFinite = r.checkpoints.reduce((s, c) => s + c.nonFinite, 0);
  return {
    kind: 'histograms', title: `Distribution of ${r.tensor} over ${r.checkpoints.length} checkpoints`,
    subtitle: r.tensors.length > 1 ? `${r.tensors.length} tensors pooled` : undefined,
    facts: [
      { label: 'tensors', value: r.tensors.length > 3 ? `${r.tensors.slice(0, 3).join(', ')} … (${r.tensors.length})` : r.tensors.join(', ') },
      { label: 'values per checkpoint', value: String(r.checkpoints[0]?.count ?? 0) },
      { label: 'range', value: `${fmt(r.edges[0])} … ${fmt(r.edges[r.edges.length - 1])}` },
      ...(nonFinite ? [{ label: 'non-finite values', value: String(nonFinite), definition: 'NaN and ±Inf are counted here and left out of the histograms and moments' }] : []),
      { label: 'time', value: `${r.seconds.toFixed(2)} s` },
    ],
    charts,
    tables: [{ id: 'histograms-stats', title: 'Moments per checkpoint', columns: ['checkpoint', 'step', 'mean', 'std', 'L2 norm', 'min', 'max'], rows: r.checkpoints.map((c) => [c.name, c.step, c.mean, c.std, c.norm, c.min, c.max]) }],
    notes: ['Bins are shared by every checkpoint: numpy.histogram\'s equal bins over the smallest and largest finite value of the whole run.'],
    report: jsonSafe(r) as unknown as AnalysisView['report'], complete: r.complete,
  };
}
