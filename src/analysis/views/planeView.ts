// The loss-plane report as the UI shows it: a heatmap of the loss over the plane through the
// three checkpoints (log colour scale), contour lines at log-spaced levels, the checkpoints
// marked and labelled A, B, C; the same heatmap for accuracy; the grid as a table.
import { PLANE_DEFINITIONS, type PlaneProgress, type PlaneReport } from '../interpolate/lossPlane';
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import { contourLevels, contourSegments } from './contourLines';
import { type Row, nats, percent, spec } from './viewParts';

/** Cell edges halfway between grid coordinates (the outer cells as wide as their neighbours). */
function edges(v: readonly number[]): number[] {
  const mid = v.slice(1).map((x, i) => (x + v[i]) / 2);
  return [v[0] - (mid[0] - v[0]), ...mid, v[v.length - 1] + (v[v.length - 1] - mid[mid.length - 1])];
}

function planeChart(id: string, title: string, report: PlaneReport | PlaneProgress, key: 'loss' | 'accuracy'): ChartView {
  const ex = edges(report.x), ey = edges(report.y);
  const cells: Row[] = report.y.flatMap((y, j) => report.x.flatMap((x, i) => {
    const v = report[key][j][i];
    return v === null ? [] : [{ x, y, x0: ex[i], x1: ex[i + 1], y0: ey[j], y1: ey[j + 1], value: v }];
  }));
  const complete = cells.length === report.x.length * report.y.length;
  const values = cells.map((c) => Number(c.value));
  const positive = values.every((v) => v > 0);
  const segments = complete ? contourSegments(report.x, report.y, report[key] as number[][], contourLevels(Math.min(...values), Math.max(...values), 8)) : [];
  const marks = report.points.map((p) => ({ name: p.name, x: p.x, y: p.y }));
  const log = key === 'loss' && positive;
  const label = key === 'loss' ? 'loss (nats)' : 'accuracy';
  return {
    id,
    title,
    caption: `${key === 'loss' ? 'mean cross-entropy' : 'accuracy'} at ${PLANE_DEFINITIONS.point}; ${PLANE_DEFINITIONS.basis}; contours at ${log ? 'log-' : ''}spaced levels`,
    rows: cells,
    spec: spec({
      width: 'container',
      height: 360,
      layer: [
        {
          data: { values: cells },
          mark: 'rect',
          encoding: {
            x: { field: 'x0', type: 'quantitative', title: 'x along e₁ (A → B)', scale: { zero: false, nice: false } },
            x2: { field: 'x1' },
            y: { field: 'y0', type: 'quantitative', title: 'y along e₂', scale: { zero: false, nice: false } },
            y2: { field: 'y1' },
            color: { field: 'value', type: 'quantitative', title: label, scale: log ? { type: 'log', scheme: 'viridis' } : { scheme: 'viridis' } },
            tooltip: [{ field: 'x', type: 'quantitative', format: '.4g' }, { field: 'y', type: 'quantitative', format: '.4g' }, { field: 'value', type: 'quantitative', format: '.5f', title: label }],
          },
        },
        { data: { values: segments as unknown as Row[] }, mark: { type: 'rule', strokeWidth: 1 }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, x2: { field: 'x2' }, y2: { field: 'y2' } } },
        { data: { values: marks }, mark: { type: 'point', filled: true, size: 80, shape: 'diamond' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, tooltip: [{ field: 'name', type: 'nominal' }] } },
        { data: { values: marks }, mark: { type: 'text', dx: 10, dy: -10, fontWeight: 'bold' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'name', type: 'nominal' } } },
      ],
      resolve: { scale: { color: 'independent' } },
    }),
  };
}

export function planeView(report: PlaneReport | PlaneProgress): AnalysisView {
  const full = report.complete ? report : undefined;
  return {
    kind: 'plane',
    title: 'Loss plane through three checkpoints',
    subtitle: full ? `A ${full.a}, B ${full.b}, C ${full.c}` : undefined,
    facts: full ? full.points.flatMap((p) => [{ label: `${p.name} (${p.x.toPrecision(4)}, ${p.y.toPrecision(4)})`, value: `${nats(p.loss)}, ${percent(p.accuracy)}`, definition: `${p.path}: loss and accuracy on the evaluation data` }]) : [],
    charts: [planeChart('plane-loss', 'Loss over the plane', report, 'loss'), planeChart('plane-accuracy', 'Accuracy over the plane', report, 'accuracy')],
    tables: [{
      id: 'plane-grid',
      title: 'Grid',
      columns: ['x', 'y', 'loss', 'accuracy'],
      rows: report.y.flatMap((y, j) => report.x.map((x, i) => [x, y, report.loss[j][i], report.accuracy[j][i]])),
    }],
    notes: full ? [`model: ${full.description}`, full.batchNorm.note, `data: ${full.data}, ${full.n} examples per point`, `basis: ${PLANE_DEFINITIONS.basis}`, `${full.backend} backend, ${full.threads} thread(s), ${full.seconds.toFixed(1)} s`] : [],
    report: report as unknown as ViewJson,
    complete: report.complete,
  };
}
