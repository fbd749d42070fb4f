// What of onnxruntime-node each platform-specific .vsix carries (scripts/package.mjs copies it;
// test/unit/vsix.test.ts checks it against the budgets below without building every target).
//
// The bundles leave `onnxruntime-node` external (scripts/build.mjs); at run time Node resolves it
// from dist/ to dist/node_modules/onnxruntime-node, so that is where the runtime goes: its JS
// (dist/*.js, no maps or typings), onnxruntime-common's CommonJS build (the only package it
// requires at run time; adm-zip and global-agent serve its install script only), and the one
// native folder bin/napi-v6/<os>/<arch> with just the binding and the library it links:
//   - darwin: the binding links @rpath/libonnxruntime.1.dylib; the package's second copy
//     (libonnxruntime.1.31.1.dylib, 45 MB) is never loaded.
//   - win32: DirectML.dll is delay-loaded (only by the DirectML execution provider) and
//     dxcompiler.dll is loaded by the WebGPU one; we run the CPU provider only, so neither ships.
//   - darwin-x64: onnxruntime publishes no binary (dropped in 1.2x), so that .vsix carries none
//     and the extension runs everything on tfjs, as on any platform where it cannot load.
// No import.meta here: the unit tests bundle this file into CommonJS.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** VS Code targets we package for, with the onnxruntime-node native folder and files each needs. */
export const TARGETS = {
  'linux-x64': { native: 'linux/x64', files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'linux-arm64': { native: 'linux/arm64', files: ['onnxruntime_binding.node', 'libonnxruntime.so.1'] },
  'darwin-arm64': { native: 'darwin/arm64', files: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'] },
  'darwin-x64': { native: null, files: [] },
  'win32-x64': { native: 'win32/x64', files: ['onnxruntime_binding.node', 'onnxruntime.dll'] },
  'win32-arm64': { native: 'win32/arm64', files: ['onnxruntime_binding.node', 'onnxruntime.dll'] },
};

/** Budgets per target (README, "Packaging"): the .vsix (compressed) and the runtime files staged (uncompressed). */
export const BUDGETS = {
  universal: { vsix: 3_000_000, runtime: 0 },
  'linux-x64': { vsix: 24_000_000, runtime: 50_000_000 },
  'linux-arm64': { vsix: 15_000_000, runtime: 27_000_000 },
  'darwin-arm64': { vsix: 18_000_000, runtime: 47_000_000 },
  'darwin-x64': { vsix: 3_000_000, runtime: 0 },
  'win32-x64': { vsix: 17_000_000, runtime: 34_000_000 },
  'win32-arm64': { vsix: 17_000_000, runtime: 35_000_000 },
};

/** Where the runtime goes inside the extension (beside the bundles that require it). */
export const RUNTIME_DIR = 'dist/node_modules';

/** The target of the machine this runs on, or 'universal' (no onnxruntime) when VS Code has none we build. */
export function hostTarget() {
  const t = `${process.platform}-${process.arch}`;
  return t in TARGETS ? t : 'universal';
}

function jsFiles(dir, rel = '') {
  const out = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    const r = rel ? `${rel}/${name}` : name;
    if (statSync(join(dir, r)).isDirectory()) out.push(...jsFiles(dir, r));
    else if (name.endsWith('.js') || name === 'package.json') out.push(r);
  }
  return out;
}

/**
 * The files a target's .vsix carries: [{ from (absolute), to (relative to the extension root), bytes }].
 * Empty for 'universal' and darwin-x64. Throws, cause first, when onnxruntime-node is not installed.
 */
export function runtimeFiles(target, nodeModules) {
  if (target !== 'universal' && !(target in TARGETS)) throw new Error(`unknown target ${target}: use one of ${['universal', ...Object.keys(TARGETS)].join(', ')}`);
  const spec = TARGETS[target];
  if (!spec?.native) return [];
  const ort = join(nodeModules, 'onnxruntime-node');
  const common = join(nodeModules, 'onnxruntime-common');
  if (!existsSync(join(ort, 'package.json')) || !existsSync(join(common, 'package.json'))) {
    throw new Error(`onnxruntime-node is not installed in ${nodeModules} (an optional dependency: run npm install), so a ${target} .vsix cannot carry it; package --target universal for one without it`);
  }
  const list = [];
  const add = (base, rel, to) => {
    const from = join(base, rel);
    if (!existsSync(from)) throw new Error(`${from} is missing: onnxruntime-node's ${target} binary is not in the installed package`);
    list.push({ from, to: `${RUNTIME_DIR}/${to}/${rel}`, bytes: statSync(from).size });
  };
  add(ort, 'package.json', 'onnxruntime-node');
  for (const f of jsFiles(join(ort, 'dist'))) add(ort, `dist/${f}`, 'onnxruntime-node');
  for (const f of spec.files) add(ort, `bin/napi-v6/${spec.native}/${f}`, 'onnxruntime-node');
  add(common, 'package.json', 'onnxruntime-common');
  for (const f of jsFiles(join(common, 'dist', 'cjs'))) add(common, `dist/cjs/${f}`, 'onnxruntime-common');
  return list;
}
