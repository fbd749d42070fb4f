// A webview panel beside the code showing one analysis: its view (replaced as partial views
// arrive), the job's progress and a Cancel button, and exports through a save dialog.
import * as vscode from 'vscode';
import { type AnalysisView, type FailureAction, type JobState, type JsonValue, type OptionField, type PanelExportMessage, type PanelFailure, type PanelOptionsMessage, type HostToPanel, isPanelToHost } from '../analysis/protocol';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exportBytes, safeStem, writeFileAtomic } from './tableExport';
import { viewExport } from './viewExport';
import { editorHtml, makeNonce } from './webviewHtml';
import type { Logger } from './workerHost';

export const PANEL_VIEW_TYPE = 'checkpointLens.analysis';

export class AnalysisPanel implements vscode.Disposable {
  private view: AnalysisView | undefined;
  private job: { state: JobState; fraction: number; message?: string; failure?: PanelFailure } = { state: 'running', fraction: 0 };
  private readonly panel: vscode.WebviewPanel;
  private disposed = false;
  /** Called when the user presses Cancel or closes the panel while the job runs. */
  onCancel: (() => void) | undefined;
  /** Called with the values of "Run again with …" (the host checks them). */
  onRerun: ((values: Record<string, JsonValue>) => void) | undefined;
  /** Called when the form asks for the file of a `data` option; resolves to the picked path. */
  onPickOption: ((key: string) => Promise<string | undefined>) | undefined;
  /** Called with a button of the failed panel (Retry, pick another checkpoint or dataset). */
  onFailureAction: ((action: FailureAction) => void) | undefined;
  private options: PanelOptionsMessage | undefined;

  constructor(
    context: vscode.ExtensionContext,
    private readonly title: string,
    private readonly log: Logger,
  ) {
    const dist = vscode.Uri.joinPath(context.extensionUri, 'dist');
    this.panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, title, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      localResourceRoots: [dist],
      retainContextWhenHidden: true,
    });
    const w = this.panel.webview;
    const nonce = makeNonce();
    let styleNonce = makeNonce();
    while (styleNonce === nonce) styleNonce = makeNonce();
    w.html = editorHtml({
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webviews', 'analysis.js')).toString(),
      styleUri: ['vega.css', 'analysis.css'].map((f) => w.asWebviewUri(vscode.Uri.joinPath(dist, 'webviews', f)).toString()),
      nonce,
      styleNonce,
      loadingText: 'Starting the analysis…',
    });
    w.onDidReceiveMessage((m: unknown) => void this.onMessage(m));
    this.panel.onDidDispose(() => {
      this.disposed = true;
      if (this.job.state === 'running') this.onCancel?.();
    });
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The view shown now (the final one once the job is done). */
  get current(): AnalysisView | undefined {
    return this.view;
  }

  setView(view: AnalysisView): void {
    this.view = view;
    this.send({ type: 'view', view });
  }

  /** The "Run again with …" form: its fields, their values now, and the data the numbers come from. */
  setOptions(fields: OptionField[], values: Record<string, JsonValue>, measuredOn?: string): void {
    if (!fields.length && !measuredOn) return;
    this.options = { type: 'options', fields, values, ...(measuredOn ? { measuredOn } : {}) };
    this.send(this.options);
  }

  setJob(state: JobState, fraction: number, message?: string, failure?: PanelFailure): void {
    this.job = { state, fraction: Math.min(1, Math.max(0, fraction)), message, ...(failure ? { failure } : {}) };
    this.send({ type: 'job', ...this.job });
  }

  reveal(): void {
    if (!this.disposed) this.panel.reveal(vscode.ViewColumn.Beside, true);
  }

  dispose(): void {
    if (!this.disposed) this.panel.dispose();
  }

  private send(m: HostToPanel): void {
    if (!this.disposed) void this.panel.webview.postMessage(m);
  }

  private async onMessage(raw: unknown): Promise<void> {
    if (!isPanelToHost(raw)) {
      this.log.warn('analysis panel: dropped a malformed message');
      return;
    }
    switch (raw.type) {
      case 'panelReady':
        if (this.view) this.send({ type: 'view', view: this.view });
        this.send({ type: 'job', ...this.job });
        if (this.options) this.send(this.options);
        return;
      case 'rerun':
        this.onRerun?.(raw.values);
        return;
      case 'cancelJob':
        this.onCancel?.();
        return;
      case 'pickOption': {
        const field = this.options?.fields.find((f) => f.key === raw.key && f.kind === 'data');
        const path = field ? await this.onPickOption?.(raw.key) : undefined;
        if (path) this.send({ type: 'optionValue', key: raw.key, value: path });
        return;
      }
      case 'failureAction':
        if (this.job.state === 'failed') this.onFailureAction?.(raw.action);
        return;
      case 'exportView':
        await this.export(raw);
        return;
    }
  }

  /** Exports through a save dialog (or to `to`, for tests); returns the written file. */
  async export(m: PanelExportMessage, to?: vscode.Uri): Promise<vscode.Uri | undefined> {
    if (!this.view) return undefined;
    let fileName: string;
    let bytes: Uint8Array;
    try {
      if (m.what === 'chart') {
        fileName = `${m.id}.${m.format}`;
        bytes = exportBytes(m.format, m.content);
      } else if (m.what === 'report' && m.format === 'html') {
        fileName = `report.html`;
        bytes = Buffer.from(m.content, 'utf8');
      } else {
        const e = viewExport(this.view, m);
        fileName = e.fileName;
        bytes = Buffer.from(e.content, 'utf8');
      }
    } catch (e) {
      void vscode.window.showErrorMessage(`Checkpoint Lens: cannot export: ${(e as Error).message}`);
      return undefined;
    }
    // Default names say which analysis of which checkpoints, and never repeat one already there.
    fileName = `${safeStem(this.title, 80)}-${fileName}`;
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (folder?.scheme === 'file') fileName = freeName(folder.fsPath, fileName);
    const defaultUri = folder ? vscode.Uri.joinPath(folder, fileName) : vscode.Uri.file(fileName);
    const ext = fileName.split('.').pop()!;
    const target = to ?? (await vscode.window.showSaveDialog({ defaultUri, filters: { [ext.toUpperCase()]: [ext] }, title: 'Export from Checkpoint Lens' }));
    if (!target) return undefined;
    try {
      if (target.scheme === 'file') await writeFileAtomic(target.fsPath, bytes);
      else await vscode.workspace.fs.writeFile(target, bytes);
      this.log.info(`exported ${fileName} to ${target.toString(true)} (${bytes.byteLength} bytes)`);
      return target;
    } catch (e) {
      this.log.error(`export to ${target.toString(true)} failed: ${(e as Error).message}`);
      void vscode.window.showErrorMessage(`Checkpoint Lens: cannot write ${target.fsPath}: ${(e as Error).message}`);
      return undefined;
    }
  }
}

/** `name`, or name-2, name-3, … : the first that does not exist in `dir`. */
export function freeName(dir: string, name: string): string {
  const dot = name.indexOf('.', Math.max(0, name.lastIndexOf('-')));
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let k = 1; k < 1000; k++) {
    const candidate = k === 1 ? name : `${stem}-${k}${ext}`;
    if (!existsSync(join(dir, candidate))) return candidate;
  }
  return name;
}
