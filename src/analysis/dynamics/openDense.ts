// A checkpoint as a dense network over a flat float64 parameter vector: recognised into the
// graph IR like every analysis, but no tfjs model is built (the dynamics analyses run their own
// double-precision passes).
import { CheckpointError } from '../core/errors';
import type { ArchSources } from '../model/archSpec';
import type { OpenModelOptions } from '../model/openModel';
import { recognizeCheckpoint } from '../model/recognize';
import { type StateDict, loadStateDict } from '../model/stateDict';
import { openCheckpoint } from '../open';
import { GraphError, type ModelGraph } from '../model/ir';
import { type GraphNetSpec, type NetSpec, flattenGraphParams, graphOutputShape, graphSpec } from './graphNet';
import { type DenseNetSpec, denseSpec, flattenParams } from './mlpNet';
import { type TaskData, type TaskDataOptions, loadTaskData } from './taskData';

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

/** A dense chain when the graph is one (the fast MLP engines), else undefined. */
export function tryDense(graph: ModelGraph): DenseNetSpec | undefined {
  try {
    return denseSpec(graph);
  } catch {
    return undefined;
  }
}

export interface OpenedNet {
  graph: ModelGraph;
  stateDict: StateDict;
  spec: NetSpec;
  params: Float64Array;
  data: TaskData;
}

/**
 * Opens `path` and the task data for it: an MLP of Linear layers and the activations its own
 * engines know as a dense net, anything else the graph IR recognises as a graph net (its loss
 * and gradient from the tfjs executor).
 */
export async function openNet(path: string, data: TaskDataOptions & { data: string }, opts: OpenModelOptions = {}): Promise<OpenedNet> {
  const g = await openGraph(path, opts);
  const dense = tryDense(g.graph);
  if (dense) {
    const task = await loadTaskData(data.data, g.graph, dense, data);
    return { graph: g.graph, stateDict: g.stateDict, spec: dense, params: flattenParams(dense, g.stateDict), data: task };
  }
  const { graph } = g;
  let spec: GraphNetSpec;
  let task: TaskData;
  try {
    const defaultOut = graphOutputShape(graph, graph.input.shape);
    task = await loadTaskData(data.data, graph, { outputSize: defaultOut[defaultOut.length - 1] }, data);
    spec = graphSpec(graph, g.stateDict, task.exampleShape);
    if (task.nextToken && graph.family === 'bert') throw new GraphError('BERT is trained on masked tokens, not next-token prediction: the LLC of its masked-LM loss is not supported (a classification head with labelled data is)');
    if (task.nextToken && spec.outputShape.length !== 2) throw new GraphError(`the ${graph.family} network scores whole sequences (output [${spec.outputShape}]), so its data needs labels; next-token cross-entropy needs a language model`);
    if (task.loss === 'mse' && spec.outputShape.length !== 1) throw new GraphError(`mean squared error needs one output vector per example; the ${graph.family} network outputs [${spec.outputShape}]`);
  } catch (e) {
    if (e instanceof GraphError) throw new CheckpointError(path, e.message);
    throw e;
  }
  return { graph, stateDict: g.stateDict, spec, params: flattenGraphParams(spec, g.stateDict), data: task };
}
