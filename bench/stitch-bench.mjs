// Stitching benchmark: training steps per second of the stitching layer (bottom forward without
// gradient, stitch, frozen top, backward, Adam) in `ckpt-lens stitch` (tfjs; the backend
// auto-selection picks) against PyTorch CPU with one thread, on the same checkpoints, the same
// Fashion-MNIST training batches and the same stitch points, in one run: the eval benchmark's
// 3×512 MLP (stitched after its second hidden layer: BN → linear → BN, 512 → 512) and its
// ResNet BasicBlock [2,2,2,2] (stitched after layer2: BN → 1×1 conv → BN, 32 channels, 14×14).
// Usage: node bench/stitch-bench.mjs [STEPS]   (needs /usr/bin/python3 with Debian's
// python3-torch and Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const fmnist = process.env.FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const data = join(root, 'bench', 'data');
const STEPS = Number(process.argv[2] ?? 100);
const BATCH = 128;

if (!existsSync(join(fmnist, 'train-images-idx3-ubyte.gz'))) {
  console.error(`Fashion-MNIST not found in ${fmnist}: apt-get install dataset-fashion-mnist, or set FMNIST_DIR`);
  process.exit(1);
}
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
mkdirSync(data, { recursive: true });
if (!existsSync(join(data, 'fmnist_resnet.safetensors'))) {
  console.log('training the benchmark models on Fashion-MNIST with PyTorch (once, about a minute)…');
  execFileSync(py, [join(root, 'bench', 'reference_eval.py'), 'train', fmnist, data], { stdio: 'inherit' });
}

const lastJson = (out) => JSON.parse(out.trim().split('\n').pop());
const rows = [];
for (const [kind, point, label] of [['mlp', '3', 'MLP 784-512-512-512-10, after layer 2 (BN-linear-BN 512)'], ['resnet', 'layer2.1', 'ResNet [2,2,2,2] 16-128, after layer2 (BN-1×1 conv-BN 32, 14×14)']]) {
  const ckpt = join(data, `fmnist_${kind}.safetensors`);
  const ref = lastJson(execFileSync(py, [join(root, 'bench', 'stitch_reference.py'), kind, ckpt, fmnist, String(STEPS), String(BATCH)], { encoding: 'utf8' }));
  const out = lastJson(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'stitch', ckpt, ckpt, '--data', fmnist, '--points', point, '--epochs', '1', '--train-limit', String(STEPS * BATCH), '--batch-size', String(BATCH), '--limit', '256', '--no-control', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const p = out.points[0];
  rows.push({ label, ref, ours: { steps: p.steps, seconds: p.seconds, loss: p.trainLoss } });
}

console.log(`\nStitching-layer training, ${STEPS} steps of batch ${BATCH} (Fashion-MNIST train set), Adam lr 1e-3 cosine\n`);
for (const r of rows) {
  const sp = (x) => (x.steps / x.seconds).toFixed(1);
  console.log(r.label);
  console.log(`  PyTorch ${r.ref.torch} CPU (${r.ref.threads} thread) ${sp(r.ref).padStart(8)} steps/s   last-batch loss ${r.ref.loss.toFixed(4)}`);
  console.log(`  Checkpoint Lens (tfjs)             ${sp(r.ours).padStart(8)} steps/s   mean epoch loss ${r.ours.loss.toFixed(4)}`);
  console.log(`  ratio (ours ÷ PyTorch; > 1 means we are faster): ${((r.ours.steps / r.ours.seconds) / (r.ref.steps / r.ref.seconds)).toFixed(2)}×`);
}
