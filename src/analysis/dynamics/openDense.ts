// A checkpoint as a dense network over a flat float64 parameter vector: recognised into the
// graph IR like every analysis, but no tfjs model is built (the dynamics analyses run their own
// double-precision passes).
import { CheckpointError } from '../core/errors';
import type { ArchSources } from '../model/archSpec';
import type { ModelGraph } from '../model/ir';
import type { OpenModelOptions } from '../model/openModel';
import { recognizeCheckpoint } from '../model/recognize';
import { type StateDict, loadStateDict } from '../model/stateDict';
import { openCheckpoint } from '../open';
import { type DenseNetSpec, denseSpec, flattenParams } from './mlpNet';

export interface DenseCheckpoint {
  graph: ModelGraph;
  arch: ArchSources;
  stateDict: StateDict;
  spec: DenseNetSpec;
  params: Float64Array;
}

/** Recognises and reads `path` (any family). */
export async function openGraph(path: string, opts: OpenModelOptions = {}): Promise<{ graph: ModelGraph; arch: ArchSources; stateDict: StateDict }> {
  const ckpt = await openCheckpoint(path);
  try {
    const { graph, arch } = await recognizeCheckpoint(ckpt, { archFile: opts.archFile, inputHint: opts.inputHint });
    const stateDict = await loadStateDict(ckpt, graph, opts);
    return { graph, arch, stateDict };
  } finally {
    await ckpt.close();
  }
}

export async function openDense(path: string, opts: OpenModelOptions = {}): Promise<DenseCheckpoint> {
  const g = await openGraph(path, opts);
  let spec: DenseNetSpec;
  try {
    spec = denseSpec(g.graph);
  } catch (e) {
    throw new CheckpointError(path, (e as Error).message);
  }
  return { ...g, spec, params: flattenParams(spec, g.stateDict) };
}
