// Evaluation benchmark: `ckpt-lens eval` and `ckpt-lens drop` (the engine auto-selection picks:
// onnxruntime when it loads, else tfjs) against PyTorch CPU on the same checkpoints, the same
// data and the same thread count, in one run: a 3×512 MLP and a torchvision-style ResNet on the
// Fashion-MNIST test set (10,000 images, batches of 256), then layer dropping on the ResNet (the
// default strategies: every distinct configuration evaluated on the first DROP_LIMIT test images,
// default 1,000, so the run stays within minutes on two cores). Prints times,
// ratios (> 1: we are faster), peak resident memory of each side and the largest loss difference.
// Usage: node bench/eval-bench.mjs   (needs /usr/bin/python3 with Debian's python3-torch and
// Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR=folder in the MNIST layout)
// Env: BENCH_THREADS (default: the cores), BENCH_BACKEND (default auto), BENCH_RUNS (default 3),
//      BENCH_SKIP_DROP=1, DROP_LIMIT (default 1000), PYTHON (default /usr/bin/python3)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { THREADS, bestOf, mb, runContender } from './measure.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const fmnist = process.env.FMNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
const backend = process.env.BENCH_BACKEND ?? 'auto';
const data = join(root, 'bench', 'data');
const BATCH = 256;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DROP_LIMIT = Number(process.env.DROP_LIMIT ?? 1000);

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

const cli = join(root, 'dist', 'cli.js');
const torchEnv = { env: { TORCH_THREADS: String(THREADS), OMP_NUM_THREADS: String(THREADS) } };
const oursEnv = { env: { CKPT_LENS_ORT_THREADS: String(THREADS) } };
/** The engine line our CLI logs on stderr ("onnxruntime …" / "tfjs backend: wasm"). */
const engine = (r) => (r.stderr.match(/^.*(onnxruntime|tfjs backend)[^\n]*/m)?.[0] ?? r.json.backend ?? '?').trim();

const rows = [];
for (const [kind, label] of [['mlp', 'eval MLP 784-512-512-512-10'], ['resnet', 'eval ResNet [2,2,2,2] 16-128']]) {
  const ckpt = join(data, `fmnist_${kind}.safetensors`);
  const ref = bestOf(RUNS, () => runContender(py, [join(root, 'bench', 'reference_eval.py'), 'eval', kind, ckpt, fmnist, String(BATCH)], torchEnv));
  const mine = bestOf(RUNS, () => runContender(process.execPath, [cli, 'eval', ckpt, '--data', fmnist, '--batch-size', String(BATCH), '--backend', backend, '--json'], oursEnv));
  rows.push({ label, n: ref.json.n, ref, mine, dloss: Math.abs(mine.json.loss - ref.json.loss), accuracy: [ref.json.accuracy, mine.json.accuracy] });
}
if (!process.env.BENCH_SKIP_DROP) {
  const ckpt = join(data, 'fmnist_resnet.safetensors');
  const ref = runContender(py, [join(root, 'bench', 'reference_eval.py'), 'drop', ckpt, fmnist, String(BATCH), String(DROP_LIMIT)], torchEnv);
  const mine = runContender(process.execPath, [cli, 'drop', ckpt, '--data', fmnist, '--limit', String(DROP_LIMIT), '--batch-size', String(BATCH), '--backend', backend, '--json'], oursEnv);
  const theirs = new Map(ref.json.results.map((r) => [r.dropped.join('|'), r.loss]));
  const diffs = [Math.abs(mine.json.baseline.loss - ref.json.baseline.loss), ...mine.json.results.map((r) => Math.abs(r.loss - (theirs.get(r.dropped.join('|')) ?? NaN)))];
  rows.push({ label: `drop ResNet (${ref.json.evaluations} evals × ${ref.json.n})`, n: ref.json.n * ref.json.evaluations, ref, mine, dloss: Math.max(...diffs) });
  const same = JSON.stringify(mine.json.ranking.map((r) => r.block)) === JSON.stringify([...ref.json.ranking].sort((a, b) => a.angularDistance - b.angularDistance).map((r) => r.block));
  if (!same) console.warn('WARNING: the similarity rankings differ between PyTorch and ours');
}

const torchName = `PyTorch ${rows[0].ref.json.torch}`;
console.log(`\nFashion-MNIST test set (10,000 images; dropping: the first ${DROP_LIMIT}), batch ${BATCH}, ${THREADS} thread${THREADS > 1 ? 's' : ''} each, best of ${RUNS} runs (drop: one run)`);
console.log(`ours: ${engine(rows[0].mine)}\n`);
console.log(`${'workload'.padEnd(38)} ${`${torchName} s`.padStart(15)} ${'ours s'.padStart(8)}  ${'ratio'.padStart(6)}  ${'peak torch'.padStart(10)} ${'peak ours'.padStart(9)}  |Δloss|`);
for (const r of rows) {
  const ratio = r.ref.json.seconds / r.mine.json.seconds;
  console.log(`${r.label.padEnd(38)} ${r.ref.json.seconds.toFixed(3).padStart(15)} ${r.mine.json.seconds.toFixed(3).padStart(8)}  ${ratio.toFixed(2).padStart(5)}×  ${mb(r.ref.peakMB).padStart(10)} ${mb(r.mine.peakMB).padStart(9)}  ${r.dloss.toExponential(1)}`);
}
console.log('\nratio = PyTorch\'s time ÷ ours (> 1: we are faster); eval times are the evaluation loop, drop times the whole job');
console.log('(data and weights read, ranking, every configuration); peak = maximum resident memory of the whole process.');
