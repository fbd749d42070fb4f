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
    if (layers.length) return { layers, order: 'graph', graph };
  }
  const weights = ckpt.tensors.filter(isWeightMatrix).sort((a, b) => nameOrder(a.name, b.name));
  return {
    layers: weights.map((t) => ({ tensor: t, bias: siblingBias(byName, t, t.shape[0]), unitsAreColumns: false })),
    order: 'name',
    graph: null,
    recognizeError,
  };
}
