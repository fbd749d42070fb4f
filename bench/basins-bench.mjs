// Barrier-matrix benchmark: 6 Fashion-MNIST MLPs (784-512-512-10), every pair's line at 10 points
// (15 pairs; each model's own point evaluated once) on the first 2,000 test images, with
// Juneja et al.'s bump height — run by `ckpt-lens basins` (tfjs, the interpolation pool on every
// core, each thread holding every checkpoint once) and by PyTorch CPU on the same checkpoints in
// the same run; prints both times, their ratio and the largest barrier difference.
// Usage: node bench/basins-bench.mjs   (needs /usr/bin/python3 with Debian's python3-torch and
// Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR=folder in the MNIST layout).
// The six checkpoints are trained once (1 epoch each, under a minute) into the git-ignored bench/data.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const fmnist = process.env.FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const LIMIT = 2000;
const STEPS = 10;

if (!existsSync(join(fmnist, 't10k-images-idx3-ubyte.gz'))) {
  console.error(`Fashion-MNIST not found in ${fmnist}: apt-get install dataset-fashion-mnist, or set FMNIST_DIR`);
  process.exit(1);
}
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
const dir = join(root, 'bench', 'data');
mkdirSync(dir, { recursive: true });
const ckpts = [0, 1, 2, 3, 4, 5].map((s) => join(dir, `mlp6_seed${s}.safetensors`));
if (!ckpts.every((p) => existsSync(p))) {
  console.log('training the six benchmark MLPs on Fashion-MNIST with PyTorch (once)…');
  execFileSync(py, [join(root, 'bench', 'basins_reference.py'), 'train', fmnist, dir], { stdio: 'inherit' });
}
const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());
// PyTorch on 1 and on 2 threads; the ratio is taken against its faster configuration.
const torchRun = (threads) => lastJson(execFileSync(py, [join(root, 'bench', 'basins_reference.py'), 'matrix', fmnist, String(LIMIT), String(STEPS), ...ckpts], { encoding: 'utf8', env: { ...process.env, TORCH_THREADS: String(threads) } }));
const refs = [torchRun(1), torchRun(2)];
const ref = refs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
const ours = lastJson(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'basins', ...ckpts, '--data', fmnist, '--limit', String(LIMIT), '--steps', String(STEPS), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }));
let d = 0;
ours.loss.forEach((row, i) => row.forEach((v, j) => (d = Math.max(d, Math.abs(v - ref.loss[i][j])))));

console.log(`\nbarrier matrix of ${ckpts.length} checkpoints: ${ckpts.length * (ckpts.length - 1) / 2} pairs × ${STEPS} points on ${ours.n} Fashion-MNIST test images`);
for (const r of refs) console.log(`PyTorch ${r.torch} CPU (${r.threads} thread${r.threads > 1 ? 's' : ' '})          ${r.seconds.toFixed(2).padStart(7)} s`);
console.log(`Checkpoint Lens, tfjs ${ours.backend} (${ours.threads} threads)  ${ours.seconds.toFixed(2).padStart(7)} s`);
console.log(`\nratio (our time ÷ PyTorch's faster time, ${ref.threads} thread${ref.threads > 1 ? 's' : ''}): ${(ours.seconds / ref.seconds).toFixed(2)}×, largest |Δ bump height| ${d.toExponential(1)} nats`);
console.log(`spectral basins: ${ours.basins.map((b) => `{${b.join(', ')}}`).join(' ')}`);
