// Finding training runs and their checkpoints: run folders (or glob patterns of folders), the
// checkpoint files in each, and each checkpoint's training step — from a `global_step`/`step`
// entry in its values or metadata, else from its file name (`step_0010`, `epoch=3-step=1200`,
// `checkpoint-500`), else from an `epoch` entry.
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { Checkpoint, Value } from '../core/checkpoint';
import { CheckpointError } from '../core/errors';

/** Files a run folder's checkpoints may be; index files of sharded checkpoints count, their shards do not. */
const CHECKPOINT_FILE = /\.(safetensors|pt|pth|ckpt|bin|t7|npz)$|\.(safetensors|bin)\.index\.json$/i;
const SHARD = /-\d+-of-\d+\.(safetensors|bin)$/i;
/** Files being written under a temporary name (atomic-rename writers, downloaders). */
const TEMPORARY = /^\.|\.(tmp|temp|part|partial|crdownload|lock)$|~$/i;

export type StepSource = 'global_step' | 'step' | 'name' | 'epoch' | 'name-epoch' | 'name-number';

export interface StepInfo {
  step: number;
  source: StepSource;
}

function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

function globToRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += '[' + segment.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function isDir(p: string): Promise<boolean> {
  return fsp.stat(p).then((s) => s.isDirectory(), () => false);
}

/** Folders matching a pattern with *, ? and [...] in any path segment. */
async function globDirs(pattern: string): Promise<string[]> {
  const abs = resolve(pattern);
  const parts = abs.split(sep);
  let bases = [parts[0] === '' ? sep : parts[0]];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const b of bases) {
      if (!hasGlob(part)) {
        next.push(join(b, part));
        continue;
      }
      const re = globToRegExp(part);
      const names = await fsp.readdir(b).catch(() => [] as string[]);
      for (const n of names.sort()) if (re.test(n) && !(n.startsWith('.') && !part.startsWith('.'))) next.push(join(b, n));
    }
    bases = next;
  }
  const out: string[] = [];
  for (const b of bases) if (await isDir(b)) out.push(b);
  return out;
}

/** Run folders from folder paths and glob patterns, each once, in the order given. */
export async function expandRunPaths(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    if (hasGlob(p)) {
      const dirs = await globDirs(p);
      if (!dirs.length) throw new CheckpointError(p, 'no run folders match this pattern');
      out.push(...dirs);
    } else {
      if (!(await isDir(p))) throw new CheckpointError(p, (await fsp.stat(p).then(() => true, () => false)) ? 'not a folder (a run is a folder of checkpoints)' : 'cannot open: no such folder');
      out.push(resolve(p));
    }
  }
  return [...new Set(out)];
}

/** Distinct short names for run folders: their base names, with the parent added when two clash. */
export function runNames(dirs: readonly string[]): string[] {
  const base = dirs.map((d) => basename(d));
  return base.map((b, i) => (base.filter((x) => x === b).length > 1 ? `${basename(dirname(dirs[i]))}/${b}` : b));
}

/** Whether a folder entry may be a checkpoint of the run (not a temporary or a shard). */
export function isCheckpointName(name: string, isDirectory: boolean): boolean {
  if (TEMPORARY.test(name)) return false;
  if (isDirectory) return /\d/.test(name);
  return CHECKPOINT_FILE.test(name) && !SHARD.test(name);
}

/** The candidate checkpoints in a run folder, sorted by name. */
export async function listRunFolder(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new CheckpointError(dir, `cannot list: ${(e as Error).message}`);
  }
  return entries.filter((e) => isCheckpointName(e.name, e.isDirectory())).map((e) => join(dir, e.name)).sort();
}

function asStep(v: Value | undefined): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim())) return Number(v);
  return undefined;
}

/** A `global_step`, `step` or `epoch` entry (at any depth) of the checkpoint's values or metadata. */
function entry(ckpt: Checkpoint, key: string): number | undefined {
  for (const rec of [ckpt.values, ckpt.metadata]) {
    if (asStep(rec[key]) !== undefined) return asStep(rec[key]);
    for (const [k, v] of Object.entries(rec)) if (k.endsWith('.' + key) && asStep(v) !== undefined) return asStep(v);
  }
  return undefined;
}

/** Step from a file name: step/iter/checkpoint-N first, then epoch N, then the last number. */
export function stepFromName(path: string): StepInfo | undefined {
  const name = basename(path).replace(CHECKPOINT_FILE, '');
  const step = /(?<![a-z])(?:global_step|step|iter(?:ation)?|it|checkpoint|ckpt)[-_=]?(\d+)/i.exec(name);
  if (step) return { step: Number(step[1]), source: 'name' };
  const epoch = /(?<![a-z])(?:epoch|ep)[-_=]?(\d+)/i.exec(name);
  if (epoch) return { step: Number(epoch[1]), source: 'name-epoch' };
  const nums = name.match(/\d+/g);
  return nums ? { step: Number(nums[nums.length - 1]), source: 'name-number' } : undefined;
}

/** The checkpoint's own step entry wins over its name (names get reused: last.ckpt, best.pt). */
export function checkpointStep(ckpt: Checkpoint, path: string): StepInfo | undefined {
  const g = entry(ckpt, 'global_step');
  if (g !== undefined) return { step: g, source: 'global_step' };
  const s = entry(ckpt, 'step');
  if (s !== undefined) return { step: s, source: 'step' };
  const fromName = stepFromName(path);
  if (fromName && fromName.source === 'name') return fromName;
  const e = entry(ckpt, 'epoch');
  if (e !== undefined) return { step: e, source: 'epoch' };
  return fromName;
}
