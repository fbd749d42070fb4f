// "Checkpoint Lens: Evaluate checkpoint…": picks a checkpoint and a dataset (remembered per
// workspace), evaluates in the worker with progress and cancel, and reports loss and accuracy.
import * as vscode from 'vscode';
import { engineSettings } from './engineSettings';
import { causeFirst } from './failureAdvice';
import type { EvalSummary } from '../analysis/protocol';
import { formatEngine } from '../analysis/core/format';
import { LAST_CHECKPOINT, LAST_DATA, archSidecar, pickCheckpoint, pickData } from './pickers';
import type { Logger, WorkerHost } from './workerHost';

export interface EvaluateArgs {
  checkpoint?: string;
  data?: string;
  labels?: string;
  split?: 'test' | 'train';
  arch?: string;
}

export function registerEvaluateCommand(context: vscode.ExtensionContext, worker: WorkerHost, log: Logger): vscode.Disposable {
  return vscode.commands.registerCommand('checkpointLens.evaluate', async (uri?: unknown, args?: unknown): Promise<EvalSummary | undefined> => {
    // From the explorer the first argument is the clicked file; from tests, an EvaluateArgs object.
    const given: EvaluateArgs = isArgs(args) ? args : isArgs(uri) ? uri : {};
    const checkpoint = given.checkpoint ?? (uri instanceof vscode.Uri ? uri.fsPath : await pickCheckpoint(context, 'Checkpoint to evaluate'));
    if (!checkpoint) return undefined;
    const data = given.data ?? (await pickData(context));
    if (!data) return undefined;
    await context.workspaceState.update(LAST_CHECKPOINT, checkpoint);
    await context.workspaceState.update(LAST_DATA, data);
    const engine = engineSettings();
    const arch = given.arch ?? archSidecar(checkpoint);

    const name = vscode.workspace.asRelativePath(checkpoint);
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Evaluating ${name}`, cancellable: true },
      async (progress, token) => {
        let last = 0;
        const job = worker.evaluate(
          { checkpoint, data, labels: given.labels, split: given.split, arch, ...engine },
          {
            onProgress: (f) => {
              progress.report({ increment: Math.max(0, 100 * (f - last)), message: `${Math.round(100 * f)}%` });
              last = f;
            },
            onQueued: (behind) => progress.report({ message: `queued behind ${behind.join(', ')} · Cancel to drop it` }),
            onStarted: () => progress.report({ message: 'starting' }),
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
        void vscode.window.showErrorMessage(`Checkpoint Lens: ${causeFirst({ message: e.message, file: (e as { file?: string }).file })}`);
        return undefined;
      },
    );
    if (!result) return undefined;
    const text = `${name} on ${vscode.workspace.asRelativePath(data)}: loss ${result.loss.toFixed(4)} (mean cross-entropy, nats), accuracy ${(100 * result.accuracy).toFixed(2)}%, n = ${result.n} (${formatEngine(result.backend, result.threads)}, ${result.seconds.toFixed(1)} s)`;
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
