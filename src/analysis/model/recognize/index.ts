// Architecture recognition: from a state dict's names and shapes to a graph IR. Each family's
// recogniser either claims the state dict, declines it (not its signature) or fails naming the
// tensors it could not place; the error reports the most specific failure.
import type { Checkpoint } from '../../core/checkpoint';
import { CheckpointError } from '../../core/errors';
import { type ArchSources, type ArchSpec, archHints } from '../archSpec';
import type { Family, ModelGraph } from '../ir';
import { type Attempt, type Recognizer, type TensorSpec, makeContext } from './common';
import { FAMILY_MODULES } from './families';

export type { TensorSpec } from './common';

const RECOGNIZERS: [Family, Recognizer][] = FAMILY_MODULES.map((m) => [m.family, m.recognize]);

const FAMILY_NAMES = Object.fromEntries(FAMILY_MODULES.map((m) => [m.family, m.title])) as Record<Family, string>;

/** Wrappers that prefix every name: DataParallel, torch.compile, Lightning's `self.model`. */
const WRAPPERS = ['module.', '_orig_mod.', 'model.'];

export interface RecognizeOptions {
  arch?: ArchSpec;
  /** Per-example shape of the data the model will be run on, when known. */
  inputHint?: number[];
  /** The state dict's prefix inside the checkpoint (Checkpoint.stateDictPrefix), without the dot. */
  stateDictPrefix?: string;
}

/** Tensors of the state dict with their names made local, and the prefix that was removed. */
export function localStateDict(tensors: readonly TensorSpec[], stateDictPrefix = ''): { prefix: string; tensors: TensorSpec[] } {
  let prefix = stateDictPrefix ? `${stateDictPrefix}.` : '';
  let local = tensors.filter((t) => t.name.startsWith(prefix)).map((t) => ({ name: t.name.slice(prefix.length), shape: t.shape }));
  for (;;) {
    const w = WRAPPERS.find((p) => local.length > 0 && local.every((t) => t.name.startsWith(p) && t.name.length > p.length));
    if (!w) break;
    prefix += w;
    local = local.map((t) => ({ name: t.name.slice(w.length), shape: t.shape }));
  }
  return { prefix, tensors: local };
}

/**
 * Recognition copies and indexes every name (about 130 bytes each); past this many tensors it
 * declines at once, so a million-tensor file opens within the reader's memory. The largest
 * network of any family here holds a few thousand parameter tensors.
 */
export const MAX_RECOGNISED_TENSORS = 100_000;

/** Recognises the network whose state dict holds `tensors` (names as stored in `file`). */
export function recognize(file: string, tensors: readonly TensorSpec[], opts: RecognizeOptions = {}): ModelGraph {
  if (tensors.length > MAX_RECOGNISED_TENSORS) {
    throw new CheckpointError(file, `not recognised as a network: it holds ${tensors.length.toLocaleString('en-US')} tensors, and recognition stops at ${MAX_RECOGNISED_TENSORS.toLocaleString('en-US')}`);
  }
  const { prefix, tensors: local } = localStateDict(tensors, opts.stateDictPrefix);
  if (local.length === 0) throw new CheckpointError(file, 'no tensors to recognise a network from');
  const arch = opts.arch ?? {};
  const ctx = makeContext(file, local, arch, opts.inputHint);
  const tried = arch.family ? RECOGNIZERS.filter(([f]) => f === arch.family) : RECOGNIZERS;
  const failures: Extract<Attempt, { ok: false }>[] = [];
  for (const [, rec] of tried) {
    const a = rec(ctx);
    if (!a) continue;
    if (a.ok) return { ...a.graph, prefix };
    failures.push(a);
  }
  const shape = (n: string): string => `${prefix}${n} [${ctx.byName.get(n)?.shape.join(', ') ?? ''}]`;
  const list = (names: string[]): string => names.slice(0, 12).map(shape).join(', ') + (names.length > 12 ? `, and ${names.length - 12} more` : '');
  const best = failures[0];
  if (!best) {
    const wanted = tried.map(([f]) => FAMILY_NAMES[f]).join(', ');
    throw new CheckpointError(file, `not recognised as ${wanted}: could not place any of its ${local.length} tensors (${list(local.map((t) => t.name))}); an arch file with "family" names the intended one`);
  }
  const where = best.unplaced.length ? `; could not place ${best.unplaced.length} tensor${best.unplaced.length > 1 ? 's' : ''}: ${list(best.unplaced)}` : '';
  throw new CheckpointError(file, `not recognised as ${FAMILY_NAMES[best.family]}: ${best.problem}${where}`);
}

export interface RecognizedModel {
  graph: ModelGraph;
  /** The architecture hints used and the files they came from. */
  arch: ArchSources;
}

/**
 * Recognises an opened checkpoint, with hints from its sidecar `<file>.arch.json`, a
 * config.json beside it, nanoGPT's `model_args`, and `archFile` (which wins).
 */
export async function recognizeCheckpoint(ckpt: Checkpoint, opts: { archFile?: string; inputHint?: number[] } = {}): Promise<RecognizedModel> {
  const arch = await archHints(ckpt.path, ckpt.values, opts.archFile);
  const graph = recognize(ckpt.path, ckpt.tensors, { arch: arch.spec, inputHint: opts.inputHint, stateDictPrefix: ckpt.stateDictPrefix });
  return { graph, arch };
}
