// What every op module shares: the node fields, the contracts an op fulfils (shape rule, the
// state-dict tensors it reads, its tfjs lowering, the permutation axes it carries) and the
// small helpers several ops use. An engine is one more lowering per op: see OpModule (tfjs:
// prepare + lower; onnxruntime: onnx).
import type * as tf from '@tensorflow/tfjs-core';
import type { Attr } from '../onnx/proto';

export class GraphError extends Error {}

/** The id of the graph's input value; node inputs name it or other node ids. */
export const INPUT = 'input';

/** Suffix of the capture point of an attention node's per-head outputs before its output projection (`h.0.attn:heads`). */
export const HEADS = ':heads';

/** How a 2-D weight is stored: nn.Linear keeps [out, in]; GPT-2's Conv1D keeps [in, out]. */
export type WeightLayout = 'out_in' | 'in_out';

export interface NodeBase {
  /** Unique, readable id, usually the PyTorch module path (`layer1.0.conv1`) or `<block>.<role>`. */
  id: string;
  /** Ids of the values this node reads: INPUT or earlier nodes. */
  inputs: string[];
}

/** How a freshly initialised network fills a tensor (PyTorch's defaults, see stitch/randomInit). */
export type TensorInit = { uniform: number } | 'ones' | 'zeros' | 'normal';

/** A state-dict tensor a node reads, with its shape as PyTorch stores it. */
export interface TensorRef {
  name: string;
  shape: number[];
  init: TensorInit;
  /** False for buffers training does not move (BatchNorm running statistics). */
  parameter: boolean;
  /** A weight matrix whose rows (or columns) are units, for spectra; with the bias of those units. */
  matrix?: { bias?: string; unitsAreColumns: boolean };
}

export type Params = Record<string, tf.Tensor>;

/** Batch statistics a BatchNorm node saw in training mode: biased variance, as it normalised with. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** Values per channel that the statistics were taken over (for the unbiased variance). */
  count: number;
}

/** Reads a node's tensors as float32 tfjs tensors in PyTorch layout (raw: the Float32Array). */
export interface TensorReader {
  tensor(name: string): tf.Tensor;
  raw(name: string): Float32Array;
}

/** What the tfjs engine hands an op's lowering besides its inputs. */
export interface LowerContext {
  params: Params;
  /** Separate ops instead of fused ones (gradient passes). */
  unfused: boolean;
  /** Training-mode BatchNorm: statistics recorded here by node id. */
  batchStats?: Record<string, BatchStats>;
  /** Receives an attention node's per-head outputs when they are captured. */
  onHeads?: (t: tf.Tensor) => void;
  /** Additive causal mask [T, T] (0 on and below the diagonal), cached per T. */
  causalMask(T: number): tf.Tensor2D;
  /** Padded batches: [B, T] with 1 for real tokens and 0 for padding (absent: every token is real). */
  attentionMask?: tf.Tensor;
  /** BERT segment ids [B, T] (absent: all zero). */
  tokenTypes?: tf.Tensor;
}

/**
 * What the ONNX lowering (onnxruntime engine) hands an op besides its inputs' value names.
 * Values are in PyTorch's layout (NCHW images) with a symbolic batch axis first; every other
 * size is known when the graph is built.
 */
export interface OnnxLowerContext {
  /** Per-example shapes of the node's inputs, PyTorch layout. */
  inShapes: number[][];
  /** Adds a node with `outputs` outputs (default 1) and returns their value names. */
  nodes(opType: string, inputs: string[], attrs?: Record<string, Attr>, outputs?: number): string[];
  /** Adds a one-output node and returns its value name. */
  op(opType: string, inputs: string[], attrs?: Record<string, Attr>): string;
  /** The graph input holding a state-dict tensor, as stored (weights are inputs, not initializers). */
  weight(name: string): string;
  /** A value made once per graph under `key` (tables and masks several nodes share). */
  shared(key: string, make: () => string): string;
  /** A float32 constant. */
  floats(values: ArrayLike<number>, dims: number[]): string;
  /** An int64 constant (shapes, axes, indices); dims default to [values.length]. */
  ints(values: readonly number[], dims?: number[]): string;
  /** Training-mode BatchNorm: the graph returns these [C] values as the node's batch statistics. */
  batchNormTraining: boolean;
  batchStats(mean: string, variance: string, countPerExample: number): void;
  /** An attention node's per-head outputs, when `<id>:heads` is captured. */
  onHeads?(value: string): void;
  /** Additive causal mask [T, T]. */
  causalMask(T: number): string;
  /** [B, T] float32, 1 for real tokens, 0 for padding (absent: all real). */
  attentionMask?: string;
  /** [B, T] int32 segment ids (absent: all zero). */
  tokenTypes?: string;
}

/** A value's permuted axis in the permutation-spec walk (align/permutationSpec.ts). */
export interface Axis {
  /** Union-find id; 0 marks an axis that must not be permuted. */
  id: number;
  /** Consecutive indices per unit: 1, H·W for a flattened conv channel, head_dim for heads. */
  repeat: number;
}

export type GroupKind = 'units' | 'stream' | 'heads';

/** What the permutation walk offers an op: its inputs' axes, new groups, merges and members. */
export interface PermuteContext {
  input(i?: number): Axis;
  /** Per-example shape of input i (PyTorch layout). */
  inputShape(i?: number): number[];
  readonly fixed: Axis;
  newAxis(name: string, kind: GroupKind, size: number, repeat?: number): Axis;
  /**
   * The axes of values added or multiplied element-wise become one group (fixed if they cannot);
   * `stream` (default) marks it a residual stream, false keeps it hidden units (a gated MLP).
   */
  merge(a: Axis, b: Axis, stream?: boolean): Axis;
  /** An axis that must not be permuted (reaches the input, the logits, or a position-dependent op). */
  pin(a: Axis): void;
  /** A segment of `tensor`'s `axis` moves with `a`: unit i covers offset + i·repeat … + repeat − 1. */
  member(tensor: string | undefined, axis: number, a: Axis, offset?: number, cost?: boolean): void;
  /** Records the axis of a value inside the node (per-head outputs, `<id>:heads`). */
  setValue(id: string, a: Axis): void;
}

/**
 * One IR op: everything about it in one place. Adding an engine (onnxruntime, #17) adds one
 * more lowering here per op; adding an op adds one module and one registry line.
 */
export interface OpModule<O> {
  /** State-dict tensors the node reads, with their stored shapes. */
  tensors(n: O & NodeBase): TensorRef[];
  /** Per-example output shape from the inputs' (PyTorch layout); throws via fail(). */
  shape(n: O & NodeBase, ins: number[][]): number[];
  /** The node's tensors in the tfjs engine's layout. */
  prepare(n: O & NodeBase, read: TensorReader): Params;
  /** The tfjs lowering: images are NHWC inside the engine. */
  lower(n: O & NodeBase, ins: tf.Tensor[], ctx: LowerContext): tf.Tensor;
  /** The ONNX lowering (onnxruntime engine): returns the output's value name. */
  onnx(n: O & NodeBase, ins: string[], ctx: OnnxLowerContext): string;
  /** The unit axis its output carries, and the members its tensors contribute. */
  permute(n: O & NodeBase, ctx: PermuteContext): Axis;
  /** Reads its input's units as features (activation matching captures that input). */
  readsUnits?: boolean;
  /** Offers its per-head outputs as the capture point `<id>:heads` (attention). */
  hasHeads?: boolean;
}

export function fail(n: NodeBase & { op: string }, what: string): never {
  throw new GraphError(`${n.id} (${n.op}): ${what}`);
}

/** Optional tensor refs: drops undefined names. */
export function refs(...list: (TensorRef | false | undefined)[]): TensorRef[] {
  return list.filter((r): r is TensorRef => !!r && r.name !== undefined);
}

export function ref(name: string | undefined, shape: number[], init: TensorInit, extra: Partial<TensorRef> = {}): TensorRef | undefined {
  return name === undefined ? undefined : { name, shape, init, parameter: true, ...extra };
}

/** Sets only defined tensors. */
export function params(entries: Record<string, tf.Tensor | undefined>): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(entries)) if (v) out[k] = v;
  return out;
}

/** [out, in] ↔ [in, out] storage of a 2-D weight: shape as stored, and the input/output axes. */
export function matrixAxes(layout: WeightLayout): { outAxis: number; inAxis: number } {
  return layout === 'out_in' ? { outAxis: 0, inAxis: 1 } : { outAxis: 1, inAxis: 0 };
}

export function storedShape(layout: WeightLayout, inF: number, outF: number): number[] {
  return layout === 'out_in' ? [outF, inF] : [inF, outF];
}
