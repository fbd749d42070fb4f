// "Checkpoint Lens: Evaluate checkpoint…": picks a checkpoint and a dataset (remembered per
// workspace), evaluates in the worker with progress and cancel, and reports loss and accuracy.
import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import type { EvalSummary } from '../analysis/protocol';
import type { Logger, WorkerHost } from './workerHost';


export interface EvaluateArgs {
  checkpoint?: string;
  data?: string;
  labels?: string;
  split?: 'test' | 'train';
  arch?: string;
}

const CHECKPOINT_GLOB = '**/*.{safetensors,pt,pth,ckpt,bin}';
const DATA_GLOB = '**/*.{npz,npy,gz,idx3-ubyte,safetensors}';
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const LAST_CHECKPOINT = 'checkpointLens.evaluate.lastCheckpoint';
const LAST_DATA = 'checkpointLens.evaluate.lastData';

type Backend = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export function registerEvaluateCommand(context: vscode.ExtensionContext, worker: WorkerHost, log: Logger): vscode.Disposable {
  return vscode.commands.registerCommand('checkpointLens.evaluate', async (uri?: unknown, args?: unknown): Promise<EvalSummary | undefined> => {
    // From the explorer the first argument is the clicked file; from tests, an EvaluateArgs object.
    const given: EvaluateArgs = isArgs(args) ? args : isArgs(uri) ? uri : {};
    const checkpoint = given.checkpoint ?? (uri instanceof vscode.Uri ? uri.fsPath : await pickCheckpoint(context));
    if (!checkpoint) return undefined;
    const data = given.data ?? (await pickData(context));
    if (!data) return undefined;
    await context.workspaceState.update(LAST_CHECKPOINT, checkpoint);
    await context.workspaceState.update(LAST_DATA, data);
    const backend = vscode.workspace.getConfiguration('checkpointLens').get<Backend>('backend', 'auto');
    const arch = given.arch ?? (existsSync(`${checkpoint}.arch.json`) ? `${checkpoint}.arch.json` : undefined);

    const name = vscode.workspace.asRelativePath(checkpoint);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Evaluating ${name}`, cancellable: true },
      async (progress, token) => {
        let last = 0;
        const job = worker.evaluate(
          { checkpoint, data, labels: given.labels, split: given.split, arch, backend },
          {
            onProgress: (f) => {
              progress.report({ increment: Math.max(0, 100 * (f - last)), message: `${Math.round(100 * f)}%` });
              last = f;
            },
          },
        );
        token.onCancellationRequested(() => job.cancel());
        return job.promise;
      },
    ).then(
      (r) => r,
      (e: Error) => {
        if (e.name === 'CancelledError') {
          log.info(`evaluation of ${name} cancelled`);
          return undefined;
        }
        log.error(`evaluation of ${name} failed: ${e.message}`);
        void vscode.window.showErrorMessage(`Checkpoint Lens: ${e.message}`);
        return undefined;
      },
    );
    if (!result) return undefined;
    const text = `${name} on ${vscode.workspace.asRelativePath(data)}: loss ${result.loss.toFixed(4)} (mean cross-entropy, nats), accuracy ${(100 * result.accuracy).toFixed(2)}%, n = ${result.n} (${result.backend}, ${result.seconds.toFixed(1)} s)`;
    log.info(text);
    void vscode.window.showInformationMessage(text, 'Copy JSON').then((choice) => {
      if (choice) void vscode.env.clipboard.writeText(JSON.stringify(result));
    });
    return result;
  });
}

function isArgs(v: unknown): v is EvaluateArgs {
  if (typeof v !== 'object' || v === null || v instanceof vscode.Uri) return false;
  const a = v as Record<string, unknown>;
  return ['checkpoint', 'data', 'labels', 'split', 'arch'].every((k) => a[k] === undefined || typeof a[k] === 'string');
}

async function pickFile(items: vscode.QuickPickItem[], title: string, filters: Record<string, string[]>, folders = false): Promise<string | undefined> {
  const browse: vscode.QuickPickItem = { label: '$(folder-opened) Browse…', alwaysShow: true };
  const picked = await vscode.window.showQuickPick([...items, browse], { title, matchOnDescription: true, ignoreFocusOut: true });
  if (!picked) return undefined;
  if (picked !== browse) return picked.detail;
  const uris = await vscode.window.showOpenDialog({ title, canSelectMany: false, canSelectFolders: folders, canSelectFiles: true, filters });
  return uris?.[0]?.fsPath;
}

function fileItem(uri: vscode.Uri, last: string | undefined): vscode.QuickPickItem {
  return {
    label: vscode.workspace.asRelativePath(uri),
    detail: uri.fsPath,
    description: uri.fsPath === last ? 'last used' : undefined,
  };
}

/** Most recently used first, then workspace order. */
function recentFirst(items: vscode.QuickPickItem[]): vscode.QuickPickItem[] {
  return [...items].sort((a, b) => Number(b.description === 'last used') - Number(a.description === 'last used'));
}

async function pickCheckpoint(context: vscode.ExtensionContext): Promise<string | undefined> {
  const last = context.workspaceState.get<string>(LAST_CHECKPOINT);
  const found = await vscode.workspace.findFiles(CHECKPOINT_GLOB, '**/node_modules/**', 500);
  const items = recentFirst(found.map((u) => fileItem(u, last)));
  return pickFile(items, 'Checkpoint to evaluate', { Checkpoints: ['safetensors', 'pt', 'pth', 'ckpt', 'bin'] });
}

async function pickData(context: vscode.ExtensionContext): Promise<string | undefined> {
  const last = context.workspaceState.get<string>(LAST_DATA);
  const found = await vscode.workspace.findFiles(DATA_GLOB, '**/node_modules/**', 500);
  const items = found.filter((u) => !/labels/.test(u.fsPath)).map((u) => fileItem(u, last));
  if (existsSync(FASHION_MNIST)) items.unshift({ label: 'Fashion-MNIST test set', detail: FASHION_MNIST, description: FASHION_MNIST === last ? 'last used' : 'Debian dataset-fashion-mnist' });
  return pickFile(recentFirst(items), 'Dataset (IDX, .npz/.npy with x and y, or an MNIST-layout folder)', { Data: ['npz', 'npy', 'gz', 'safetensors'] }, true);
}
