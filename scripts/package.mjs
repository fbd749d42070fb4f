// `npm run package`: a production build (minified bundles, no source maps) packaged as a .vsix
// with @vscode/vsce (offline). The build runs in a staging folder, so the working tree's
// dist/ (the dev build the unit tests use) is never touched and packaging can run while
// tests run.
//
// Usage: node scripts/package.mjs [--out <file.vsix>] [--stage <dir>]
//   --out    default <repo>/checkpoint-lens-<version>.vsix
//   --stage  default <repo>/out/package (emptied first)
// Prints the .vsix path and size on the last line.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
function opt(name) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = resolve(opt('--out') ?? join(root, `${pkg.name}-${pkg.version}.vsix`));
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

// 3. vsce. --no-dependencies: everything the extension runs is bundled into dist/ (the
//    optional native @tensorflow/tfjs-node is not shipped), so no node_modules in the .vsix.
mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
// README links and images are relative; vsce rewrites them to absolute URLs and only guesses
// the base for GitHub/GitLab repositories, so give it the repository's.
const repo = String(pkg.repository?.url ?? pkg.repository ?? '').replace(/^git\+/, '').replace(/\.git$/, '');
const base = repo ? ['--baseContentUrl', `${repo}/blob/HEAD`, '--baseImagesUrl', `${repo}/raw/HEAD`] : [];
const log = run(process.execPath, [vsce, 'package', '--no-dependencies', ...base, '--out', out], stage);
if (process.env.PACKAGE_VERBOSE) process.stdout.write(log);
for (const line of log.split('\n')) if (/WARNING/i.test(line)) console.warn(line.trim());
if (!opt('--stage')) rmSync(stage, { recursive: true, force: true });
const size = statSync(out).size;
console.log(`packaged ${out} (${(size / 1e6).toFixed(2)} MB; build ${(tBuild / 1000).toFixed(1)} s, total ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
