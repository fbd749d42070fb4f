// Extension entry: thin. Creates the log, the lazily started analysis worker and the custom
// editor, and registers the commands. All analysis runs in dist/worker.js.
import * as vscode from 'vscode';
import { CheckpointEditorProvider, VIEW_TYPE, type OpenSummary, type StatsSummary } from './checkpointEditorProvider';
import { registerAlignCommand } from './analysisCommands';
import { registerAnalysisCommands } from './analysisCommandTable';
import { registerEvaluateCommand } from './evaluateCommand';
import { registerRemoteCommand } from './remoteCommand';
import { HubAuth } from './hubAuth';
import { createLog } from './log';
import { logSettingChanges } from './settingsLog';
import { WorkerHost } from './workerHost';
import { familyLabel, setModelDescriber } from './pickers';
import { basename } from 'node:path';

export function activate(context: vscode.ExtensionContext): void {
  const log = createLog(context);
  context.subscriptions.push(logSettingChanges(context, log));
  const maxConcurrent = (): number => vscode.workspace.getConfiguration('checkpointLens.jobs').get<number>('maxConcurrent', 2);
  let hub: HubAuth | undefined;
  const worker = new WorkerHost({
    workerPath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath,
    log,
    maxWorkers: maxConcurrent(),
    // The Hub token (secret storage) and endpoint reach the workers through their environment.
    workerEnv: () => hub?.workerEnv() ?? process.env,
  });
  hub = HubAuth.register(context, worker);
  context.subscriptions.push(
    { dispose: () => worker.dispose() },
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('checkpointLens.jobs.maxConcurrent') && worker.setMaxWorkers(maxConcurrent())),
    // showJobs() → the labels of the jobs listed; picking one offers to cancel it.
    vscode.commands.registerCommand('checkpointLens.showJobs', () => showJobs(worker)),
  );
  const provider = CheckpointEditorProvider.register(context, worker);
  // Pickers show each candidate's recognised model: its header is read in the worker, which then
  // lets go of the file unless an editor has it open.
  const families = new Map<string, string | undefined>();
  setModelDescriber(async (path) => {
    const stat = await vscode.workspace.fs.stat(vscode.Uri.file(path)).then((st) => `${st.mtime}:${st.size}`, () => '');
    const key = `${path}\0${stat}`;
    if (families.has(key)) return families.get(key);
    const listing = await worker.open(path, { label: `reading the header of ${basename(path)}` }).promise.catch(() => undefined);
    const open = vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.input instanceof vscode.TabInputCustom && t.input.uri.scheme === 'file' && t.input.uri.fsPath === path));
    if (!open) worker.close(path);
    const family = listing?.model ? familyLabel(listing.model.description) : undefined;
    families.set(key, family);
    return family;
  });
  context.subscriptions.push({ dispose: () => setModelDescriber(undefined) });

  // Each command returns its result (used by the integration tests; the UI ignores it).
  context.subscriptions.push(
    // openWith(uri?) → a summary of the opened checkpoint (format, tensors, params, bytes).
    vscode.commands.registerCommand('checkpointLens.openWith', async (uri?: vscode.Uri): Promise<OpenSummary | undefined> => {
      let target = uri instanceof vscode.Uri ? uri : activeResource();
      if (!target) {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          title: 'Open a checkpoint with Checkpoint Lens',
          filters: { Checkpoints: ['safetensors', 'pt', 'pth', 'ckpt', 'pt2', 'bin', 't7', 'npz', 'npy', 'gguf', 'json'], 'All files': ['*'] },
        });
        target = picked?.[0];
      }
      if (!target) return undefined;
      await vscode.commands.executeCommand('vscode.openWith', target, VIEW_TYPE);
      const doc = await provider.documentFor(target);
      return doc && provider.summary(doc);
    }),
    // exportTable(format?: 'csv' | 'json', target?: Uri) → the written file.
    vscode.commands.registerCommand('checkpointLens.exportTable', (format?: unknown, target?: unknown) =>
      provider.exportActiveTable(
        format === 'csv' || format === 'json' ? format : undefined,
        target instanceof vscode.Uri ? target : undefined,
      ),
    ),
    // computeStatistics(uri?) → the job's end state ({ state, done, total }) once it has ended.
    vscode.commands.registerCommand('checkpointLens.computeStatistics', async (uri?: unknown): Promise<StatsSummary | undefined> => {
      const r = await provider.computeStatistics(uri instanceof vscode.Uri ? uri : undefined);
      if (!r) void vscode.window.showInformationMessage('Open a checkpoint in Checkpoint Lens first.');
      return r;
    }),
    // cancelStatistics(uri?) → whether a running job was cancelled.
    vscode.commands.registerCommand('checkpointLens.cancelStatistics', (uri?: unknown) =>
      provider.cancelStatistics(uri instanceof vscode.Uri ? uri : undefined),
    ),
  );
  registerRemoteCommand(context, hub);
  // evaluate(uri?, { checkpoint?, data?, labels?, split?, arch? }) → { loss, accuracy, n, backend, seconds }.
  context.subscriptions.push(registerEvaluateCommand(context, worker, log));
  // Analyses (args objects for tests; each resolves to its final AnalysisView).
  const deps = { context, worker, log };
  // align(uri?, { a, b, out, arch?, seed? }): B (clicked) aligned to A, written to OUT.
  context.subscriptions.push(registerAlignCommand(deps));
  // The table-driven analyses (interpolation, stitching, diff, runs, …) that package.json contributes.
  const contributed = new Set(((context.extension.packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? []).map((c) => c.command));
  context.subscriptions.push(...registerAnalysisCommands(deps, contributed));
  log.info('Checkpoint Lens activated');
}

/** Lists running and queued jobs; the one picked can be cancelled. */
async function showJobs(worker: WorkerHost): Promise<string[]> {
  const jobs = worker.jobs();
  if (!jobs.length) {
    void vscode.window.showInformationMessage('Checkpoint Lens: no jobs are running.');
    return [];
  }
  const items = jobs.map((j) => ({
    label: j.label,
    description: j.state === 'running' ? `${Math.round(100 * j.fraction)}%` : j.state,
    detail: `${j.state === 'queued' ? 'waiting' : 'running'} for ${Math.round(j.ageMs / 1000)} s${j.state === 'cancelling' ? '' : ' · pick to cancel'}`,
    job: j,
  }));
  // ignoreFocusOut, as every picker of ours: run from the palette over a checkpoint editor, the
  // focus goes back into the editor's webview after the palette has closed (asynchronously), and
  // that blur would close this list just after it opened.
  const picked = await vscode.window.showQuickPick(items, { title: 'Checkpoint Lens jobs (pick one to cancel it)', ignoreFocusOut: true });
  if (picked && picked.job.state !== 'cancelling') {
    const ok = await vscode.window.showWarningMessage(`Cancel ${picked.job.label}?`, 'Cancel job');
    if (ok) picked.job.cancel();
  }
  return jobs.map((j) => j.label);
}

/** The resource of the active tab (a text editor or any custom editor). */
function activeResource(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  if (input instanceof vscode.TabInputText || input instanceof vscode.TabInputCustom) return input.uri;
  return vscode.window.activeTextEditor?.document.uri;
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
