// Pieces the interpolation views share: number formats, and a Vega-Lite line chart of a value
// against α with one line per path (naive dashed, aligned solid; colours come from the theme).
import { VEGA_LITE_SCHEMA } from '../charts/histogramSpec';
import type { ChartView, ViewJson } from '../report/analysisView';

export type Row = ChartView['rows'][number];

export const nats = (v: number): string => `${v.toFixed(4)} nats`;
export const percent = (v: number): string => `${(100 * v).toFixed(2)} %`;
export const alphaText = (a: number): string => `α = ${a.toFixed(3)}`;

export function spec(s: Record<string, unknown>): ChartView['spec'] {
  return { $schema: VEGA_LITE_SCHEMA, ...s } as ChartView['spec'];
}

/** Rows {alpha, path, value} → a line chart, dashed for 'naive', solid for 'aligned'. */
export function pathLineChart(id: string, title: string, rows: Row[], yTitle: string, caption: string, yFormat?: string): ChartView {
  const paths = [...new Set(rows.map((r) => String(r.path)))];
  const dashes: Record<string, ViewJson> = { naive: [6, 4], aligned: [1, 0], 'init → final': [1, 0] };
  return {
    id,
    title,
    caption,
    rows,
    spec: spec({
      width: 'container',
      height: 260,
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'alpha', type: 'quantitative', title: 'α (0 = A, 1 = B)', scale: { domain: [0, 1] } },
        y: { field: 'value', type: 'quantitative', title: yTitle, ...(yFormat ? { axis: { format: yFormat } } : {}) },
        strokeDash: { field: 'path', type: 'nominal', title: 'path', scale: { domain: paths, range: paths.map((p) => dashes[p] ?? [1, 0]) } },
        tooltip: [
          { field: 'path', type: 'nominal' },
          { field: 'alpha', type: 'quantitative', format: '.3f', title: 'α' },
          { field: 'value', type: 'quantitative', format: '.5f', title: yTitle },
        ],
      },
    }),
  };
}
