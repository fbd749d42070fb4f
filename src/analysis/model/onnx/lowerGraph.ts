// Lowers a graph IR to an ONNX model (opset 17) through each op's own `onnx` lowering. The
// state-dict tensors are graph inputs (as stored), so one session runs any weights of the
// architecture: every point of an interpolation, every pair of a matrix, every swapped model.
// Requested capture points become extra outputs; only the nodes they need are lowered.
// A frozen lowering bakes one model's weights in as initializers instead: onnxruntime then
// fuses Conv+BatchNorm and prepacks conv weights (2.7x faster on a ResNet), at the price of a
// session per model, so OrtModel uses it only for weights that run many batches.
import { GraphError, HEADS, INPUT, type ModelGraph, type Node, inferShapes, opOf } from '../ir';
import type { StateDict } from '../stateDict';
import type { OnnxLowerContext } from '../ops/base';
import { type Attr, type GraphSpec, type NodeSpec, type TensorData, type ValueSpec, modelProto, rawOf } from './proto';

export interface LowerRequest {
  /** Per-example input shape (the graph's by default; token models: [T]). */
  inputShape?: readonly number[];
  /** Node ids (or `<attn>:heads`) whose values to return besides the logits; INPUT is not one. */
  outputs: readonly string[];
  /** Whether the logits are an output too (features() asks only for its points). */
  logits: boolean;
  batchNormTraining?: boolean;
  /** The graph takes an attention mask / segment ids input (token models that read them). */
  attentionMask?: boolean;
  tokenTypes?: boolean;
}

export interface LoweredGraph {
  bytes: Uint8Array;
  /** State-dict tensors fed as inputs, by input name. */
  weights: Map<string, string>;
  /** Graph output name of each requested value (node id, `<attn>:heads`, 'logits'). */
  outputs: Map<string, string>;
  /** Training-mode BatchNorm statistics: node id → output names and values per channel per example. */
  batchStats: Map<string, { mean: string; variance: string; countPerExample: number }>;
  inputName: string;
  attentionMaskName?: string;
  tokenTypesName?: string;
}

const MASK_VALUE = -1e9;

export function lowerToOnnx(g: ModelGraph, req: LowerRequest, frozen?: StateDict): LoweredGraph {
  const inputShape = [...(req.inputShape ?? g.input.shape)];
  const shapes = inferShapes(g, inputShape);
  const targets = [...req.outputs.map((o) => (o.endsWith(HEADS) ? o.slice(0, -HEADS.length) : o)), ...(req.logits ? [g.output] : [])];
  const needed = neededNodes(g, targets);

  const nodes: NodeSpec[] = [];
  const initializers: (TensorData & { name: string })[] = [];
  const inputs: ValueSpec[] = [];
  const weights = new Map<string, string>();
  const sharedValues = new Map<string, string>();
  const batchStats: LoweredGraph['batchStats'] = new Map();
  let counter = 0;
  const fresh = (hint: string) => `${hint}_${counter++}`;

  const tokens = g.input.kind === 'tokens';
  const inputName = 'input';
  inputs.push({ name: inputName, type: tokens ? 'INT32' : 'FLOAT', dims: ['batch', ...inputShape] });
  const seqDims = ['batch', inputShape[0]];
  const attentionMaskName = tokens && req.attentionMask ? 'attention_mask' : undefined;
  const tokenTypesName = tokens && req.tokenTypes ? 'token_type_ids' : undefined;
  if (attentionMaskName) inputs.push({ name: attentionMaskName, type: 'FLOAT', dims: seqDims });
  if (tokenTypesName) inputs.push({ name: tokenTypesName, type: 'INT32', dims: seqDims });

  const constant = (type: TensorData['type'], values: ArrayLike<number>, dims: number[]): string => {
    const name = fresh('const');
    initializers.push({ name, type, dims, raw: rawOf(type, values) });
    return name;
  };
  const addNode = (opType: string, ins: string[], attrs: Record<string, Attr> | undefined, n: number): string[] => {
    const outs = Array.from({ length: n }, () => fresh(opType.toLowerCase()));
    nodes.push({ opType, inputs: ins, outputs: outs, attrs });
    return outs;
  };
  const shapeOf = new Map<string, number[]>();
  for (const r of g.nodes.flatMap((n) => opOf(n).tensors(n))) shapeOf.set(r.name, r.shape);

  let current: Node | undefined;
  let heads: string | undefined;
  const ctx: OnnxLowerContext = {
    inShapes: [],
    nodes: (opType, ins, attrs, n = 1) => addNode(opType, ins, attrs, n),
    op: (opType, ins, attrs) => addNode(opType, ins, attrs, 1)[0],
    weight(name) {
      const input = `w:${name}`;
      if (!weights.has(input)) {
        const shape = shapeOf.get(name);
        if (!shape) throw new GraphError(`${current?.id}: reads ${name}, which the graph does not list`);
        weights.set(input, name);
        const t = frozen?.get(name);
        if (t) initializers.push({ name: input, type: 'FLOAT', dims: shape, raw: rawOf('FLOAT', t.values) });
        else inputs.push({ name: input, type: 'FLOAT', dims: shape });
      }
      return input;
    },
    shared(key, make) {
      let v = sharedValues.get(key);
      if (v === undefined) sharedValues.set(key, (v = make()));
      return v;
    },
    floats: (values, dims) => constant('FLOAT', values, dims),
    ints: (values, dims) => constant('INT64', values, dims ?? [values.length]),
    batchNormTraining: req.batchNormTraining === true,
    batchStats(mean, variance, countPerExample) {
      if (!current) return;
      batchStats.set(current.id, { mean, variance, countPerExample });
    },
    causalMask: (T) => ctx.shared(`causal|${T}`, () => {
      const m = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) m[i * T + j] = MASK_VALUE;
      return constant('FLOAT', m, [T, T]);
    }),
    attentionMask: attentionMaskName,
    tokenTypes: tokenTypesName,
  };

  const values = new Map<string, string>([[INPUT, prepareInput(g, inputName, ctx)]]);
  const headsWanted = new Set(req.outputs.filter((o) => o.endsWith(HEADS)).map((o) => o.slice(0, -HEADS.length)));
  const headValues = new Map<string, string>();
  for (const n of g.nodes) {
    if (!needed.has(n.id)) continue;
    current = n;
    heads = undefined;
    ctx.inShapes = n.inputs.map((i) => shapes.get(i)!);
    ctx.onHeads = headsWanted.has(n.id) ? (v) => { heads = v; } : undefined;
    const out = opOf(n).onnx(n, n.inputs.map((i) => values.get(i)!), ctx);
    values.set(n.id, out);
    if (heads) headValues.set(`${n.id}${HEADS}`, heads);
  }

  // Graph outputs: each requested value under its own name (an Identity where a value is reused).
  const outputs = new Map<string, string>();
  const outSpecs: ValueSpec[] = [];
  const used = new Set<string>();
  const emit = (key: string, value: string, perExample: number[]) => {
    const name = `out:${key}`;
    if (used.has(name)) return;
    used.add(name);
    nodes.push({ opType: 'Identity', inputs: [value], outputs: [name] });
    outSpecs.push({ name, type: 'FLOAT', dims: ['batch', ...perExample] });
    outputs.set(key, name);
  };
  if (req.logits) emit('logits', values.get(g.output)!, shapes.get(g.output)!);
  for (const o of req.outputs) {
    if (o.endsWith(HEADS)) {
      const v = headValues.get(o);
      if (!v) throw new GraphError(`no per-head values at ${o}`);
      emit(o, v, shapes.get(o.slice(0, -HEADS.length))!);
    } else emit(o, values.get(o)!, shapes.get(o)!);
  }
  for (const [id, s] of batchStats) {
    const c = (shapes.get(id)!.length === 3 ? shapes.get(id)![0] : shapes.get(id)!.at(-1))!;
    for (const [k, v] of [['mean', s.mean], ['variance', s.variance]] as const) {
      const name = `stat:${id}:${k}`;
      nodes.push({ opType: 'Identity', inputs: [v], outputs: [name] });
      outSpecs.push({ name, type: 'FLOAT', dims: [c] });
      s[k] = name;
    }
  }
  const spec: GraphSpec = { name: g.family, nodes, inputs, outputs: outSpecs, initializers };
  // A frozen graph's weights are initializers: nothing to feed.
  if (frozen) for (const [input, name] of [...weights]) if (frozen.has(name)) weights.delete(input);
  return { bytes: modelProto(spec), weights, outputs, batchStats, inputName, attentionMaskName, tokenTypesName };
}

/** The model input as the network reads it: normalised features or images, token ids as given. */
function prepareInput(g: ModelGraph, x: string, ctx: OnnxLowerContext): string {
  const spec = g.input;
  if (spec.kind === 'tokens' || !spec.normalize) return x;
  const { mean, std } = spec.normalize;
  const dims = spec.kind === 'image' && mean.length > 1 ? [1, mean.length, 1, 1] : [1, mean.length];
  return ctx.op('Div', [ctx.op('Sub', [x, ctx.floats(mean, dims)]), ctx.floats(std, dims)]);
}

/** The nodes the targets depend on. */
function neededNodes(g: ModelGraph, targets: readonly string[]): Set<string> {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const need = new Set<string>();
  const stack = targets.filter((t) => t !== INPUT);
  while (stack.length) {
    const id = stack.pop()!;
    if (need.has(id)) continue;
    const n = byId.get(id);
    if (!n) throw new GraphError(`no node ${id}`);
    need.add(id);
    for (const i of n.inputs) if (i !== INPUT) stack.push(i);
  }
  return need;
}
