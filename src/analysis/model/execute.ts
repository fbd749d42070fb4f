// Runs a graph IR with tfjs. Images travel as NHWC inside (the layout tfjs' convolutions and
// pools take); inputs, captured features and results are in PyTorch's layout. Each op is
// written to match PyTorch's arithmetic (symmetric conv padding, -inf max-pool padding,
// count_include_pad average pooling, flatten in C·H·W order, biased LayerNorm variance).
import * as tf from '@tensorflow/tfjs-core';
import { type ActivationFn, GraphError, HEADS, INPUT, type ModelGraph, type Node, nodeTensors } from './ir';
import { type StateDict, type TensorValues, checkStateDict } from './stateDict';

type Params = Record<string, tf.Tensor>;

/** Batch statistics a BatchNorm node saw in training mode: biased variance, as it normalised with. */
export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** Values per channel that the statistics were taken over (for the unbiased variance). */
  count: number;
}

export interface ForwardOptions {
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

export class Model {
  private params = new Map<string, Params>();
  private masks = new Map<number, tf.Tensor2D>();
  private readonly folds: Map<string, Fold>;
  /** Folded conv weights and biases, made on first use and dropped when parameters change. */
  private folded = new Map<string, { w: tf.Tensor; b: tf.Tensor }>();
  /** Nodes to run per (start, targets), see plan(). */
  private plans = new Map<string, Node[]>();
  private disposed = false;

  constructor(
    readonly graph: ModelGraph,
    stateDict: StateDict,
  ) {
    checkStateDict(graph, stateDict);
    for (const n of graph.nodes) this.params.set(n.id, prepare(n, stateDict));
    this.folds = this.findFolds();
  }

  /**
   * Replaces some state-dict tensors (e.g. recomputed BatchNorm statistics) and rebuilds the
   * nodes that use them.
   */
  update(changes: StateDict): void {
    this.dropFolded();
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
      const fold = training ? undefined : this.folds.get(n.id);
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
        values.set(n.id, this.run(n, ins, training ? batchStats : undefined, opts.differentiable === true, onHeads));
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
    const [ph, pw] = conv.padding;
    const pad = ph === 0 && pw === 0 ? 'valid' : ([[0, 0], [ph, ph], [pw, pw], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
    if (unfused) {
      const y = tf.add(tf.conv2d(x as tf.Tensor4D, w.w as tf.Tensor4D, conv.stride, pad), w.b);
      return fold.act ? tf.relu(y) : y;
    }
    return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w.w as tf.Tensor4D, strides: conv.stride, pad, bias: w.b, activation: fold.act ? 'relu' : 'linear' });
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
    if (name === INPUT) return INPUT;
    if (name === 'logits') return this.graph.output;
    const block = this.graph.blocks.find((b) => b.name === name);
    if (block) return block.output;
    if (this.graph.nodes.some((n) => n.id === name)) return name;
    if (name.endsWith(HEADS) && this.graph.nodes.some((n) => n.op === 'causal_self_attention' && `${n.id}${HEADS}` === name)) return name;
    throw new GraphError(`no capture point "${name}" (blocks: ${this.graph.blocks.map((b) => b.name).join(', ')})`);
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

  private run(n: Node, ins: tf.Tensor[], stats: Record<string, BatchStats> | undefined, unfused: boolean, onHeads?: (t: tf.Tensor) => void): tf.Tensor {
    const p = this.params.get(n.id)!;
    const x = ins[0];
    const dense = unfused ? plainDense : fusedDense;
    switch (n.op) {
      case 'linear':
        return dense(x, p.w as tf.Tensor2D, p.b);
      case 'conv2d': {
        const [ph, pw] = n.padding;
        const pad = ph === 0 && pw === 0 ? 'valid' : ([[0, 0], [ph, ph], [pw, pw], [0, 0]] as [[number, number], [number, number], [number, number], [number, number]]);
        if (unfused) {
          const y = tf.conv2d(x as tf.Tensor4D, p.w as tf.Tensor4D, n.stride, pad);
          return p.b ? tf.add(y, p.b) : y;
        }
        return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: p.w as tf.Tensor4D, strides: n.stride, pad, bias: p.b });
      }
      case 'batchnorm': {
        if (!stats) return tf.add(tf.mul(x, p.scale), p.shift);
        // Training mode: statistics over every axis but the channel (last) one.
        const axes = x.shape.slice(0, -1).map((_, i) => i);
        const { mean, variance } = tf.moments(x, axes);
        stats[n.id] = { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, count: x.size / x.shape[x.rank - 1] };
        let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.eps)));
        if (p.weight) y = tf.mul(y, p.weight);
        if (p.bias) y = tf.add(y, p.bias);
        return y;
      }
      case 'layernorm': {
        const { mean, variance } = tf.moments(x, -1, true);
        let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, n.eps)));
        if (p.weight) y = tf.mul(y, p.weight);
        if (p.bias) y = tf.add(y, p.bias);
        return y;
      }
      case 'activation':
        return activate(x, n.fn);
      case 'add':
        return tf.add(ins[0], ins[1]);
      case 'maxpool2d': {
        const [ph, pw] = n.padding;
        const padded = ph || pw ? tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]], -Infinity) : x;
        return tf.maxPool(padded as tf.Tensor4D, n.kernel, n.stride, 'valid');
      }
      case 'avgpool2d': {
        const [ph, pw] = n.padding;
        const padded = ph || pw ? tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]) : x;
        return tf.avgPool(padded as tf.Tensor4D, n.kernel, n.stride, 'valid');
      }
      case 'adaptive_avgpool2d':
        return adaptiveAvgPool(x as tf.Tensor4D, n.output);
      case 'flatten':
        if (x.rank === 4) return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]);
        return x.rank === 2 ? x : tf.reshape(x, [x.shape[0], -1]);
      case 'embedding':
        return tf.gather(p.table, x);
      case 'position_embedding': {
        const T = x.shape[1]!;
        if (T > n.maxPositions) throw new GraphError(`${n.id}: sequence length ${T} exceeds the ${n.maxPositions} learned positions`);
        return tf.add(x, tf.slice(p.table, [0, 0], [T, n.dim]));
      }
      case 'causal_self_attention': {
        const [B, T, C] = x.shape as [number, number, number];
        const hd = C / n.nHead;
        const qkv = dense(x, p.qkvW as tf.Tensor2D, p.qkvB);
        const heads = (t: tf.Tensor): tf.Tensor => tf.transpose(tf.reshape(t, [B, T, n.nHead, hd]), [0, 2, 1, 3]);
        const [q, k, v] = tf.split(qkv, 3, 2).map(heads);
        const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(hd)), this.causalMask(T));
        const y = tf.matMul(tf.softmax(scores), v);
        const merged = tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [B, T, C]);
        onHeads?.(merged);
        return dense(merged, p.projW as tf.Tensor2D, p.projB);
      }
    }
  }
}

/** x @ w + b for x of any rank ≥ 2 (leading axes are batch axes); w is [in, out]. */
function fusedDense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor {
  if (x.rank === 2) return tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias: b });
  const lead = x.shape.slice(0, -1);
  const y = tf.fused.matMul({ a: tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D, b: w, bias: b });
  return tf.reshape(y, [...lead, w.shape[1]]);
}

/** The same with separate ops, whose gradients tfjs computes only where needed. */
function plainDense(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor): tf.Tensor {
  const rows = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
  let y = tf.matMul(rows as tf.Tensor2D, w);
  if (b) y = tf.add(y, b);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), w.shape[1]]);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function activate(x: tf.Tensor, fn: ActivationFn): tf.Tensor {
  switch (fn) {
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      // nn.GELU(): x·Φ(x) with the exact erf.
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
    case 'gelu_tanh': {
      // gelu_new / GELU(approximate='tanh').
      const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
      return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
    }
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'silu':
      return tf.mul(x, tf.sigmoid(x));
    case 'leaky_relu':
      return tf.leakyRelu(x, 0.01);
    case 'elu':
      return tf.elu(x);
    case 'identity':
      return x;
  }
}

/** nn.AdaptiveAvgPool2d on NHWC: cell i covers rows floor(i·H/out) … ceil((i+1)·H/out). */
function adaptiveAvgPool(x: tf.Tensor4D, [oh, ow]: [number, number]): tf.Tensor {
  const [, H, W] = x.shape;
  if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
  if (H % oh === 0 && W % ow === 0) return tf.avgPool(x, [H / oh, W / ow], [H / oh, W / ow], 'valid');
  const rows: tf.Tensor[] = [];
  for (let i = 0; i < oh; i++) {
    const h0 = Math.floor((i * H) / oh);
    const h1 = Math.ceil(((i + 1) * H) / oh);
    const cells: tf.Tensor[] = [];
    for (let j = 0; j < ow; j++) {
      const w0 = Math.floor((j * W) / ow);
      const w1 = Math.ceil(((j + 1) * W) / ow);
      cells.push(tf.mean(tf.slice(x, [0, h0, w0, 0], [-1, h1 - h0, w1 - w0, -1]), [1, 2], true));
    }
    rows.push(tf.concat(cells, 2));
  }
  return tf.concat(rows, 1);
}

/** NHWC image values back to PyTorch's NCHW; everything else is already in PyTorch layout. */
function toTorchLayout(t: tf.Tensor): tf.Tensor {
  return t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t;
}

/** A node's tensors in the executor's layout. BatchNorm keeps its raw vectors (`raw:<name>`) for update(). */
function prepare(n: Node, sd: StateDict): Params {
  const get = (name: string): tf.Tensor => {
    const t = sd.get(name)!;
    // Views are copied: tfjs-backend-wasm misreads some kernels' inputs made from views.
    const own = t.values.byteOffset === 0 && t.values.byteLength === t.values.buffer.byteLength ? t.values : t.values.slice();
    return tf.tensor(own, t.shape, 'float32');
  };
  const opt = (name: string | undefined): tf.Tensor | undefined => (name === undefined ? undefined : get(name));
  const matrix = (name: string, layout: 'out_in' | 'in_out'): tf.Tensor => {
    if (layout === 'in_out') return get(name);
    return tf.tidy(() => tf.transpose(get(name)));
  };
  const out: Params = {};
  const set = (k: string, v: tf.Tensor | undefined): void => {
    if (v) out[k] = v;
  };
  switch (n.op) {
    case 'linear':
      set('w', matrix(n.weight, n.layout));
      set('b', opt(n.bias));
      break;
    case 'conv2d':
      // [out, in, kh, kw] → [kh, kw, in, out].
      set('w', tf.tidy(() => tf.transpose(get(n.weight), [2, 3, 1, 0])));
      set('b', opt(n.bias));
      break;
    case 'batchnorm': {
      // Eval mode as PyTorch computes it: y = x·scale + shift, scale = γ/√(var+ε), shift = β − mean·scale.
      const mean = sd.get(n.runningMean)!.values;
      const v = sd.get(n.runningVar)!.values;
      const w = n.weight ? sd.get(n.weight)!.values : undefined;
      const b = n.bias ? sd.get(n.bias)!.values : undefined;
      const scale = new Float32Array(n.numFeatures);
      const shift = new Float32Array(n.numFeatures);
      for (let c = 0; c < n.numFeatures; c++) {
        scale[c] = (w ? w[c] : 1) / Math.sqrt(v[c] + n.eps);
        shift[c] = (b ? b[c] : 0) - mean[c] * scale[c];
      }
      out.scale = tf.tensor1d(scale);
      out.shift = tf.tensor1d(shift);
      set('weight', opt(n.weight));
      set('bias', opt(n.bias));
      for (const name of nodeTensors(n)) out[`raw:${name}`] = get(name);
      break;
    }
    case 'layernorm':
      set('weight', opt(n.weight));
      set('bias', opt(n.bias));
      break;
    case 'embedding':
    case 'position_embedding':
      out.table = get(n.weight);
      break;
    case 'causal_self_attention':
      set('qkvW', matrix(n.qkvWeight, n.layout));
      set('qkvB', opt(n.qkvBias));
      set('projW', matrix(n.projWeight, n.layout));
      set('projB', opt(n.projBias));
      break;
    default:
      break;
  }
  return out;
}

export function createModel(graph: ModelGraph, stateDict: StateDict): Model {
  return new Model(graph, stateDict);
}
