// The onnxruntime engine: a Model whose forward passes run an ONNX lowering of the graph in a
// cached inference session. Weights are session inputs: the state dict's Float32Arrays are
// handed to onnxruntime as they are (views, no copies), and a new state dict (an interpolation
// point, a permuted or swapped model) reuses the session of its architecture. Gradients
// (forwardFrom for stitching) and graphs onnxruntime rejects run on tfjs instead.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, ForwardResult, Model } from '../execute';
import { GraphError, INPUT, type ModelGraph, resolveCapture } from '../ir';
import type { BatchStats } from '../ops/base';
import { type StateDict, checkStateDict } from '../stateDict';
import type { NativeSession, Ort, OrtSessionOptions, OrtTensor } from './loadOrt';
import { type LowerRequest, type LoweredGraph, lowerToOnnx } from './lowerGraph';

/** Threads from CKPT_LENS_ORT_THREADS (CLI, extension host) when it is a positive integer, else the cores. */
export function defaultOrtThreads(): number {
  const n = Number(process.env.CKPT_LENS_ORT_THREADS);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}

let intraOpThreads = defaultOrtThreads();
let log: ((message: string) => void) | undefined;

/** Intra-op threads of sessions made from now on (default: CKPT_LENS_ORT_THREADS, else the cores). */
export function setOrtThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`onnxruntime threads must be a positive integer, got ${n}`);
  if (n !== intraOpThreads) clearSessions();
  intraOpThreads = n;
}

export function ortThreads(): number {
  return intraOpThreads;
}

/** Where the engine reports falling back to tfjs (the output channel, stderr). */
export function setOrtLog(fn: ((message: string) => void) | undefined): void {
  log = fn;
}

interface CachedSession {
  session: NativeSession;
  lowered: LoweredGraph;
  fetches: Record<string, null>;
  /** Its intra-op threads (sessions are made with the count set then). */
  threads: number;
}

// Sessions by architecture and request, least recently used first. A handful serve an analysis
// (logits, logits + captures, BatchNorm training); the cap bounds memory over long sessions.
const MAX_SESSIONS = 24;
const sessions = new Map<string, CachedSession>();

export function clearSessions(): void {
  for (const s of sessions.values()) s.session.dispose();
  sessions.clear();
}

/** Sessions currently cached (tests: one per architecture and request). */
export function cachedSessionCount(): number {
  return sessions.size;
}

/** A new session for `req`; with `weights`, they are baked in as initializers (a frozen session). */
function makeSession(ort: Ort, graph: ModelGraph, req: LowerRequest, weights?: StateDict): CachedSession {
  const lowered = lowerToOnnx(graph, req, weights);
  const options = sessionOptions();
  return { session: ort.createSession(lowered.bytes, options), lowered, fetches: fetchesOf(lowered), threads: options.intraOpNumThreads };
}

function session(ort: Ort, archKey: string, graph: ModelGraph, req: LowerRequest): CachedSession {
  const key = `${archKey}|${JSON.stringify(req)}`;
  const hit = sessions.get(key);
  if (hit) {
    sessions.delete(key);
    sessions.set(key, hit);
    return hit;
  }
  const made = makeSession(ort, graph, req);
  sessions.set(key, made);
  while (sessions.size > MAX_SESSIONS) {
    const [oldest, v] = sessions.entries().next().value as [string, CachedSession];
    v.session.dispose();
    sessions.delete(oldest);
  }
  return made;
}

function sessionOptions(): OrtSessionOptions & { intraOpNumThreads: number } {
  return { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
}

function fetchesOf(lowered: LoweredGraph): Record<string, null> {
  const fetches: Record<string, null> = {};
  for (const name of lowered.outputs.values()) fetches[name] = null;
  for (const st of lowered.batchStats.values()) fetches[st.mean] = fetches[st.variance] = null;
  return fetches;
}

/** A hash of what a session depends on: the graph's structure (not its weights). */
function architectureKey(g: ModelGraph): string {
  return createHash('sha1').update(JSON.stringify([g.family, g.input, g.nodes, g.output])).digest('hex');
}

/** Runs of one request on unchanged weights after which a conv graph gets its own frozen session. */
const FREEZE_AFTER_RUNS = 2;

function hasConv(g: ModelGraph): boolean {
  return g.nodes.some((n) => n.op === 'conv2d');
}

export interface OrtModelOptions {
  /**
   * The model's sessions are its own, made for it and disposed with it, instead of shared
   * through the per-architecture cache: for a one-off architecture (a dropped configuration)
   * that no later model will reuse. A conv graph's weights are then baked in from the first run.
   */
  ownSessions?: boolean;
}

export class OrtModel implements Model {
  private readonly stateDict: StateDict;
  /** Runs per request key since the weights last changed, and the frozen sessions made for them. */
  private readonly runs = new Map<string, number>();
  private readonly frozen = new Map<string, CachedSession>();
  private readonly freezes: boolean;
  /** Sessions with weights as inputs, when the model owns its sessions (else the shared cache). */
  private readonly own?: Map<string, CachedSession>;
  private readonly tensors = new Map<string, OrtTensor>();
  private readonly archKey: string;
  private tfjs?: Model;
  /** Set when onnxruntime cannot run this graph: every pass goes to tfjs. */
  private rejected = false;
  private disposed = false;
  /** Intra-op threads of the session the last pass ran on. */
  private ranOn: number | undefined;

  constructor(
    readonly graph: ModelGraph,
    stateDict: StateDict,
    private readonly ort: Ort,
    private readonly makeTfjs: () => Model,
    opts: OrtModelOptions = {},
  ) {
    checkStateDict(graph, stateDict);
    this.stateDict = new Map(stateDict);
    this.archKey = architectureKey(graph);
    this.freezes = hasConv(graph) && process.env.CKPT_LENS_ORT_FREEZE !== '0';
    if (opts.ownSessions) this.own = new Map();
  }

  /** onnxruntime, unless it rejected this graph and tfjs runs it. */
  get engine(): string {
    return this.rejected ? this.onTfjs().engine : 'onnxruntime';
  }

  /** The onnxruntime threads its last forward pass ran on (undefined before one, or on tfjs). */
  get threads(): number | undefined {
    return this.rejected ? undefined : this.ranOn;
  }

  update(changes: StateDict): void {
    for (const [name, t] of changes) {
      this.stateDict.set(name, t);
      this.tensors.delete(name);
    }
    if (changes.size) this.thaw();
    this.tfjs?.update(changes);
  }

  forward(input: tf.Tensor, opts: ForwardOptions = {}): ForwardResult {
    this.checkLive();
    if (this.rejected || opts.differentiable) return this.onTfjs().forward(input, opts);
    return this.run(input, opts.capture ?? [], true, opts);
  }

  features(input: tf.Tensor, points: readonly string[]): Record<string, tf.Tensor> {
    this.checkLive();
    if (this.rejected) return this.onTfjs().features(input, points);
    // Only the input asked for: nothing to run (an empty graph is no session to try).
    if (points.every((p) => resolveCapture(this.graph, p) === INPUT)) return Object.fromEntries(points.map((p) => [p, input.clone()]));
    return this.run(input, points, false, {}).features;
  }

  /** Stitching trains through this: tfjs, which has gradients. */
  forwardFrom(point: string, value: tf.Tensor, opts: Omit<ForwardOptions, 'batchNormTraining'> = {}): ForwardResult {
    this.checkLive();
    return this.onTfjs().forwardFrom(point, value, opts);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.tfjs?.dispose();
    this.thaw();
    for (const s of this.own?.values() ?? []) s.session.dispose();
    this.own?.clear();
    this.tensors.clear();
    this.stateDict.clear();
  }

  private checkLive(): void {
    if (this.disposed) throw new GraphError('the model has been disposed');
  }

  /** Frozen sessions hold a copy of the old weights: drop them when the weights change. */
  private thaw(): void {
    for (const s of this.frozen.values()) s.session.dispose();
    this.frozen.clear();
    this.runs.clear();
  }

  /**
   * The session for a request: the shared one (weights as inputs) at first; once a conv graph's
   * unchanged weights have run it FREEZE_AFTER_RUNS times (an evaluation over a dataset, an
   * interpolation point's batches), a session of its own with the weights baked in, which
   * onnxruntime fuses and prepacks. Both compute the same function.
   */
  private sessionFor(req: LowerRequest): CachedSession {
    const key = JSON.stringify(req);
    if (this.freezes) {
      const hit = this.frozen.get(key);
      if (hit) return hit;
      const n = (this.runs.get(key) ?? 0) + 1;
      this.runs.set(key, n);
      // A model with its own sessions would make one with weights as inputs just for two runs.
      if (n > FREEZE_AFTER_RUNS || this.own) {
        const made = makeSession(this.ort, this.graph, req, this.stateDict);
        this.frozen.set(key, made);
        return made;
      }
    }
    if (!this.own) return session(this.ort, this.archKey, this.graph, req);
    let s = this.own.get(key);
    if (!s) this.own.set(key, (s = makeSession(this.ort, this.graph, req)));
    return s;
  }

  /** Sessions of this model's own, with its weights baked in (tests). */
  get frozenSessionCount(): number {
    return this.frozen.size;
  }

  /** Sessions of this model's own, frozen or not (tests). */
  get ownSessionCount(): number {
    return this.frozen.size + (this.own?.size ?? 0);
  }

  private onTfjs(): Model {
    this.tfjs ??= this.makeTfjs();
    return this.tfjs;
  }

  private weight(name: string): OrtTensor {
    let t = this.tensors.get(name);
    if (!t) {
      const v = this.stateDict.get(name)!;
      t = new this.ort.Tensor('float32', v.values, v.shape);
      this.tensors.set(name, t);
    }
    return t;
  }

  private run(input: tf.Tensor, capture: readonly string[], logits: boolean, opts: ForwardOptions): ForwardResult {
    const g = this.graph;
    const tokens = g.input.kind === 'tokens';
    if (tokens && input.rank !== 2) throw new GraphError(`token input must be [B, T], got [${input.shape}]`);
    if (g.input.kind === 'image' && input.rank !== 4) throw new GraphError(`image input must be [B, C, H, W], got [${input.shape}]`);
    const wanted = new Map(capture.map((name) => [name, resolveCapture(g, name)]));
    const ids = [...new Set([...wanted.values()].filter((id) => id !== INPUT))];
    const req: LowerRequest = {
      inputShape: input.shape.slice(1),
      outputs: ids,
      logits,
      batchNormTraining: opts.batchNormTraining === true,
      attentionMask: tokens && opts.attentionMask !== undefined && g.nodes.some((n) => n.op === 'attention' && n.padding),
      tokenTypes: tokens && opts.tokenTypes !== undefined && g.nodes.some((n) => n.op === 'token_type_embedding'),
    };
    let s: CachedSession;
    try {
      s = this.sessionFor(req);
    } catch (e) {
      if (e instanceof GraphError) throw e;
      // A graph this onnxruntime cannot take (an op it lacks): tfjs runs it, with the same results.
      this.rejected = true;
      log?.(`onnxruntime: ${g.description}: ${String((e as Error)?.message ?? e)}; running it on tfjs`);
      return logits ? this.onTfjs().forward(input, opts) : { output: undefined as unknown as tf.Tensor, features: this.onTfjs().features(input, capture), batchStats: {} };
    }
    const { lowered } = s;
    const B = input.shape[0];
    const feeds: Record<string, OrtTensor> = {};
    const data = input.dataSync();
    feeds[lowered.inputName] = tokens
      ? new this.ort.Tensor('int32', data instanceof Int32Array ? data : Int32Array.from(data as Float32Array), input.shape)
      : new this.ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data as Int32Array), input.shape);
    if (lowered.attentionMaskName) feeds[lowered.attentionMaskName] = new this.ort.Tensor('float32', Float32Array.from(opts.attentionMask!.dataSync()), opts.attentionMask!.shape);
    if (lowered.tokenTypesName) feeds[lowered.tokenTypesName] = new this.ort.Tensor('int32', Int32Array.from(opts.tokenTypes!.dataSync()), opts.tokenTypes!.shape);
    for (const [inputName, name] of lowered.weights) feeds[inputName] = this.weight(name);

    const out = s.session.run(feeds, s.fetches, {});
    this.ranOn = s.threads;
    const toTf = (name: string): tf.Tensor => {
      const t = out[name];
      return tf.tensor(t.data as Float32Array, t.dims as number[], 'float32');
    };
    const features: Record<string, tf.Tensor> = {};
    for (const [name, id] of wanted) {
      if (id === INPUT) features[name] = input.clone();
      else features[name] = toTf(lowered.outputs.get(id)!);
    }
    const batchStats: Record<string, BatchStats> = {};
    for (const [id, st] of lowered.batchStats) {
      batchStats[id] = { mean: toTf(st.mean) as tf.Tensor1D, variance: toTf(st.variance) as tf.Tensor1D, count: st.countPerExample * B };
    }
    return { output: logits ? toTf(lowered.outputs.get('logits')!) : (undefined as unknown as tf.Tensor), features, batchStats };
  }
}

