// The checkpoints of a set: files as given, and each folder's checkpoint files (sorted by name;
// a folder that holds no checkpoint files is itself one checkpoint, e.g. a sharded HF folder).
import { promises as fsp } from 'node:fs';
import { basename, dirname } from 'node:path';
import { CheckpointError } from '../core/errors';
import { listRunFolder } from '../compare/runFiles';

export async function expandCheckpointSet(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await fsp.stat(p).catch(() => undefined);
    if (!st) throw new CheckpointError(p, 'cannot open: no such file or folder');
    if (!st.isDirectory()) {
      out.push(p);
      continue;
    }
    const inside = (await listRunFolder(p)).filter((f) => !f.endsWith('.json') || /\.index\.json$/.test(f));
    out.push(...(inside.length ? inside : [p]));
  }
  return [...new Set(out)];
}

/** Short distinct labels: base names without the extension, with the parent folder when two clash. */
export function setNames(paths: readonly string[]): string[] {
  const base = paths.map((p) => basename(p).replace(/\.(safetensors|pt|pth|ckpt|bin|t7|npz)$/i, ''));
  return base.map((b, i) => (base.filter((x) => x === b).length > 1 ? `${basename(dirname(paths[i]))}/${b}` : b));
}
