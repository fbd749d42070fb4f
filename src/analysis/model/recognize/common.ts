// What the family recognisers share: state-dict names grouped into modules, module kinds told
// apart by their parameters' names and shapes, name ordering, and the "every tensor placed" check.
import type { ArchSpec } from '../archSpec';
import type { Block, Family, InputSpec, ModelGraph, Node } from '../ir';
import { graphTensors } from '../ir';

export interface TensorSpec {
  name: string;
  shape: number[];
}

/** A PyTorch module seen through its state-dict entries: `layer1.0.bn1` → {weight, bias, running_mean…}. */
export interface Module {
  path: string;
  params: Map<string, TensorSpec>;
}

export interface RecognizeContext {
  /** Checkpoint file, for messages. */
  file: string;
  tensors: TensorSpec[];
  byName: Map<string, TensorSpec>;
  modules: Map<string, Module>;
  arch: ArchSpec;
  /** Per-example shape of the data the model will see, when known (helps CNN recognition). */
  inputHint?: number[];
}

export type GraphParts = Omit<ModelGraph, 'prefix'>;

export type Attempt =
  | { ok: true; graph: GraphParts }
  | { ok: false; family: Family; problem: string; unplaced: string[] };

/** A recogniser returns undefined when the state dict has nothing of its family's signature. */
export type Recognizer = (ctx: RecognizeContext) => Attempt | undefined;

export function makeContext(file: string, tensors: TensorSpec[], arch: ArchSpec, inputHint?: number[]): RecognizeContext {
  const modules = new Map<string, Module>();
  for (const t of tensors) {
    const dot = t.name.lastIndexOf('.');
    const path = dot < 0 ? '' : t.name.slice(0, dot);
    const param = t.name.slice(dot + 1);
    let m = modules.get(path);
    if (!m) modules.set(path, (m = { path, params: new Map() }));
    m.params.set(param, t);
  }
  return { file, tensors, byName: new Map(tensors.map((t) => [t.name, t])), modules, arch, inputHint };
}

export function join(path: string, param: string): string {
  return path ? `${path}.${param}` : param;
}

const BN_PARAMS = new Set(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);

function onlyParams(m: Module, allowed: Set<string> | string[]): boolean {
  const ok = allowed instanceof Set ? allowed : new Set(allowed);
  return [...m.params.keys()].every((p) => ok.has(p));
}

function vectorOf(m: Module, param: string, n: number): boolean {
  const t = m.params.get(param);
  return !t || (t.shape.length === 1 && t.shape[0] === n);
}

/** nn.Linear (or Conv1D): a 2-D weight and an optional bias of the output size. */
export function asLinear(m: Module | undefined, layout: 'out_in' | 'in_out' = 'out_in'): { inFeatures: number; outFeatures: number; weight: string; bias?: string } | undefined {
  const w = m?.params.get('weight');
  if (!m || !w || w.shape.length !== 2 || !onlyParams(m, ['weight', 'bias'])) return undefined;
  const [outF, inF] = layout === 'out_in' ? w.shape : [w.shape[1], w.shape[0]];
  if (!vectorOf(m, 'bias', outF)) return undefined;
  return { inFeatures: inF, outFeatures: outF, weight: w.name, bias: m.params.get('bias')?.name };
}

export function asConv(m: Module | undefined): { inChannels: number; outChannels: number; kernel: [number, number]; weight: string; bias?: string } | undefined {
  const w = m?.params.get('weight');
  if (!m || !w || w.shape.length !== 4 || !onlyParams(m, ['weight', 'bias'])) return undefined;
  if (!vectorOf(m, 'bias', w.shape[0])) return undefined;
  return { outChannels: w.shape[0], inChannels: w.shape[1], kernel: [w.shape[2], w.shape[3]], weight: w.name, bias: m.params.get('bias')?.name };
}

/** BatchNorm with running statistics (affine optional). */
export function asBatchNorm(m: Module | undefined): { numFeatures: number; weight?: string; bias?: string; runningMean: string; runningVar: string; counter?: string } | undefined {
  const mean = m?.params.get('running_mean');
  const v = m?.params.get('running_var');
  if (!m || !mean || !v || mean.shape.length !== 1 || !onlyParams(m, BN_PARAMS)) return undefined;
  const n = mean.shape[0];
  if (!vectorOf(m, 'running_var', n) || !vectorOf(m, 'weight', n) || !vectorOf(m, 'bias', n)) return undefined;
  return { numFeatures: n, weight: m.params.get('weight')?.name, bias: m.params.get('bias')?.name, runningMean: mean.name, runningVar: v.name, counter: m.params.get('num_batches_tracked')?.name };
}

/** LayerNorm over the last axis: a 1-D weight, optional bias, no running statistics. */
export function asLayerNorm(m: Module | undefined): { size: number; weight: string; bias?: string } | undefined {
  const w = m?.params.get('weight');
  if (!m || !w || w.shape.length !== 1 || !onlyParams(m, ['weight', 'bias']) || !vectorOf(m, 'bias', w.shape[0])) return undefined;
  return { size: w.shape[0], weight: w.name, bias: m.params.get('bias')?.name };
}

/**
 * LayerNorm and Linear readers for the transformer recognisers: a module that does not fit is
 * noted in `problems` (reported together, so one message names every mismatch) and a stand-in
 * keeps the graph buildable until then.
 */
export function checkedModules(modules: Map<string, Module>, dim: number, eps: number) {
  const problems: string[] = [];
  const ln = (path: string) => {
    const n = asLayerNorm(modules.get(path));
    if (!n || n.size !== dim) problems.push(`${path} is not a LayerNorm of width ${dim}`);
    return { op: 'layernorm' as const, size: dim, weight: `${path}.weight`, bias: n?.bias, eps };
  };
  const lin = (path: string, inF: number, outF?: number) => {
    const l = asLinear(modules.get(path));
    if (!l || l.inFeatures !== inF || (outF !== undefined && l.outFeatures !== outF)) problems.push(`${path} is not a Linear ${inF}→${outF ?? '?'}`);
    return l ?? { weight: `${path}.weight`, inFeatures: inF, outFeatures: outF ?? dim };
  };
  return { problems, ln, lin };
}

/** Compares module paths with their numbers as numbers: `layers.2` < `layers.10`. */
export function naturalCompare(a: string, b: string): number {
  const ta = a.split(/(\d+)/);
  const tb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(ta.length, tb.length); i++) {
    if (ta[i] === tb[i]) continue;
    const na = Number(ta[i]);
    const nb = Number(tb[i]);
    if (i % 2 === 1 && Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
    return ta[i] < tb[i] ? -1 : 1;
  }
  return ta.length - tb.length;
}

const FIRST_WORDS = /(^|[._])(input|in_proj|inp|embed|stem|first|encoder|features|backbone|body|conv)/i;
const LAST_WORDS = /(^|[._])(head|classifier|cls|fc_out|out|output|logits|final|last|readout|decoder|predictor)/i;

/**
 * Module order guessed from names: the natural order, with input-like names first and
 * head-like names (`head`, `classifier`, `out`) last, which alphabetical order gets wrong.
 */
export function nameOrder(a: string, b: string): number {
  const rank = (p: string): number => (LAST_WORDS.test(p) ? 2 : FIRST_WORDS.test(p) ? 0 : 1);
  return rank(a) - rank(b) || naturalCompare(a, b);
}

/**
 * Orders items so that each one's input size is the previous one's output size, preferring the
 * given (name) order: a depth-first search that tries items in that order at every step.
 */
export function chainOrder<T>(items: T[], inOf: (t: T) => number, outOf: (t: T) => number): T[] | undefined {
  const n = items.length;
  if (n === 0) return [];
  if (n > 200) return undefined;
  const used = new Array<boolean>(n).fill(false);
  const out: T[] = [];
  let steps = 0;
  const dfs = (): boolean => {
    if (out.length === n) return true;
    if (++steps > 100_000) return false;
    const prev = out[out.length - 1];
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      if (prev !== undefined && inOf(items[i]) !== outOf(prev)) continue;
      used[i] = true;
      out.push(items[i]);
      if (dfs()) return true;
      out.pop();
      used[i] = false;
    }
    return false;
  };
  return dfs() ? out : undefined;
}

/** The module path's parent and last component: `features.4` → ['features', '4']. */
export function splitPath(path: string): [string, string] {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? ['', path] : [path.slice(0, dot), path.slice(dot + 1)];
}

/**
 * Finishes an attempt: the graph must use every tensor (apart from `ignored` ones and alias
 * targets); otherwise the attempt fails and names what it could not place.
 */
export function finish(ctx: RecognizeContext, family: Family, parts: {
  description: string;
  input: InputSpec;
  nodes: Node[];
  output: string;
  blocks: Block[];
  aliases?: Record<string, string>;
  ignored?: string[];
  assumptions: string[];
}): Attempt {
  const graph: GraphParts = { family, aliases: {}, ignored: [], ...parts };
  const used = new Set([...graphTensors({ ...graph, prefix: '' }), ...graph.ignored]);
  for (const [name, target] of Object.entries(graph.aliases)) {
    used.delete(name);
    used.add(target);
  }
  const missing = [...used].filter((n) => !ctx.byName.has(n));
  if (missing.length) return { ok: false, family, problem: `tensors the ${family} graph needs are absent: ${missing.join(', ')}`, unplaced: [] };
  const unplaced = ctx.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (unplaced.length) return { ok: false, family, problem: 'some tensors fit nowhere in the recognised network', unplaced };
  return { ok: true, graph };
}

export function fail(family: Family, problem: string, unplaced: string[] = []): Attempt {
  return { ok: false, family, problem, unplaced };
}

/** Interprets a dataset's per-example shape as [C, H, W] for a model with `channels` input channels. */
export function imageShapeFromHint(hint: readonly number[] | undefined, channels: number): [number, number, number] | undefined {
  if (!hint) return undefined;
  if (hint.length === 3 && hint[0] === channels) return [hint[0], hint[1], hint[2]];
  if (hint.length === 3 && hint[2] === channels) return [channels, hint[0], hint[1]];
  if (hint.length === 2 && channels === 1) return [1, hint[0], hint[1]];
  if (hint.length === 1 && hint[0] % channels === 0) {
    const side = Math.round(Math.sqrt(hint[0] / channels));
    if (side * side * channels === hint[0]) return [channels, side, side];
  }
  return undefined;
}
