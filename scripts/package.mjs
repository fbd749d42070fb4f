// `npm run package`: a production build (minified bundles, no source maps) packaged as a
// platform-specific .vsix with @vscode/vsce (offline): each carries only its platform's
// onnxruntime binary (scripts/ortRuntime.mjs says which files). The build runs in a staging
// folder, so the working tree's dist/ (the dev build the unit tests use) is never touched and
// packaging can run while tests run. One build serves every target.
//
// Usage: node scripts/package.mjs [--target <t>|all] [--out <file.vsix>] [--stage <dir>]
//   --target default this machine's (linux-x64 here); one of linux-x64, linux-arm64,
//            darwin-arm64, darwin-x64 (no onnxruntime binary: tfjs only), win32-x64, win32-arm64,
//            universal (no onnxruntime, for every other platform), or all of them
//   --out    one target only; default <repo>/checkpoint-lens-<target>-<version>.vsix
//            (checkpoint-lens-<version>.vsix for universal)
//   --stage  default <repo>/out/package (emptied first)
// Prints each .vsix path and size.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUDGETS, RUNTIME_DIR, TARGETS, hostTarget, runtimeFiles } from './ortRuntime.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
function opt(name) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const targetArg = opt('--target') ?? hostTarget();
const targets = targetArg === 'all' ? ['universal', ...Object.keys(TARGETS)] : [targetArg];
for (const t of targets) if (!(t in BUDGETS)) throw new Error(`unknown --target ${t}: use all, universal or one of ${Object.keys(TARGETS).join(', ')}`);
if (opt('--out') && targets.length > 1) throw new Error('--out names one .vsix: give one --target with it');
const outFor = (t) => resolve(opt('--out') ?? join(root, t === 'universal' ? `${pkg.name}-${pkg.version}.vsix` : `${pkg.name}-${t}-${pkg.version}.vsix`));
// Fail before building when a target's runtime is not installed.
const runtimes = Object.fromEntries(targets.map((t) => [t, runtimeFiles(t, join(root, 'node_modules'))]));
const stage = resolve(opt('--stage') ?? join(root, 'out', 'package'));
const t0 = Date.now();

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    throw new Error(`${[cmd, ...args].join(' ')} exited with ${r.status}`);
  }
  return r.stdout + r.stderr;
}

// 1. Stage: what vsce may see (package.json, .vscodeignore, media, docs) as copies; the build
//    inputs (src, node_modules) as links, so the build script's `root` is the stage.
rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, 'scripts'), { recursive: true });
for (const f of ['package.json', '.vscodeignore', 'LICENSE', 'README.md', 'CHANGELOG.md']) {
  if (existsSync(join(root, f))) copyFileSync(join(root, f), join(stage, f));
}
copyFileSync(join(root, 'scripts', 'build.mjs'), join(stage, 'scripts', 'build.mjs'));
if (existsSync(join(root, 'media'))) cpSync(join(root, 'media'), join(stage, 'media'), { recursive: true });
symlinkSync(join(root, 'src'), join(stage, 'src'), 'dir');
symlinkSync(join(root, 'node_modules'), join(stage, 'node_modules'), 'dir');

// 2. Production build into <stage>/dist.
run(process.execPath, [join(stage, 'scripts', 'build.mjs'), '--production'], stage);
const tBuild = Date.now() - t0;

// 3. vsce, once per target. --no-dependencies: everything the extension runs is bundled into
//    dist/ (the optional native @tensorflow/tfjs-node is not shipped) except onnxruntime-node,
//    whose files for the target are copied into dist/node_modules first.
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
// README links and images are relative; vsce rewrites them to absolute URLs and only guesses
// the base for GitHub/GitLab repositories, so give it the repository's.
const repo = String(pkg.repository?.url ?? pkg.repository ?? '').replace(/^git\+/, '').replace(/\.git$/, '');
const base = repo ? ['--baseContentUrl', `${repo}/blob/HEAD`, '--baseImagesUrl', `${repo}/raw/HEAD`] : [];
for (const target of targets) {
  const t1 = Date.now();
  const out = outFor(target);
  mkdirSync(dirname(out), { recursive: true });
  rmSync(out, { force: true });
  rmSync(join(stage, RUNTIME_DIR), { recursive: true, force: true });
  for (const f of runtimes[target]) {
    mkdirSync(dirname(join(stage, f.to)), { recursive: true });
    copyFileSync(f.from, join(stage, f.to));
  }
  const targetFlag = target === 'universal' ? [] : ['--target', target];
  const log = run(process.execPath, [vsce, 'package', '--no-dependencies', ...targetFlag, ...base, '--out', out], stage);
  if (process.env.PACKAGE_VERBOSE) process.stdout.write(log);
  for (const line of log.split('\n')) if (/WARNING/i.test(line)) console.warn(line.trim());
  const size = statSync(out).size;
  const budget = BUDGETS[target].vsix;
  const runtimeMB = runtimes[target].reduce((a, f) => a + f.bytes, 0) / 1e6;
  console.log(`packaged ${out} (${target}: ${(size / 1e6).toFixed(2)} MB of a ${budget / 1e6} MB budget, onnxruntime ${runtimeMB ? `${runtimeMB.toFixed(1)} MB unpacked` : 'none: tfjs only'}; ${((Date.now() - t1) / 1000).toFixed(1)} s)`);
  if (size > budget) console.warn(`WARNING: ${out} is over its budget (${size} > ${budget} bytes)`);
}
if (!opt('--stage')) rmSync(stage, { recursive: true, force: true });
console.log(`build ${(tBuild / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
