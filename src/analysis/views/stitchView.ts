// The stitching report as facts, Vega-Lite charts and tables: the stitching penalty against
// depth for every direction (A→B, B→A) and the random-bottom control, and the stitched
// accuracy per point against the top model's own. Facts and charts use the same units:
// accuracy in %, penalties in percentage points.
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import type { StitchPartial, StitchReport } from '../stitch/runStitch';

const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;
const pts = (v: number): string => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(2)} points`;

export function stitchView(report: StitchReport | StitchPartial): AnalysisView {
  const complete = 'seconds' in report;
  const rows = report.directions.flatMap((d) => [
    ...d.points.map((p) => ({ series: d.label, control: 'stitched', point: p.name, depth: p.depth, penalty: p.penalty, lossPenalty: p.lossPenalty, accuracy: p.accuracy, loss: p.loss, topAccuracy: d.topBaseline.accuracy })),
    ...(d.control ?? []).map((p) => ({ series: `${d.label} random bottom`, control: 'random bottom (control)', point: p.name, depth: p.depth, penalty: p.penalty, lossPenalty: p.lossPenalty, accuracy: p.accuracy, loss: p.loss, topAccuracy: d.topBaseline.accuracy })),
  ]);
  const order = report.directions[0]?.points.map((p) => p.name) ?? [];
  // The charts draw accuracy in % and penalties in points, as the facts state them; the rows
  // (CSV/JSON exports) keep the fractions the report holds.
  const percent: ViewJson = [
    { calculate: '100 * datum.penalty', as: 'penalty (points)' },
    { calculate: '100 * datum.accuracy', as: 'accuracy (%)' },
    { calculate: '100 * datum.topAccuracy', as: 'top model (%)' },
  ];
  const tooltip: ViewJson = [{ field: 'series' }, { field: 'point' }, { field: 'penalty (points)', format: '+.2f' }, { field: 'accuracy (%)', format: '.2f' }, { field: 'lossPenalty', title: 'loss penalty (nats)', format: '+.4f' }, { field: 'loss', title: 'loss (nats)', format: '.4f' }];
  // The control (a random bottom) dashed, the real directions solid: told apart without colour.
  const dash: ViewJson = { field: 'control', type: 'nominal', title: null, scale: { domain: ['stitched', 'random bottom (control)'], range: [[1, 0], [6, 4]] }, legend: null };
  const topAccuracy = report.directions.length === 1 ? report.directions[0].topBaseline.accuracy : undefined;
  const charts: ChartView[] = [
    {
      id: 'stitch-penalty',
      title: 'Stitching penalty by layer',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 'container',
        data: { values: rows },
        transform: percent,
        layer: [
          {
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'point', type: 'ordinal', sort: order as unknown as ViewJson, title: 'stitch point' },
              y: { field: 'penalty (points)', type: 'quantitative', title: 'penalty (accuracy points: top − stitched)' },
              color: { field: 'series', type: 'nominal', title: null },
              strokeDash: dash,
              tooltip,
            },
          },
          { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: 0 } } },
        ],
      },
      rows,
      caption: 'Bansal et al.: penalty = err(bottom ≤ ℓ → stitch → top > ℓ) − err(top), in percentage points of accuracy (as in the facts above). Near 0 means the bottom\'s representation serves the top as well as its own; the random-bottom control shows a bad one.',
    },
    {
      id: 'stitch-accuracy',
      title: 'Stitched accuracy by layer',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 'container',
        data: { values: rows },
        transform: percent,
        layer: [
          {
            mark: { type: 'line', point: true },
            encoding: {
              x: { field: 'point', type: 'ordinal', sort: order as unknown as ViewJson, title: 'stitch point' },
              y: { field: 'accuracy (%)', type: 'quantitative', title: 'accuracy (%)', scale: { domain: [0, 100] } },
              color: { field: 'series', type: 'nominal', title: null },
              strokeDash: dash,
              tooltip,
            },
          },
          ...(topAccuracy !== undefined ? [{ mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: 100 * topAccuracy } } }] : []),
        ],
      },
      rows,
      caption: `Accuracy (%) of each stitched network (stitching layer in eval mode)${topAccuracy !== undefined ? `; dashed rule: the top model's own, ${pct(topAccuracy)}` : ''}. Dashed lines: the random-bottom control.`,
    },
  ];
  const main = report.directions[0];
  const worst = main?.points.reduce<number | null>((m, p) => (m === null || p.penalty > m ? p.penalty : m), null);
  const worstControl = main?.control?.reduce<number | null>((m, p) => (m === null || p.penalty > m ? p.penalty : m), null);
  return {
    kind: 'stitch',
    title: 'Model stitching',
    subtitle: `${report.a} → ${report.b}; ${report.description}`,
    facts: [
      { label: 'A', value: `${pct(report.baselines.a.accuracy)}, loss ${report.baselines.a.loss.toFixed(4)}` },
      { label: 'B', value: `${pct(report.baselines.b.accuracy)}, loss ${report.baselines.b.loss.toFixed(4)}` },
      ...(worst !== null && worst !== undefined ? [{ label: 'Largest penalty A→B', value: pts(worst), definition: 'max over stitch points of acc(B) − acc(A ≤ ℓ → stitch → B > ℓ), in percentage points' }] : []),
      ...(worstControl !== null && worstControl !== undefined ? [{ label: 'Largest penalty, random bottom', value: pts(worstControl), definition: 'the same with a randomly initialised A' }] : []),
      { label: 'Stitching layer', value: 'BatchNorm → 1×1 conv / linear → BatchNorm; a linear map for transformer residual streams', definition: `Adam lr ${report.lr}, cosine decay, ${report.epochs} epoch(s), batch ${report.batchSize}, ${report.init} init; A and B frozen` },
      { label: 'Data', value: `tested on ${report.n} of ${report.data}; trained on ${report.trainExamples} of ${report.trainData}` },
    ],
    charts,
    tables: [
      {
        id: 'stitch-points',
        title: 'Stitch points',
        columns: ['direction', 'point', 'depth', 'loss (nats)', 'accuracy (%)', 'penalty (points)', 'loss penalty (nats)', 'final train loss'],
        rows: report.directions.flatMap((d) => [
          ...d.points.map((p) => [d.label, p.name, p.depth, p.loss, 100 * p.accuracy, 100 * p.penalty, p.lossPenalty, p.trainLoss]),
          ...(d.control ?? []).map((p) => [`${d.label} random bottom`, p.name, p.depth, p.loss, 100 * p.accuracy, 100 * p.penalty, p.lossPenalty, p.trainLoss]),
        ]),
      },
    ],
    notes: report.notes,
    report: report as unknown as ViewJson,
    complete,
  };
}
