// The tfjs backend: @tensorflow/tfjs-node (native TensorFlow) when it loads, otherwise the wasm
// backend (XNNPACK kernels; its .wasm files are copied next to the bundles), otherwise the
// plain-JS cpu backend. tfjs-node is an optional dependency whose install downloads
// libtensorflow, so it is often absent or broken: that is caught and reported, never fatal in
// 'auto' mode.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
// Imported by name: a bare import would let bundlers drop the package (its sideEffects list
// does not include the Node build) and with it the cpu backend's registration.
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendChoice = 'auto' | BackendName;

export interface BackendInfo {
  name: BackendName;
  /** tfjs version. */
  version: string;
  /** Why faster backends were not used ("tensorflow: cannot load @tensorflow/tfjs-node: …"). */
  skipped: string[];
}

export interface BackendOptions {
  /** Folder holding tfjs-backend-wasm*.wasm; by default next to this bundle, else in node_modules. */
  wasmDir?: string;
  log?: (message: string) => void;
}

const WASM_FILE = 'tfjs-backend-wasm.wasm';

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
 * Selects the backend once per process. 'auto' tries tensorflow, wasm, cpu in turn and records
 * why each faster one was skipped; an explicit choice that cannot load is an error. Calling
 * again with the same choice returns the backend already set up.
 */
export async function initBackend(choice: BackendChoice = 'auto', opts: BackendOptions = {}): Promise<BackendInfo> {
  if (pending && (choiceMade === choice || choice === 'auto')) return pending;
  choiceMade = choice;
  pending = (async () => {
    // PROD silences tfjs's console advice ("install tfjs-node…") and debug checks.
    tf.env().set('PROD', true);
    const order: BackendName[] = choice === 'auto' ? [...BACKENDS] : [choice];
    const skipped: string[] = [];
    for (const name of order) {
      const problem = name === 'tensorflow' ? await tryTensorflow() : name === 'wasm' ? await tryWasm(opts) : (await tf.setBackend('cpu')) ? undefined : 'the cpu backend failed to initialise';
      if (problem === undefined) {
        await tf.ready();
        current = { name, version: version_cpu, skipped };
        opts.log?.(`tfjs backend: ${name}${skipped.length ? ` (${skipped.join('; ')})` : ''}`);
        return current;
      }
      skipped.push(`${name}: ${problem}`);
    }
    pending = undefined;
    throw new Error(`no tfjs backend could be set up: ${skipped.join('; ')}`);
  })();
  return pending;
}

/** The backend set up by initBackend, if any. */
export function currentBackend(): BackendInfo | undefined {
  return current;
}
