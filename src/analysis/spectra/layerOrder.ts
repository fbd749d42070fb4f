// Which tensors are a checkpoint's weight matrices, in what order, and how each one reads as a
// matrix of incoming unit vectors. The recognised graph gives the true layer order and each
// weight's layout; without one, weights are ordered by name as the recognisers order modules.
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { isFloating } from '../core/dtype';
import { type ModelGraph, checkpointName, graphTensorRefs } from '../model/ir';
import { recognizeCheckpoint } from '../model/recognize';
import { nameOrder } from '../model/recognize/common';

export interface WeightLayer {
  tensor: TensorInfo;
  /** Its bias, a vector with one entry per unit, when there is one. */
  bias?: TensorInfo;
  /** True when units are columns (GPT-2's Conv1D stores [in, out]). */
  unitsAreColumns: boolean;
}

export interface LayerOrder {
  layers: WeightLayer[];
  /**
   * Consecutive layers as the graph connects them (a weight and each weight its output reaches
   * through activations, norms, pooling and residual sums): a ResNet's conv2 is followed by the
   * next block's conv1, not by a downsample that sits beside it. Without a graph: name order.
   */
  pairs: [string, string][];
  order: 'graph' | 'name';
  graph: ModelGraph | null;
  /** Why the graph is missing, when it is. */
  recognizeError?: string;
}

/** A weight matrix: a floating tensor of two or more dimensions. */
export function isWeightMatrix(t: TensorInfo): boolean {
  return isFloating(t.dtype) && t.shape.length >= 2 && t.numel > 0;
}

function siblingBias(byName: Map<string, TensorInfo>, t: TensorInfo, units: number): TensorInfo | undefined {
  if (!/(^|\.)weight$/.test(t.name)) return undefined;
  const b = byName.get(t.name.replace(/weight$/, 'bias'));
  return b && b.shape.length === 1 && b.shape[0] === units ? b : undefined;
}

/** Recognises the model when it can (silently falling back to name order) and lists its weight layers. */
export async function weightLayers(ckpt: Checkpoint, archFile?: string): Promise<LayerOrder> {
  const byName = new Map(ckpt.tensors.map((t) => [t.name, t]));
  let graph: ModelGraph | null = null;
  let recognizeError: string | undefined;
  try {
    graph = (await recognizeCheckpoint(ckpt, { archFile })).graph;
  } catch (e) {
    recognizeError = (e as Error).message;
  }
  if (graph) {
    const layers: WeightLayer[] = [];
    const seen = new Set<string>();
    const push = (local: string, localBias: string | undefined, cols: boolean): void => {
      const t = byName.get(checkpointName(graph!, local));
      if (!t || seen.has(t.name) || !isWeightMatrix(t)) return;
      seen.add(t.name);
      const units = cols ? t.shape[1] : t.shape[0];
      const b = localBias ? byName.get(checkpointName(graph!, localBias)) : undefined;
      layers.push({ tensor: t, bias: b && b.numel === units ? b : undefined, unitsAreColumns: cols });
    };
    for (const r of graphTensorRefs(graph)) if (r.matrix) push(r.name, r.matrix.bias, r.matrix.unitsAreColumns);
    if (layers.length) return { layers, order: 'graph', graph, pairs: graphPairs(graph, new Set(layers.map((l) => l.tensor.name))) };
  }
  const weights = ckpt.tensors.filter(isWeightMatrix).sort((a, b) => nameOrder(a.name, b.name));
  return {
    pairs: weights.slice(1).map((t, i) => [weights[i].name, t.name]),
    layers: weights.map((t) => ({ tensor: t, bias: siblingBias(byName, t, t.shape[0]), unitsAreColumns: false })),
    order: 'name',
    graph: null,
    recognizeError,
  };
}

/** Each weight's successors in the graph (see LayerOrder.pairs), as checkpoint tensor names. */
export function graphPairs(graph: ModelGraph, known: Set<string>): [string, string][] {
  const consumers = new Map<string, string[]>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n.id]);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  /** The weight tensors a node's input enters first (an attention node: its qkv weight). */
  const entry = (id: string): string[] => {
    const n = byId.get(id);
    if (!n) return [];
    if (n.op === 'linear' || n.op === 'conv2d') return [checkpointName(graph, n.weight)];
    if (n.op === 'causal_self_attention') return [checkpointName(graph, n.qkvWeight)];
    return [];
  };
  /** The weight tensor whose output leaves a node. */
  const exit = (id: string): string | undefined => {
    const n = byId.get(id);
    if (!n) return undefined;
    if (n.op === 'linear' || n.op === 'conv2d') return checkpointName(graph, n.weight);
    if (n.op === 'causal_self_attention') return checkpointName(graph, n.projWeight);
    return undefined;
  };
  const out: [string, string][] = [];
  const seen = new Set<string>();
  const push = (a: string, b: string): void => {
    const k = `${a}\u0000${b}`;
    if (a === b || seen.has(k) || !known.has(a) || !known.has(b)) return;
    seen.add(k);
    out.push([a, b]);
  };
  for (const n of graph.nodes) {
    const from = exit(n.id);
    if (!from) continue;
    if (n.op === 'causal_self_attention') push(checkpointName(graph, n.qkvWeight), from);
    // Walk forward through nodes without weights until each path meets a weight.
    const stack = [...(consumers.get(n.id) ?? [])];
    const visited = new Set<string>();
    while (stack.length) {
      const id = stack.pop()!;
      if (visited.has(id)) continue;
      visited.add(id);
      const hit = entry(id);
      if (hit.length) {
        for (const h of hit) push(from, h);
        continue;
      }
      stack.push(...(consumers.get(id) ?? []));
    }
  }
  return out;
}
