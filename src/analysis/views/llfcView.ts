// The LLFC report as the UI shows it: a layer × α heatmap of the mean LLFC distance, naive and
// weight-matched side by side; per layer the distance at each α against the A–B baseline (log
// scale); the coef per layer around 1; everything as a table.
import { LLFC_CONVENTION, LLFC_DEFINITIONS, type LlfcReport } from '../interpolate/llfc';
import type { AnalysisView, ViewJson } from '../report/analysisView';
import { LINE_LEGEND, type Row, spec } from './viewParts';

export function llfcView(report: LlfcReport): AnalysisView {
  const curves = (l: LlfcReport['layers'][number]) => [{ path: 'naive', c: l.naive }, ...(l.aligned ? [{ path: 'aligned', c: l.aligned }] : [])];
  const layers = report.layers.map((l) => l.layer);
  const cells: Row[] = report.layers.flatMap((l) => curves(l).flatMap(({ path, c }) => c.points.map((p) => ({ layer: l.layer, path, alpha: p.alpha, dist: p.dist.mean, distStd: p.dist.std, coef: p.coef.mean, coefStd: p.coef.std, baseline: c.baseline.mean }))));
  const bars: Row[] = report.layers.flatMap((l) => curves(l).flatMap(({ path, c }) => [
    { layer: l.layer, path, series: 'A vs B baseline', value: c.baseline.mean },
    ...c.points.map((p) => ({ layer: l.layer, path, series: `α = ${p.alpha}`, value: p.dist.mean })),
  ]));
  const paths = [...new Set(cells.map((r) => String(r.path)))];
  // The baseline in grey (a diamond), the α values from blue to orange along the path (mid tones that read on dark and light themes).
  const alphas = [...new Set(cells.map((r) => Number(r.alpha)))].sort((x, y) => x - y);
  const seriesOrder = ['A vs B baseline', ...alphas.map((a) => `α = ${a}`)];
  const seriesColours = ['#8c8c8c', ...alphas.map((_, i) => ['#2f80d8', '#5f6fd0', '#8a5cc2', '#b4489f', '#cc5a5a', '#d8741a'][Math.min(5, Math.round((i * 5) / Math.max(1, alphas.length - 1)))])];
  return {
    kind: 'llfc',
    title: 'Layerwise linear feature connectivity',
    subtitle: `${report.a} ↔ ${report.b}`,
    facts: [
      ...paths.map((path) => {
        const mid = cells.filter((r) => r.path === path && r.alpha === 0.5);
        const worst = mid.reduce((m, r) => Math.max(m, Number(r.dist)), 0);
        return { label: `${path}: largest mean LLFC distance at α = 0.5`, value: mid.length ? worst.toExponential(3) : '–', definition: LLFC_DEFINITIONS.dist };
      }),
    ],
    charts: [
      {
        id: 'llfc-heatmap',
        title: 'Mean LLFC distance per layer and α',
        caption: `${LLFC_DEFINITIONS.dist}; ${LLFC_CONVENTION}`,
        rows: cells,
        spec: spec({
          data: { values: cells },
          mark: 'rect',
          encoding: {
            column: { field: 'path', type: 'nominal', title: null, sort: paths },
            x: { field: 'alpha', type: 'ordinal', title: 'α' },
            y: { field: 'layer', type: 'nominal', sort: layers, title: 'layer' },
            color: { field: 'dist', type: 'quantitative', title: '1 − |cos|', scale: { type: 'log', scheme: 'viridis' }, legend: { format: '.1e' } },
            tooltip: [
              { field: 'layer', type: 'nominal' }, { field: 'path', type: 'nominal' }, { field: 'alpha', type: 'quantitative', title: 'α' },
              { field: 'dist', type: 'quantitative', format: '.3e', title: 'mean 1 − |cos|' }, { field: 'distStd', type: 'quantitative', format: '.2e', title: 'std' },
              { field: 'baseline', type: 'quantitative', format: '.3e', title: 'A vs B baseline' },
            ],
          },
        }),
      },
      {
        id: 'llfc-bars',
        title: 'LLFC distance against the A–B baseline',
        caption: `per layer: mean ${LLFC_DEFINITIONS.dist}, and the baseline ${LLFC_DEFINITIONS.baseline} (log scale)`,
        rows: bars,
        spec: spec({
          data: { values: bars },
          // Points, not bars: a log axis has no zero for bars to start from (they drew nothing).
          mark: { type: 'point', filled: true, size: 70, opacity: 1 },
          encoding: {
            row: { field: 'path', type: 'nominal', title: null, sort: paths, header: { labelAngle: 0, labelAlign: 'left' } },
            x: { field: 'layer', type: 'nominal', sort: layers, title: 'layer' },
            xOffset: { field: 'series', type: 'nominal', sort: seriesOrder },
            y: { field: 'value', type: 'quantitative', title: 'mean 1 − |cos| (log)', scale: { type: 'log' } },
            color: { field: 'series', type: 'nominal', title: 'series', sort: seriesOrder, scale: { domain: seriesOrder, range: seriesColours } },
            shape: { field: 'series', type: 'nominal', sort: seriesOrder, scale: { domain: seriesOrder, range: seriesOrder.map((x) => (x === 'A vs B baseline' ? 'diamond' : 'circle')) } },
            tooltip: [{ field: 'layer', type: 'nominal' }, { field: 'series', type: 'nominal' }, { field: 'value', type: 'quantitative', format: '.3e' }],
          },
        }),
      },
      {
        id: 'llfc-coef',
        title: 'Scale coefficient per layer',
        caption: LLFC_DEFINITIONS.coef,
        rows: cells,
        spec: spec({
          width: 'container',
          height: 220,
          data: { values: cells },
          layer: [
            { mark: { type: 'rule', strokeDash: [2, 2] }, encoding: { y: { datum: 1 } } },
            {
              mark: { type: 'line', point: true },
              encoding: {
                x: { field: 'layer', type: 'nominal', sort: layers, title: 'layer' },
                y: { field: 'coef', type: 'quantitative', title: '⟨u, v⟩ / ‖v‖²' },
                detail: { field: 'alpha', type: 'ordinal' },
                strokeDash: { field: 'path', type: 'nominal', scale: { domain: paths, range: paths.map((p) => (p === 'naive' ? [6, 4] : [1, 0])) }, legend: LINE_LEGEND },
                tooltip: [{ field: 'layer', type: 'nominal' }, { field: 'path', type: 'nominal' }, { field: 'alpha', type: 'quantitative' }, { field: 'coef', type: 'quantitative', format: '.4f' }],
              },
            },
          ],
        }),
      },
    ],
    tables: [{
      id: 'llfc-table',
      title: 'LLFC per layer, path and α',
      columns: ['layer', 'path', 'α', 'dist mean', 'dist std', 'coef mean', 'coef std', 'baseline mean'],
      rows: cells.map((r) => [r.layer, r.path, r.alpha, r.dist, r.distStd, r.coef, r.coefStd, r.baseline]),
    }],
    notes: [`model: ${report.description}`, `α: ${report.convention}`, report.batchNorm.note, `data: ${report.data}, ${report.n} samples`, `std: ${LLFC_DEFINITIONS.std}`],
    report: report as unknown as ViewJson,
    complete: true,
  };
}
