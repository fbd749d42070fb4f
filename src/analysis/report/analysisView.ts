// What every analysis hands to the UI: a report turned into facts, Vega-Lite charts and tables.
// Pure types (no imports beyond the chart spec type), so the worker, the extension host, the
// webview bundle, the CLI and the demo all share them. One analysis module writes
// `<analysis>View(report): AnalysisView`; the report panel (src/webviews/report) renders any
// AnalysisView: charts with vega-embed, themed from the VS Code colours, each exportable as
// PNG/SVG and its data rows as CSV/JSON; tables exportable as CSV/JSON.

/** A JSON-compatible value (restated, as in protocol.ts, to keep this file import-free). */
export type ViewJson = null | boolean | number | string | ViewJson[] | { [key: string]: ViewJson };

export interface Fact {
  label: string;
  /** Already formatted for people ("0.0312 nats", "97.41 %"). */
  value: string;
  /** The definition the number uses ("max_α [L(θ(α)) − ((1−α)L(θ_A) + αL(θ_B))]"), shown as a tooltip/footnote. */
  definition?: string;
}

export interface ChartView {
  /** Stable id, used in export file names ("lmc-loss"). */
  id: string;
  title: string;
  /**
   * A Vega-Lite v6 top-level spec as plain JSON: data inline (`data: { values: rows }`), no
   * URLs, no colours or fonts (the panel merges a theme config from the VS Code colours),
   * `width: 'container'` or a number.
   */
  spec: { [key: string]: ViewJson };
  /** The rows the chart draws (what "Export data" writes as CSV/JSON). */
  rows: { [key: string]: string | number | boolean | null }[];
  /** One line under the chart: what is plotted and by which definition. */
  caption?: string;
}

export interface TableView {
  id: string;
  title: string;
  columns: string[];
  rows: (string | number | boolean | null)[][];
}

export interface AnalysisView {
  /** 'align' | 'interpolate' | 'mli' | 'llfc' | 'plane' | 'stitch' | 'drop' | 'diff' | 'runs' | 'spectra'. */
  kind: string;
  title: string;
  subtitle?: string;
  facts: Fact[];
  charts: ChartView[];
  tables: TableView[];
  /** Notes for people: assumptions made, steps run (BatchNorm reset), warnings. */
  notes: string[];
  /** The analysis' full report (the CLI's --json object), for "Export report JSON". */
  report: ViewJson;
  /** False while partial results stream in; true on the final view. */
  complete: boolean;
}

/** Progress and cancellation every long analysis takes; all optional so tests can omit them. */
export interface AnalysisContext {
  isCancelled?: () => boolean;
  /** fraction 0…1 and a short message ("α = 0.25, BatchNorm reset"). */
  onProgress?: (fraction: number, message?: string) => void;
  /** A partial report (points computed so far), for charts that grow while the job runs. */
  onPartial?: (partial: unknown) => void;
  log?: (message: string) => void;
  /** Directory holding tfjs-backend-wasm's .wasm files (the worker passes its own dir). */
  wasmDir?: string;
}
