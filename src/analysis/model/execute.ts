// Runs a graph IR with tfjs. Images travel as NHWC inside (the layout tfjs' convolutions and
// pools take); inputs, captured features and results are in PyTorch's layout. Each op is
// written to match PyTorch's arithmetic (symmetric conv padding, -inf max-pool padding,
// count_include_pad average pooling, flatten in C·H·W order, biased LayerNorm variance).
import * as tf from '@tensorflow/tfjs-core';
import { GraphError, HEADS, INPUT, type ModelGraph, type Node, nodeTensors, opOf, resolveCapture } from './ir';
import type { BatchStats, LowerContext, Params } from './ops/base';
import { convolve } from './ops/conv2d';
import { ortForForward } from './engine';
import { OrtModel } from './onnx/ortModel';
import { type StateDict, type TensorValues, checkStateDict } from './stateDict';

export type { BatchStats } from './ops/base';

/** Inputs besides the token ids that some token models read. */
export interface ForwardInputs {
  /** [B, T], 1 for real tokens and 0 for padding (BERT's attention_mask); default: all real. */
  attentionMask?: tf.Tensor;
  /** [B, T] segment ids (BERT's token_type_ids); default: all zero. */
  tokenTypes?: tf.Tensor;
}

export interface ForwardOptions extends ForwardInputs {
  /**
   * Capture points (block names, node ids, 'input' or 'logits') whose values to return; also
   * `<attention node id>:heads`, the per-head attention outputs before the output projection
   * ([B, T, C], head h in columns h·head_dim …).
   */
  capture?: readonly string[];
  /**
   * BatchNorm in training mode: normalise with each batch's own statistics and return them
   * (what nn.BatchNorm2d does in model.train()). Default: eval mode, running statistics.
   */
  batchNormTraining?: boolean;
  /**
   * For gradients through the network (forwardFrom under tf.variableGrads): convolutions and
   * linear layers run unfused. tfjs' fused ops compute every input's gradient, the frozen
   * weights' too, and the wasm backend has no Conv2DBackpropFilter; the plain ops' gradients
   * are computed only where they are needed. Default: fused (faster forward passes).
   */
  differentiable?: boolean;
}

export interface ForwardResult {
  /** Logits: [B, classes], or [B, T, vocab] for token models. */
  output: tf.Tensor;
  /** Captured values by requested name, in PyTorch layout ([B, C, H, W] for images). */
  features: Record<string, tf.Tensor>;
  /** Training-mode BatchNorm statistics by node id. */
  batchStats: Record<string, BatchStats>;
}

const MASK_VALUE = -1e9;

interface Fold {
  bn: Node;
  act?: Node;
}

/**
 * A network with its weights, runnable on a batch. Two engines implement it: TfjsModel (every
 * backend, gradients too) and, for forward passes, OrtModel (onnxruntime, onnx/ortModel.ts).
 */
export interface Model {
  readonly graph: ModelGraph;
  /** What runs this model's forward passes: 'onnxruntime', or the tfjs backend's name ('wasm', …). */
  readonly engine: string;
  /** onnxruntime: the intra-op threads its last forward pass ran on; undefined on tfjs. */
  readonly threads?: number;
  /** Runs a batch. `input` is [B, F], [B, C, H, W] (float32) or [B, T] token ids (int32). */
  forward(input: tf.Tensor, opts?: ForwardOptions): ForwardResult;
  /**
   * Runs the rest of the network from a capture point (a block boundary, e.g. a stitch point):
   * `value` ([B, …] in PyTorch layout) stands for that point's output. Differentiable with
   * respect to `value` (stitching trains through it).
   */
  forwardFrom(point: string, value: tf.Tensor, opts?: Omit<ForwardOptions, 'batchNormTraining'>): ForwardResult;
  /** Only the values at `points` (PyTorch layout), running no node that they do not need. */
  features(input: tf.Tensor, points: readonly string[]): Record<string, tf.Tensor>;
  /** Replaces some state-dict tensors (e.g. recomputed BatchNorm statistics). */
  update(changes: StateDict): void;
  dispose(): void;
}

/** The tfjs engine: runs the graph op by op on the current tfjs backend. */
export class TfjsModel implements Model {
  private params = new Map<string, Params>();
  private masks = new Map<number, tf.Tensor2D>();
  private readonly folds: Map<string, Fold>;
  /** Folded conv weights and biases, made on first use and dropped when parameters change. */
  private folded = new Map<string, { w: tf.Tensor; b: tf.Tensor }>();
  /** Nodes to run per (start, targets), see plan(). */
  private plans = new Map<string, Node[]>();
  private disposed = false;
  /** Per-node params for this call only (forwardWith); the model's own otherwise. */
  private override?: Map<string, Params>;
  /** The state-dict values the model was made from (forwardWith reads the tensors it is not given from here). */
  private readonly values: StateDict;

  constructor(
    readonly graph: ModelGraph,
    stateDict: StateDict,
  ) {
    checkStateDict(graph, stateDict);
    this.values = new Map(stateDict);
    for (const n of graph.nodes) this.params.set(n.id, prepare(n, stateDict));
    this.folds = this.findFolds();
  }

  get engine(): string {
    return tf.getBackend();
  }

  /**
   * Replaces some state-dict tensors (e.g. recomputed BatchNorm statistics) and rebuilds the
   * nodes that use them.
   */
  update(changes: StateDict): void {
    this.dropFolded();
    for (const [k, v] of changes) this.values.set(k, v);
    for (const n of this.graph.nodes) {
      const names = nodeTensors(n);
      if (!names.some((t) => changes.has(t))) continue;
      const merged: StateDict = new Map();
      for (const t of names) merged.set(t, changes.get(t) ?? this.readBack(n, t));
      const old = this.params.get(n.id)!;
      this.params.set(n.id, prepare(n, merged));
      for (const v of Object.values(old)) v.dispose();
    }
  }

  /** A tensor's current values; only BatchNorm nodes keep theirs in PyTorch layout. */
  private readBack(n: Node, name: string): TensorValues {
    const t = this.params.get(n.id)![`raw:${name}`];
    if (!t) throw new GraphError(`${n.id}: update() needs all of this node's tensors, ${name} is missing`);
    return { shape: t.shape, values: t.dataSync() as Float32Array };
  }

  /** Runs a batch. `input` is [B, F], [B, C, H, W] (float32) or [B, T] token ids (int32). */
  forward(input: tf.Tensor, opts: ForwardOptions = {}): ForwardResult {
    this.checkLive();
    return tf.tidy(() => {
      const wanted = this.wanted(opts.capture);
      const run = this.execute(INPUT, this.prepareInput(input), [this.graph.output, ...wanted.values()], input, opts);
      return this.result(run, wanted, input) as unknown as tf.TensorContainer;
    }) as unknown as ForwardResult;
  }

  /**
   * Runs a batch with `given` state-dict tensors (PyTorch layout, by graph tensor name) in place
   * of the model's own: differentiable with respect to them (tf.grad, tf.valueAndGrads), so any
   * graph's parameter gradient comes from its ops' own lowerings. Each op module's prepare turns
   * the given tensors into its layout inside the caller's gradient scope; the tensors not given
   * (BatchNorm's running statistics) come from the model's values. Nothing is folded or fused.
   */
  forwardWith(given: Record<string, tf.Tensor>, input: tf.Tensor, opts: Omit<ForwardOptions, 'differentiable'> = {}): ForwardResult {
    this.checkLive();
    const override = new Map<string, Params>();
    for (const n of this.graph.nodes) {
      const names = nodeTensors(n);
      if (!names.some((t) => t in given)) continue;
      override.set(n.id, opOf(n).prepare(n, {
        // A copy on the tape, so an op's prepare may dispose what it read.
        tensor: (name) => (name in given ? tf.clone(given[name]) : tf.tensor(this.values.get(name)!.values.slice(), this.values.get(name)!.shape, 'float32')),
        raw: (name) => this.values.get(name)!.values,
      }));
    }
    this.override = override;
    try {
      return this.forward(input, { ...opts, differentiable: true });
    } finally {
      this.override = undefined;
    }
  }

  /**
   * Runs the rest of the network from a capture point (a block boundary, e.g. a stitch point):
   * `value` ([B, …] in PyTorch layout) stands for that point's output, and only the nodes after
   * it run. Differentiable with respect to `value` (tf.grad / tf.variableGrads), which is what
   * stitching trains through. Throws GraphError when later nodes read values from before the
   * point (it does not cut the graph).
   */
  forwardFrom(point: string, value: tf.Tensor, opts: Omit<ForwardOptions, 'batchNormTraining'> = {}): ForwardResult {
    this.checkLive();
    const start = this.resolveCapture(point);
    if (start === INPUT) return this.forward(value, opts);
    return tf.tidy(() => {
      const wanted = this.wanted(opts.capture);
      const v = value.rank === 4 ? tf.transpose(value, [0, 2, 3, 1]) : value;
      const run = this.execute(start, v, [this.graph.output, ...wanted.values()], value, opts);
      return this.result(run, wanted, value) as unknown as tf.TensorContainer;
    }) as unknown as ForwardResult;
  }

  /**
   * Only the values at `points` (PyTorch layout), running no node that they do not need: the
   * bottom of a network up to a stitch point, or a block's input and output.
   */
  features(input: tf.Tensor, points: readonly string[]): Record<string, tf.Tensor> {
    this.checkLive();
    return tf.tidy(() => {
      const wanted = this.wanted(points);
      const run = this.execute(INPUT, this.prepareInput(input), [...wanted.values()], input, {});
      return this.result(run, wanted, input).features as unknown as tf.TensorContainer;
    }) as unknown as Record<string, tf.Tensor>;
  }

  private checkLive(): void {
    if (this.disposed) throw new GraphError('the model has been disposed');
  }

  private wanted(capture: readonly string[] = []): Map<string, string> {
    return new Map(capture.map((name) => [name, this.resolveCapture(name)]));
  }

  private result(run: { values: Map<string, tf.Tensor>; batchStats: Record<string, BatchStats> }, wanted: Map<string, string>, given: tf.Tensor): ForwardResult {
    const features: Record<string, tf.Tensor> = {};
    for (const [name, id] of wanted) features[name] = id === INPUT ? given.clone() : toTorchLayout(run.values.get(id)!);
    const out = run.values.get(this.graph.output);
    return { output: out ? toTorchLayout(out) : (undefined as unknown as tf.Tensor), features, batchStats: run.batchStats };
  }

  /**
   * The nodes that `targets` need, in graph order, when the value of `start` is given (INPUT or
   * a node id). Cached: the same few plans serve every batch.
   */
  private plan(start: string, targets: readonly string[]): Node[] {
    const key = `${start}|${targets.join(',')}`;
    let nodes = this.plans.get(key);
    if (nodes) return nodes;
    const index = new Map(this.graph.nodes.map((n, i) => [n.id, i]));
    const startAt = start === INPUT ? -1 : index.get(start)!;
    const need = new Set<string>();
    // A per-head capture (`<attn>:heads`) is computed inside its attention node.
    const stack = targets.filter((t) => t !== start && t !== INPUT).map((t) => (t.endsWith(HEADS) ? t.slice(0, -HEADS.length) : t));
    while (stack.length) {
      const id = stack.pop()!;
      if (need.has(id)) continue;
      const i = index.get(id)!;
      if (i <= startAt) throw new GraphError(`cannot run from ${start}: ${id} is computed before it and read after it (not a block boundary)`);
      need.add(id);
      for (const inp of this.graph.nodes[i].inputs) {
        if (inp === start) continue;
        if (inp === INPUT) throw new GraphError(`cannot run from ${start}: ${this.graph.nodes[i].id} reads the network input`);
        stack.push(inp);
      }
    }
    nodes = this.graph.nodes.filter((n) => need.has(n.id));
    this.plans.set(key, nodes);
    return nodes;
  }

  /** Runs the planned nodes inside the caller's tidy; `external` (the caller's tensor) is never freed. */
  private execute(start: string, startValue: tf.Tensor, targets: string[], external: tf.Tensor, opts: ForwardOptions): { values: Map<string, tf.Tensor>; batchStats: Record<string, BatchStats> } {
    const nodes = this.plan(start, targets);
    const values = new Map<string, tf.Tensor>([[start, startValue]]);
    const batchStats: Record<string, BatchStats> = {};
    const training = opts.batchNormTraining === true;
    // Intermediate values are freed after their last reader, so big batches fit in memory.
    const keep = new Set(targets);
    const lastUse = new Map<string, number>();
    nodes.forEach((n, i) => n.inputs.forEach((id) => lastUse.set(id, i)));
    const absorbed = new Set<string>();
    nodes.forEach((n, i) => {
      const fold = training || this.override ? undefined : this.folds.get(n.id);
      if (fold && !keep.has(n.id) && !(fold.act && keep.has(fold.bn.id))) {
        // conv → BatchNorm (→ ReLU) as one convolution with the BatchNorm folded in.
        const y = this.runFolded(n, fold, values.get(n.inputs[0])!, opts.differentiable === true);
        values.set(fold.bn.id, y);
        if (fold.act) values.set(fold.act.id, y);
        absorbed.add(fold.bn.id);
        if (fold.act) absorbed.add(fold.act.id);
      } else if (!absorbed.has(n.id)) {
        const ins = n.inputs.map((id) => values.get(id)!);
        // Per-head attention outputs, when captured, are kept under `<attn>:heads` (no node reads them).
        const heads = `${n.id}${HEADS}`;
        const onHeads = keep.has(heads) ? (t: tf.Tensor) => values.set(heads, t) : undefined;
        values.set(n.id, this.run(n, ins, training ? batchStats : undefined, opts.differentiable === true, onHeads, opts));
      }
      for (const id of new Set(n.inputs)) {
        if (lastUse.get(id) !== i || keep.has(id) || !values.has(id)) continue;
        const v = values.get(id)!;
        values.delete(id);
        // Some ops pass their input through (identity, flatten of a vector): free a tensor
        // only when no live value still is it.
        if (v !== external && ![...values.values()].includes(v)) v.dispose();
      }
    });
    return { values, batchStats };
  }

  /**
   * Eval-mode folding of conv → BatchNorm (→ ReLU): w·scale and b·scale + shift in one fused
   * convolution, saving three passes over the activations. Only where the conv's output feeds
   * nothing but the BatchNorm (and the BatchNorm's nothing but the ReLU).
   */
  private findFolds(): Map<string, Fold> {
    const readers = new Map<string, Node[]>();
    for (const n of this.graph.nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n]);
    const only = (id: string): Node | undefined => {
      const r = readers.get(id);
      return r && r.length === 1 && r[0].inputs.length === 1 && id !== this.graph.output ? r[0] : undefined;
    };
    const folds = new Map<string, Fold>();
    for (const n of this.graph.nodes) {
      const bn = n.op === 'conv2d' ? only(n.id) : undefined;
      if (!bn || bn.op !== 'batchnorm') continue;
      const act = only(bn.id);
      folds.set(n.id, { bn, act: act?.op === 'activation' && act.fn === 'relu' ? act : undefined });
    }
    return folds;
  }

  private runFolded(conv: Node, fold: Fold, x: tf.Tensor, unfused: boolean): tf.Tensor {
    if (conv.op !== 'conv2d') throw new GraphError(`${conv.id}: only convolutions fold`);
    let w = this.folded.get(conv.id);
    if (!w) {
      const p = this.params.get(conv.id)!;
      const bn = this.params.get(fold.bn.id)!;
      w = tf.tidy(() => ({
        w: tf.keep(tf.mul(p.w, bn.scale)),
        b: tf.keep(p.b ? tf.add(tf.mul(p.b, bn.scale), bn.shift) : bn.shift.clone()),
      }));
      this.folded.set(conv.id, w);
    }
    return convolve(conv, x, w.w, w.b, unfused, fold.act !== undefined);
  }

  private dropFolded(): void {
    for (const f of this.folded.values()) tf.dispose([f.w, f.b]);
    this.folded.clear();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.dropFolded();
    for (const p of this.params.values()) for (const t of Object.values(p)) t.dispose();
    for (const m of this.masks.values()) m.dispose();
    this.params.clear();
    this.masks.clear();
    this.plans.clear();
  }

  private resolveCapture(name: string): string {
    return resolveCapture(this.graph, name);
  }

  private prepareInput(x: tf.Tensor): tf.Tensor {
    const spec = this.graph.input;
    if (spec.kind === 'tokens') {
      if (x.rank !== 2) throw new GraphError(`token input must be [B, T], got [${x.shape}]`);
      return x.dtype === 'int32' ? x : tf.cast(x, 'int32');
    }
    let v = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    if (spec.normalize) {
      // Per channel for images ([1, C, 1, 1]), per feature or scalar for vectors.
      const { mean, std } = spec.normalize;
      const shape = spec.kind === 'image' && mean.length > 1 ? [1, mean.length, 1, 1] : [1, mean.length];
      v = tf.div(tf.sub(v, tf.tensor(mean, shape)), tf.tensor(std, shape));
    }
    if (spec.kind === 'image') {
      if (v.rank !== 4) throw new GraphError(`image input must be [B, C, H, W], got [${x.shape}]`);
      return tf.transpose(v, [0, 2, 3, 1]);
    }
    return v;
  }

  private causalMask(T: number): tf.Tensor2D {
    let m = this.masks.get(T);
    if (!m) {
      const values = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = MASK_VALUE;
      m = tf.keep(tf.tensor2d(values, [T, T]));
      this.masks.set(T, m);
    }
    return m;
  }

  private run(n: Node, ins: tf.Tensor[], stats: Record<string, BatchStats> | undefined, unfused: boolean, onHeads?: (t: tf.Tensor) => void, extra: ForwardInputs = {}): tf.Tensor {
    const ctx: LowerContext = {
      params: this.override?.get(n.id) ?? this.params.get(n.id)!,
      unfused,
      batchStats: stats,
      onHeads,
      causalMask: (T) => this.causalMask(T),
      attentionMask: extra.attentionMask,
      tokenTypes: extra.tokenTypes,
    };
    return opOf(n).lower(n, ins, ctx);
  }
}

/** NHWC image values back to PyTorch's NCHW; everything else is already in PyTorch layout. */
function toTorchLayout(t: tf.Tensor): tf.Tensor {
  return t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
}

/**
 * A node's tensors in the executor's layout (its op module's prepare), kept: a model may be made
 * inside a caller's tf.tidy (the onnxruntime engine makes its tfjs twin on first use), and its
 * weights must outlive that scope.
 */
function prepare(n: Node, sd: StateDict): Params {
  const p = prepareIn(n, sd);
  for (const t of Object.values(p)) tf.keep(t);
  return p;
}

function prepareIn(n: Node, sd: StateDict): Params {
  return opOf(n).prepare(n, {
    tensor(name) {
      const t = sd.get(name)!;
      // Views are copied: tfjs-backend-wasm misreads some kernels' inputs made from views.
      const own = t.values.byteOffset === 0 && t.values.byteLength === t.values.buffer.byteLength ? t.values : t.values.slice();
      return tf.tensor(own, t.shape, 'float32');
    },
    raw: (name) => sd.get(name)!.values,
  });
}

export interface CreateOptions {
  /** 'tfjs' for models that gradients flow through; default: the forward engine chosen by initBackend. */
  engine?: 'tfjs';
  /**
   * A one-off architecture (a dropped configuration) no later model will share: onnxruntime
   * sessions made for this model only and disposed with it, not kept in the shared cache.
   */
  oneOff?: boolean;
}

/** A model on the forward engine in use (onnxruntime when chosen and loaded, else tfjs). */
export function createModel(graph: ModelGraph, stateDict: StateDict, opts: CreateOptions = {}): Model {
  const ort = opts.engine === 'tfjs' ? undefined : ortForForward();
  if (ort) return new OrtModel(graph, stateDict, ort, () => new TfjsModel(graph, stateDict), { ownSessions: opts.oneOff });
  return new TfjsModel(graph, stateDict);
}
