// One build for every bundle. Usage: node scripts/build.mjs [--production] [--tests] [--watch]
import * as esbuild from 'esbuild';
import { readdirSync, mkdirSync, copyFileSync, existsSync, statSync, rmSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const common = {
  bundle: true,
  sourcemap: production ? false : 'linked',
  sourcesContent: false,
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
};
// tfjs-node and onnxruntime-node carry native addons and are optional: bundles require them at
// run time, if present (onnxruntime-node only from src/analysis/model/onnx/loadOrt.ts; a
// platform's .vsix carries it in dist/node_modules, scripts/ortRuntime.mjs).
// @huggingface/tokenizers (text data) is bundled when installed; a node_modules that predates it
// still builds, and text data then says to run npm install.
const resolvable = (pkg) => { try { createRequire(import.meta.url).resolve(pkg); return true; } catch { return false; } };
const node = { ...common, platform: 'node', format: 'cjs', target: 'node20', external: ['@tensorflow/tfjs-node', 'onnxruntime-node', ...(resolvable('@huggingface/tokenizers') ? [] : ['@huggingface/tokenizers'])] };

const builds = [
  // Extension host: the only bundle allowed to see `vscode`.
  { ...node, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode', ...node.external] },
  // Worker and CLI: `vscode` is not external, so an accidental `import 'vscode'` fails the build.
  { ...node, entryPoints: ['src/analysis/worker/worker.ts'], outfile: 'dist/worker.js' },
  { ...node, entryPoints: ['src/analysis/stats/statsWorker.ts'], outfile: 'dist/statsWorker.js' },
  { ...node, entryPoints: ['src/analysis/interpolate/pathWorker.ts'], outfile: 'dist/pathWorker.js' },
  { ...node, entryPoints: ['src/analysis/dynamics/llcWorker.ts'], outfile: 'dist/llcWorker.js' },
  { ...node, entryPoints: ['src/analysis/cli/ckptLens.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  { ...node, entryPoints: ['src/analysis/demo/demo.ts'], outfile: 'dist/demo.js' },
  // Webviews: browser code only.
  {
    ...common, platform: 'browser', format: 'iife', target: 'es2022',
    entryPoints: { editor: 'src/webviews/editor/main.ts', report: 'src/webviews/report/main.ts', analysis: 'src/webviews/analysis/main.ts' },
    outdir: 'dist/webviews',
  },
];

function testEntries(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testEntries(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

if (args.has('--tests')) {
  // `npm test` runs every file in out/test: a test deleted or renamed since the last build must
  // not run from its stale bundle.
  if (!args.has('--watch')) rmSync(join(root, 'out', 'test'), { recursive: true, force: true });
  const entries = testEntries(join(root, 'test'));
  builds.push({
    ...node, sourcemap: 'inline', minify: false,
    entryPoints: entries.map((p) => relative(root, p)),
    outdir: 'out/test', outbase: 'test',
    packages: 'external',
  });
}

if (args.has('--watch')) {
  const ctxs = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(ctxs.map((c) => c.watch()));
  console.log('[watch] build started');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  for (const css of ['editor.css', 'analysis.css', 'vega.css']) {
    const src = join(root, 'media', css);
    if (existsSync(src)) { mkdirSync(join(root, 'dist/webviews'), { recursive: true }); copyFileSync(src, join(root, 'dist/webviews', css)); }
  }
}
// The tfjs wasm backend loads its binaries from the bundle's folder (see src/analysis/model/backend.ts).
{
  const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  mkdirSync(join(root, 'dist'), { recursive: true });
  for (const f of readdirSync(wasmDir).filter((n) => /^tfjs-backend-wasm.*\.wasm$/.test(n))) copyFileSync(join(wasmDir, f), join(root, 'dist', f));
}
