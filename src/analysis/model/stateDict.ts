// The values a graph needs, read from a checkpoint as float32 in PyTorch's layout. A state dict
// is also what later analyses build themselves (interpolations, permuted copies) and hand to
// createModel, so it is a plain map from state-dict name to values.
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { CancelledError, CheckpointError } from '../core/errors';
import { readTensor } from '../core/tensorData';
import { type ModelGraph, checkpointName, tensorShapes } from './ir';

export interface TensorValues {
  shape: number[];
  values: Float32Array;
}

/** State-dict name (without the checkpoint prefix) → values. */
export type StateDict = Map<string, TensorValues>;

export interface LoadOptions {
  isCancelled?: () => boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Reads every tensor the graph uses from `ckpt`, checking shapes against the graph. */
export async function loadStateDict(ckpt: Checkpoint, graph: ModelGraph, opts: LoadOptions = {}): Promise<StateDict> {
  const byName = new Map<string, TensorInfo>(ckpt.tensors.map((t) => [t.name, t]));
  const shapes = tensorShapes(graph);
  const sd: StateDict = new Map();
  let done = 0;
  for (const [name, shape] of shapes) {
    if (opts.isCancelled?.()) throw new CancelledError();
    const stored = checkpointName(graph, name);
    const t = byName.get(stored);
    if (!t) throw new CheckpointError(ckpt.path, `tensor "${stored}" that the ${graph.family} graph needs is missing`);
    if (t.shape.join() !== shape.join()) throw new CheckpointError(ckpt.path, `tensor "${stored}" has shape [${t.shape}], the graph needs [${shape}]`);
    const raw = await readTensor(t, undefined, { isCancelled: opts.isCancelled });
    sd.set(name, { shape, values: raw instanceof Float32Array ? raw : Float32Array.from(raw) });
    opts.onProgress?.(++done, shapes.size);
  }
  return sd;
}

/** Checks that `sd` has every tensor the graph needs, with the right shape and size. */
export function checkStateDict(graph: ModelGraph, sd: StateDict, label = 'state dict'): void {
  for (const [name, shape] of tensorShapes(graph)) {
    const t = sd.get(name);
    if (!t) throw new CheckpointError(label, `tensor "${name}" is missing`);
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.shape.join() !== shape.join() || t.values.length !== n) throw new CheckpointError(label, `tensor "${name}" has shape [${t.shape}] (${t.values.length} values), the graph needs [${shape}]`);
  }
}
