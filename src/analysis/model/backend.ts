// The engines: onnxruntime-node for forward passes when it loads (native MLAS kernels on every
// core; see onnx/), and a tfjs backend for everything else (gradients, losses, tensor work) and
// for forward passes when onnxruntime is not there: @tensorflow/tfjs-node (native TensorFlow)
// when it loads, otherwise the wasm backend (XNNPACK kernels; its .wasm files are copied next
// to the bundles), otherwise the plain-JS cpu backend. onnxruntime-node and tfjs-node are
// optional dependencies with native parts, so they are often absent or broken: that is caught
// and reported, never fatal in 'auto' mode.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Imported by name: a bare import would let bundlers drop the package (its sideEffects list
// does not include the Node build) and with it the cpu backend's registration.
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { setForwardEngine } from './engine';
import { loadOrt, loadProblem } from './onnx/loadOrt';
import { ortThreads, setOrtLog, setOrtThreads } from './onnx/ortModel';

/** Every choice, fastest first: onnxruntime (forward passes only), then the tfjs backends. */
export const BACKENDS = ['onnxruntime', 'tensorflow', 'wasm', 'cpu'] as const;
export const TFJS_BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackendName = (typeof TFJS_BACKENDS)[number];
/** What runs forward passes: onnxruntime or a tfjs backend. */
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

export interface BackendInfo {
  /** The forward-pass engine (what results report). */
  name: BackendName;
  /** The tfjs backend beside it (gradients, losses; forward passes too unless name is onnxruntime). */
  tfjs: TfjsBackendName;
  /** onnxruntime's version and intra-op threads, when it is the forward engine. */
  onnxruntime?: { version: string; threads: number };
  /** tfjs version. */
  version: string;
  /** Why faster backends were not used ("tensorflow: cannot load @tensorflow/tfjs-node: …"). */
  skipped: string[];
}

export interface BackendOptions {
  /** Folder holding tfjs-backend-wasm*.wasm; by default next to this bundle, else in node_modules. */
  wasmDir?: string;
  log?: (message: string) => void;
  /** onnxruntime intra-op threads (default: the cores). */
  threads?: number;
}

export const WASM_FILE = 'tfjs-backend-wasm.wasm';

/** Where the .wasm binaries are: the bundle's own folder (dist/), then the npm package. */
export function findWasmDir(explicit?: string): string | undefined {
  const candidates = [explicit, __dirname];
  try {
    candidates.push(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
  } catch {
    // Not installed beside us (a packaged extension): the bundle folder is the place.
  }
  for (const d of candidates) if (d && existsSync(join(d, WASM_FILE))) return d;
  return undefined;
}

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;
let choiceMade: BackendChoice | undefined;

async function tryTensorflow(): Promise<string | undefined> {
  try {
    // Kept out of the bundles (external): it carries a native addon.
    require('@tensorflow/tfjs-node');
  } catch (e) {
    return `cannot load @tensorflow/tfjs-node: ${firstLine(e)}`;
  }
  return (await tf.setBackend('tensorflow')) ? undefined : 'the tensorflow backend failed to initialise';
}

async function tryWasm(opts: BackendOptions): Promise<string | undefined> {
  const dir = findWasmDir(opts.wasmDir);
  if (!dir) return `${WASM_FILE} not found (looked in ${opts.wasmDir ?? __dirname} and node_modules)`;
  // usePlatformFetch false: read the files from disk with fs, not fetch().
  setWasmPaths(dir.endsWith('/') ? dir : `${dir}/`, false);
  try {
    return (await tf.setBackend('wasm')) ? undefined : 'the wasm backend failed to initialise';
  } catch (e) {
    return `the wasm backend failed: ${firstLine(e)}`;
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0].trim();
}

/**
 * Selects the engines once per process. 'auto' tries onnxruntime (forward passes), then
 * tensorflow, wasm, cpu in turn, and records why each faster one was skipped; an explicit
 * choice that cannot load is an error ('onnxruntime' sets up the best tfjs backend beside it).
 * Calling again with the same choice returns the engines already set up.
 */
export async function initBackend(choice: BackendChoice = 'auto', opts: BackendOptions = {}): Promise<BackendInfo> {
  if (pending && (choiceMade === choice || choice === 'auto')) return pending.then((info) => applyThreads(info, opts));
  choiceMade = choice;
  const attempt = (async (): Promise<BackendInfo> => {
    // PROD silences tfjs's console advice ("install tfjs-node…") and debug checks.
    tf.env().set('PROD', true);
    const skipped: string[] = [];
    let ort: BackendInfo['onnxruntime'];
    if (choice === 'auto' || choice === 'onnxruntime') {
      const loaded = loadOrt();
      if (loaded) {
        if (opts.threads !== undefined) setOrtThreads(opts.threads);
        setOrtLog(opts.log);
        ort = { version: loaded.version, threads: ortThreads() };
      } else if (choice === 'onnxruntime') {
        throw new Error(`onnxruntime could not be set up: ${loadProblem()}`);
      } else skipped.push(`onnxruntime: ${loadProblem()}`);
    }
    setForwardEngine(ort ? 'onnxruntime' : 'tfjs');
    const order: TfjsBackendName[] = choice === 'auto' || choice === 'onnxruntime' ? [...TFJS_BACKENDS] : [choice];
    for (const name of order) {
      const problem = name === 'tensorflow' ? await tryTensorflow() : name === 'wasm' ? await tryWasm(opts) : (await tf.setBackend('cpu')) ? undefined : 'the cpu backend failed to initialise';
      if (problem === undefined) {
        await tf.ready();
        current = { name: ort ? 'onnxruntime' : name, tfjs: name, onnxruntime: ort, version: version_cpu, skipped };
        const why = skipped.length ? ` (${skipped.join('; ')})` : '';
        opts.log?.(ort ? `forward passes: onnxruntime ${ort.version}, ${ort.threads} thread${ort.threads > 1 ? 's' : ''}; tfjs backend: ${name}${why}` : `tfjs backend: ${name}${why}`);
        return current;
      }
      skipped.push(`${name}: ${problem}`);
    }
    throw new Error(`no tfjs backend could be set up: ${skipped.join('; ')}`);
  })();
  pending = attempt;
  // A failed choice is not remembered: the next call tries again.
  attempt.catch(() => {
    if (pending === attempt) pending = choiceMade = undefined;
  });
  return attempt;
}

/** A later job's thread count (the setting may have changed since the engines were set up). */
function applyThreads(info: BackendInfo, opts: BackendOptions): BackendInfo {
  if (!info.onnxruntime || opts.threads === undefined || opts.threads === ortThreads()) return info;
  setOrtThreads(opts.threads);
  info.onnxruntime.threads = opts.threads;
  opts.log?.(`forward passes: onnxruntime ${info.onnxruntime.version}, now ${opts.threads} thread${opts.threads > 1 ? 's' : ''}`);
  return info;
}

/** Tests: forget the choice made, so the next initBackend chooses again (e.g. 'auto' after a simulated load failure). */
export function forgetBackendChoice(): void {
  pending = undefined;
  choiceMade = undefined;
}

/** The backend set up by initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
