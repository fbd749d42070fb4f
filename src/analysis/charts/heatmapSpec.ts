// Vega-Lite spec of a heatmap of a downsampled 2-D view of a tensor (pure: data inline, no URLs,
// colour schemes are theme-neutral named Vega schemes; other colours come from the caller's config).
import type { Slice2D } from '../protocol';
import { VEGA_LITE_SCHEMA, type VegaLiteSpec } from './histogramSpec';

export interface HeatmapCell {
  /** Source row index. */
  row: number;
  /** First source column averaged into this cell. */
  col: number;
  /** Mean of the cell's finite source values; null when it has none (drawn blank). */
  value: number | null;
}

export interface HeatmapSpecOptions {
  title?: string;
  /** Largest plot width / height in pixels; cells are sized to fit. Default 480 / 480. */
  maxWidth?: number;
  maxHeight?: number;
}

export function heatmapCells(s: Slice2D): HeatmapCell[] {
  const out: HeatmapCell[] = new Array(s.rows * s.cols);
  for (let i = 0; i < s.rows; i++) {
    for (let j = 0; j < s.cols; j++) out[i * s.cols + j] = { row: s.rowIndex[i], col: Math.floor(j * s.colStep), value: s.values[i * s.cols + j] };
  }
  return out;
}

/**
 * Smallest plot side in pixels: the axis titles ("Column index (of 3)", about 100 px) overlap
 * the other axis and the legend around a plot of a few 12 px cells (a 1 × 1 tensor).
 */
const MIN_PLOT_PX = 120;

/** Cell size along an axis of `n` cells: at most 12 px and within `max`, at least MIN_PLOT_PX in all. */
function cellSize(n: number, max: number): number {
  const fit = Math.max(1, Math.min(12, Math.floor(max / Math.max(1, n))));
  return Math.max(fit, Math.min(Math.ceil(MIN_PLOT_PX / Math.max(1, n)), Math.floor(max / Math.max(1, n))));
}

/** About `n` evenly spaced entries of `all`, always including the first and the last. */
function ticks(all: number[], n = 8): number[] {
  if (all.length <= n) return all;
  const out: number[] = [];
  for (let k = 0; k < n; k++) out.push(all[Math.round((k * (all.length - 1)) / (n - 1))]);
  return [...new Set(out)];
}

export function heatmapSpec(s: Slice2D, opts: HeatmapSpecOptions = {}): VegaLiteSpec {
  const cells = heatmapCells(s);
  let min = Infinity;
  let max = -Infinity;
  for (const v of s.values) {
    if (v === null) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const diverging = min < 0 && max > 0;
  const colScale: Record<string, unknown> = diverging ? { scheme: 'blueorange', domainMid: 0 } : { scheme: 'viridis' };
  const cellW = cellSize(s.cols, opts.maxWidth ?? 480);
  const cellH = cellSize(s.rows, opts.maxHeight ?? 480);
  const colValues = Array.from({ length: s.cols }, (_, j) => Math.floor(j * s.colStep));
  const sampledRows = s.rows < s.sourceShape[0];
  const binnedCols = s.colStep > 1;
  const [R, C] = s.sourceShape;
  return {
    $schema: VEGA_LITE_SCHEMA,
    description:
      `Heatmap of ${s.rows} of ${R} rows × ${s.cols} column bins of ${C} columns` +
      (binnedCols ? ` (each cell averages ${+s.colStep.toFixed(2)} source columns)` : ''),
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    width: { step: cellW },
    height: { step: cellH },
    data: { values: cells },
    mark: { type: 'rect', tooltip: true },
    encoding: {
      x: {
        field: 'col',
        type: 'ordinal',
        sort: 'ascending',
        title: binnedCols ? `Column index (bins of ${+s.colStep.toFixed(2)} of ${C} columns)` : `Column index (of ${C})`,
        axis: { values: ticks(colValues), labelAngle: 0, ticks: true, domain: false },
      },
      y: {
        field: 'row',
        type: 'ordinal',
        sort: 'ascending',
        title: sampledRows ? `Row index (${s.rows} sampled of ${R})` : `Row index (of ${R})`,
        axis: { values: ticks(s.rowIndex), domain: false },
      },
      color: {
        field: 'value',
        type: 'quantitative',
        title: binnedCols ? 'Mean value' : 'Value',
        scale: colScale,
        legend: { format: '.3~g' },
      },
      tooltip: [
        { field: 'row', type: 'ordinal', title: 'Row' },
        { field: 'col', type: 'ordinal', title: binnedCols ? 'First column' : 'Column' },
        { field: 'value', type: 'quantitative', title: binnedCols ? 'Mean value' : 'Value', format: '.5~g' },
      ],
    },
  };
}
