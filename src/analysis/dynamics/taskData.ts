// The data a training-dynamics analysis scores: model inputs prepared once (scaled, normalised,
// float32 in shared memory, so worker threads read them without copies) and the task — class
// labels (cross-entropy) or real-valued targets (mean squared error). The loss is chosen from
// the data (a float y with non-integral values, or a y with one column per output, is a
// regression) and can be forced with `loss`.
import { CheckpointError } from '../core/errors';
import { isIntegerDType, listArrays } from '../data/arrays';
import { type Dataset, type DatasetOptions, loadDataset } from '../data/dataset';
import { planInputs } from '../data/inputs';
import type { ModelGraph } from '../model/ir';
import type { Targets } from './mlpNet';

export type LossChoice = 'auto' | 'cross_entropy' | 'mse';
export type TaskLoss = 'cross_entropy' | 'mse';

export interface TaskData {
  name: string;
  n: number;
  /** Model inputs [n, inputSize], scaled (and normalised for dense nets), in a SharedArrayBuffer; token ids as floats. */
  x: Float32Array;
  inputSize: number;
  /** Per-example input shape, PyTorch layout ([F], [C, H, W], [T]). */
  exampleShape: number[];
  /** Token ids, scored by next-token cross-entropy (no y) or at the last position (y). */
  tokens: boolean;
  /** Language-model data without labels: cross-entropy of every next token (y is empty). */
  nextToken: boolean;
  loss: TaskLoss;
  /** Int32 class indices, or float targets [n, outputs]. */
  y: Int32Array | Float32Array;
  outputs: number;
}

export interface TaskDataOptions extends DatasetOptions {
  loss?: LossChoice;
  /** Use only the first `limit` examples. */
  limit?: number;
}

const PAIRS: [string, string][] = [['x', 'y'], ['inputs', 'targets'], ['data', 'target'], ['features', 'targets']];

/** A float y (regression targets) from an .npz/safetensors/.pt file, or undefined when y is labels. */
async function regressionArrays(path: string, force: boolean): Promise<{ x: Dataset['x']; y: Float32Array; yShape: number[] } | undefined> {
  if (!/\.(npz|safetensors|pt|pth)$/i.test(path)) return undefined;
  let file;
  try {
    file = await listArrays(path);
  } catch {
    return undefined;
  }
  try {
    const key = (want: string): string | undefined => [...file.names.keys()].find((k) => k.toLowerCase() === want);
    for (const [xn, yn] of PAIRS) {
      const xk = key(xn);
      const yk = key(yn);
      if (!xk || !yk) continue;
      const y = await file.read(yk);
      const integral = isIntegerDType(y.dtype) || Array.prototype.every.call(y.values, (v: number) => Number.isInteger(v));
      const columns = y.shape.length === 2 && y.shape[1] > 1;
      if (!force && integral && !columns) return undefined;
      return { x: await file.read(xk), y: Float32Array.from(y.values as ArrayLike<number>), yShape: y.shape };
    }
    return undefined;
  } finally {
    await file.close();
  }
}

/**
 * What the data must fit: the outputs per example (classes, regression values, or the vocabulary
 * of a language model), and for dense nets the inputs per example and the normalisation to apply
 * here (graph nets normalise in the executor).
 */
export interface TaskNet {
  outputSize: number;
  inputSize?: number;
  normalize?: { mean: number[]; std: number[] };
}

/** Loads `path` for the network `net` of `graph`. */
export async function loadTaskData(path: string, graph: ModelGraph, spec: TaskNet, opts: TaskDataOptions = {}): Promise<TaskData> {
  const choice = opts.loss ?? 'auto';
  const reg = choice === 'cross_entropy' ? undefined : await regressionArrays(path, choice === 'mse');
  let ds: Dataset;
  let loss: TaskLoss;
  let y: Int32Array | Float32Array;
  if (reg) {
    const n = reg.x.shape[0];
    const outputs = reg.yShape.length === 1 ? 1 : reg.yShape.slice(1).reduce((a, b) => a * b, 1);
    if (reg.yShape[0] !== n) throw new CheckpointError(path, `${n} inputs but ${reg.yShape[0]} targets`);
    if (outputs !== spec.outputSize) throw new CheckpointError(path, `the targets have ${outputs} values per example, the model outputs ${spec.outputSize}`);
    ds = { name: path, n, x: reg.x };
    loss = 'mse';
    y = reg.y;
  } else {
    if (choice === 'mse') throw new CheckpointError(path, 'mean squared error needs real-valued targets: an .npz/safetensors file with x and a float y');
    ds = await loadDataset(path, opts);
    loss = 'cross_entropy';
    if (!ds.y && graph.input.kind !== 'tokens') throw new CheckpointError(path, 'the dataset has no labels or targets (give --labels, or an .npz with x and y)');
    y = ds.y ?? new Int32Array(0);
    for (let i = 0; i < y.length; i++) if (y[i] >= spec.outputSize) throw new CheckpointError(path, `label ${y[i]} (example ${i}) is not below the model's ${spec.outputSize} outputs`);
  }
  const n = Math.min(ds.n, opts.limit ?? Infinity);
  // Padding masks and segment ids would change the loss; the dynamics' batches carry token ids only.
  if (ds.attentionMask?.some((v) => v === 0) || ds.tokenTypes?.some((v) => v !== 0)) {
    throw new CheckpointError(path, 'padded or two-segment token data (an attention_mask with padding, or token_type_ids) is not supported by the training-dynamics analyses yet: give unpadded single-segment sequences');
  }
  const plan = planInputs(ds, graph);
  const F = spec.inputSize ?? plan.perExample;
  if (plan.perExample !== F) throw new CheckpointError(path, `${plan.perExample} values per example, the model takes ${F}`);
  const nextToken = plan.tokens && !ds.y;
  if (nextToken && plan.exampleShape[0] < 2) throw new CheckpointError(path, 'next-token cross-entropy needs sequences of at least 2 tokens');
  if (plan.tokens) {
    const V = graph.input.vocabSize ?? Infinity;
    const ids = ds.x.values;
    for (let i = 0; i < n * F; i++) if (!(ids[i] >= 0 && ids[i] < V)) throw new CheckpointError(path, `token id ${ids[i]} (example ${Math.floor(i / F)}) is outside the vocabulary of ${V}`);
  }
  const x = new Float32Array(new SharedArrayBuffer(n * F * 4));
  const src = ds.x.values;
  const norm = spec.normalize;
  // [H, W, C] examples become [C, H, W].
  const [C, H, W] = plan.fromHwc ? plan.exampleShape : [1, 1, F];
  const HW = H * W;
  for (let e = 0; e < n; e++) {
    for (let j = 0; j < F; j++) {
      const from = plan.fromHwc ? e * F + (j % HW) * C + Math.floor(j / HW) : e * F + j;
      let v = src[from] * plan.scale;
      if (norm) {
        const k = norm.mean.length === 1 ? 0 : j;
        v = (v - norm.mean[k]) / norm.std[k];
      }
      x[e * F + j] = v;
    }
  }
  const outputs = loss === 'mse' ? spec.outputSize : 1;
  const count = nextToken ? 0 : n * outputs;
  const ys = loss === 'mse' ? new Float32Array(new SharedArrayBuffer(count * 4)) : new Int32Array(new SharedArrayBuffer(count * 4));
  ys.set(y.subarray(0, count));
  return { name: ds.name, n, x, inputSize: F, exampleShape: plan.exampleShape, tokens: plan.tokens, nextToken, loss, y: ys, outputs: spec.outputSize };
}

/** Batch buffers: copies of examples `idx` (float64 inputs and their targets). */
export class BatchMaker {
  readonly x: Float64Array;
  private readonly cls?: Int32Array;
  private readonly reg?: Float64Array;

  constructor(
    private readonly data: TaskData,
    maxBatch: number,
  ) {
    this.x = new Float64Array(maxBatch * data.inputSize);
    if (data.loss === 'mse') this.reg = new Float64Array(maxBatch * data.outputs);
    else if (!data.nextToken) this.cls = new Int32Array(maxBatch);
  }

  /** Fills the buffers with the examples `idx[from..to)`; returns the targets for the batch. */
  fill(idx: ArrayLike<number>, from: number, to: number): Targets {
    const F = this.data.inputSize;
    const B = to - from;
    for (let b = 0; b < B; b++) {
      const e = idx[from + b];
      const row = this.data.x.subarray(e * F, (e + 1) * F);
      this.x.set(row, b * F);
    }
    if (this.reg) {
      const K = this.data.outputs;
      for (let b = 0; b < B; b++) {
        const e = idx[from + b];
        for (let k = 0; k < K; k++) this.reg[b * K + k] = this.data.y[e * K + k];
      }
      return { kind: 'regression', y: this.reg.subarray(0, B * K) };
    }
    if (!this.cls) return { kind: 'next_token' };
    for (let b = 0; b < B; b++) this.cls[b] = this.data.y[idx[from + b]];
    return { kind: 'classes', y: this.cls!.subarray(0, B) };
  }
}
