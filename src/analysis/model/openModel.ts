// One call from a checkpoint path to a runnable model: open, recognise (with its arch hints),
// read the weights, close the file.
import { openCheckpoint } from '../open';
import type { ArchSources } from './archSpec';
import { type Model, createModel } from './execute';
import type { ModelGraph } from './ir';
import { recognizeCheckpoint } from './recognize';
import { type LoadOptions, type StateDict, loadStateDict } from './stateDict';

export interface OpenedModel {
  graph: ModelGraph;
  arch: ArchSources;
  /** The weights as read (PyTorch layout), for analyses that edit or combine them. */
  stateDict: StateDict;
  model: Model;
}

export interface OpenModelOptions extends LoadOptions {
  /** An architecture file overriding the sidecar and defaults (--arch). */
  archFile?: string;
  /** Per-example shape of the data the model will run on (helps recognise CNN input sizes). */
  inputHint?: number[];
}

/** Needs a tfjs backend (initBackend) before the model is run. */
export async function openModel(path: string, opts: OpenModelOptions = {}): Promise<OpenedModel> {
  const ckpt = await openCheckpoint(path);
  try {
    const { graph, arch } = await recognizeCheckpoint(ckpt, { archFile: opts.archFile, inputHint: opts.inputHint });
    const stateDict = await loadStateDict(ckpt, graph, opts);
    return { graph, arch, stateDict, model: createModel(graph, stateDict) };
  } finally {
    await ckpt.close();
  }
}
