// Any network of the graph IR (CNNs, ResNets, transformers, MLPs with other activations) as
// an SGLD target: its trainable state-dict tensors as one flat parameter vector, the loss and
// its gradient by tf.valueAndGrads through the tfjs executor (TfjsModel.forwardWith), so every
// op's gradient comes from its own lowering and no family has code here. Float32, as devinterp
// runs. BatchNorm normalises with each batch's statistics (PyTorch's model.train(), which
// devinterp's sampler and init loss set); its running statistics are buffers, not sampled.
import * as tf from '@tensorflow/tfjs-core';
import '../model/gradients';
import { TfjsModel } from '../model/execute';
import { GraphError, type ModelGraph, checkpointName, graphTensorRefs, inferShapes } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import { crossEntropies } from '../stitch/taskLoss';
import type { LossGrad, Targets } from './mlpNet';
import { BatchMaker, type TaskData } from './taskData';

/** One sampled tensor: its graph names (several when tied, e.g. GPT-2's head and wte) and place in the vector. */
export interface GraphParam {
  names: string[];
  shape: number[];
  offset: number;
  size: number;
}

/** What a worker needs to rebuild the network: plain data, structured-clone safe. */
export interface GraphNetSpec {
  kind: 'graph';
  graph: ModelGraph;
  params: GraphParam[];
  /** Tensors that are read but not sampled (BatchNorm running statistics). */
  buffers: { name: string; shape: number[]; values: Float32Array }[];
  size: number;
  /** Per-example input shape (PyTorch layout) and values per example. */
  exampleShape: number[];
  inputSize: number;
  tokens: boolean;
  /** Logits per example: [K], or [T, V] for token models. */
  outputShape: number[];
  /** Classes (or vocabulary) of the logits. */
  outputSize: number;
}

export type NetSpec = import('./mlpNet').DenseNetSpec | GraphNetSpec;

export function isGraphSpec(s: NetSpec): s is GraphNetSpec {
  return (s as GraphNetSpec).kind === 'graph';
}

/** The graph's logits shape per example for inputs of `exampleShape`. */
export function graphOutputShape(graph: ModelGraph, exampleShape: number[]): number[] {
  return inferShapes(graph, exampleShape).get(graph.output)!;
}

/**
 * The sampled parameters of `graph` (every tensor a node reads that training moves, tied names
 * once) and its buffers, for examples of `exampleShape`; throws GraphError when the logits are
 * not scores per example or per position.
 */
export function graphSpec(graph: ModelGraph, sd: StateDict, exampleShape: number[]): GraphNetSpec {
  const outputShape = graphOutputShape(graph, exampleShape);
  if (outputShape.length !== 1 && outputShape.length !== 2) throw new GraphError(`the ${graph.family} network's output [${outputShape}] is not logits per example or per position`);
  const params: GraphParam[] = [];
  const byStored = new Map<string, GraphParam>();
  const buffers: GraphNetSpec['buffers'] = [];
  let offset = 0;
  for (const r of graphTensorRefs(graph)) {
    const t = sd.get(r.name);
    if (!t) throw new GraphError(`the state dict has no ${r.name}`);
    if (!r.parameter) {
      buffers.push({ name: r.name, shape: t.shape, values: Float32Array.from(t.values) });
      continue;
    }
    const stored = checkpointName(graph, r.name);
    const tied = byStored.get(stored);
    if (tied) {
      tied.names.push(r.name);
      continue;
    }
    const size = t.values.length;
    const p: GraphParam = { names: [r.name], shape: t.shape, offset, size };
    offset += size;
    params.push(p);
    byStored.set(stored, p);
  }
  if (!params.length) throw new GraphError('the network has no parameters');
  const tokens = graph.input.kind === 'tokens';
  return {
    kind: 'graph',
    graph,
    params,
    buffers,
    size: offset,
    exampleShape,
    inputSize: exampleShape.reduce((a, b) => a * b, 1),
    tokens,
    outputShape,
    outputSize: outputShape[outputShape.length - 1],
  };
}

/** The state dict's parameters as the flat float64 vector of `spec`. */
export function flattenGraphParams(spec: GraphNetSpec, sd: StateDict): Float64Array {
  const out = new Float64Array(spec.size);
  for (const p of spec.params) out.set(sd.get(p.names[0])!.values, p.offset);
  return out;
}

/**
 * Losses and gradients of a graph network on the current tfjs backend (a pool thread's wasm
 * backend). Inputs are [B, inputSize] floats as BatchMaker fills them (token ids as floats).
 */
export class GraphNet implements LossGrad {
  readonly size: number;
  private readonly model: TfjsModel;
  /** Each parameter's float32 values (own buffers: tfjs-wasm misreads some inputs made from views). */
  private readonly w32: Float32Array[];

  /**
   * `w` gives the values the model is built with (any; every call passes its own);
   * `batchNormTraining` as devinterp samples (true) or for evaluation (false).
   */
  constructor(
    readonly spec: GraphNetSpec,
    w: Float64Array,
    private readonly batchNormTraining = true,
  ) {
    this.size = spec.size;
    const sd: StateDict = new Map();
    for (const b of spec.buffers) sd.set(b.name, { shape: b.shape, values: b.values });
    for (const p of spec.params) {
      const values = Float32Array.from(w.subarray(p.offset, p.offset + p.size));
      for (const name of p.names) sd.set(name, { shape: p.shape, values });
    }
    this.model = new TfjsModel(spec.graph, sd);
    this.w32 = spec.params.map((p) => new Float32Array(p.size));
  }

  private upload(w: Float64Array): tf.Tensor[] {
    return this.spec.params.map((p, i) => {
      const m = this.w32[i];
      for (let k = 0; k < p.size; k++) m[k] = w[p.offset + k];
      return tf.tensor(m, p.shape, 'float32');
    });
  }

  private input(x: Float64Array, B: number): tf.Tensor {
    const n = B * this.spec.inputSize;
    const shape = [B, ...this.spec.exampleShape];
    if (this.spec.tokens) return tf.tensor(Int32Array.from(x.subarray(0, n)), shape, 'int32');
    return tf.tensor(Float32Array.from(x.subarray(0, n)), shape, 'float32');
  }

  /** The mean task loss as a scalar tensor, from the parameter tensors `ts` (in spec order). */
  private lossTensor(ts: tf.Tensor[], input: tf.Tensor, t: Targets, B: number): tf.Scalar {
    const given: Record<string, tf.Tensor> = {};
    this.spec.params.forEach((p, i) => {
      for (const name of p.names) given[name] = ts[i];
    });
    const { output } = this.model.forwardWith(given, input, { batchNormTraining: this.batchNormTraining });
    if (t.kind === 'regression') {
      const y = tf.tensor(Float32Array.from(t.y), output.shape, 'float32');
      return tf.mean(tf.squaredDifference(output, y));
    }
    let logits: tf.Tensor2D;
    let labels: tf.Tensor1D;
    if (output.rank === 2) {
      if (t.kind !== 'classes') throw new GraphError('classifier data needs labels');
      logits = output as tf.Tensor2D;
      labels = tf.tensor1d(t.y, 'int32');
    } else {
      const [, T, V] = output.shape;
      if (t.kind === 'classes') {
        // Toy token tasks with labels: the prediction at the last position, as evaluate scores.
        logits = tf.reshape(tf.slice(output, [0, T - 1, 0], [B, 1, V]), [B, V]);
        labels = tf.tensor1d(t.y, 'int32');
      } else {
        // Next-token cross-entropy over all B·(T − 1) predictions (Hugging Face's labels=input_ids).
        logits = tf.reshape(tf.slice(output, [0, 0, 0], [B, T - 1, V]), [-1, V]);
        labels = tf.reshape(tf.slice(input, [0, 1], [B, T - 1]), [-1]);
      }
    }
    return tf.mean(crossEntropies(logits, labels));
  }

  loss(w: Float64Array, x: Float64Array, t: Targets, B: number): number {
    return tf.tidy(() => {
      const ts = this.upload(w);
      return this.lossTensor(ts, this.input(x, B), t, B).dataSync()[0];
    });
  }

  lossAndGrad(w: Float64Array, x: Float64Array, t: Targets, B: number, grad: Float64Array): number {
    return tf.tidy(() => {
      const ts = this.upload(w);
      const input = this.input(x, B);
      const { value, grads } = tf.valueAndGrads((...ps: tf.Tensor[]) => this.lossTensor(ps, input, t, B))(ts);
      this.spec.params.forEach((p, i) => grad.set(grads[i].dataSync() as Float32Array, p.offset));
      return value.dataSync()[0];
    });
  }

  /** Logits of a batch (BatchNorm as constructed), [B, …outputShape] floats. */
  logits(w: Float64Array, x: Float64Array, B: number): Float32Array {
    return tf.tidy(() => {
      const ts = this.upload(w);
      const given: Record<string, tf.Tensor> = {};
      this.spec.params.forEach((p, i) => {
        for (const name of p.names) given[name] = ts[i];
      });
      return this.model.forwardWith(given, this.input(x, B), { batchNormTraining: this.batchNormTraining }).output.dataSync() as Float32Array;
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/**
 * Mean loss and accuracy (classes; next-token top-1 for language models) over all examples of
 * `data`, BatchNorm as `net` was made (eval mode for a per-checkpoint loss).
 */
export function graphLossAndAccuracy(net: GraphNet, w: Float64Array, data: TaskData): { loss: number; accuracy?: number } {
  const spec = net.spec;
  const per = spec.outputShape.reduce((a, b) => a * b, 1);
  const bs = Math.max(1, Math.min(256, Math.floor((1 << 24) / per)));
  const mk = new BatchMaker(data, bs);
  const idx = Int32Array.from({ length: data.n }, (_, i) => i);
  const K = spec.outputSize;
  let total = 0;
  let correct = 0;
  let count = 0;
  // Cross-entropy of the logits row at `o` against class c; counts a correct argmax.
  const score = (out: Float32Array, o: number, c: number): void => {
    let m = -Infinity;
    let arg = 0;
    for (let k = 0; k < K; k++) if (out[o + k] > m) [m, arg] = [out[o + k], k];
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(out[o + k] - m);
    total += m + Math.log(s) - out[o + c];
    if (arg === c) correct++;
    count++;
  };
  for (let from = 0; from < data.n; from += bs) {
    const to = Math.min(data.n, from + bs);
    const B = to - from;
    const t = mk.fill(idx, from, to);
    const out = net.logits(w, mk.x, B);
    if (t.kind === 'regression') {
      for (let i = 0; i < B * K; i++) total += (out[i] - t.y[i]) ** 2;
      count += B * K;
    } else if (spec.outputShape.length === 1) {
      if (t.kind !== 'classes') throw new GraphError('classifier data needs labels');
      for (let b = 0; b < B; b++) score(out, b * K, t.y[b]);
    } else {
      const T = spec.outputShape[0];
      const F = spec.inputSize;
      for (let b = 0; b < B; b++) {
        if (t.kind === 'classes') score(out, (b * T + T - 1) * K, t.y[b]);
        else for (let p = 0; p + 1 < T; p++) score(out, (b * T + p) * K, mk.x[b * F + p + 1]);
      }
    }
  }
  return data.loss === 'mse' ? { loss: total / count } : { loss: total / count, accuracy: correct / count };
}
