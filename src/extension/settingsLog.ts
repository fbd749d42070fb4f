// Each change of a Checkpoint Lens setting, as this extension now sees it, in the output channel.
// Jobs read the settings when they start; a hand edit of .vscode/settings.json reaches the
// extension only once VS Code has reloaded the file (seconds later when .vscode/ was just made),
// so this line says from when on the new value applies.
import * as vscode from 'vscode';
import type { Logger } from './workerHost';

/** Logs `key = value` for every contributed setting a configuration change affects. */
export function logSettingChanges(context: vscode.ExtensionContext, log: Logger): vscode.Disposable {
  const contributes = (context.extension.packageJSON as { contributes?: { configuration?: unknown } }).contributes;
  const sections = [contributes?.configuration ?? []].flat() as { properties?: Record<string, unknown> }[];
  const keys = sections.flatMap((s) => Object.keys(s.properties ?? {}));
  return vscode.workspace.onDidChangeConfiguration((e) => {
    const changed = keys.filter((k) => e.affectsConfiguration(k));
    if (!changed.length) return;
    const config = vscode.workspace.getConfiguration();
    log.info(`settings: ${changed.map((k) => `${k} = ${shown(config.get(k))}`).join(', ')}`);
  });
}

/** JSON, with any user:password in a URL (an endpoint) left out. */
function shown(value: unknown): string {
  return JSON.stringify(value ?? null).replace(/(\/\/)[^/@\s"]*@/g, '$1…@');
}
