// The .vsix: `npm run package` (scripts/package.mjs) builds it in a staging folder (the working
// tree's dist/ is untouched), here into a temp dir, for this machine's platform. It must hold only
// what the extension runs (.vscodeignore, and onnxruntime for its platform only), minified
// bundles, and stay within the size budget (README, "Packaging"). The other platforms' runtime
// files are checked from the list package.mjs stages (scripts/ortRuntime.mjs), without packaging.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipArchive } from '../../src/analysis/formats/zip';
import { FileSource } from '../../src/analysis/io/byteSource';
import { REPO_ROOT } from '../helpers';
import { BUDGETS, RUNTIME_DIR, TARGETS, type Target, hostTarget, runtimeFiles } from '../../scripts/ortRuntime.mjs';

const HOST = hostTarget();
const NODE_MODULES = join(REPO_ROOT, 'node_modules');
/** The budget for this platform's packaged .vsix (compressed), stated in README.md. */
export const VSIX_BUDGET_BYTES = BUDGETS[HOST].vsix;
/** The onnxruntime files this platform's .vsix carries (empty where onnxruntime has no binary). */
const RUNTIME = runtimeFiles(HOST, NODE_MODULES).map((f) => `extension/${f.to}`);
const RUNTIME_RE = new RegExp(`^extension/${RUNTIME_DIR}/onnxruntime-(node|common)/[\\w./-]+$`);

/** Files the extension needs at run time. */
const REQUIRED = [
  'extension/package.json',
  'extension/readme.md',
  'extension/LICENSE.txt',
  'extension/dist/extension.js',
  'extension/dist/worker.js',
  'extension/dist/statsWorker.js',
  'extension/dist/pathWorker.js',
  'extension/dist/llcWorker.js',
  'extension/dist/webviews/editor.js',
  'extension/dist/webviews/editor.css',
  'extension/dist/webviews/analysis.js',
  'extension/dist/webviews/analysis.css',
  'extension/dist/webviews/vega.css',
];
/** What may be in the archive at all: vsce's two manifests, docs, package.json, and dist/. */
const ALLOWED = [
  /^extension\.vsixmanifest$/,
  /^\[Content_Types\]\.xml$/,
  /^extension\/(package\.json|readme\.md|changelog\.md|LICENSE\.txt)$/,
  /^extension\/dist\/[\w./-]+\.(js|css|wasm)$/,
  RUNTIME_RE,
];
/** Never shipped: sources, tests, fixtures, demo/bench, maps, dev-only bundles, screenshots. */
const FORBIDDEN = [/\/src\//, /\/test\//, /fixtures/, /\/demo\//, /\/bench\//, /^extension\/node_modules/, /\.map$/, /\.tsx?$/, /\.py$/, /\.vsix$/, /screenshots/, /\/dist\/(cli|demo)\.js$/, /report\.js$/];

describe('the .vsix (npm run package)', () => {
  let dir = '';
  let vsix = '';
  let entries: string[] = [];
  let zip: ZipArchive;
  let src: FileSource;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ckpt-vsix-'));
    vsix = join(dir, 'checkpoint-lens.vsix');
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs'), '--target', HOST, '--out', vsix, '--stage', join(dir, 'stage')], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 180_000,
    });
    assert.equal(r.status, 0, `npm run package failed:\n${r.stdout}\n${r.stderr}`);
    src = await FileSource.open(vsix);
    zip = await ZipArchive.open(src);
    entries = zip.entries.map((e) => e.name);
  });
  after(async () => {
    await src?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const text = async (name: string) => {
    const e = zip.get(name);
    assert.ok(e, `${name} is not in the .vsix`);
    return Buffer.from(await zip.readEntry(e, 64 << 20)).toString('utf8');
  };

  test(`stays within the size budget (${HOST}: ${VSIX_BUDGET_BYTES / 1e6} MB)`, () => {
    const size = statSync(vsix).size;
    assert.ok(size <= VSIX_BUDGET_BYTES, `the .vsix is ${size} bytes, over the budget of ${VSIX_BUDGET_BYTES}`);
    assert.ok(size > 100_000, `the .vsix is suspiciously small (${size} bytes)`);
  });

  test('holds what the extension runs', () => {
    for (const f of REQUIRED) assert.ok(entries.includes(f), `${f} missing; entries: ${entries.join(', ')}`);
    assert.ok(entries.some((e) => /^extension\/dist\/tfjs-backend-wasm.*\.wasm$/.test(e)), 'the tfjs wasm binaries are missing');
  });

  test('holds nothing else: no sources, tests, fixtures, maps or dev-only bundles', () => {
    for (const e of entries) {
      assert.ok(ALLOWED.some((re) => re.test(e)), `${e} is not an allowed file (fix .vscodeignore)`);
      for (const re of FORBIDDEN) assert.doesNotMatch(e, re, `${e} must not be shipped`);
    }
  });

  test(`carries onnxruntime for ${HOST} only: the binding, its library, the JS it requires`, () => {
    const shipped = entries.filter((e) => e.includes('/node_modules/')).sort();
    assert.deepEqual(shipped, [...RUNTIME].sort(), 'node_modules files in the .vsix = scripts/ortRuntime.mjs\'s list for this platform');
    if (TARGETS[HOST as Target]?.native) {
      assert.ok(shipped.some((e) => e.endsWith('/onnxruntime_binding.node')), 'the native binding is missing');
      assert.ok(shipped.some((e) => e.endsWith('/onnxruntime-common/dist/cjs/index.js')), 'onnxruntime-common is missing');
    }
  });

  test('.vscodeignore, applied to the whole working tree (vsce ls), lets through only dist/ and docs', () => {
    // The staged build above only shows vsce what packaging needs; this checks the ignore rules
    // against everything in the repository (src, test, fixtures, demo, the dev build's maps...).
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'ls', '--no-dependencies'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const files = r.stdout.split('\n').filter(Boolean);
    assert.ok(files.includes('dist/extension.js') && files.includes('package.json'), files.join(', '));
    for (const f of files) {
      const e = `extension/${f.replace(/^README\.md$/, 'readme.md').replace(/^LICENSE$/, 'LICENSE.txt').replace(/^CHANGELOG\.md$/, 'changelog.md')}`;
      assert.ok(ALLOWED.some((re) => re.test(e)), `${f} would be packaged (fix .vscodeignore)`);
      for (const re of FORBIDDEN) assert.doesNotMatch(e, re, `${f} would be packaged (fix .vscodeignore)`);
    }
  });

  test('its package.json is the project\'s, and its main file is packaged', async () => {
    const pkg = JSON.parse(await text('extension/package.json'));
    const mine = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.name, mine.name);
    assert.equal(pkg.version, mine.version);
    assert.deepEqual(pkg.contributes, mine.contributes);
    assert.ok(entries.includes(`extension/${pkg.main.replace(/^\.\//, '')}`), `main ${pkg.main} is not packaged`);
  });

  test('the bundles are minified production builds', async () => {
    for (const f of ['extension/dist/extension.js', 'extension/dist/worker.js', 'extension/dist/statsWorker.js', 'extension/dist/webviews/editor.js']) {
      const js = await text(f);
      const lines = js.split('\n').length;
      assert.ok(js.length / lines > 400, `${f}: ${lines} lines for ${js.length} bytes; not minified?`);
      assert.doesNotMatch(js, /sourceMappingURL/, `${f} refers to a source map`);
      assert.ok(!js.includes(REPO_ROOT), `${f} holds the local path ${REPO_ROOT}`);
    }
  });
});

// Every platform's runtime, as package.mjs stages it (no packaging: this reads the file list).
const STAGED_RE = new RegExp(`^${RUNTIME_DIR}/onnxruntime-(node/(package\\.json|dist/\\w+\\.js|bin/napi-v6/)|common/(package\\.json|dist/cjs/[\\w-]+\\.(js|json)$))`);
describe('onnxruntime in the platform-specific .vsix files', () => {
  for (const target of Object.keys(TARGETS) as Target[]) {
    const what = TARGETS[target].native ? `its own binary only, within ${BUDGETS[target].runtime / 1e6} MB unpacked` : 'none (onnxruntime publishes no binary: tfjs runs everything)';
    test(`${target}: ${what}`, () => {
      const files = runtimeFiles(target, NODE_MODULES);
      const bytes = files.reduce((a, f) => a + f.bytes, 0);
      assert.ok(bytes <= BUDGETS[target].runtime, `${target}: ${bytes} bytes of runtime, over the budget of ${BUDGETS[target].runtime}`);
      const native = TARGETS[target].native;
      if (!native) {
        assert.deepEqual(files, [], `${target}: onnxruntime has no binary, so nothing ships (tfjs runs everything)`);
        return;
      }
      const natives = files.filter((f) => f.to.includes('/bin/'));
      assert.deepEqual(natives.map((f) => f.to.split('/').pop()).sort(), [...TARGETS[target].files].sort(), `${target}: native files`);
      for (const f of natives) assert.ok(f.to.includes(`/bin/napi-v6/${native}/`), `${f.to} is not ${target}'s`);
      // Nothing else from node_modules: the JS of onnxruntime-node and onnxruntime-common, no maps or typings.
      for (const f of files) {
        assert.match(f.to, STAGED_RE, `${f.to} is not part of the runtime`);
        assert.doesNotMatch(f.to, /\.(map|ts)$/);
      }
      assert.ok(files.some((f) => f.to.endsWith('onnxruntime-node/dist/index.js')) && files.some((f) => f.to.endsWith('onnxruntime-common/dist/cjs/index.js')), `${target}: the JS entry points`);
    });
  }
});
