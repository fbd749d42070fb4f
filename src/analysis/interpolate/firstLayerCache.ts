// Why: a network whose first parametrised layer is a Linear (an MLP) computes, at any point
// Σ_k c_k θ_k of a line or plane, first-layer pre-activations x·W(c)ᵀ + b(c) = Σ_k c_k (x·W_kᵀ + b_k).
// So the first layer (for the 784-512-512-512 MLP, 43% of the work) is run once per endpoint
// and each point combines the cached outputs, then runs the rest of the network. Exact up to
// float rounding; used when a thread evaluates enough points to repay the cache, no BatchNorm
// reset needs the first layer on other data, and the cache fits in memory.
import type { Dataset } from '../data/dataset';
import { captureFeatures } from '../model/evaluate';
import { createModel } from '../model/execute';
import { INPUT, type ModelGraph, type Node } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import { accumulateScaled } from './lerp';

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

/** The endpoints' first-layer outputs ([n, features] each), as plain arrays a pool can share. */
export type FirstLayerOutputs = Float32Array[];

/** Whether the cache applies to this graph and data (a first Linear, and not too large). */
export function cacheable(graph: ModelGraph, endpoints: number, n: number): SplitGraph | undefined {
  const split = splitAtFirstLinear(graph);
  return split && n * split.first.outFeatures * endpoints <= MAX_CACHE_VALUES ? split : undefined;
}

/**
 * The endpoints' first-layer outputs on the data; `shared` puts them in SharedArrayBuffers, so
 * pool threads read one copy. Undefined when the graph does not start with a Linear or the
 * cache would be too large.
 */
export async function firstLayerOutputs(graph: ModelGraph, endpoints: readonly StateDict[], data: Dataset, opts: { batchSize?: number; isCancelled?: () => boolean; shared?: boolean } = {}): Promise<FirstLayerOutputs | undefined> {
  const split = cacheable(graph, endpoints.length, data.n);
  if (!split) return undefined;
  const size = data.n * split.first.outFeatures;
  const outputs: FirstLayerOutputs = [];
  for (const sd of endpoints) {
    // Used for this cache only: its sessions go with it.
    const head = createModel(split.head, sd, { oneOff: true });
    try {
      const into = new Float32Array(opts.shared ? new SharedArrayBuffer(size * 4) : new ArrayBuffer(size * 4));
      await captureFeatures(head, data, [split.first.id], { ...opts, into: { [split.first.id]: into } });
      outputs.push(into);
    } finally {
      head.dispose();
    }
  }
  return outputs;
}

/** The endpoints' first-layer outputs on the data, combined per point into datasets for the tail. */
export class FirstLayerCache {
  /** The tail's input for one part of the data, rewritten part after part. */
  private combined?: Float32Array;

  constructor(
    readonly split: SplitGraph,
    private readonly data: Dataset,
    private readonly outputs: FirstLayerOutputs,
  ) {}

  /** Undefined when the graph does not start with a Linear or the cache would be too large. */
  static async build(graph: ModelGraph, endpoints: readonly StateDict[], data: Dataset, opts: { batchSize?: number; isCancelled?: () => boolean } = {}): Promise<FirstLayerCache | undefined> {
    const outputs = await firstLayerOutputs(graph, endpoints, data, opts);
    return outputs && new FirstLayerCache(splitAtFirstLinear(graph)!, data, outputs);
  }

  /**
   * The tail's input at Σ_k coefs[k]·θ_k — Σ_k coefs[k]·(first-layer output of endpoint k), in
   * float32 arithmetic — as consecutive parts of at most `examples` examples (one buffer of that
   * size, not one of the whole data per thread). Each part is valid until the next is asked for.
   */
  *parts(coefs: readonly number[], examples: number): Generator<Dataset> {
    const d = this.data;
    const width = this.split.first.outFeatures;
    const rows = Math.max(1, Math.min(examples, d.n));
    this.combined ??= new Float32Array(rows * width);
    for (let start = 0; start < d.n; start += rows) {
      const n = Math.min(rows, d.n - start);
      const combined = this.combined.subarray(0, n * width);
      combined.fill(0);
      coefs.forEach((c, k) => c !== 0 && accumulateScaled(combined, this.outputs[k].subarray(start * width, (start + n) * width), c, false));
      yield { name: d.name, n, x: { values: combined, shape: [n, width], dtype: 'F32', source: d.name }, y: d.y?.subarray(start, start + n) };
    }
  }

  dispose(): void {
    this.combined = undefined;
  }
}
