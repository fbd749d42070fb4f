// The graph IR: a small, explicit description of a network. It is the single source of truth
// for the forward pass, for where features can be captured (block outputs), which blocks can be
// dropped (residual blocks with an identity shortcut), where two models can be stitched (block
// boundaries), and which state-dict tensors every node uses. Shapes are per example, in
// PyTorch's layout ([C, H, W] for images), whatever layout the executor uses inside.

export const ACTIVATIONS = ['relu', 'gelu', 'gelu_tanh', 'tanh', 'sigmoid', 'silu', 'leaky_relu', 'elu', 'identity'] as const;
export type ActivationFn = (typeof ACTIVATIONS)[number];

export type Family = 'mlp' | 'cnn' | 'resnet' | 'gpt2';
export const FAMILIES: readonly Family[] = ['mlp', 'cnn', 'resnet', 'gpt2'];

/** How a 2-D weight is stored: nn.Linear keeps [out, in]; GPT-2's Conv1D keeps [in, out]. */
export type WeightLayout = 'out_in' | 'in_out';

export interface LinearOp {
  op: 'linear';
  weight: string;
  bias?: string;
  inFeatures: number;
  outFeatures: number;
  layout: WeightLayout;
}
export interface Conv2dOp {
  op: 'conv2d';
  /** [out, in, kh, kw] as PyTorch stores it. */
  weight: string;
  bias?: string;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  stride: [number, number];
  /** Zero padding on each side (PyTorch's symmetric `padding`). */
  padding: [number, number];
}
export interface BatchNormOp {
  op: 'batchnorm';
  weight?: string;
  bias?: string;
  runningMean: string;
  runningVar: string;
  numFeatures: number;
  eps: number;
}
export interface LayerNormOp {
  op: 'layernorm';
  weight?: string;
  bias?: string;
  size: number;
  eps: number;
}
export interface ActivationOp {
  op: 'activation';
  fn: ActivationFn;
}
/** Elementwise sum of its two inputs (a residual connection). */
export interface AddOp {
  op: 'add';
}
export interface Pool2dOp {
  op: 'maxpool2d' | 'avgpool2d';
  kernel: [number, number];
  stride: [number, number];
  /** Padding on each side; max-pool pads with -inf, avg-pool with zeros counted in the mean (PyTorch's defaults). */
  padding: [number, number];
}
export interface AdaptiveAvgPoolOp {
  op: 'adaptive_avgpool2d';
  output: [number, number];
}
/** torch.flatten(x, 1) of a [C, H, W] (or already flat) example. */
export interface FlattenOp {
  op: 'flatten';
}
/** Token ids → vectors. */
export interface EmbeddingOp {
  op: 'embedding';
  weight: string;
  numEmbeddings: number;
  dim: number;
}
/** Adds rows 0..T-1 of a learned position table to a [T, C] sequence. */
export interface PositionEmbeddingOp {
  op: 'position_embedding';
  weight: string;
  maxPositions: number;
  dim: number;
}
/**
 * GPT-2 causal self-attention as one module: the fused q/k/v projection (`c_attn`, out = 3·dim,
 * q then k then v, each split into `nHead` heads), softmax(q·kᵀ/√head_dim) under a causal mask,
 * and the output projection (`c_proj`).
 */
export interface CausalSelfAttentionOp {
  op: 'causal_self_attention';
  qkvWeight: string;
  qkvBias?: string;
  projWeight: string;
  projBias?: string;
  dim: number;
  nHead: number;
  layout: WeightLayout;
}

export type NodeOp =
  | LinearOp | Conv2dOp | BatchNormOp | LayerNormOp | ActivationOp | AddOp | Pool2dOp
  | AdaptiveAvgPoolOp | FlattenOp | EmbeddingOp | PositionEmbeddingOp | CausalSelfAttentionOp;

/** The id of the graph's input value; node inputs name it or other node ids. */
export const INPUT = 'input';

/** Suffix of the capture point of an attention node's per-head outputs before its output projection (`h.0.attn:heads`). */
export const HEADS = ':heads';

export type Node = NodeOp & {
  /** Unique, readable id, usually the PyTorch module path (`layer1.0.conv1`) or `<block>.<role>`. */
  id: string;
  /** Ids of the values this node reads: INPUT or earlier nodes. */
  inputs: string[];
};

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

export class GraphError extends Error {}

/** State-dict tensor names a node reads. */
export function nodeTensors(n: Node): string[] {
  const names: (string | undefined)[] = [];
  switch (n.op) {
    case 'linear':
    case 'conv2d':
    case 'layernorm':
      names.push(n.weight, n.bias);
      break;
    case 'batchnorm':
      names.push(n.weight, n.bias, n.runningMean, n.runningVar);
      break;
    case 'embedding':
    case 'position_embedding':
      names.push(n.weight);
      break;
    case 'causal_self_attention':
      names.push(n.qkvWeight, n.qkvBias, n.projWeight, n.projBias);
      break;
    default:
      break;
  }
  return names.filter((s): s is string => s !== undefined);
}

/** Every state-dict tensor the graph reads, in node order, each once. */
export function graphTensors(g: ModelGraph): string[] {
  return [...new Set(g.nodes.flatMap(nodeTensors))];
}

/** The name under which `name` is stored in the checkpoint. */
export function checkpointName(g: ModelGraph, name: string): string {
  return g.prefix + (g.aliases[name] ?? name);
}

function convOut(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
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
    const x = ins[0];
    let out: number[];
    switch (n.op) {
      case 'linear':
        if (x[x.length - 1] !== n.inFeatures) fail(n, `expects ${n.inFeatures} input features, gets shape [${x}]`);
        out = [...x.slice(0, -1), n.outFeatures];
        break;
      case 'conv2d': {
        if (x.length !== 3 || x[0] !== n.inChannels) fail(n, `expects [${n.inChannels}, H, W], gets [${x}]`);
        const h = convOut(x[1], n.kernel[0], n.stride[0], n.padding[0]);
        const w = convOut(x[2], n.kernel[1], n.stride[1], n.padding[1]);
        if (h < 1 || w < 1) fail(n, `input [${x}] is too small for a ${n.kernel.join('×')} kernel`);
        out = [n.outChannels, h, w];
        break;
      }
      case 'batchnorm':
        if ((x.length === 3 ? x[0] : x[x.length - 1]) !== n.numFeatures) fail(n, `normalises ${n.numFeatures} channels, gets [${x}]`);
        out = x;
        break;
      case 'layernorm':
        if (x[x.length - 1] !== n.size) fail(n, `normalises ${n.size} features, gets [${x}]`);
        out = x;
        break;
      case 'activation':
        out = x;
        break;
      case 'add':
        if (ins.length !== 2 || ins[0].join() !== ins[1].join()) fail(n, `adds [${ins[0]}] and [${ins[1] ?? ''}]`);
        out = x;
        break;
      case 'maxpool2d':
      case 'avgpool2d': {
        if (x.length !== 3) fail(n, `expects [C, H, W], gets [${x}]`);
        const h = convOut(x[1], n.kernel[0], n.stride[0], n.padding[0]);
        const w = convOut(x[2], n.kernel[1], n.stride[1], n.padding[1]);
        if (h < 1 || w < 1) fail(n, `input [${x}] is too small for a ${n.kernel.join('×')} window`);
        out = [x[0], h, w];
        break;
      }
      case 'adaptive_avgpool2d':
        if (x.length !== 3) fail(n, `expects [C, H, W], gets [${x}]`);
        out = [x[0], ...n.output];
        break;
      case 'flatten':
        out = [x.reduce((a, b) => a * b, 1)];
        break;
      case 'embedding':
        if (x.length !== 1) fail(n, `expects token ids [T], gets [${x}]`);
        out = [x[0], n.dim];
        break;
      case 'position_embedding':
        if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
        if (x[0] > n.maxPositions) fail(n, `sequence length ${x[0]} exceeds the ${n.maxPositions} learned positions`);
        out = x;
        break;
      case 'causal_self_attention':
        if (x.length !== 2 || x[1] !== n.dim) fail(n, `expects [T, ${n.dim}], gets [${x}]`);
        out = x;
        break;
    }
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
  const put = (name: string | undefined, shape: number[]): void => {
    if (name !== undefined) out.set(name, shape);
  };
  for (const n of g.nodes) {
    switch (n.op) {
      case 'linear':
        put(n.weight, n.layout === 'out_in' ? [n.outFeatures, n.inFeatures] : [n.inFeatures, n.outFeatures]);
        put(n.bias, [n.outFeatures]);
        break;
      case 'conv2d':
        put(n.weight, [n.outChannels, n.inChannels, ...n.kernel]);
        put(n.bias, [n.outChannels]);
        break;
      case 'batchnorm':
        for (const t of [n.weight, n.bias, n.runningMean, n.runningVar]) put(t, [n.numFeatures]);
        break;
      case 'layernorm':
        put(n.weight, [n.size]);
        put(n.bias, [n.size]);
        break;
      case 'embedding':
        put(n.weight, [n.numEmbeddings, n.dim]);
        break;
      case 'position_embedding':
        put(n.weight, [n.maxPositions, n.dim]);
        break;
      case 'causal_self_attention':
        put(n.qkvWeight, n.layout === 'out_in' ? [3 * n.dim, n.dim] : [n.dim, 3 * n.dim]);
        put(n.qkvBias, [3 * n.dim]);
        put(n.projWeight, [n.dim, n.dim]);
        put(n.projBias, [n.dim]);
        break;
      default:
        break;
    }
  }
  return out;
}
