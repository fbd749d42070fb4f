// Why: a network whose first parametrised layer is a Linear (an MLP) computes, at any point
// Σ_k c_k θ_k of a line or plane, first-layer pre-activations x·W(c)ᵀ + b(c) = Σ_k c_k (x·W_kᵀ + b_k).
// So the first layer (for the 784-512-512-512 MLP, 43% of the work) is run once per endpoint
// and each point combines the cached outputs, then runs the rest of the network. Exact up to
// float rounding; used when a thread evaluates enough points to repay the cache, no BatchNorm
// reset needs the first layer on other data, and the cache fits in memory.
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset';
import { captureFeatures } from '../model/evaluate';
import { createModel } from '../model/execute';
import { INPUT, type ModelGraph, type Node } from '../model/ir';
import type { StateDict } from '../model/stateDict';

/** Largest cache (values over all endpoints) this is used for: 128 M floats, 512 MB. */
const MAX_CACHE_VALUES = 1 << 27;

export interface SplitGraph {
  /** Input → the first Linear (its pre-activation is the output). */
  head: ModelGraph;
  /** The rest of the network, reading the first Linear's output as its input features. */
  tail: ModelGraph;
  first: Node & { op: 'linear' };
}

/** The graph cut after its first Linear, when only flattens precede it and nothing later reads the input. */
export function splitAtFirstLinear(graph: ModelGraph): SplitGraph | undefined {
  let prev = INPUT;
  let i = 0;
  while (i < graph.nodes.length && graph.nodes[i].op === 'flatten' && graph.nodes[i].inputs.length === 1 && graph.nodes[i].inputs[0] === prev) prev = graph.nodes[i++].id;
  const first = graph.nodes[i];
  if (!first || first.op !== 'linear' || first.inputs.length !== 1 || first.inputs[0] !== prev || graph.output === first.id) return undefined;
  const rest = graph.nodes.slice(i + 1);
  const later = new Set(rest.map((n) => n.id));
  if (rest.some((n) => n.inputs.some((id) => id !== first.id && !later.has(id)))) return undefined;
  const rename = (id: string): string => (id === first.id ? INPUT : id);
  return {
    first,
    head: { ...graph, nodes: graph.nodes.slice(0, i + 1), output: first.id, blocks: [] },
    tail: {
      ...graph,
      input: { kind: 'features', shape: [first.outFeatures] },
      nodes: rest.map((n) => ({ ...n, inputs: n.inputs.map(rename) })),
      blocks: graph.blocks.filter((b) => b.nodes.every((id) => later.has(id))).map((b) => ({ ...b, input: rename(b.input) })),
    },
  };
}

/** The endpoints' first-layer outputs on the data, combined per point into a dataset for the tail. */
export class FirstLayerCache {
  private constructor(
    readonly split: SplitGraph,
    private readonly data: Dataset,
    private readonly outputs: tf.Tensor2D[],
  ) {}

  /** Undefined when the graph does not start with a Linear or the cache would be too large. */
  static async build(graph: ModelGraph, endpoints: readonly StateDict[], data: Dataset, opts: { batchSize?: number; isCancelled?: () => boolean } = {}): Promise<FirstLayerCache | undefined> {
    const split = splitAtFirstLinear(graph);
    if (!split || data.n * split.first.outFeatures * endpoints.length > MAX_CACHE_VALUES) return undefined;
    const outputs: tf.Tensor2D[] = [];
    try {
      for (const sd of endpoints) {
        const head = createModel(split.head, sd);
        try {
          const f = (await captureFeatures(head, data, [split.first.id], opts))[split.first.id];
          outputs.push(tf.tensor2d(f.values, [data.n, split.first.outFeatures]));
        } finally {
          head.dispose();
        }
      }
    } catch (e) {
      tf.dispose(outputs);
      throw e;
    }
    return new FirstLayerCache(split, data, outputs);
  }

  /** The tail's input at Σ_k coefs[k]·θ_k: Σ_k coefs[k]·(first-layer output of endpoint k). */
  at(coefs: readonly number[]): Dataset {
    const combined = tf.tidy(() => coefs.reduce<tf.Tensor>((acc, c, k) => (c === 0 ? acc : tf.add(acc, tf.mul(this.outputs[k], c))), tf.zerosLike(this.outputs[0])));
    const values = combined.dataSync() as Float32Array;
    combined.dispose();
    const d = this.data;
    return { name: d.name, n: d.n, x: { values, shape: [d.n, this.split.first.outFeatures], dtype: 'F32', source: d.name }, y: d.y };
  }

  dispose(): void {
    tf.dispose(this.outputs);
  }
}
