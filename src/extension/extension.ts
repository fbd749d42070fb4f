// Extension entry: thin. Creates the log, the lazily started analysis worker and the custom
// editor, and registers the commands. All analysis runs in dist/worker.js.
import * as vscode from 'vscode';
import { CheckpointEditorProvider, VIEW_TYPE } from './checkpointEditorProvider';
import { createLog } from './log';
import { WorkerHost } from './workerHost';

export function activate(context: vscode.ExtensionContext): void {
  const log = createLog(context);
  const worker = new WorkerHost({
    workerPath: vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath,
    log,
  });
  context.subscriptions.push({ dispose: () => worker.dispose() });
  const provider = CheckpointEditorProvider.register(context, worker);

  context.subscriptions.push(
    vscode.commands.registerCommand('checkpointLens.openWith', async (uri?: vscode.Uri) => {
      let target = uri instanceof vscode.Uri ? uri : activeResource();
      if (!target) {
        const picked = await vscode.window.showOpenDialog({
          canSelectMany: false,
          title: 'Open a checkpoint with Checkpoint Lens',
          filters: { Checkpoints: ['safetensors', 'pt', 'pth', 'ckpt', 'bin', 'npz', 'npy', 'json'], 'All files': ['*'] },
        });
        target = picked?.[0];
      }
      if (target) await vscode.commands.executeCommand('vscode.openWith', target, VIEW_TYPE);
    }),
    vscode.commands.registerCommand('checkpointLens.exportTable', (format?: unknown) =>
      provider.exportActiveTable(format === 'csv' || format === 'json' ? format : undefined),
    ),
    vscode.commands.registerCommand('checkpointLens.computeStatistics', () => {
      if (!provider.startActiveStatistics()) void vscode.window.showInformationMessage('Open a checkpoint in Checkpoint Lens first.');
    }),
    vscode.commands.registerCommand('checkpointLens.cancelStatistics', () => provider.cancelActiveStatistics()),
  );
  log.info('Checkpoint Lens activated');
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
