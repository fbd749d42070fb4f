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
  // One label per contour level, at the middle of its segments (the level's value).
  const contourLabels = [...new Set(segments.map((g) => g.level))].map((level) => {
    const of = segments.filter((g) => g.level === level);
    const m = of[Math.floor(of.length / 2)];
    return { x: (m.x + m.x2) / 2, y: (m.y + m.y2) / 2, text: key === 'loss' ? level.toPrecision(3) : `${(100 * level).toFixed(1)}%` };
  });
  // A distance plane: equal units on both axes (the width follows the x/y extent).
  const spanX = ex[ex.length - 1] - ex[0], spanY = ey[ey.length - 1] - ey[0];
  let height = 360;
  let width = spanY > 0 ? Math.round((height * spanX) / spanY) : 480;
  if (width > 760) {
    height = Math.round((height * 760) / width);
    width = 760;
  } else if (width < 200) width = 200;
  return {
    id,
    title,
    caption: `${key === 'loss' ? 'mean cross-entropy' : 'accuracy'} at ${PLANE_DEFINITIONS.point}; ${PLANE_DEFINITIONS.basis}; contours at ${log ? 'log-' : ''}spaced levels`,
    rows: cells,
    spec: spec({
      width,
      height,
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
        { data: { values: contourLabels }, mark: { type: 'text', stroke: '#ffffff', strokeWidth: 3, strokeOpacity: 0.8, fill: '#000000' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'text' } } },
        { data: { values: contourLabels }, mark: { type: 'text', fill: '#000000' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'text' } } },
        // Markers readable on every colour of the map: white with a black outline, labels with a white halo.
        { data: { values: marks }, mark: { type: 'point', filled: true, size: 120, shape: 'diamond', fill: '#ffffff', stroke: '#000000', strokeWidth: 1.5, opacity: 1 }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, tooltip: [{ field: 'name', type: 'nominal' }] } },
        { data: { values: marks }, mark: { type: 'text', dx: 10, dy: -10, fontWeight: 'bold', stroke: '#ffffff', strokeWidth: 3, fill: '#000000' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'name', type: 'nominal' } } },
        { data: { values: marks }, mark: { type: 'text', dx: 10, dy: -10, fontWeight: 'bold', fill: '#000000' }, encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, text: { field: 'name', type: 'nominal' } } },
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
