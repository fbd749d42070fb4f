// Interpolation benchmark: the 25-point straight line between two Fashion-MNIST MLPs
// (784-512-512-512-10), test loss and accuracy on the 10,000 test images at every α, run by
// `ckpt-lens interpolate` (tfjs, the point pool on every core) and by PyTorch CPU on the same
// checkpoints in the same run; prints both times, their ratio (goal: ours ≤ 2× PyTorch's) and the
// largest loss difference.
// Usage: node bench/interp-bench.mjs   (needs /usr/bin/python3 with Debian's python3-torch and
// Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR=folder in the MNIST layout).
// The pair: test/fixtures/fmnist/mlp_seed{0,1}.safetensors when present (or FMNIST_PAIR_DIR),
// else trained once into the git-ignored bench/data.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const fmnist = process.env.FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const STEPS = 25;
const BATCH = 256;

if (!existsSync(join(fmnist, 't10k-images-idx3-ubyte.gz'))) {
  console.error(`Fashion-MNIST not found in ${fmnist}: apt-get install dataset-fashion-mnist, or set FMNIST_DIR`);
  process.exit(1);
}
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
let pairDir = process.env.FMNIST_PAIR_DIR ?? join(root, 'test', 'fixtures', 'fmnist');
if (!existsSync(join(pairDir, 'mlp_seed1.safetensors'))) {
  pairDir = join(root, 'bench', 'data');
  mkdirSync(pairDir, { recursive: true });
  if (!existsSync(join(pairDir, 'mlp_seed1.safetensors'))) {
    console.log('training the benchmark pair on Fashion-MNIST with PyTorch (once, a few minutes)…');
    execFileSync(py, [join(root, 'bench', 'interp_reference.py'), 'train', fmnist, pairDir], { stdio: 'inherit' });
  }
}
const [a, b] = [0, 1].map((s) => join(pairDir, `mlp_seed${s}.safetensors`));
const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());

// PyTorch on 1 and on 2 threads: on a busy machine its OpenMP threads can slow each other down a
// lot, so the ratio is taken against its faster configuration.
const torchRun = (threads) => lastJson(execFileSync(py, [join(root, 'bench', 'interp_reference.py'), 'path', a, b, fmnist, String(STEPS), String(BATCH)], { encoding: 'utf8', env: { ...process.env, TORCH_THREADS: String(threads) } }));
const refs = [torchRun(1), torchRun(2)];
const ref = refs.reduce((x, y) => (y.seconds < x.seconds ? y : x));
const ours = lastJson(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'interpolate', a, b, '--data', fmnist, '--steps', String(STEPS), '--batch-size', String(BATCH), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }));
const dloss = Math.max(...ours.loss.map((l, i) => Math.abs(l - ref.loss[i])));

console.log(`\n${STEPS}-point line between ${a} and ${b}`);
console.log(`Fashion-MNIST test set (${ours.n} images per point), batch ${BATCH}\n`);
for (const r of refs) console.log(`PyTorch ${r.torch} CPU (${r.threads} thread${r.threads > 1 ? 's' : ' '})             ${r.seconds.toFixed(2).padStart(7)} s   loss barrier ${r.barrier.lossLinear.toFixed(5)} nats`);
console.log(`Checkpoint Lens, tfjs ${ours.backend} (${ours.threads} threads)     ${ours.seconds.toFixed(2).padStart(7)} s   loss barrier ${ours.barrier.lossLinear.toFixed(5)} nats`);
console.log(`\nratio (our time ÷ PyTorch's faster time, ${ref.threads} thread${ref.threads > 1 ? 's' : ''}; goal ≤ 2): ${(ours.seconds / ref.seconds).toFixed(2)}×, largest |Δloss| ${dloss.toExponential(1)}`);
