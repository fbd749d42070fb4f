// Small pieces every analysis view uses: number formatting and chart-spec scaffolding, so the
// views stay short and charts look alike (same schema, sizing, tooltips; no colours: the panel
// themes them from VS Code).
import { VEGA_LITE_SCHEMA } from '../charts/histogramSpec';
import type { ChartView, ViewJson } from '../report/analysisView';

export type Row = ChartView['rows'][number];

/** A number for people: fixed decimals for moderate magnitudes, exponent otherwise. */
export function fmt(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(2);
  return x.toFixed(digits);
}

export function pct(x: number | null | undefined, digits = 2): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(digits)} %`;
}

/** A spec with the shared header: schema, container width, inline data. */
export function chartSpec(rows: Row[], body: { [key: string]: ViewJson }, opts: { height?: number; description?: string } = {}): { [key: string]: ViewJson } {
  return {
    $schema: VEGA_LITE_SCHEMA,
    ...(opts.description ? { description: opts.description } : {}),
    width: 'container',
    height: opts.height ?? 240,
    data: { values: rows as ViewJson[] },
    ...body,
  };
}

/** JSON-safe copy: NaN and ±Infinity become null (webview messages and exports are JSON). */
export function jsonSafe<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x))) as T;
}
