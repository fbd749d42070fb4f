// "Align B to A first": recognise both checkpoints' model, check they are one architecture, read
// both state dicts and permute B's units onto A's by weight matching (Git Re-Basin), so that a
// permutation of hidden units is not mistaken for change. Shared by `diff --align` and `runs`.
import type { Checkpoint } from '../core/checkpoint';
import { alignStateDicts, checkSameArchitecture, type AlignStateDictsResult } from '../align/alignCheckpoint';
import { type BackendChoice, initBackend } from '../model/backend';
import { type ModelGraph, checkpointName } from '../model/ir';
import { recognizeCheckpoint } from '../model/recognize';
import { type StateDict, loadStateDict } from '../model/stateDict';

export interface AlignSettings {
  seed?: number;
  maxIter?: number;
  archFile?: string;
  backend?: BackendChoice;
  wasmDir?: string;
  isCancelled?: () => boolean;
}

export interface AlignedPair {
  graph: ModelGraph;
  a: StateDict;
  /** B permuted onto A. */
  aligned: StateDict;
  result: AlignStateDictsResult;
  /** Name under which a state-dict tensor is stored in A. */
  storedA: (local: string) => string;
}

/** Weight matching needs tfjs (its similarity matmuls): set up the chosen backend once. */
export async function ensureBackend(s: AlignSettings, log?: (m: string) => void): Promise<void> {
  await initBackend(s.backend ?? 'auto', { wasmDir: s.wasmDir, log });
}

export async function recognizedGraph(ckpt: Checkpoint, archFile?: string): Promise<ModelGraph> {
  return (await recognizeCheckpoint(ckpt, { archFile })).graph;
}

/** Aligns two in-memory state dicts of one graph. */
export async function alignLoaded(graphA: ModelGraph, a: StateDict, b: StateDict, s: AlignSettings): Promise<AlignedPair> {
  const result = await alignStateDicts(graphA, a, b, { seed: s.seed, maxIter: s.maxIter, isCancelled: s.isCancelled });
  return { graph: graphA, a, aligned: result.aligned, result, storedA: (n) => checkpointName(graphA, n) };
}

/** Opens nothing: both checkpoints are already open. Throws CheckpointError naming the file that is not recognised or differs. */
export async function alignCheckpointPair(ca: Checkpoint, cb: Checkpoint, s: AlignSettings, log?: (m: string) => void): Promise<AlignedPair> {
  const ga = await recognizedGraph(ca, s.archFile);
  const gb = await recognizedGraph(cb, s.archFile);
  checkSameArchitecture(ga, gb, ca.path, cb.path);
  await ensureBackend(s, log);
  const a = await loadStateDict(ca, ga, { isCancelled: s.isCancelled });
  const b = await loadStateDict(cb, gb, { isCancelled: s.isCancelled });
  return alignLoaded(ga, a, b, s);
}
