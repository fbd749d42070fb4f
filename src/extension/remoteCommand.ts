// "Open Remote Checkpoint…": a URL, hf://org/repo[@rev]/file, or a repo id (its checkpoint files
// listed from the Hub to pick from). The editor then reads headers by range and shows what was
// fetched.
import * as vscode from 'vscode';
import { checkpointFiles, hubFileUrl, listRepoFiles, parseHubRef, resolveRemote } from '../analysis/io/hub';
import { formatBytes } from '../analysis/core/format';
import { REMOTE_SCHEME, RemoteFileSystem, remoteUri } from './remoteUri';
import { VIEW_TYPE } from './checkpointEditorProvider';
import type { HubAuth } from './hubAuth';

export function registerRemoteCommand(context: vscode.ExtensionContext, hub: HubAuth): void {
  context.subscriptions.push(
    vscode.workspace.registerFileSystemProvider(REMOTE_SCHEME, new RemoteFileSystem(), { isReadonly: true, isCaseSensitive: true }),
    // openRemote(spec?) → the URL opened (tests pass the spec; the UI asks for it).
    vscode.commands.registerCommand('checkpointLens.openRemote', async (spec?: unknown): Promise<string | undefined> => {
      const given = typeof spec === 'string' ? spec : await vscode.window.showInputBox({
        title: 'Open Remote Checkpoint',
        prompt: 'An http(s) URL, hf://org/repo[@revision]/file, or a Hugging Face repo id (org/repo). Only headers are downloaded.',
        placeHolder: 'https://huggingface.co/org/repo/resolve/main/model.safetensors',
        ignoreFocusOut: true,
        validateInput: (v) => (v.trim() === '' || /^https?:\/\//i.test(v.trim()) || parseHubRef(v.trim()) ? undefined : 'Expected a URL, hf://org/repo/file, or org/repo'),
      });
      const text = given?.trim();
      if (!text) return undefined;
      try {
        await hub.ready;
        const opts = hub.remoteOptions();
        let url: string;
        const ref = /^https?:\/\//i.test(text) ? undefined : parseHubRef(text);
        if (ref && !ref.file && typeof spec !== 'string') {
          const files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Listing ${ref.repo}…` }, () => listRepoFiles(ref, opts));
          const items = checkpointFiles(files).map((f) => ({ label: f.path, description: f.size ? formatBytes(f.size) : undefined }));
          if (!items.length) throw new Error(`${ref.repo} lists no checkpoint files (safetensors, GGUF, PyTorch)`);
          const picked = await vscode.window.showQuickPick(items, { title: `Checkpoint in ${ref.repo}@${ref.revision}`, matchOnDescription: true, ignoreFocusOut: true });
          if (!picked) return undefined;
          url = hubFileUrl(ref, picked.label, opts);
        } else {
          url = await resolveRemote(text, opts);
        }
        await vscode.commands.executeCommand('vscode.openWith', remoteUri(url), VIEW_TYPE);
        return url;
      } catch (e) {
        void vscode.window.showErrorMessage(`Checkpoint Lens: ${(e as Error).message}`);
        return undefined;
      }
    }),
  );
}
