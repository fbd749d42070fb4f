// Remote checkpoints in the editor: a URI of our own scheme carries the http(s) URL, and a
// read-only, empty file system for that scheme lets VS Code open it in the custom editor (the
// worker reads the bytes by range; VS Code never does).
import * as vscode from 'vscode';

export const REMOTE_SCHEME = 'checkpoint-lens-remote';

/** An editor URI for a remote URL: the path shows host and file, the query holds the URL. */
export function remoteUri(url: string): vscode.Uri {
  const u = new URL(url);
  return vscode.Uri.from({ scheme: REMOTE_SCHEME, path: `/${u.host}${u.pathname}`, query: encodeURIComponent(url) });
}

/** The path or URL the worker opens for an editor URI. */
export function checkpointPath(uri: vscode.Uri): string {
  return uri.scheme === REMOTE_SCHEME ? decodeURIComponent(uri.query) : uri.fsPath;
}

export class RemoteFileSystem implements vscode.FileSystemProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  watch(): vscode.Disposable {
    return new vscode.Disposable(() => undefined);
  }
  stat(): vscode.FileStat {
    return { type: vscode.FileType.File, ctime: 0, mtime: 0, size: 0, permissions: vscode.FilePermission.Readonly };
  }
  readDirectory(): [string, vscode.FileType][] {
    return [];
  }
  readFile(): Uint8Array {
    return new Uint8Array(0);
  }
  createDirectory(): void {
    throw vscode.FileSystemError.NoPermissions('remote checkpoints are read-only');
  }
  writeFile(): void {
    throw vscode.FileSystemError.NoPermissions('remote checkpoints are read-only');
  }
  delete(): void {
    throw vscode.FileSystemError.NoPermissions('remote checkpoints are read-only');
  }
  rename(): void {
    throw vscode.FileSystemError.NoPermissions('remote checkpoints are read-only');
  }
}
