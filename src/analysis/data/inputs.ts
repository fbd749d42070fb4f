// Fitting a dataset's examples to what a model expects, and cutting it into tfjs batches:
// uint8 images scaled to [0, 1]; vectors flattened for MLPs; [H, W] and [H, W, C] images made
// [C, H, W] for CNNs; integer token ids kept as int32 for language models.
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError } from '../core/errors';
import { GraphError, type ModelGraph, inferShapes } from '../model/ir';
import type { Dataset } from './dataset';
import { mulberry32 } from '../core/random';

export interface InputPlan {
  /** Per-example shape handed to the model (PyTorch layout). */
  exampleShape: number[];
  /** Values per example in the dataset. */
  perExample: number;
  /** Dataset examples are [H, W, C] and must be transposed to [C, H, W]. */
  fromHwc: boolean;
  /** Multiplier applied to values (1/255 for uint8 images). */
  scale: number;
  tokens: boolean;
  vocabSize?: number;
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** How the dataset's examples become the model's inputs; throws naming the dataset when they cannot. */
export function planInputs(ds: Dataset, graph: ModelGraph): InputPlan {
  const per = ds.x.shape.slice(1);
  const perExample = numel(per);
  const spec = graph.input;
  const cannot = (why: string): never => {
    throw new CheckpointError(ds.name, `examples of shape [${per}] do not fit the ${graph.family} model (input [${spec.shape}]): ${why}`);
  };
  let exampleShape: number[] | undefined;
  let fromHwc = false;
  if (spec.kind === 'tokens') {
    if (per.length !== 1) cannot('token data must be [N, T] integer ids');
    if (per[0] > spec.shape[0]) cannot(`sequences of ${per[0]} tokens exceed the model's ${spec.shape[0]} positions`);
    if (ds.x.dtype.startsWith('F') && !isIntegral(ds.x.values)) cannot('token ids must be whole numbers');
    exampleShape = per;
  } else if (spec.kind === 'features') {
    if (perExample !== spec.shape[0]) cannot(`${perExample} values per example, the model takes ${spec.shape[0]}`);
    exampleShape = [perExample];
  } else {
    const C = spec.shape[0];
    if (per.length === 3 && per[0] === C) exampleShape = per;
    else if (per.length === 3 && per[2] === C) [exampleShape, fromHwc] = [[C, per[0], per[1]], true];
    else if (per.length === 2 && C === 1) exampleShape = [1, ...per];
    else if (perExample === numel(spec.shape)) exampleShape = spec.shape;
    else if (per.length === 1 && perExample % C === 0 && Number.isInteger(Math.sqrt(perExample / C))) {
      const s = Math.sqrt(perExample / C);
      exampleShape = [C, s, s];
    } else cannot(`the model takes images with ${C} channels`);
  }
  try {
    inferShapes(graph, exampleShape);
  } catch (e) {
    if (e instanceof GraphError) cannot(e.message);
    throw e;
  }
  return { exampleShape: exampleShape!, perExample, fromHwc, scale: spec.kind !== 'tokens' && ds.x.dtype === 'U8' ? 1 / 255 : 1, tokens: spec.kind === 'tokens', vocabSize: spec.vocabSize };
}

function isIntegral(v: ArrayLike<number>): boolean {
  for (let i = 0; i < v.length; i++) if (!Number.isInteger(v[i])) return false;
  return true;
}

/** Examples start…end-1 as a model input tensor ([B, …exampleShape]). */
export function inputBatch(ds: Dataset, plan: InputPlan, start: number, end: number): tf.Tensor {
  return examplesTensor(ds, plan, Array.from({ length: end - start }, (_, i) => start + i));
}

/** The examples at `indices`, in that order, as a model input tensor. */
export function examplesTensor(ds: Dataset, plan: InputPlan, indices: readonly number[]): tf.Tensor {
  const B = indices.length;
  const per = plan.perExample;
  const all = ds.x.values;
  if (plan.tokens) {
    const ids = new Int32Array(B * per);
    indices.forEach((ex, b) => {
      for (let j = 0; j < per; j++) {
        const v = all[ex * per + j];
        if (plan.vocabSize !== undefined && (v < 0 || v >= plan.vocabSize)) throw new CheckpointError(ds.name, `token id ${v} (example ${ex}) is outside the vocabulary of ${plan.vocabSize}`);
        ids[b * per + j] = v;
      }
    });
    return tf.tensor(ids, [B, ...plan.exampleShape], 'int32');
  }
  const out = new Float32Array(B * per);
  const k = plan.scale;
  indices.forEach((ex, b) => {
    const src = ex * per;
    const o = b * per;
    if (plan.fromHwc) {
      const [C, H, W] = plan.exampleShape;
      for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) out[o + (c * H + h) * W + w] = all[src + (h * W + w) * C + c] * k;
    } else {
      for (let j = 0; j < per; j++) out[o + j] = all[src + j] * k;
    }
  });
  return tf.tensor(out, [B, ...plan.exampleShape], 'float32');
}

export interface Batch {
  x: tf.Tensor;
  /** Padded token batches: [B, T] attention mask and segment ids (int32), when the dataset has them. */
  attentionMask?: tf.Tensor;
  tokenTypes?: tf.Tensor;
  /** Labels of the batch (int32), when the dataset has them. */
  y?: tf.Tensor1D;
  start: number;
  end: number;
}

export interface BatchOptions {
  batchSize?: number;
  /** First example (default 0). */
  start?: number;
  /** How many examples (default: to the end). */
  count?: number;
}

/** Consecutive batches; the caller disposes each batch's tensors. */
export function* batches(ds: Dataset, plan: InputPlan, opts: BatchOptions = {}): Generator<Batch> {
  const size = opts.batchSize ?? 256;
  const first = opts.start ?? 0;
  const last = Math.min(ds.n, opts.count === undefined ? ds.n : first + opts.count);
  for (let s = first; s < last; s += size) {
    const e = Math.min(last, s + size);
    // slice, not subarray: tfjs-backend-wasm misreads some kernels' inputs made from views.
    const rows = (a: Int32Array | undefined) => (a && plan.tokens ? tf.tensor2d(a.slice(s * plan.perExample, e * plan.perExample), [e - s, plan.perExample], 'int32') : undefined);
    yield { x: inputBatch(ds, plan, s, e), y: ds.y ? tf.tensor1d(ds.y.slice(s, e), 'int32') : undefined, attentionMask: rows(ds.attentionMask), tokenTypes: rows(ds.tokenTypes), start: s, end: e };
  }
}

export interface SampleOptions {
  batchSize?: number;
  /** Number of batches (default: as many as the dataset fills). */
  numBatches?: number;
  /** Shuffle with this seed (examples drawn without replacement); default: dataset order. */
  seed?: number;
}

/**
 * Model inputs only, for passes that need no labels (BatchNorm recomputation): `numBatches`
 * batches of `batchSize` examples, in dataset order or shuffled reproducibly.
 */
export function* inputSamples(ds: Dataset, plan: InputPlan, opts: SampleOptions = {}): Generator<tf.Tensor> {
  const size = Math.min(opts.batchSize ?? 128, ds.n);
  const count = Math.min(opts.numBatches ?? Math.floor(ds.n / size), Math.floor(ds.n / size));
  const order = Array.from({ length: ds.n }, (_, i) => i);
  if (opts.seed !== undefined) {
    // Fisher–Yates with the library's seeded generator.
    const rand = mulberry32(opts.seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  for (let b = 0; b < count; b++) yield examplesTensor(ds, plan, order.slice(b * size, (b + 1) * size));
}
