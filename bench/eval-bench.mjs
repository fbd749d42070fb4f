// Evaluation benchmark: examples/s of `ckpt-lens eval` (tfjs; the backend auto-selection picks)
// against PyTorch CPU on the same checkpoints and the same data, in one run: a 3×512 MLP and a
// torchvision-style ResNet on the Fashion-MNIST test set (10,000 images, batches of 256).
// Usage: node bench/eval-bench.mjs   (needs /usr/bin/python3 with Debian's python3-torch and
// Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR=folder in the MNIST layout)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const fmnist = process.env.FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const data = join(root, 'bench', 'data');
const BATCH = 256;
const RUNS = 3;

if (!existsSync(join(fmnist, 't10k-images-idx3-ubyte.gz'))) {
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
const best = (runs) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
const ours = (ckpt, backend) => best(Array.from({ length: RUNS }, () => lastJson(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'eval', ckpt, '--data', fmnist, '--batch-size', String(BATCH), '--backend', backend, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))));
const torch = (kind, ckpt) => best(Array.from({ length: RUNS }, () => lastJson(execFileSync(py, [join(root, 'bench', 'reference_eval.py'), 'eval', kind, ckpt, fmnist, String(BATCH)], { encoding: 'utf8' }))));

const rows = [];
for (const [kind, label] of [['mlp', 'MLP 784-512-512-512-10'], ['resnet', 'ResNet BasicBlock [2,2,2,2], 16-128']]) {
  const ckpt = join(data, `fmnist_${kind}.safetensors`);
  const ref = torch(kind, ckpt);
  const mine = ours(ckpt, 'auto');
  rows.push({ label, who: `PyTorch ${ref.torch} CPU (${ref.threads} threads)`, ...ref });
  rows.push({ label, who: `Checkpoint Lens, tfjs ${mine.backend}`, ...mine, ratio: ref.seconds / mine.seconds, dloss: Math.abs(mine.loss - ref.loss) });
}

console.log(`\nFashion-MNIST test set (${rows[0].n} images), batch ${BATCH}, best of ${RUNS} runs\n`);
console.log('model                                 contender                              loss      accuracy  examples/s');
for (const r of rows) {
  console.log(`${r.label.padEnd(37)} ${r.who.padEnd(38)} ${r.loss.toFixed(5)}  ${(100 * r.accuracy).toFixed(2).padStart(7)}%  ${Math.round(r.n / r.seconds).toString().padStart(10)}`);
}
console.log('\nratio (our examples/s ÷ PyTorch\'s; > 1 means we are faster), and |loss difference|:');
for (const r of rows.filter((x) => x.ratio !== undefined)) console.log(`  ${r.label}: ${r.ratio.toFixed(2)}×, |Δloss| ${r.dloss.toExponential(1)}`);
