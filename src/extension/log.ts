// The extension's one LogOutputChannel ("Checkpoint Lens" in the Output view; the user picks
// its level). Created in activate() and disposed with the extension.
import * as vscode from 'vscode';
import type { Logger } from './workerHost';

let channel: vscode.LogOutputChannel | undefined;

export function createLog(context: vscode.ExtensionContext): vscode.LogOutputChannel {
  channel = vscode.window.createOutputChannel('Checkpoint Lens', { log: true });
  context.subscriptions.push(channel, { dispose: () => (channel = undefined) });
  return channel;
}

/** The channel, or a silent logger before activate()/after dispose. */
export function log(): Logger {
  return channel ?? { trace() {}, debug() {}, info() {}, warn() {}, error() {} };
}
