// Small pieces the diff, runs and spectra views share: a Vega-Lite spec with inline rows, and
// number formatting for facts and tables.
import type { ChartView, ViewJson } from '../report/analysisView';

import { VEGA_LITE_SCHEMA } from '../charts/histogramSpec';

export type Row = { [key: string]: string | number | boolean | null };

/** A chart whose spec draws `rows` inline (no colours, no fonts: the panel themes it). */
export function chart(id: string, title: string, rows: Row[], spec: { [key: string]: ViewJson }, caption?: string): ChartView {
  return {
    id,
    title,
    // A faceted chart sizes its cells itself; 'container' width applies to single views only.
    spec: { $schema: VEGA_LITE_SCHEMA, ...(spec.facet ? {} : { width: 'container' }), ...spec, data: { values: rows } },
    rows,
    ...(caption ? { caption } : {}),
  };
}

/** Four significant digits, or '-' for a missing number. */
export function fmt(v: number | null | undefined, digits = 4): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (v === 0) return '0';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? String(Number(v.toPrecision(digits))) : v.toExponential(digits - 1);
}

/** A number for a table cell: finite numbers as they are, others as null. */
export function cell(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : v;
}
