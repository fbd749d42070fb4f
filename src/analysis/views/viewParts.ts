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

/**
 * One colour meaning in every view: the unaligned comparison ("naive", "before", as stored) is
 * orange, the aligned one ("aligned", "after", weight-matched) blue, whatever the chart. Both
 * read on the dark and the light theme (≥ 3:1 against either background, as graphics need).
 */
export const NAIVE_COLOUR = '#d8741a';
export const ALIGNED_COLOUR = '#2f80d8';
const NAIVE_NAMES = /^(naive|before|as stored|unaligned)/i;

/** The colour of a comparison label ("naive", "before (identity)", "after alignment", …). */
export function comparisonColour(label: string): string {
  return NAIVE_NAMES.test(label) ? NAIVE_COLOUR : ALIGNED_COLOUR;
}

/**
 * Legend entries for dashed lines: a line segment 25 px long (symbol size is its length
 * squared), two and a half periods of the 6-4 dash, so a dashed path reads as dashed there too.
 * Without it a line with point markers gets dots as its legend symbols, and no dash shows.
 */
export const LINE_LEGEND: Record<string, ViewJson> = { symbolType: 'stroke', symbolSize: 625, symbolStrokeWidth: 2 };

/** A colour encoding for a naive/aligned field, with the shared colours. */
export function comparisonEncoding(field: string, labels: string[], title: string | null = null): Record<string, ViewJson> {
  return { field, type: 'nominal', title, sort: labels, scale: { domain: labels, range: labels.map(comparisonColour) } };
}

/**
 * n distinct colours along one path (blue → teal → green → gold → orange → red → purple), for
 * series with an order such as layers by depth: no colour repeats, neighbours look alike.
 * Mid-luminance stops, so every colour reads on the dark and the light theme.
 */
export function sequentialColours(n: number): string[] {
  const stops = ['#2f80d8', '#17a398', '#6aa318', '#c9a100', '#e0741f', '#d1495b', '#a05195'].map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const t = n === 1 ? 0 : (i / (n - 1)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(t));
    const f = t - k;
    out.push('#' + stops[k].map((c, j) => Math.round(c + f * (stops[k + 1][j] - c)).toString(16).padStart(2, '0')).join(''));
  }
  return out;
}

/** Viridis and inferno at t = 0, 0.1, …, 1 (the matplotlib/d3 maps Vega's schemes draw). */
const SCHEMES = {
  viridis: ['#440154', '#482475', '#414487', '#355f8d', '#2a788e', '#21918c', '#22a884', '#44bf70', '#7ad151', '#bddf26', '#fde725'],
  inferno: ['#000004', '#160b39', '#420a68', '#6a176e', '#932667', '#bc3754', '#dd513a', '#f37819', '#fca50a', '#f6d746', '#fcffa4'],
} as const;
export type SchemeName = keyof typeof SCHEMES;

/** WCAG relative luminance of an sRGB colour given as 0–255 channels. */
function luminance([r, g, b]: number[]): number {
  const f = (v: number): number => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}

/**
 * The colour for text on a cell of `scheme` at t ∈ [0, 1] of the scale: black or white,
 * whichever has the higher WCAG contrast with the cell's fill (on viridis: white on the dark
 * purples and blues, black from the greens on).
 */
export function textOnScheme(scheme: SchemeName, t: number): '#000000' | '#ffffff' {
  const stops = SCHEMES[scheme];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const k = Math.min(stops.length - 2, Math.floor(x));
  const [a, b] = [stops[k], stops[k + 1]].map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const L = luminance(a.map((c, i) => c + (x - k) * (b[i] - c)));
  // Contrast with black is (L + 0.05)/0.05, with white 1.05/(L + 0.05).
  return (L + 0.05) / 0.05 >= 1.05 / (L + 0.05) ? '#000000' : '#ffffff';
}

export function textOnViridis(t: number): '#000000' | '#ffffff' {
  return textOnScheme('viridis', t);
}

/**
 * A heatmap's colour scale with its domain set explicitly (so each label's colour can follow
 * its cell's fill) and the matching label colour of every value: null where there is no value.
 */
export function heatColours(values: (number | null)[], scheme: SchemeName, opts: { domain?: [number, number]; zero?: boolean; reverse?: boolean } = {}): { scale: Record<string, ViewJson>; labelColour: (v: number | null) => '#000000' | '#ffffff' | null } {
  const finite = values.filter((v): v is number => v !== null && Number.isFinite(v));
  let [lo, hi] = opts.domain ?? [finite.length ? Math.min(...finite) : 0, finite.length ? Math.max(...finite) : 1];
  if (opts.zero && !opts.domain) [lo, hi] = [Math.min(0, lo), Math.max(0, hi)];
  if (hi <= lo) hi = lo + 1;
  return {
    scale: { scheme, domain: [lo, hi], nice: false, zero: false, clamp: true, ...(opts.reverse ? { reverse: true } : {}) },
    labelColour: (v) => {
      if (v === null || !Number.isFinite(v)) return null;
      const t = (v - lo) / (hi - lo);
      return textOnScheme(scheme, opts.reverse ? 1 - t : t);
    },
  };
}

/**
 * The text layer of a heatmap: each cell's value in `labelColour` (black or white by its fill;
 * cells without a value get no label). The layer's colours are literal (scale: null), so the
 * chart needs `resolve: { scale: { color: 'independent' } }`.
 */
export function heatLabels(x: Record<string, ViewJson>, y: Record<string, ViewJson>, text: Record<string, ViewJson>, fontSize = 10): ViewJson {
  return {
    transform: [{ filter: 'datum.labelColour != null' }],
    mark: { type: 'text', fontSize },
    encoding: { x, y, text, color: { field: 'labelColour', type: 'nominal', scale: null } },
  };
}

export interface PathMark {
  path: string;
  alpha: number;
  /** The label beside the rule ("barrier 0.12 nats"). */
  label: string;
}

/** A y domain hugging the data (accuracy near 1 is not squashed against a 0–1 axis). */
function zoomedDomain(rows: Row[], pad = 0.08): [number, number] | undefined {
  const v = rows.map((r) => r.value).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length < 2) return undefined;
  const lo = Math.min(...v), hi = Math.max(...v);
  const span = hi - lo || Math.abs(hi) * 0.05 || 0.01;
  return [lo - pad * span, hi + pad * span];
}

/**
 * Rows {alpha, path, value} → a line chart: naive orange dashed, aligned blue solid (different
 * colours and dashes, so either tells them apart). `marks` draw the answer on the chart: a
 * rule at each barrier's α with its value. `zoom` fits the y axis to the data.
 */
export function pathLineChart(id: string, title: string, rows: Row[], yTitle: string, caption: string, yFormat?: string, opts: { marks?: PathMark[]; zoom?: boolean; xTitle?: string; note?: string } = {}): ChartView {
  const paths = [...new Set(rows.map((r) => String(r.path)))];
  const dashes: Record<string, ViewJson> = { naive: [6, 4], aligned: [1, 0], 'init → final': [1, 0] };
  const domain = opts.zoom ? zoomedDomain(rows) : undefined;
  const y = { field: 'value', type: 'quantitative', title: yTitle, ...(domain ? { scale: { domain, zero: false, nice: false } } : {}), ...(yFormat ? { axis: { format: yFormat } } : {}) };
  const line = {
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'alpha', type: 'quantitative', title: opts.xTitle ?? 'α (0 = A, 1 = B)', scale: { domain: [0, 1] } },
      y,
      color: { ...comparisonEncoding('path', paths, 'path'), legend: LINE_LEGEND },
      strokeDash: { field: 'path', type: 'nominal', title: 'path', sort: paths, scale: { domain: paths, range: paths.map((p) => dashes[p] ?? [1, 0]) }, legend: LINE_LEGEND },
      tooltip: [
        { field: 'path', type: 'nominal' },
        { field: 'alpha', type: 'quantitative', format: '.3f', title: 'α' },
        { field: 'value', type: 'quantitative', format: '.5f', title: yTitle },
      ],
    },
  };
  const marks = (opts.marks ?? []).filter((m) => paths.includes(m.path));
  // Each label sits at the curve's point at its α (the peak of a barrier).
  const markRows = marks.map((m) => ({ path: m.path, alpha: m.alpha, label: m.label, value: rows.find((r) => r.path === m.path && r.alpha === m.alpha)?.value ?? null }));
  const layers: ViewJson[] = [line as ViewJson];
  if (markRows.length) {
    layers.push(
      {
        data: { values: markRows },
        mark: { type: 'rule', strokeWidth: 1.5, strokeDash: [2, 2] },
        encoding: { x: { field: 'alpha', type: 'quantitative' }, color: comparisonEncoding('path', paths, 'path') },
      },
      {
        data: { values: markRows },
        mark: { type: 'text', align: 'left', dx: 6, dy: -8, fontWeight: 600 },
        encoding: { x: { field: 'alpha', type: 'quantitative' }, y: { field: 'value', type: 'quantitative' }, text: { field: 'label' } },
      },
    );
  }
  // A one-line answer in the plot's top-right corner, where there is no mark to draw ("no rise").
  if (opts.note) layers.push({ data: { values: [{ note: opts.note }] }, mark: { type: 'text', align: 'right', baseline: 'top', x: 'width', y: 0, dx: -4, dy: 4, fontWeight: 600 }, encoding: { text: { field: 'note', type: 'nominal' } } });
  return {
    id,
    title,
    caption,
    rows,
    spec: spec({ width: 'container', height: 260, data: { values: rows }, layer: layers }),
  };
}
