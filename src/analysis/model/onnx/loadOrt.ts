// The one place that loads onnxruntime-node (an optional dependency carrying a native addon;
// bundles keep it external). Loading is lazy and never throws: it says why it failed, so the
// caller falls back to tfjs.
//
// Sessions are run through the package's native binding, whose run() is synchronous (the public
// InferenceSession.run only wraps it in a promise on setImmediate). Our analyses call a model's
// forward pass synchronously, inside a worker thread where blocking is what we want, so one
// engine interface serves tfjs and onnxruntime alike.

/** onnxruntime-common's Tensor, as much of it as we use. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: Float32Array | Int32Array | BigInt64Array;
}

export interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  executionMode?: 'sequential' | 'parallel';
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  enableCpuMemArena?: boolean;
  executionProviders?: string[];
}

/** The native session object of onnxruntime-node's binding. */
export interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: OrtSessionOptions): unknown;
  readonly inputMetadata: { name: string }[];
  readonly outputMetadata: { name: string }[];
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}

export interface Ort {
  version: string;
  Tensor: new (type: 'float32' | 'int32' | 'int64', data: Float32Array | Int32Array | BigInt64Array, dims: readonly number[]) => OrtTensor;
  /** A session on model bytes, ready to run synchronously. */
  createSession(model: Uint8Array, options: OrtSessionOptions): NativeSession;
  /** Why onnxruntime rejects a model, through the public (asynchronous) API: for errors and tests. */
  diagnose(model: Uint8Array): Promise<string | undefined>;
}

let loaded: { ort?: Ort; problem?: string } | undefined;
/** Tests: pretend the package cannot load (a platform without binaries). */
let simulatedFailure: string | undefined;

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0].trim();
}

function load(): { ort?: Ort; problem?: string } {
  let pub: { Tensor: Ort['Tensor']; env: { versions: Record<string, string> }; InferenceSession: { create(m: Uint8Array): Promise<{ release(): Promise<void> }> } };
  let native: { binding: { InferenceSession: new () => NativeSession }; initOrt: () => void };
  try {
    // Kept out of the bundles (external): a native addon and its shared library.
    pub = require('onnxruntime-node');
    native = require('onnxruntime-node/dist/binding');
  } catch (e) {
    return { problem: `cannot load onnxruntime-node: ${firstLine(e)}` };
  }
  if (typeof native?.binding?.InferenceSession !== 'function' || typeof native.initOrt !== 'function' || typeof pub?.Tensor !== 'function') {
    return { problem: 'onnxruntime-node: its native binding is not the one this build knows (expected 1.31)' };
  }
  const version = pub.env?.versions?.node ?? pub.env?.versions?.common ?? 'unknown';
  const ort: Ort = {
    version,
    Tensor: pub.Tensor,
    createSession(model, options) {
      native.initOrt();
      const s = new native.binding.InferenceSession();
      const pending = s.loadModel(model.buffer, model.byteOffset, model.byteLength, options);
      // The binding loads synchronously and returns a settled promise (an asynchronous load
      // happens only for sessions with callbacks, which we never register).
      // A failed load rejects that promise; its reason arrives too late to throw here, so the
      // failure is reported by the metadata check below and the reason is dropped quietly.
      if (pending && typeof (pending as Promise<void>).then === 'function') (pending as Promise<void>).catch(() => undefined);
      try {
        if (Array.isArray(s.outputMetadata) && s.outputMetadata.length > 0) return s;
      } catch {
        // "Session is not initialized": the load failed.
      }
      throw new Error('onnxruntime rejected the model');
    },
    async diagnose(model) {
      try {
        await (await pub.InferenceSession.create(model)).release();
        return undefined;
      } catch (e) {
        return firstLine(e);
      }
    },
  };
  return { ort };
}

/** onnxruntime-node if it loads here, else undefined with `loadProblem()` saying why. */
export function loadOrt(): Ort | undefined {
  if (simulatedFailure !== undefined) return undefined;
  loaded ??= load();
  return loaded.ort;
}

/** Why onnxruntime-node did not load (undefined when it did). */
export function loadProblem(): string | undefined {
  if (simulatedFailure !== undefined) return simulatedFailure;
  loaded ??= load();
  return loaded.problem;
}

/** Tests: make loadOrt fail as on a platform without binaries (undefined: load normally again). */
export function simulateOrtLoadFailure(problem: string | undefined): void {
  simulatedFailure = problem === undefined ? undefined : `cannot load onnxruntime-node: ${problem}`;
}
