// The read-only custom editor for checkpoints.
//
// Document = the file's path + the listing the worker produced when opening it + statistics
// as they arrive. The webview shows the table as soon as the listing is there; statistics of
// all tensors then stream in from one background worker job (cancellable from the status bar
// or the page), and the tensor the user selects is computed first (a priority job), with its
// 2-D slice for the heatmap.
import { REMOTE_SCHEME, checkpointPath } from './remoteUri';
import { formatBytes } from '../analysis/core/format';
import { tableOf } from '../analysis/core/tensorTable';
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { isCancelled } from '../analysis/core/errors';
import {
  errorInfo,
  isWebviewToHost,
  sanitizeStats,
  type DiagnosticsMessage,
  type ErrorInfo,
  type ExportDataMessage,
  type HostToWebview,
  type Listing,
  type StatsEntry,
  type StatsProgressMessage,
  type StatsState,
  type WebviewToHost,
} from '../analysis/protocol';
import { log } from './log';
import {
  autoComputeDecision,
  checkpointStem,
  exportBytes,
  safeStem,
  tableCsv,
  tableJson,
  writeFileAtomic,
} from './tableExport';
import { editorHtml, makeNonce } from './webviewHtml';
import type { JobHandle, WorkerHost } from './workerHost';

export const VIEW_TYPE = 'checkpointLens.editor';

/** What `checkpointLens.openWith` returns: a summary of the opened checkpoint. */
export interface OpenSummary {
  uri: string;
  format: string | null;
  tensors: number;
  params: number;
  bytes: number;
  error?: string;
}

/** What `checkpointLens.computeStatistics` returns once the statistics job has ended. */
export interface StatsSummary {
  uri: string;
  state: StatsState;
  done: number;
  total: number;
  reason?: string;
}

/** Statistics reach the webviews in batches at most this often. */
const FLUSH_MS = 150;

interface Settings {
  autoCompute: boolean;
  maxAutoBytes: number;
}

/** The editor's weight-diagnostics settings: the automatic size limit and the Lanczos time budget. */
function readDiagnosticsSettings(scope?: vscode.Uri): { maxAutoBytes: number; budgetSeconds: number } {
  const c = vscode.workspace.getConfiguration('checkpointLens.diagnostics', scope);
  const max = c.get<number>('maxAutoBytes', 256_000_000);
  const budget = c.get<number>('timeBudgetSeconds', 20);
  return {
    maxAutoBytes: typeof max === 'number' && max >= 0 ? max : 256_000_000,
    budgetSeconds: typeof budget === 'number' && budget >= 0.1 ? budget : 20,
  };
}

function readSettings(scope?: vscode.Uri): Settings {
  const c = vscode.workspace.getConfiguration('checkpointLens.statistics', scope);
  const max = c.get<number>('maxAutoBytes', 4_000_000_000);
  return { autoCompute: c.get<boolean>('autoCompute', true), maxAutoBytes: typeof max === 'number' && max >= 0 ? max : 4_000_000_000 };
}

/** One webview showing a document. */
class EditorView {
  disposed = false;
  sliceJob: JobHandle<unknown> | undefined;
  selected: string | undefined;

  constructor(readonly panel: vscode.WebviewPanel) {}

  post(msg: HostToWebview): void {
    if (this.disposed) return;
    this.panel.webview.postMessage(msg).then(undefined, () => undefined);
  }
}

export class CheckpointDocument implements vscode.CustomDocument {
  readonly views = new Set<EditorView>();
  readonly stats = new Map<string, StatsEntry>();
  background: JobHandle<unknown> | undefined;
  selectionJob: { name: string; job: JobHandle<unknown> } | undefined;
  progress: StatsProgressMessage = { type: 'statsProgress', state: 'idle', done: 0, total: 0, fraction: 0 };
  /** Weight spectra for the diagnostics section, computed on first request. */
  diagnostics: Promise<DiagnosticsMessage> | undefined;
  /** The diagnostics job while it runs or waits (cancelled when the document closes). */
  diagnosticsJob: JobHandle<unknown> | undefined;
  private pendingEntries: StatsEntry[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private progressDirty = false;
  private readonly onDidDisposeEmitter = new vscode.EventEmitter<void>();
  readonly onDidDispose = this.onDidDisposeEmitter.event;
  disposed = false;

  constructor(
    readonly uri: vscode.Uri,
    readonly listing: Listing | null,
    readonly openError: ErrorInfo | undefined,
  ) {}

  get path(): string {
    return checkpointPath(this.uri);
  }

  broadcast(msg: HostToWebview): void {
    for (const v of this.views) v.post(msg);
  }

  addStats(entry: StatsEntry, urgent = false): void {
    this.stats.set(entry.name, entry);
    this.pendingEntries.push(entry);
    if (urgent) this.flush();
    else this.scheduleFlush();
  }

  setProgress(p: Omit<StatsProgressMessage, 'type'>, urgent = false): void {
    this.progress = { type: 'statsProgress', ...p };
    this.progressDirty = true;
    if (urgent) this.flush();
    else this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.disposed) return;
    this.flushTimer = setTimeout(() => this.flush(), FLUSH_MS);
  }

  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingEntries.length) {
      this.broadcast({ type: 'statsUpdate', entries: this.pendingEntries });
      this.pendingEntries = [];
    }
    if (this.progressDirty) {
      this.progressDirty = false;
      this.broadcast(this.progress);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.background?.cancel();
    this.selectionJob?.job.cancel();
    this.diagnosticsJob?.cancel();
    for (const v of this.views) v.sliceJob?.cancel();
    this.onDidDisposeEmitter.fire();
    this.onDidDisposeEmitter.dispose();
  }
}

export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument>, vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly statusItem: vscode.StatusBarItem;
  private activeDoc: CheckpointDocument | undefined;
  private readonly docs = new Set<CheckpointDocument>();
  private readonly opening = new Map<string, Promise<CheckpointDocument>>();

  static register(context: vscode.ExtensionContext, worker: WorkerHost): CheckpointEditorProvider {
    const provider = new CheckpointEditorProvider(context, worker);
    context.subscriptions.push(
      provider,
      vscode.window.registerCustomEditorProvider(VIEW_TYPE, provider, {
        supportsMultipleEditorsPerDocument: false,
        webviewOptions: { retainContextWhenHidden: false },
      }),
    );
    return provider;
  }

  private constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly worker: WorkerHost,
  ) {
    // A remote checkpoint's byte counter follows what statistics, heatmaps and analyses fetch.
    worker.onRemoteBytes = (path, bytes) => {
      for (const d of this.docs) {
        if (d.path !== path || !d.listing?.remote) continue;
        d.listing.remote.bytesFetched = bytes; // a reloaded webview starts from the latest count
        d.broadcast({ type: 'remoteBytes', bytes });
      }
    };
    this.statusItem = vscode.window.createStatusBarItem('checkpointLens.statistics', vscode.StatusBarAlignment.Left, 10);
    this.statusItem.name = 'Checkpoint Lens statistics';
    this.statusItem.command = 'checkpointLens.cancelStatistics';
    this.disposables.push(this.statusItem);
  }

  dispose(): void {
    for (const d of this.docs) d.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  get activeDocument(): CheckpointDocument | undefined {
    return this.activeDoc;
  }

  /** The open document of `uri` (waits for one being opened), else undefined. */
  async documentFor(uri: vscode.Uri): Promise<CheckpointDocument | undefined> {
    const key = uri.toString();
    for (const d of this.docs) if (d.uri.toString() === key) return d;
    return this.opening.get(key);
  }

  summary(doc: CheckpointDocument): OpenSummary {
    const l = doc.listing;
    return {
      uri: doc.uri.toString(),
      format: l?.format ?? null,
      tensors: l ? tableOf(l.tensors).length : 0,
      params: l?.totals.params ?? 0,
      bytes: l?.totals.bytes ?? 0,
      ...(doc.openError ? { error: doc.openError.message } : {}),
    };
  }

  // --- CustomReadonlyEditorProvider ----------------------------------------------------------

  openCustomDocument(uri: vscode.Uri, ctx: vscode.CustomDocumentOpenContext, token: vscode.CancellationToken): Promise<CheckpointDocument> {
    const key = uri.toString();
    const p = this.openDocument(uri, ctx, token).finally(() => {
      if (this.opening.get(key) === p) this.opening.delete(key);
    });
    this.opening.set(key, p);
    return p;
  }

  private async openDocument(uri: vscode.Uri, _ctx: vscode.CustomDocumentOpenContext, token: vscode.CancellationToken): Promise<CheckpointDocument> {
    if (uri.scheme !== 'file' && uri.scheme !== REMOTE_SCHEME) {
      return new CheckpointDocument(uri, null, { name: 'Error', message: `Checkpoint Lens reads local files and http(s) URLs only (this is a ${uri.scheme}: resource; use Open Remote Checkpoint… for URLs).` });
    }
    const started = Date.now();
    const job = this.worker.open(checkpointPath(uri));
    const sub = token.onCancellationRequested(() => job.cancel());
    let doc: CheckpointDocument;
    try {
      const listing = await job.promise;
      log().info(`opened ${checkpointPath(uri)}: ${listing.format}, ${tableOf(listing.tensors).length} tensors in ${Date.now() - started} ms`);
      for (const w of listing.warnings) log().warn(`${basename(checkpointPath(uri))}: ${w}`);
      doc = new CheckpointDocument(uri, listing, undefined);
    } catch (e) {
      log().error(`opening ${checkpointPath(uri)} failed: ${(e as Error).message}`);
      doc = new CheckpointDocument(uri, null, errorInfo(e));
    } finally {
      sub.dispose();
    }
    this.docs.add(doc);
    doc.onDidDispose(() => {
      this.docs.delete(doc);
      if (this.activeDoc === doc) this.activeDoc = undefined;
      this.worker.close(doc.path);
      this.worker.forgetRemoteBytes(doc.path);
      this.updateStatus();
    });
    return doc;
  }

  async resolveCustomEditor(doc: CheckpointDocument, panel: vscode.WebviewPanel): Promise<void> {
    const view = new EditorView(panel);
    doc.views.add(view);
    const distUri = vscode.Uri.joinPath(this.context.extensionUri, 'dist');
    panel.webview.options = { enableScripts: true, localResourceRoots: [distUri] };
    panel.webview.html = editorHtml({
      cspSource: panel.webview.cspSource,
      nonce: makeNonce(),
      styleNonce: makeNonce(),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(distUri, 'webviews', 'editor.js')).toString(),
      styleUri: ['vega.css', 'editor.css'].map((f) => panel.webview.asWebviewUri(vscode.Uri.joinPath(distUri, 'webviews', f)).toString()),
    });

    const subs: vscode.Disposable[] = [];
    panel.webview.onDidReceiveMessage(
      (raw: unknown) => {
        if (!isWebviewToHost(raw)) {
          log().warn('dropped a malformed message from the checkpoint editor webview');
          return;
        }
        void this.onMessage(doc, view, raw).catch((e: Error) => {
          log().error(`handling ${raw.type} failed: ${e.stack ?? e.message}`);
          view.post({ type: 'error', message: e.message });
        });
      },
      undefined,
      subs,
    );
    panel.onDidChangeViewState(
      () => {
        if (panel.active) this.activeDoc = doc;
        else if (this.activeDoc === doc && !panel.visible) this.activeDoc = undefined;
        this.updateStatus();
      },
      undefined,
      subs,
    );
    panel.onDidDispose(
      () => {
        view.disposed = true;
        view.sliceJob?.cancel();
        doc.views.delete(view);
        for (const s of subs.splice(0)) s.dispose();
        if (this.activeDoc === doc && doc.views.size === 0) this.activeDoc = undefined;
        this.updateStatus();
      },
      undefined,
      subs,
    );
    if (panel.active) this.activeDoc = doc;
    this.updateStatus();
  }

  // --- Messages ------------------------------------------------------------------------------

  private async onMessage(doc: CheckpointDocument, view: EditorView, msg: WebviewToHost): Promise<void> {
    switch (msg.type) {
      case 'ready':
        this.sendInit(doc, view);
        if (doc.listing && doc.progress.state === 'idle') {
          // Remote files: statistics would download every tensor, so they wait to be asked for.
          const decision = doc.listing.remote
            ? { run: false, reason: `A remote checkpoint: statistics download the tensors (${formatBytes(doc.listing.totals.bytes)}), so they run only when asked (select a tensor, or Compute statistics).` }
            : autoComputeDecision(readSettings(doc.uri), doc.listing.totals.bytes, tableOf(doc.listing.tensors).length);
          if (decision.run) this.startBackground(doc);
          else doc.setProgress({ state: 'skipped', done: doc.stats.size, total: tableOf(doc.listing.tensors).length, fraction: 0, reason: decision.reason }, true);
        }
        return;
      case 'selectTensor':
        this.select(doc, view, msg.name);
        return;
      case 'computeStats':
        this.startBackground(doc);
        return;
      case 'cancelStats':
        this.cancelBackground(doc);
        return;
      case 'exportData':
        await this.exportData(doc, msg);
        return;
      case 'requestDiagnostics':
        // Every view of the document shows the result (and the progress before it).
        doc.broadcast(await this.diagnostics(doc));
        return;
      case 'cancelDiagnostics':
        doc.diagnosticsJob?.cancel();
        return;
    }
  }

  /**
   * The spectra analysis of the document, in the worker, once; errors become a message. Large
   * matrices get the top 32 singular values by Lanczos within the time budget (the view states
   * how exact each one is); progress and "queued behind …" go to every view of the document.
   */
  private diagnostics(doc: CheckpointDocument): Promise<DiagnosticsMessage> {
    if (doc.diagnostics) return doc.diagnostics;
    const { budgetSeconds } = readDiagnosticsSettings(doc.uri);
    const started = Date.now();
    const job = this.worker.analysis(
      {
        kind: 'spectra',
        params: { a: doc.path, topK: 32, budgetSeconds, maxExactWork: 5e8 },
        backend: vscode.workspace.getConfiguration('checkpointLens').get('backend', 'auto'),
      },
      {
        label: `weight diagnostics of ${basename(doc.path)}`,
        onProgress: (fraction, _t, message) => doc.broadcast({ type: 'diagnosticsProgress', fraction, ...(message ? { message } : {}) }),
        onQueued: (behind) => doc.broadcast({ type: 'diagnosticsProgress', fraction: 0, queuedBehind: behind.join(', ') }),
        onStarted: () => doc.broadcast({ type: 'diagnosticsProgress', fraction: 0, message: 'starting' }),
      },
    );
    doc.diagnosticsJob = job;
    doc.diagnostics = job.promise.then(
      (v): DiagnosticsMessage => {
        log().info(`weight diagnostics of ${basename(doc.path)} done in ${Date.now() - started} ms`);
        return { type: 'diagnostics', view: v };
      },
      (e: Error): DiagnosticsMessage => {
        doc.diagnostics = undefined;
        if (isCancelled(e)) {
          log().info(`weight diagnostics of ${basename(doc.path)} cancelled after ${Date.now() - started} ms`);
          return { type: 'diagnostics', view: null, cancelled: true };
        }
        log().warn(`weight diagnostics of ${doc.path} failed: ${e.message}`);
        return { type: 'diagnostics', view: null, error: e.message };
      },
    );
    void doc.diagnostics.finally(() => {
      if (doc.diagnosticsJob === job) doc.diagnosticsJob = undefined;
    });
    return doc.diagnostics;
  }

  private sendInit(doc: CheckpointDocument, view: EditorView): void {
    view.post({
      type: 'init',
      fileName: basename(doc.path),
      listing: doc.listing,
      ...(doc.openError ? { error: doc.openError } : {}),
      stats: [...doc.stats.values()],
      settings: readSettings(doc.uri),
      diagnostics: readDiagnosticsSettings(doc.uri),
    });
    if (doc.progress.state !== 'idle') view.post(doc.progress);
  }

  // --- Background statistics -----------------------------------------------------------------

  /** Starts statistics of every tensor not yet known (a restart after cancel resumes). */
  startBackground(doc: CheckpointDocument): void {
    if (!doc.listing || doc.disposed || doc.background) return;
    const names = [...tableOf(doc.listing.tensors).names()].filter((n) => !doc.stats.get(n)?.stats);
    const total = tableOf(doc.listing.tensors).length;
    if (names.length === 0) {
      doc.setProgress({ state: 'done', done: doc.stats.size, total, fraction: 1 }, true);
      return;
    }
    const started = Date.now();
    const job = this.worker.stats(doc.path, names, {
      onItem: (name, stats, error) => {
        doc.addStats(stats ? { name, stats: sanitizeStats(stats) } : { name, stats: null, error: error?.message ?? 'statistics failed' });
      },
      onProgress: (fraction) => {
        doc.setProgress({ state: 'running', done: doc.stats.size, total, fraction });
        this.updateStatus();
      },
    });
    doc.background = job;
    doc.setProgress({ state: 'running', done: doc.stats.size, total, fraction: 0 }, true);
    this.updateStatus();
    log().info(`statistics of ${names.length} tensors of ${basename(doc.path)} started`);
    job.promise.then(
      (r) => {
        log().info(`statistics of ${basename(doc.path)} done in ${Date.now() - started} ms (${(r as { failed: number }).failed} failed)`);
        this.finishBackground(doc, job, 'done');
      },
      (e: Error) => {
        if (isCancelled(e)) {
          log().info(`statistics of ${basename(doc.path)} cancelled after ${Date.now() - started} ms`);
          this.finishBackground(doc, job, 'cancelled');
        } else {
          log().error(`statistics of ${basename(doc.path)} failed: ${e.message}`);
          this.finishBackground(doc, job, 'failed', e.message);
        }
      },
    );
  }

  private finishBackground(doc: CheckpointDocument, job: JobHandle<unknown>, state: StatsState, reason?: string): void {
    if (doc.background !== job) return;
    doc.background = undefined;
    const total = doc.listing ? tableOf(doc.listing.tensors).length : 0;
    doc.setProgress({ state, done: doc.stats.size, total, fraction: state === 'done' ? 1 : doc.progress.fraction, ...(reason ? { reason } : {}) }, true);
    this.updateStatus();
  }

  cancelBackground(doc: CheckpointDocument): void {
    doc.background?.cancel();
  }

  private updateStatus(): void {
    const doc = this.activeDoc ?? [...this.docs].find((d) => d.background);
    if (!doc?.background) {
      this.statusItem.hide();
      return;
    }
    const p = doc.progress;
    this.statusItem.text = `$(sync~spin) Checkpoint stats ${Math.floor(p.fraction * 100)}%`;
    this.statusItem.tooltip = `Checkpoint Lens: statistics of ${basename(doc.path)}: ${p.done} of ${p.total} tensors. Click to cancel.`;
    this.statusItem.show();
  }

  /**
   * Cancels the background statistics of `uri`'s checkpoint, else of the active editor's, else
   * of any running. Returns whether a running job was cancelled.
   */
  async cancelStatistics(uri?: vscode.Uri): Promise<boolean> {
    const doc = uri ? await this.documentFor(uri) : this.activeDoc?.background ? this.activeDoc : [...this.docs].find((d) => d.background);
    if (!doc?.background) return false;
    this.cancelBackground(doc);
    return true;
  }

  /**
   * Computes the statistics of every tensor of `uri`'s checkpoint (else the active editor's)
   * not known yet, and resolves when that job has ended (done, cancelled or failed).
   * Undefined when no such checkpoint is open.
   */
  async computeStatistics(uri?: vscode.Uri): Promise<StatsSummary | undefined> {
    const doc = uri ? await this.documentFor(uri) : this.activeDoc;
    if (!doc?.listing) return undefined;
    this.startBackground(doc);
    // finishBackground is chained to the job first, so the progress is final once this resumes.
    await doc.background?.promise.catch(() => undefined);
    const p = doc.progress;
    return { uri: doc.uri.toString(), state: p.state, done: p.done, total: p.total, ...(p.reason ? { reason: p.reason } : {}) };
  }

  // --- Selection -------------------------------------------------------------------------------

  private select(doc: CheckpointDocument, view: EditorView, name: string): void {
    if (!doc.listing || tableOf(doc.listing.tensors).indexOf(name) < 0) return;
    view.selected = name;

    if (!doc.stats.get(name)?.stats && doc.selectionJob?.name !== name) {
      doc.selectionJob?.job.cancel();
      const job = this.worker.stats(doc.path, [name], {
        priority: true,
        onItem: (n, stats, error) => {
          doc.addStats(stats ? { name: n, stats: sanitizeStats(stats) } : { name: n, stats: null, error: error?.message ?? 'statistics failed' }, true);
        },
        onProgress: (fraction) => view.post({ type: 'tensorProgress', name, fraction }),
      });
      doc.selectionJob = { name, job };
      job.promise
        .catch((e: Error) => {
          if (!isCancelled(e)) {
            doc.addStats({ name, stats: null, error: e.message }, true);
            log().warn(`statistics of "${name}" failed: ${e.message}`);
          }
        })
        .finally(() => {
          if (doc.selectionJob?.job === job) doc.selectionJob = undefined;
        });
    }

    view.sliceJob?.cancel();
    const slice = this.worker.slice2d(doc.path, name, 128, 128);
    view.sliceJob = slice;
    slice.promise.then(
      (s) => {
        if (view.selected === name) view.post({ type: 'sliceData', name, slice: s });
      },
      (e: Error) => {
        if (isCancelled(e)) return;
        log().warn(`2-D slice of "${name}" failed: ${e.message}`);
        if (view.selected === name) view.post({ type: 'sliceData', name, slice: null, error: e.message });
      },
    ).finally(() => {
      if (view.sliceJob === slice) view.sliceJob = undefined;
    });
  }

  // --- Export ----------------------------------------------------------------------------------

  /**
   * Command: export the active editor's table (asks CSV or JSON, and where, when not given).
   * Returns the written file, or undefined (nothing open, cancelled, or failed).
   */
  async exportActiveTable(format?: 'csv' | 'json', target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const doc = this.activeDoc;
    if (!doc?.listing) {
      void vscode.window.showInformationMessage('Open a checkpoint in Checkpoint Lens first.');
      return undefined;
    }
    const picked =
      format ??
      (
        await vscode.window.showQuickPick(
          [
            { label: 'CSV', description: 'one row per tensor with its statistics', format: 'csv' as const },
            { label: 'JSON', description: 'metadata, totals, tensors and full statistics with histograms', format: 'json' as const },
          ],
          { title: 'Export the tensor table as', ignoreFocusOut: true },
        )
      )?.format;
    if (!picked) return undefined;
    return this.exportData(doc, { type: 'exportData', kind: 'table', format: picked }, target);
  }

  private async exportData(doc: CheckpointDocument, msg: ExportDataMessage, to?: vscode.Uri): Promise<vscode.Uri | undefined> {
    if (!doc.listing) return undefined;
    const stem = checkpointStem(doc.path);
    let fileName: string;
    let bytes: Uint8Array;
    let filters: Record<string, string[]>;
    if (msg.kind === 'table') {
      const entries = [...doc.stats.values()];
      const text = msg.format === 'csv' ? tableCsv(doc.listing, entries) : tableJson(doc.listing, entries);
      bytes = Buffer.from(text, 'utf8');
      fileName = `${stem}-tensors.${msg.format}`;
      filters = msg.format === 'csv' ? { CSV: ['csv'] } : { JSON: ['json'] };
    } else {
      bytes = exportBytes(msg.format, msg.content);
      fileName = `${stem}-${safeStem(msg.tensor, 60)}-${msg.chart}${msg.format === 'json' ? '-data' : ''}.${msg.format}`;
      filters = { svg: { 'SVG image': ['svg'] }, png: { 'PNG image': ['png'] }, json: { JSON: ['json'] } }[msg.format];
    }
    const defaultUri = vscode.Uri.joinPath(doc.uri, '..', fileName);
    const target = to ?? (await vscode.window.showSaveDialog({ defaultUri, filters, title: 'Export from Checkpoint Lens' }));
    if (!target) return undefined;
    try {
      if (target.scheme === 'file') await writeFileAtomic(target.fsPath, bytes);
      else await vscode.workspace.fs.writeFile(target, bytes);
      log().info(`exported ${fileName} to ${target.toString(true)} (${bytes.byteLength} bytes)`);
      void vscode.window.showInformationMessage(`Exported ${basename(target.path)}.`);
      return target;
    } catch (e) {
      log().error(`export to ${target.toString(true)} failed: ${(e as Error).message}`);
      void vscode.window.showErrorMessage(`Export failed: ${(e as Error).message}`);
      return undefined;
    }
  }
}
