// The graph IR: a small, explicit description of a network. It is the single source of truth
// for the forward pass, for where features can be captured (block outputs), which blocks can be
// dropped (residual blocks with an identity shortcut), where two models can be stitched (block
// boundaries), and which state-dict tensors every node uses. Shapes are per example, in
// PyTorch's layout ([C, H, W] for images), whatever layout the executor uses inside.

import { GraphError, HEADS, INPUT, type TensorRef } from './ops/base';
import { type Node, type NodeOp, opOf } from './ops/index';

export { GraphError, HEADS, INPUT } from './ops/base';
export type { TensorRef, WeightLayout } from './ops/base';
export { ACTIVATIONS, type ActivationFn, type ActivationOp } from './ops/activation';
export type { AddOp, MulOp } from './ops/add';
export type { BatchNormOp } from './ops/batchnorm';
export type { CausalSelfAttentionOp } from './ops/causalSelfAttention';
export type { Conv2dOp } from './ops/conv2d';
export type { EmbeddingOp, PositionEmbeddingOp } from './ops/embedding';
export type { FlattenOp } from './ops/flatten';
export type { LayerNormOp } from './ops/layernorm';
export type { LinearOp } from './ops/linear';
export type { AdaptiveAvgPoolOp, Pool2dOp } from './ops/pool2d';
export type { AttentionOp, QkvSource } from './ops/attention';
export type { RmsNormOp } from './ops/rmsnorm';
export type { RotarySpec } from './ops/rotary';
export type { ClassTokenOp, SelectTokenOp, ToSequenceOp, TokenTypeEmbeddingOp } from './ops/sequence';
export type { Node, NodeOp, OpName } from './ops/index';
export { opOf } from './ops/index';

export type Family = 'mlp' | 'cnn' | 'resnet' | 'gpt2' | 'llama' | 'gpt_neox' | 'bert' | 'vit' | 'transformer_lens';
export const FAMILIES: readonly Family[] = ['mlp', 'cnn', 'resnet', 'gpt2', 'llama', 'gpt_neox', 'bert', 'vit', 'transformer_lens'];

export interface InputSpec {
  /** features: [F] vectors; image: [C, H, W]; tokens: [T] integer ids (T ≤ shape[0]). */
  kind: 'features' | 'image' | 'tokens';
  shape: number[];
  /** Token models: ids must be below this. */
  vocabSize?: number;
  /** Per-channel (or per-feature) normalisation applied to inputs before the network. */
  normalize?: { mean: number[]; std: number[] };
}

export interface Block {
  /** Capture-point name: the PyTorch module path of the block (`layer2.0`, `features.4`, `h.1`) or a role (`stem`, `pool`). */
  name: string;
  kind: 'stem' | 'block' | 'residual' | 'pool' | 'head' | 'embedding';
  /** The value entering the block and the node whose output leaves it. */
  input: string;
  output: string;
  nodes: string[];
  /** A residual block with an identity shortcut: removing it leaves a well-formed network. */
  droppable: boolean;
}

export interface ModelGraph {
  family: Family;
  /** One line for people: "ResNet, Bottleneck blocks [1, 2, 1, 1], widths 4-32, 3×3 stem…". */
  description: string;
  input: InputSpec;
  nodes: Node[];
  /** Node whose value is the logits: [classes] per example, or [T, vocab] for token models. */
  output: string;
  blocks: Block[];
  /** Prefix of the state dict inside the checkpoint (`state_dict.model.`); node tensor names omit it. */
  prefix: string;
  /** State-dict names a node uses that the checkpoint stores under another name (a tied head). */
  aliases: Record<string, string>;
  /** Checkpoint tensors deliberately unused (BN counters, attention masks), with the prefix removed. */
  ignored: string[];
  /** What the weights could not tell and was taken from defaults (shown to the user). */
  assumptions: string[];
}

/** A point where features can be captured: a block output, or the logits. */
export interface CapturePoint {
  name: string;
  node: string;
  /** Per-example shape in PyTorch layout. */
  shape: number[];
  kind: Block['kind'] | 'logits';
}

/** The state-dict tensors a node reads, with their stored shapes and roles. */
export function nodeTensorRefs(n: Node): TensorRef[] {
  return opOf(n).tensors(n);
}

/** State-dict tensor names a node reads. */
export function nodeTensors(n: Node): string[] {
  return nodeTensorRefs(n).map((r) => r.name);
}

/** Every state-dict tensor the graph reads, in node order, each once. */
export function graphTensors(g: ModelGraph): string[] {
  return [...new Set(g.nodes.flatMap(nodeTensors))];
}

/** The name under which `name` is stored in the checkpoint. */
export function checkpointName(g: ModelGraph, name: string): string {
  return g.prefix + (g.aliases[name] ?? name);
}

/**
 * Per-example output shape of every node for an input of `inputShape` (default: the graph's),
 * in PyTorch layout. Throws GraphError naming the node where shapes do not fit.
 */
export function inferShapes(g: ModelGraph, inputShape: readonly number[] = g.input.shape): Map<string, number[]> {
  const shapes = new Map<string, number[]>([[INPUT, [...inputShape]]]);
  const fail = (n: Node, what: string): never => {
    throw new GraphError(`${n.id} (${n.op}): ${what}`);
  };
  for (const n of g.nodes) {
    const ins = n.inputs.map((i) => {
      const s = shapes.get(i);
      if (!s) fail(n, `reads ${i}, which is not computed before it`);
      return s!;
    });
    const out = opOf(n).shape(n, ins);
    shapes.set(n.id, out);
  }
  return shapes;
}

/** Where features can be captured: every block's output, then the logits. */
export function capturePoints(g: ModelGraph, inputShape?: readonly number[]): CapturePoint[] {
  const shapes = inferShapes(g, inputShape);
  const points: CapturePoint[] = g.blocks.map((b) => ({ name: b.name, node: b.output, shape: shapes.get(b.output)!, kind: b.kind }));
  if (!g.blocks.some((b) => b.output === g.output)) points.push({ name: 'logits', node: g.output, shape: shapes.get(g.output)!, kind: 'logits' });
  return points;
}

/**
 * The node id behind a capture name: a block name, a node id, 'input', 'logits' or an attention
 * node's `<id>:heads`. Throws GraphError listing the blocks when there is none.
 */
export function resolveCapture(g: ModelGraph, name: string): string {
  if (name === INPUT) return INPUT;
  if (name === 'logits') return g.output;
  const block = g.blocks.find((b) => b.name === name);
  if (block) return block.output;
  if (g.nodes.some((n) => n.id === name)) return name;
  if (name.endsWith(HEADS) && g.nodes.some((n) => opOf(n).hasHeads === true && `${n.id}${HEADS}` === name)) return name;
  throw new GraphError(`no capture point "${name}" (blocks: ${g.blocks.map((b) => b.name).join(', ')})`);
}

/** Block boundaries where a stitching layer can join the front of one model to the back of another. */
export function stitchPoints(g: ModelGraph, inputShape?: readonly number[]): CapturePoint[] {
  return capturePoints(g, inputShape).filter((p) => p.kind !== 'head' && p.kind !== 'logits');
}

/** The graph without the named droppable blocks: each one's output is replaced by its input. */
export function dropBlocks(g: ModelGraph, names: readonly string[]): ModelGraph {
  const drop = new Set(names);
  const rename = new Map<string, string>();
  const removed = new Set<string>();
  for (const b of g.blocks) {
    if (!drop.has(b.name)) continue;
    if (!b.droppable) throw new GraphError(`block ${b.name} cannot be dropped (it has no identity shortcut)`);
    drop.delete(b.name);
    rename.set(b.output, rename.get(b.input) ?? b.input);
    for (const id of b.nodes) removed.add(id);
  }
  if (drop.size) throw new GraphError(`no block named ${[...drop].join(', ')}`);
  const resolve = (id: string): string => rename.get(id) ?? id;
  const nodes = g.nodes.filter((n) => !removed.has(n.id)).map((n) => ({ ...n, inputs: n.inputs.map(resolve) }));
  const blocks = g.blocks.filter((b) => !b.nodes.some((id) => removed.has(id))).map((b) => ({ ...b, input: resolve(b.input) }));
  return { ...g, nodes, blocks, output: resolve(g.output) };
}

/**
 * Appends nodes to a graph under construction. A node's inputs default to the previous node's
 * output, so sequential stacks read naturally; blocks record the nodes added between
 * `beginBlock` and `endBlock`.
 */
export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly blocks: Block[] = [];
  private last = INPUT;
  private open?: { name: string; kind: Block['kind']; input: string; start: number; droppable: boolean };

  get current(): string {
    return this.last;
  }

  add(id: string, op: NodeOp, inputs: string[] = [this.last]): string {
    if (id === INPUT || this.nodes.some((n) => n.id === id)) throw new GraphError(`duplicate node id ${id}`);
    this.nodes.push({ ...op, id, inputs } as Node);
    this.last = id;
    return id;
  }

  beginBlock(name: string, kind: Block['kind'], droppable = false): void {
    if (this.open) throw new GraphError(`block ${this.open.name} is still open`);
    this.open = { name, kind, input: this.last, start: this.nodes.length, droppable };
  }

  endBlock(): void {
    const o = this.open;
    if (!o) throw new GraphError('no open block');
    this.blocks.push({ name: o.name, kind: o.kind, input: o.input, output: this.last, nodes: this.nodes.slice(o.start).map((n) => n.id), droppable: o.droppable });
    this.open = undefined;
  }
}

/** The shape, as PyTorch stores it, of every state-dict tensor the graph reads. */
export function tensorShapes(g: ModelGraph): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const n of g.nodes) for (const r of nodeTensorRefs(n)) out.set(r.name, r.shape);
  return out;
}

/** Every state-dict tensor the graph reads with its role, each once, in node order. */
export function graphTensorRefs(g: ModelGraph): TensorRef[] {
  const seen = new Map<string, TensorRef>();
  for (const n of g.nodes) for (const r of nodeTensorRefs(n)) if (!seen.has(r.name)) seen.set(r.name, r);
  return [...seen.values()];
}
