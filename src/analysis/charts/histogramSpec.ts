// Vega-Lite spec of a tensor's value histogram (pure: data inline, no URLs, no colours: the
// theme comes from the `config` the caller merges in, e.g. the webview's --vscode-* colours).
import type { Histogram } from '../protocol';

/** A Vega-Lite top-level spec as plain JSON (vega-lite's own types need a bundler resolution). */
export type VegaLiteSpec = { [key: string]: unknown };

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

export interface HistogramBin {
  /** Lower edge (inclusive). */
  x0: number;
  /** Upper edge (exclusive, except the last bin). */
  x1: number;
  count: number;
}

export interface HistogramSpecOptions {
  title?: string;
  /** Shown in the x-axis title: tensor values carry no unit, their element type does. */
  dtype?: string;
  /** 'log' uses a symlog scale, so empty bins stay drawable. Default 'linear'. */
  yScale?: 'linear' | 'log';
  width?: number;
  height?: number;
}

/** The bins of a histogram as rows with their edges. */
export function histogramBins(h: Histogram): HistogramBin[] {
  const n = h.counts.length;
  const w = n > 0 ? (h.hi - h.lo) / n : 0;
  return h.counts.map((count, i) => ({ x0: h.lo + i * w, x1: i === n - 1 ? h.hi : h.lo + (i + 1) * w, count }));
}

/**
 * About `n` round tick values over [lo, hi]: multiples of a 1/2/5 step, so 0 is one of them
 * whenever the range spans it (a binned axis would otherwise tick at bin edges, skipping 0).
 */
export function niceTicks(lo: number, hi: number, n = 6): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi + 1e-12 * step; k++) out.push(Math.abs(k * step) < 1e-12 * step ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

/** 0, 1, 10, 100, … up to the largest count (the decades a log count axis shows). */
export function decadeTicks(max: number): number[] {
  const out = [0];
  for (let d = 1; d <= Math.max(1, max) * 1.0001; d *= 10) out.push(d);
  return out;
}

export function histogramSpec(h: Histogram, opts: HistogramSpecOptions = {}): VegaLiteSpec {
  const bins = histogramBins(h);
  const total = bins.reduce((a, b) => a + b.count, 0);
  const log = opts.yScale === 'log';
  const maxCount = bins.reduce((m, b) => Math.max(m, b.count), 0);
  return {
    $schema: VEGA_LITE_SCHEMA,
    description: `Histogram of ${total} finite values in ${bins.length} equal-width bins from ${h.lo} to ${h.hi}`,
    ...(opts.title !== undefined ? { title: opts.title } : {}),
    width: opts.width ?? 420,
    height: opts.height ?? 180,
    data: { values: bins },
    mark: { type: 'bar', binSpacing: 0, tooltip: true },
    encoding: {
      x: {
        field: 'x0',
        type: 'quantitative',
        bin: { binned: true },
        title: opts.dtype ? `Value (${opts.dtype} elements)` : 'Value',
        axis: { format: '~g', labelOverlap: true, values: niceTicks(h.lo, h.hi) },
      },
      x2: { field: 'x1' },
      y: {
        field: 'count',
        type: 'quantitative',
        title: log ? 'Count of elements (log scale)' : 'Count of elements',
        scale: { type: log ? 'symlog' : 'linear' },
        // Decades on the log axis; the same axis width either way, so toggling does not shift the plot.
        axis: { format: '~s', minExtent: 44, ...(log ? { values: decadeTicks(maxCount) } : {}) },
      },
      tooltip: [
        { field: 'x0', type: 'quantitative', title: 'From', format: '.5~g' },
        { field: 'x1', type: 'quantitative', title: 'To', format: '.5~g' },
        { field: 'count', type: 'quantitative', title: 'Elements', format: ',' },
      ],
    },
  };
}
