// The one message protocol of Checkpoint Lens: host ↔ worker and host ↔ webview.
//
// Pure TypeScript: no imports, no Node or DOM APIs, so the extension host, the worker and the
// webview bundle all import this file. Every message is a discriminated union on a string
// `type`. Every message that crosses a boundary is checked on arrival with the guards at the
// bottom of this file; a message that fails its guard is dropped (and logged by the receiver).
//
// Values that come from a checkpoint file (names, metadata strings) are plain data here: the
// webview renders them with textContent only.

// ---------------------------------------------------------------------------------------------
// Shared data shapes
// ---------------------------------------------------------------------------------------------

/** A JSON-compatible value (mirrors `Value` in core/checkpoint.ts, restated to keep this file pure). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// Tensor rows cross packed in columns (core/tensorTable.ts): a million of them as objects was
// a 96 MB message.
export type { PackedRows, TensorRow } from './core/tensorTable';
import { isPackedRows, type PackedRows } from './core/tensorTable';

// Statistics cross every boundary as computed; one definition, in the statistics module.
export type { Histogram, TensorStats } from './stats/statsTypes';
import type { Histogram, TensorStats } from './stats/statsTypes';
export type { RiskReport, RiskCall, RiskGlobal } from './core/risk';
import type { RiskCall, RiskGlobal, RiskReport } from './core/risk';

// Analysis results cross as views (facts, charts, tables); one definition, in report/.
export type { AnalysisView, ChartView, Fact, TableView } from './report/analysisView';
import type { AnalysisView, ChartView, Fact, TableView } from './report/analysisView';

export interface DtypeTotal {
  dtype: string;
  tensors: number;
  params: number;
  bytes: number;
}

export interface PrefixTotal {
  prefix: string;
  tensors: number;
  params: number;
  bytes: number;
}

export interface Totals {
  params: number;
  bytes: number;
  tensors: number;
  byDtype: DtypeTotal[];
  byPrefix: PrefixTotal[];
}

/** A TorchScript code file, as text (never interpreted). */
export interface SourceFile {
  name: string;
  text: string;
  truncated?: boolean;
}

/** What opening a checkpoint yields (the document model's listing). */
export interface Listing {
  path: string;
  format: string;
  metadata: Record<string, JsonValue>;
  values: Record<string, JsonValue>;
  /** Read them through `new TensorTable(listing.tensors)`. */
  tensors: PackedRows;
  stateDictPrefix: string;
  warnings: string[];
  totals: Totals;
  /** Pickle-based files: every global named, classified, and the calls torch.load would make. */
  risk?: RiskReport;
  /** TorchScript archives: the code files, as text. */
  sourceFiles?: SourceFile[];
  /** Remote checkpoints: the URL and the bytes fetched from the server so far. */
  remote?: { url: string; bytesFetched: number };
  /** The network recognised from the names and shapes (absent when none is). */
  model?: { family: string; description: string };
}

/**
 * A downsampled 2-D view of a tensor for a heatmap. `values` is rows × cols, row-major;
 * null marks a cell with no finite value (NaN/±Inf or an empty bin).
 */
export interface Slice2D {
  rows: number;
  cols: number;
  values: (number | null)[];
  rowIndex: number[];
  colStep: number;
  sourceShape: [number, number];
}

/** An error that crossed a boundary. `file` is set for CheckpointError. */
export interface ErrorInfo {
  name: string;
  message: string;
  file?: string;
}

// ---------------------------------------------------------------------------------------------
// Host → worker
// ---------------------------------------------------------------------------------------------

export interface WorkerOpenRequest {
  type: 'open';
  id: number;
  path: string;
}

/** Forget an opened checkpoint (closes its file handles). Fire-and-forget: no reply. */
export interface WorkerCloseRequest {
  type: 'close';
  path: string;
}

export interface WorkerStatsRequest {
  type: 'stats';
  id: number;
  path: string;
  tensors: string[];
  /** Jumps the queue of tensors waiting for the CPU (the tensor the user selected). */
  priority: boolean;
  /** A 4-byte SharedArrayBuffer; element 0 of an Int32Array on it becomes non-zero on cancel. */
  cancelFlag: SharedArrayBuffer;
}

export interface WorkerSliceRequest {
  type: 'slice2d';
  id: number;
  path: string;
  tensor: string;
  maxRows: number;
  maxCols: number;
  cancelFlag: SharedArrayBuffer;
}

/** Evaluate the network a checkpoint holds on a dataset (loss, accuracy) with tfjs. */
export interface WorkerEvaluateRequest {
  type: 'evaluate';
  id: number;
  checkpoint: string;
  data: string;
  labels?: string;
  split?: 'test' | 'train';
  arch?: string;
  backend: 'auto' | 'onnxruntime' | 'tensorflow' | 'wasm' | 'cpu';
  /** Cores onnxruntime may use (checkpointLens.onnxruntimeThreads); absent or 0: all of them. */
  threads?: number;
  cancelFlag: SharedArrayBuffer;
}

/** What `evaluate` replies (the CLI's `ckpt-lens eval --json` object). */
export interface EvalSummary {
  loss: number;
  accuracy: number;
  n: number;
  backend: string;
  /** onnxruntime: the intra-op threads it ran on. */
  threads?: number;
  seconds: number;
}

/** The analyses run by one generic job; each kind's params are checked by its entry in analysis/jobs. */
export const ANALYSIS_KINDS = ['align', 'interpolate', 'mli', 'llfc', 'plane', 'stitch', 'drop', 'diff', 'runs', 'spectra', 'llc', 'llc-sweep', 'basins', 'cka', 'swap', 'histograms'] as const;
export type AnalysisKind = (typeof ANALYSIS_KINDS)[number];

/**
 * Run an analysis (alignment, interpolation, …). The worker replies with the final
 * AnalysisView and may send `partial` views while it runs (points as they are computed).
 */
export interface WorkerAnalysisRequest {
  type: 'analysis';
  id: number;
  kind: AnalysisKind;
  /** JSON options of the analysis (file paths and settings); validated by the worker. */
  params: Record<string, JsonValue>;
  backend: 'auto' | 'onnxruntime' | 'tensorflow' | 'wasm' | 'cpu';
  /** Cores onnxruntime may use (checkpointLens.onnxruntimeThreads); absent or 0: all of them. */
  threads?: number;
  cancelFlag: SharedArrayBuffer;
}

/** Cancellation by message, for jobs that are waiting (not in a CPU loop). The flag is the fast path. */
export interface WorkerCancelRequest {
  type: 'cancel';
  id: number;
}

/** Test hooks; the worker honours them only when started with `workerData.testHooks === true`. */
export interface WorkerDebugRequest {
  type: 'debug';
  id: number;
  action: 'throw' | 'exit' | 'spin';
}

export type HostToWorker =
  | WorkerOpenRequest
  | WorkerCloseRequest
  | WorkerStatsRequest
  | WorkerSliceRequest
  | WorkerEvaluateRequest
  | WorkerAnalysisRequest
  | WorkerCancelRequest
  | WorkerDebugRequest;

// ---------------------------------------------------------------------------------------------
// Worker → host
// ---------------------------------------------------------------------------------------------

export interface StatsJobResult {
  done: number;
  failed: number;
}

export interface WorkerReply {
  type: 'reply';
  id: number;
  /** Listing for `open`, StatsJobResult for `stats`, Slice2D for `slice2d`, null for `debug`. */
  result: unknown;
}

export interface WorkerFailure {
  type: 'failure';
  id: number;
  cancelled: boolean;
  error: ErrorInfo;
}

/** Progress of a job, 0…1, at most ~4 per second per job. */
export interface WorkerProgress {
  type: 'progress';
  id: number;
  fraction: number;
  /** The tensor being worked on, if any. */
  tensor?: string;
  /** What an analysis is doing ("α = 0.25"). */
  message?: string;
}

/** The results of an analysis so far (a chart that grows while the job runs). */
export interface WorkerPartial {
  type: 'partial';
  id: number;
  view: AnalysisView;
}

/** One tensor of a stats job finished (stats) or failed (error). */
export interface WorkerStatsItem {
  type: 'statsItem';
  id: number;
  tensor: string;
  stats: TensorStats | null;
  error?: ErrorInfo;
}

export interface WorkerLog {
  type: 'log';
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  message: string;
}

/** Body bytes a remote checkpoint opened by this worker has fetched so far (sent as it grows). */
export interface WorkerRemoteBytes {
  type: 'remoteBytes';
  path: string;
  bytes: number;
}

export type WorkerToHost = WorkerReply | WorkerFailure | WorkerProgress | WorkerPartial | WorkerStatsItem | WorkerLog | WorkerRemoteBytes;

// ---------------------------------------------------------------------------------------------
// Webview → host
// ---------------------------------------------------------------------------------------------

export interface ReadyMessage {
  type: 'ready';
}

/** The user selected a tensor: compute its statistics first, and its 2-D slice. */
export interface SelectTensorMessage {
  type: 'selectTensor';
  name: string;
}

/** Start (or restart) background statistics for the whole checkpoint. */
export interface ComputeStatsMessage {
  type: 'computeStats';
}

export interface CancelStatsMessage {
  type: 'cancelStats';
}

export type ChartKind = 'histogram' | 'heatmap';
export type TableFormat = 'csv' | 'json';
export type ChartFormat = 'svg' | 'png' | 'json';

/**
 * Export through the host's save dialog. The table is built by the host (it holds the
 * listing and statistics); a chart is rendered by the webview and sent as `content`
 * (SVG text, a `data:image/png;base64,` URL, or JSON text of the chart's data).
 */
export type ExportDataMessage =
  | { type: 'exportData'; kind: 'table'; format: TableFormat }
  | { type: 'exportData'; kind: 'chart'; chart: ChartKind; format: ChartFormat; tensor: string; content: string };

/** The user opened the editor's weight-diagnostics section: compute the spectra (once per document). */
export interface RequestDiagnosticsMessage {
  type: 'requestDiagnostics';
}

/** Stop the weight-diagnostics job (running or queued). */
export interface CancelDiagnosticsMessage {
  type: 'cancelDiagnostics';
}

export type WebviewToHost = ReadyMessage | SelectTensorMessage | ComputeStatsMessage | CancelStatsMessage | ExportDataMessage | RequestDiagnosticsMessage | CancelDiagnosticsMessage;

// ---------------------------------------------------------------------------------------------
// Host → webview
// ---------------------------------------------------------------------------------------------

export interface InitMessage {
  type: 'init';
  /** Base name of the file, for the title. */
  fileName: string;
  /** The listing, or null when the file could not be opened (then `error` says why). */
  listing: Listing | null;
  error?: ErrorInfo;
  /** Statistics already known (a reloaded webview gets them at once). */
  stats: StatsEntry[];
  settings: { autoCompute: boolean; maxAutoBytes: number };
  /** Weight diagnostics: computed on opening the section below `maxAutoBytes` of weights, else on a button; Lanczos gets `budgetSeconds`. */
  diagnostics?: { maxAutoBytes: number; budgetSeconds: number };
}

export interface StatsEntry {
  name: string;
  stats: TensorStats | null;
  /** Set when computing this tensor's statistics failed. */
  error?: string;
}

/** Statistics streamed in, in batches. */
export interface StatsUpdateMessage {
  type: 'statsUpdate';
  entries: StatsEntry[];
}

export type StatsState = 'idle' | 'running' | 'done' | 'cancelled' | 'skipped' | 'failed';

/** Progress of the background statistics job. */
export interface StatsProgressMessage {
  type: 'statsProgress';
  state: StatsState;
  done: number;
  total: number;
  fraction: number;
  /** Why `skipped` (too large for auto-compute, setting off) or `failed`. */
  reason?: string;
}

/** Progress of the selected tensor's own statistics (large tensors). */
export interface TensorProgressMessage {
  type: 'tensorProgress';
  name: string;
  fraction: number;
}

export interface SliceDataMessage {
  type: 'sliceData';
  name: string;
  slice: Slice2D | null;
  error?: string;
}

export interface ErrorMessage {
  type: 'error';
  message: string;
  tensor?: string;
}

/** Weight spectra and unit diagnostics of the open checkpoint (the spectra analysis' view). */
export interface DiagnosticsMessage {
  type: 'diagnostics';
  view: AnalysisView | null;
  error?: string;
  /** The job was cancelled (Cancel pressed); the section offers to compute again. */
  cancelled?: boolean;
}

/** Progress of the weight-diagnostics job, or what it waits behind. */
export interface DiagnosticsProgressMessage {
  type: 'diagnosticsProgress';
  fraction: number;
  message?: string;
  /** Set while the job waits for a worker: the jobs it waits behind. */
  queuedBehind?: string;
}

/** A remote checkpoint's bytes fetched so far, over every worker that read it (the header's counter). */
export interface RemoteBytesMessage {
  type: 'remoteBytes';
  bytes: number;
}

export type HostToWebview =
  | RemoteBytesMessage
  | DiagnosticsMessage
  | DiagnosticsProgressMessage
  | InitMessage
  | StatsUpdateMessage
  | StatsProgressMessage
  | TensorProgressMessage
  | SliceDataMessage
  | ErrorMessage;

// ---------------------------------------------------------------------------------------------
// Analysis panel (webview showing one analysis) ↔ host
// ---------------------------------------------------------------------------------------------

export type JobState = 'running' | 'done' | 'cancelled' | 'failed';

/** The view to show (replaces the previous one: partial views grow until the final one). */
export interface PanelViewMessage {
  type: 'view';
  view: AnalysisView;
}

export interface PanelJobMessage {
  type: 'job';
  state: JobState;
  fraction: number;
  message?: string;
  /** A failed job: the cause first, what to try, and the actions offered. */
  failure?: PanelFailure;
}

/** What a failed panel shows: a heading with the cause, the file, what to try, and buttons. */
export interface PanelFailure {
  cause: string;
  /** The analysis that failed (the panel's title). */
  analysis?: string;
  file?: string;
  tryNext: string;
  actions: FailureAction[];
}

/** Run the same again; pick another checkpoint, or another dataset, and run again. */
export type FailureAction = 'retry' | 'checkpoint' | 'data';

/** One option of "Run again with …" (a number, a yes/no or a choice); null default = not set. */
export interface OptionField {
  key: string;
  label: string;
  /** data: a dataset file the host picks (the value is its path; null = the default). */
  kind: 'int' | 'number' | 'bool' | 'choice' | 'data';
  min?: number;
  max?: number;
  choices?: string[];
  default: JsonValue;
  hint?: string;
}

/** The options the panel's analysis can run again with, their values now, and the data measured on. */
export interface PanelOptionsMessage {
  type: 'options';
  fields: OptionField[];
  values: Record<string, JsonValue>;
  measuredOn?: string;
}

/** The file picked for a `data` option of "Run again with …". */
export interface PanelOptionValueMessage {
  type: 'optionValue';
  key: string;
  value: string;
}

export type HostToPanel = PanelViewMessage | PanelJobMessage | PanelOptionsMessage | PanelOptionValueMessage;

export interface PanelReadyMessage {
  type: 'panelReady';
}

export interface PanelCancelMessage {
  type: 'cancelJob';
}

/**
 * Export from the panel: a chart as PNG/SVG (rendered by the webview, sent as `content`), a
 * chart's rows or a table as CSV/JSON, or the whole report as JSON (built by the host from the
 * view it holds, so the webview cannot substitute data).
 */
export type PanelExportMessage =
  | { type: 'exportView'; what: 'chart'; id: string; format: 'svg' | 'png'; content: string }
  | { type: 'exportView'; what: 'rows' | 'table'; id: string; format: TableFormat }
  | { type: 'exportView'; what: 'report'; format: 'json' }
  /** The panel as one self-contained HTML page, built by the webview (charts as inline SVG). */
  | { type: 'exportView'; what: 'report'; format: 'html'; content: string };

/** Run the panel's analysis again with these option values (in a new panel beside). */
export interface PanelRerunMessage {
  type: 'rerun';
  values: Record<string, JsonValue>;
}

/** Pick the file of a `data` option of "Run again with …" (the host shows its picker). */
export interface PanelPickOptionMessage {
  type: 'pickOption';
  key: string;
}

/** A button of the failed panel. */
export interface PanelFailureActionMessage {
  type: 'failureAction';
  action: FailureAction;
}

export type PanelToHost = PanelReadyMessage | PanelCancelMessage | PanelExportMessage | PanelRerunMessage | PanelFailureActionMessage | PanelPickOptionMessage;

// ---------------------------------------------------------------------------------------------
// Runtime guards
// ---------------------------------------------------------------------------------------------

export type Guard<T> = (v: unknown) => v is T;

/** Longest string accepted in a field that names something (tensor names, paths). */
export const MAX_NAME_LENGTH = 64 * 1024;
/** Largest chart export accepted from the webview (characters). */
export const MAX_EXPORT_CONTENT = 64 * 1024 * 1024;

/** A plain object (as postMessage / JSON produce): not an array, no inherited fields. */
const isObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

export const str: Guard<string> = (v): v is string => typeof v === 'string';
export const name: Guard<string> = (v): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_NAME_LENGTH;
export const num: Guard<number> = (v): v is number => typeof v === 'number' && !Number.isNaN(v);
export const finite: Guard<number> = (v): v is number => typeof v === 'number' && Number.isFinite(v);
export const count: Guard<number> = (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const int: Guard<number> = (v): v is number => typeof v === 'number' && Number.isSafeInteger(v);
export const bool: Guard<boolean> = (v): v is boolean => typeof v === 'boolean';
export const fraction: Guard<number> = (v): v is number => typeof v === 'number' && v >= 0 && v <= 1;

export function lit<const L extends string>(...values: L[]): Guard<L> {
  return (v): v is L => typeof v === 'string' && (values as string[]).includes(v);
}
export function opt<T>(g: Guard<T>): Guard<T | undefined> {
  return (v): v is T | undefined => v === undefined || g(v);
}
export function nullable<T>(g: Guard<T>): Guard<T | null> {
  return (v): v is T | null => v === null || g(v);
}
export function arr<T>(g: Guard<T>, maxLength = Number.MAX_SAFE_INTEGER): Guard<T[]> {
  return (v): v is T[] => {
    if (!Array.isArray(v) || v.length > maxLength) return false;
    for (let i = 0; i < v.length; i++) if (!g(v[i])) return false;
    return true;
  };
}
export function record<T>(g: Guard<T>): Guard<Record<string, T>> {
  return (v): v is Record<string, T> => {
    if (!isObject(v)) return false;
    for (const k of Object.keys(v)) if (!g(v[k])) return false;
    return true;
  };
}
/**
 * An object guard whose field list must name every field of T with a guard of that field's
 * type (so the guard and the interface cannot drift apart). Extra fields are tolerated.
 */
export function obj<T>(fields: { [K in keyof T]-?: Guard<T[K]> }): Guard<T> {
  const entries = Object.entries(fields) as [string, Guard<unknown>][];
  return (v): v is T => {
    if (!isObject(v)) return false;
    for (const [k, g] of entries) if (!g(v[k])) return false;
    return true;
  };
}
/** A union of object guards discriminated by `type`. */
export function tagged<T extends { type: string }>(byType: { [K in T['type']]: Guard<Extract<T, { type: K }>> }): Guard<T> {
  const table = byType as Record<string, Guard<T>>;
  return (v): v is T => isObject(v) && typeof v.type === 'string' && Object.prototype.hasOwnProperty.call(table, v.type) && table[v.type](v);
}

/** A JSON-compatible value, nested at most `depth` levels. */
export function jsonValue(depth = 32): Guard<JsonValue> {
  const check = (v: unknown, d: number): boolean => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return true;
    if (d <= 0) return false;
    if (Array.isArray(v)) return v.every((x) => check(x, d - 1));
    if (isObject(v)) return Object.keys(v).every((k) => check(v[k], d - 1));
    return false;
  };
  return (v): v is JsonValue => check(v, depth);
}

const isSab: Guard<SharedArrayBuffer> = (v): v is SharedArrayBuffer =>
  typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer && v.byteLength >= 4;

export const isHistogram: Guard<Histogram> = obj<Histogram>({ lo: finite, hi: finite, counts: arr(count, 4096) });

export const isTensorStats: Guard<TensorStats> = obj<TensorStats>({
  count: count,
  nan: count,
  inf: count,
  zeros: count,
  min: nullable(num),
  max: nullable(num),
  mean: nullable(num),
  std: nullable(num),
  l2: nullable(num),
  histogram: nullable(isHistogram),
});

const isTotalsRowD: Guard<DtypeTotal> = obj<DtypeTotal>({ dtype: str, tensors: count, params: count, bytes: count });
const isTotalsRowP: Guard<PrefixTotal> = obj<PrefixTotal>({ prefix: str, tensors: count, params: count, bytes: count });
export const isTotals: Guard<Totals> = obj<Totals>({
  params: count,
  bytes: count,
  tensors: count,
  byDtype: arr(isTotalsRowD),
  byPrefix: arr(isTotalsRowP),
});

const isRiskGlobal: Guard<RiskGlobal> = obj<RiskGlobal>({ name: str, written: opt(str), risk: lit('tensor', 'data', 'unknown', 'dangerous') });
const isRiskCall: Guard<RiskCall> = obj<RiskCall>({ callable: str, args: str, severity: lit('dangerous', 'unknown'), via: lit('REDUCE', 'INST', 'OBJ', 'BUILD'), where: str });
export const isRiskReport: Guard<RiskReport> = obj<RiskReport>({
  verdict: lit('dangerous', 'calls-unknown', 'unknown-classes', 'data-only'),
  globals: arr(isRiskGlobal),
  calls: arr(isRiskCall),
  callsNotListed: count,
});
const isSourceFile: Guard<SourceFile> = obj<SourceFile>({ name: str, text: str, truncated: opt(bool) });

export const isListing: Guard<Listing> = obj<Listing>({
  path: str,
  format: str,
  metadata: record(jsonValue()),
  values: record(jsonValue()),
  tensors: isPackedRows,
  stateDictPrefix: str,
  warnings: arr(str),
  totals: isTotals,
  risk: opt(isRiskReport),
  sourceFiles: opt(arr(isSourceFile)),
  remote: opt(obj<{ url: string; bytesFetched: number }>({ url: str, bytesFetched: count })),
  model: opt(obj<{ family: string; description: string }>({ family: str, description: str })),
});

export const isSlice2D: Guard<Slice2D> = (v): v is Slice2D =>
  obj<Slice2D>({
    rows: count,
    cols: count,
    values: arr(nullable(finite)),
    rowIndex: arr(count),
    colStep: finite,
    sourceShape: (s): s is [number, number] => Array.isArray(s) && s.length === 2 && count(s[0]) && count(s[1]),
  })(v) &&
  v.values.length === v.rows * v.cols &&
  v.rowIndex.length === v.rows;

export const isErrorInfo: Guard<ErrorInfo> = obj<ErrorInfo>({ name: str, message: str, file: opt(str) });

export const isEvalSummary: Guard<EvalSummary> = obj<EvalSummary>({ loss: num, accuracy: fraction, n: count, backend: str, threads: opt(count), seconds: num });

export const isStatsJobResult: Guard<StatsJobResult> = obj<StatsJobResult>({ done: count, failed: count });

const cell: Guard<string | number | boolean | null> = (v): v is string | number | boolean | null =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && !Number.isNaN(v));
const isFact: Guard<Fact> = obj<Fact>({ label: str, value: str, definition: opt(str) });
const isChartView: Guard<ChartView> = obj<ChartView>({
  id: name,
  title: str,
  spec: record(jsonValue(64)),
  rows: arr(record(cell)),
  caption: opt(str),
});
const isTableView: Guard<TableView> = obj<TableView>({ id: name, title: str, columns: arr(str), rows: arr(arr(cell)) });

export const isAnalysisView: Guard<AnalysisView> = obj<AnalysisView>({
  kind: str,
  title: str,
  subtitle: opt(str),
  facts: arr(isFact),
  charts: arr(isChartView),
  tables: arr(isTableView),
  notes: arr(str),
  report: jsonValue(64),
  complete: bool,
});

// --- host → worker

export const isHostToWorker: Guard<HostToWorker> = tagged<HostToWorker>({
  open: obj<WorkerOpenRequest>({ type: lit('open'), id: count, path: name }),
  close: obj<WorkerCloseRequest>({ type: lit('close'), path: name }),
  stats: obj<WorkerStatsRequest>({
    type: lit('stats'),
    id: count,
    path: name,
    tensors: arr(str),
    priority: bool,
    cancelFlag: isSab,
  }),
  slice2d: obj<WorkerSliceRequest>({
    type: lit('slice2d'),
    id: count,
    path: name,
    tensor: str,
    maxRows: (v): v is number => count(v) && v >= 1 && v <= 4096,
    maxCols: (v): v is number => count(v) && v >= 1 && v <= 4096,
    cancelFlag: isSab,
  }),
  evaluate: obj<WorkerEvaluateRequest>({
    type: lit('evaluate'),
    id: count,
    checkpoint: name,
    data: name,
    labels: opt(name),
    split: opt(lit('test', 'train')),
    arch: opt(name),
    backend: lit('auto', 'onnxruntime', 'tensorflow', 'wasm', 'cpu'),
    threads: opt((v): v is number => count(v) && v <= 1024),
    cancelFlag: isSab,
  }),
  analysis: obj<WorkerAnalysisRequest>({
    type: lit('analysis'),
    id: count,
    kind: lit(...ANALYSIS_KINDS),
    params: record(jsonValue()),
    backend: lit('auto', 'onnxruntime', 'tensorflow', 'wasm', 'cpu'),
    threads: opt((v): v is number => count(v) && v <= 1024),
    cancelFlag: isSab,
  }),
  cancel: obj<WorkerCancelRequest>({ type: lit('cancel'), id: count }),
  debug: obj<WorkerDebugRequest>({ type: lit('debug'), id: count, action: lit('throw', 'exit', 'spin') }),
});

// --- worker → host

export const isWorkerToHost: Guard<WorkerToHost> = tagged<WorkerToHost>({
  reply: obj<WorkerReply>({ type: lit('reply'), id: count, result: (_v): _v is unknown => true }),
  failure: obj<WorkerFailure>({ type: lit('failure'), id: count, cancelled: bool, error: isErrorInfo }),
  progress: obj<WorkerProgress>({ type: lit('progress'), id: count, fraction: fraction, tensor: opt(str), message: opt(str) }),
  partial: (v): v is WorkerPartial => obj<WorkerPartial>({ type: lit('partial'), id: count, view: isAnalysisView })(v),
  statsItem: obj<WorkerStatsItem>({
    type: lit('statsItem'),
    id: count,
    tensor: str,
    stats: nullable(isTensorStats),
    error: opt(isErrorInfo),
  }),
  log: obj<WorkerLog>({ type: lit('log'), level: lit('trace', 'debug', 'info', 'warn', 'error'), message: str }),
  remoteBytes: obj<WorkerRemoteBytes>({ type: lit('remoteBytes'), path: str, bytes: count }),
});

// --- webview → host

const isExportData: Guard<ExportDataMessage> = (v): v is ExportDataMessage => {
  if (!isObject(v) || v.type !== 'exportData') return false;
  if (v.kind === 'table') return lit('csv', 'json')(v.format);
  if (v.kind !== 'chart') return false;
  if (!lit('histogram', 'heatmap')(v.chart) || !lit('svg', 'png', 'json')(v.format) || !name(v.tensor)) return false;
  if (typeof v.content !== 'string' || v.content.length > MAX_EXPORT_CONTENT) return false;
  if (v.format === 'png') return /^data:image\/png;base64,[A-Za-z0-9+/]*={0,2}$/.test(v.content);
  if (v.format === 'svg') return v.content.trimStart().startsWith('<svg');
  return true;
};

export const isWebviewToHost: Guard<WebviewToHost> = tagged<WebviewToHost>({
  ready: obj<ReadyMessage>({ type: lit('ready') }),
  selectTensor: obj<SelectTensorMessage>({ type: lit('selectTensor'), name: name }),
  computeStats: obj<ComputeStatsMessage>({ type: lit('computeStats') }),
  cancelStats: obj<CancelStatsMessage>({ type: lit('cancelStats') }),
  exportData: isExportData,
  requestDiagnostics: obj<RequestDiagnosticsMessage>({ type: lit('requestDiagnostics') }),
  cancelDiagnostics: obj<CancelDiagnosticsMessage>({ type: lit('cancelDiagnostics') }),
});

// --- host → webview

const isStatsEntry: Guard<StatsEntry> = obj<StatsEntry>({ name: str, stats: nullable(isTensorStats), error: opt(str) });
const isSettings = obj<InitMessage['settings']>({ autoCompute: bool, maxAutoBytes: num });

export const isHostToWebview: Guard<HostToWebview> = tagged<HostToWebview>({
  remoteBytes: obj<RemoteBytesMessage>({ type: lit('remoteBytes'), bytes: count }),
  diagnostics: (v): v is DiagnosticsMessage => obj<DiagnosticsMessage>({ type: lit('diagnostics'), view: nullable(isAnalysisView), error: opt(str), cancelled: opt(bool) })(v),
  diagnosticsProgress: obj<DiagnosticsProgressMessage>({ type: lit('diagnosticsProgress'), fraction: fraction, message: opt(str), queuedBehind: opt(str) }),
  init: obj<InitMessage>({
    type: lit('init'),
    fileName: str,
    listing: nullable(isListing),
    error: opt(isErrorInfo),
    stats: arr(isStatsEntry),
    settings: isSettings,
    diagnostics: opt(obj<NonNullable<InitMessage['diagnostics']>>({ maxAutoBytes: num, budgetSeconds: num })),
  }),
  statsUpdate: obj<StatsUpdateMessage>({ type: lit('statsUpdate'), entries: arr(isStatsEntry) }),
  statsProgress: obj<StatsProgressMessage>({
    type: lit('statsProgress'),
    state: lit('idle', 'running', 'done', 'cancelled', 'skipped', 'failed'),
    done: count,
    total: count,
    fraction: fraction,
    reason: opt(str),
  }),
  tensorProgress: obj<TensorProgressMessage>({ type: lit('tensorProgress'), name: str, fraction: fraction }),
  sliceData: obj<SliceDataMessage>({ type: lit('sliceData'), name: str, slice: nullable(isSlice2D), error: opt(str) }),
  error: obj<ErrorMessage>({ type: lit('error'), message: str, tensor: opt(str) }),
});

// --- analysis panel

export const isHostToPanel: Guard<HostToPanel> = tagged<HostToPanel>({
  view: obj<PanelViewMessage>({ type: lit('view'), view: isAnalysisView }),
  optionValue: obj<PanelOptionValueMessage>({ type: lit('optionValue'), key: name, value: str }),
  job: obj<PanelJobMessage>({
    type: lit('job'),
    state: lit('running', 'done', 'cancelled', 'failed'),
    fraction: fraction,
    message: opt(str),
    failure: opt(obj<PanelFailure>({ cause: str, analysis: opt(str), file: opt(str), tryNext: str, actions: arr(lit('retry', 'checkpoint', 'data'), 3) })),
  }),
  options: obj<PanelOptionsMessage>({
    type: lit('options'),
    fields: arr(
      obj<OptionField>({ key: name, label: str, kind: lit('int', 'number', 'bool', 'choice', 'data'), min: opt(num), max: opt(num), choices: opt(arr(str)), default: jsonValue(), hint: opt(str) }),
      64,
    ),
    values: record(jsonValue()),
    measuredOn: opt(str),
  }),
});

const isPanelExport: Guard<PanelExportMessage> = (v): v is PanelExportMessage => {
  if (!isObject(v) || v.type !== 'exportView') return false;
  if (v.what === 'report') return v.format === 'json' || (v.format === 'html' && typeof v.content === 'string' && v.content.length <= MAX_EXPORT_CONTENT && v.content.startsWith('<!DOCTYPE html>'));
  if (!name(v.id)) return false;
  if (v.what === 'rows' || v.what === 'table') return lit('csv', 'json')(v.format);
  if (v.what !== 'chart' || typeof v.content !== 'string' || v.content.length > MAX_EXPORT_CONTENT) return false;
  if (v.format === 'png') return /^data:image\/png;base64,[A-Za-z0-9+/]*={0,2}$/.test(v.content);
  if (v.format === 'svg') return v.content.trimStart().startsWith('<svg');
  return false;
};

export const isPanelToHost: Guard<PanelToHost> = tagged<PanelToHost>({
  panelReady: obj<PanelReadyMessage>({ type: lit('panelReady') }),
  cancelJob: obj<PanelCancelMessage>({ type: lit('cancelJob') }),
  exportView: isPanelExport,
  rerun: obj<PanelRerunMessage>({ type: lit('rerun'), values: record(jsonValue()) }),
  failureAction: obj<PanelFailureActionMessage>({ type: lit('failureAction'), action: lit('retry', 'checkpoint', 'data') }),
  pickOption: obj<PanelPickOptionMessage>({ type: lit('pickOption'), key: name }),
});

// ---------------------------------------------------------------------------------------------
// Helpers shared by the senders
// ---------------------------------------------------------------------------------------------

/** JSON-safe number: NaN and ±Infinity become null (postMessage to a webview is JSON). */
export function jsonNumber(x: number | null | undefined): number | null {
  return typeof x === 'number' && Number.isFinite(x) ? x : null;
}

/** A copy of stats with every non-finite number replaced by null, so it survives JSON. */
export function sanitizeStats(s: TensorStats): TensorStats {
  const h = s.histogram;
  return {
    count: s.count,
    nan: s.nan,
    inf: s.inf,
    zeros: s.zeros,
    min: jsonNumber(s.min),
    max: jsonNumber(s.max),
    mean: jsonNumber(s.mean),
    std: jsonNumber(s.std),
    l2: jsonNumber(s.l2),
    histogram: h && Number.isFinite(h.lo) && Number.isFinite(h.hi) ? { lo: h.lo, hi: h.hi, counts: Array.from(h.counts) } : null,
  };
}

export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof Error) {
    const file = (e as { file?: unknown }).file;
    return { name: e.name, message: e.message, ...(typeof file === 'string' ? { file } : {}) };
  }
  return { name: 'Error', message: String(e) };
}

export function assertNever(x: never): never {
  throw new Error(`unexpected message: ${JSON.stringify(x)}`);
}
