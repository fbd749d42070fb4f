// Quick picks for the commands: checkpoints and datasets in the workspace (last used first,
// remembered per workspace), with "Browse…" for anything else. Checkpoints are grouped by
// folder and sorted naturally (step_0005 before step_0010), with their size and step; datasets
// are only files that look like data (not a 1 GB model that happens to be a .safetensors).
import * as vscode from 'vscode';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const CHECKPOINT_GLOB = '**/*.{safetensors,pt,pth,ckpt,bin}';
const DATA_GLOB = '**/*.{npz,npy,gz,idx3-ubyte,safetensors}';
/** Token data: nanoGPT's train/val .bin streams, and text files that have a tokenizer.json beside them. */
const TOKEN_GLOB = '**/{*.txt,*.jsonl,train.bin,val.bin,test.bin}';
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
export const LAST_CHECKPOINT = 'checkpointLens.evaluate.lastCheckpoint';
export const LAST_DATA = 'checkpointLens.evaluate.lastData';
const CHECKPOINT_FILTERS = { Checkpoints: ['safetensors', 'pt', 'pth', 'ckpt', 'bin', 't7'] };

async function pickFile(items: vscode.QuickPickItem[], title: string, filters: Record<string, string[]>, folders = false, describe?: Describer): Promise<string | undefined> {
  const browse: vscode.QuickPickItem = { label: '$(folder-opened) Browse…', alwaysShow: true };
  const picked = describe ? await pickDescribed([...items, browse], title, describe) : await vscode.window.showQuickPick([...items, browse], { title, matchOnDescription: true, ignoreFocusOut: true });
  if (!picked) return undefined;
  if (picked !== browse) return picked.detail;
  const uris = await vscode.window.showOpenDialog({ title, canSelectMany: false, canSelectFolders: folders, canSelectFiles: true, filters });
  return uris?.[0]?.fsPath;
}

/** The recognised model of a checkpoint ("ResNet", "MLP 64→128→10 (relu)"), or undefined. */
export type Describer = (path: string) => Promise<string | undefined>;
let describer: Describer | undefined;

/** Set once at activation: how pickers learn each candidate's model family (headers read in the worker). */
export function setModelDescriber(d: Describer | undefined): void {
  describer = d;
}

/** How many candidates get their family looked up (headers only, one after another). */
const DESCRIBE_MAX = 60;

/**
 * A quick pick shown at once, whose checkpoint rows gain their recognised model family as the
 * worker reads their headers, until the user types or moves: replacing the items moves VS Code's
 * cursor to the first row, and putting it back (activeItems) races the user's own keys, since
 * this side learns of a move only after it happened. Seen in e2e under load: Enter took the
 * row the cursor had been on before an arrow key.
 */
function pickDescribed(items: vscode.QuickPickItem[], title: string, describe: Describer): Promise<vscode.QuickPickItem | undefined> {
  const qp = vscode.window.createQuickPick<vscode.QuickPickItem>();
  qp.title = title;
  qp.matchOnDescription = true;
  qp.ignoreFocusOut = true;
  qp.items = items;
  let open = true;
  // The row VS Code puts the cursor on by itself (the first item); any other means the user moved.
  const first = items.find((it) => it.kind !== vscode.QuickPickItemKind.Separator)?.detail;
  let userActed = false;
  qp.onDidChangeValue(() => {
    userActed = true;
  });
  qp.onDidChangeActive((active) => {
    if (active.length && active[0].detail !== first) userActed = true;
  });
  return new Promise((resolve) => {
    qp.onDidAccept(() => {
      resolve(qp.selectedItems[0] ?? qp.activeItems[0]);
      qp.hide();
    });
    qp.onDidHide(() => {
      open = false;
      resolve(undefined);
      qp.dispose();
    });
    qp.show();
    void (async () => {
      const rows = items.filter((it) => it.detail && it.kind !== vscode.QuickPickItemKind.Separator).slice(0, DESCRIBE_MAX);
      let current = items;
      let dirty = false;
      let flush: NodeJS.Timeout | undefined;
      const apply = (): void => {
        flush = undefined;
        if (!open || !dirty || userActed) return;
        dirty = false;
        current = current.map((it) => ({ ...it, description: labels.has(it.detail!) && it.detail ? withFamily(it.description, labels.get(it.detail)!) : it.description }));
        qp.items = current;
      };
      const labels = new Map<string, string>();
      for (const it of rows) {
        if (!open || userActed) return;
        const family = await describe(it.detail!).catch(() => undefined);
        if (!family) continue;
        labels.set(it.detail!, family);
        dirty = true;
        flush ??= setTimeout(apply, 150);
      }
      if (flush) clearTimeout(flush);
      apply();
    })();
  });
}

/** "last used · 1.2 MB · step 10" → "ResNet · last used · 1.2 MB · step 10". */
export function withFamily(description: string | undefined, family: string): string {
  if (description?.startsWith(`${family} · `) || description === family) return description;
  return description ? `${family} · ${description}` : family;
}

/** The family part of a graph description: "ResNet, BasicBlock blocks …" → "ResNet". */
export function familyLabel(description: string): string {
  const first = description.split(/[,;]/)[0].trim();
  return first.length > 48 ? `${first.slice(0, 47)}…` : first;
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
  return [...items].sort((a, b) => Number(b.description?.startsWith('last used') ?? false) - Number(a.description?.startsWith('last used') ?? false));
}

function sizeOf(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

export function formatSize(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${u[i]}`;
}

/** The training step a file name carries (step_0010, epoch=3, global_step-500, checkpoint-1200), if any. */
export function stepOf(name: string): string | undefined {
  const m = /(step|epoch|iter|global_step|checkpoint|ckpt)[_=-]?(\d+)/i.exec(name);
  return m ? `${m[1].toLowerCase()} ${Number(m[2])}` : undefined;
}

/** Natural order: digits compare as numbers (step_5 < step_10). */
const natural = (a: string, b: string): number => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });

/**
 * Checkpoint items grouped by folder (a separator per folder), natural order within, each with
 * its size and step; the last used one first, above the groups.
 */
export function checkpointItems(paths: string[], last: string | undefined, relative: (p: string) => string): vscode.QuickPickItem[] {
  const item = (p: string): vscode.QuickPickItem => {
    const size = sizeOf(p);
    const bits = [p === last ? 'last used' : undefined, size !== undefined ? formatSize(size) : undefined, stepOf(basename(p))].filter(Boolean);
    return { label: relative(p), detail: p, description: bits.join(' · ') || undefined };
  };
  const out: vscode.QuickPickItem[] = [];
  if (last && paths.includes(last)) out.push(item(last));
  const byDir = new Map<string, string[]>();
  for (const p of paths) if (p !== last) byDir.set(dirname(p), [...(byDir.get(dirname(p)) ?? []), p]);
  for (const dir of [...byDir.keys()].sort(natural)) {
    const rel = relative(dir);
    out.push({ label: rel === dir || rel === '' ? basename(dir) : rel, kind: vscode.QuickPickItemKind.Separator });
    out.push(...byDir.get(dir)!.sort((a, b) => natural(basename(a), basename(b))).map(item));
  }
  return out;
}

/** A checkpoint from the workspace (other than `exclude`), remembered as the last used. */
export async function pickCheckpoint(context: vscode.ExtensionContext, title: string, exclude: string[] = []): Promise<string | undefined> {
  const last = context.workspaceState.get<string>(LAST_CHECKPOINT);
  const found = await vscode.workspace.findFiles(CHECKPOINT_GLOB, '**/node_modules/**', 500);
  const items = checkpointItems(found.map((u) => u.fsPath).filter((p) => !exclude.includes(p)), last, (p) => vscode.workspace.asRelativePath(p));
  const picked = await pickFile(items, title, CHECKPOINT_FILTERS, false, describer);
  if (picked) await context.workspaceState.update(LAST_CHECKPOINT, picked);
  return picked;
}

/** Files that look like datasets: NumPy and IDX files, and only small .safetensors named like data. */
export function looksLikeData(path: string, size: number | undefined): boolean {
  const name = basename(path).toLowerCase();
  if (/labels/.test(name)) return false;
  if (size !== undefined && size > 2e9) return false;
  if (name.endsWith('.safetensors')) return /data|digits|mnist|cifar|images|train|test|valid|dataset|examples/.test(name) && (size ?? 0) < 500e6;
  return true;
}

/** A dataset: a file in the workspace, Fashion-MNIST when Debian's package is installed, or a folder. */
export async function pickData(context: vscode.ExtensionContext, title = 'Dataset (IDX, .npz/.npy with x and y or input_ids, an MNIST-layout folder, nanoGPT .bin, or text beside a tokenizer.json)'): Promise<string | undefined> {
  const last = context.workspaceState.get<string>(LAST_DATA);
  const found = await vscode.workspace.findFiles(DATA_GLOB, '**/node_modules/**', 500);
  const tokens = (await vscode.workspace.findFiles(TOKEN_GLOB, '**/node_modules/**', 500)).filter((u) => u.fsPath.endsWith('.bin') || existsSync(join(dirname(u.fsPath), 'tokenizer.json')));
  const items = [...found.filter((u) => looksLikeData(u.fsPath, sizeOf(u.fsPath))), ...tokens.filter((u) => !/labels/.test(u.fsPath))].sort((a, b) => natural(a.fsPath, b.fsPath)).map((u) => {
    const it = fileItem(u, last);
    const size = sizeOf(u.fsPath);
    return size !== undefined ? { ...it, description: [it.description, formatSize(size)].filter(Boolean).join(' · ') } : it;
  });
  if (existsSync(FASHION_MNIST)) items.unshift({ label: 'Fashion-MNIST', detail: FASHION_MNIST, description: FASHION_MNIST === last ? 'last used' : 'Debian dataset-fashion-mnist' });
  const picked = await pickFile(recentFirst(items), title, { Data: ['npz', 'npy', 'gz', 'safetensors', 'bin', 'txt', 'jsonl'] }, true);
  if (picked) await context.workspaceState.update(LAST_DATA, picked);
  return picked;
}

/**
 * Training-run folders: the workspace folders holding two or more checkpoints (several may be
 * picked), or Browse… for folders elsewhere.
 */
export async function pickRunFolders(title: string): Promise<string[] | undefined> {
  const found = await vscode.workspace.findFiles(CHECKPOINT_GLOB, '**/node_modules/**', 5000);
  const counts = new Map<string, number>();
  for (const u of found) counts.set(dirname(u.fsPath), (counts.get(dirname(u.fsPath)) ?? 0) + 1);
  const items: vscode.QuickPickItem[] = [...counts].filter(([, n]) => n >= 2).sort(([a], [b]) => a.localeCompare(b))
    .map(([dir, n]) => ({ label: vscode.workspace.asRelativePath(dir), description: `${n} checkpoints`, detail: dir }));
  const browse: vscode.QuickPickItem = { label: '$(folder-opened) Browse…', alwaysShow: true };
  const picked = await vscode.window.showQuickPick([...items, browse], { title, canPickMany: true, ignoreFocusOut: true, matchOnDescription: true });
  if (!picked?.length) return undefined;
  const dirs = picked.filter((p) => p !== browse).map((p) => p.detail!);
  if (picked.includes(browse)) {
    const uris = await vscode.window.showOpenDialog({ title, canSelectMany: true, canSelectFolders: true, canSelectFiles: false });
    dirs.push(...(uris ?? []).map((u) => u.fsPath));
  }
  return dirs.length ? dirs : undefined;
}

/** The architecture sidecar of a checkpoint when there is one. */
export function archSidecar(checkpoint: string): string | undefined {
  return existsSync(`${checkpoint}.arch.json`) ? `${checkpoint}.arch.json` : undefined;
}
