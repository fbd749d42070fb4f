// Interpolation benchmark: the 25-point straight line between two Fashion-MNIST MLPs
// (784-512-512-512-10), test loss and accuracy on the 10,000 test images at every α, run by
// `ckpt-lens interpolate` (the engine auto-selection picks: onnxruntime when it loads, else tfjs;
// the point pool on every core) and by PyTorch CPU on the same checkpoints in the same run, with
// the same thread count (and PyTorch on 1 thread too); prints both times, their ratio (goal: ours
// no slower than PyTorch), the peak resident memory of each and the largest loss difference.
// Env: BENCH_THREADS (default: the cores), BENCH_BACKEND (default auto), PYTHON.
// Usage: node bench/interp-bench.mjs   (needs /usr/bin/python3 with Debian's python3-torch and
// Fashion-MNIST: apt-get install dataset-fashion-mnist, or FMNIST_DIR=folder in the MNIST layout).
// The pair: test/fixtures/fmnist/mlp_seed{0,1}.safetensors when present (or FMNIST_PAIR_DIR),
// else trained once into the git-ignored bench/data.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { THREADS, mb, runContender } from './measure.mjs';

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

// PyTorch on the same threads as ours, and on 1 thread: on a busy machine its OpenMP threads can
// slow each other down a lot, so the ratio is also given against its faster configuration.
const torchRun = (threads) => runContender(py, [join(root, 'bench', 'interp_reference.py'), 'path', a, b, fmnist, String(STEPS), String(BATCH)], { env: { TORCH_THREADS: String(threads), OMP_NUM_THREADS: String(threads) } });
const refs = [...new Set([THREADS, 1])].map(torchRun);
const same = refs[0];
const fastest = refs.reduce((x, y) => (y.json.seconds < x.json.seconds ? y : x));
const ours = runContender(process.execPath, [join(root, 'dist', 'cli.js'), 'interpolate', a, b, '--data', fmnist, '--steps', String(STEPS), '--batch-size', String(BATCH), '--backend', process.env.BENCH_BACKEND ?? 'auto', '--json'], { env: { CKPT_LENS_ORT_THREADS: String(THREADS) } });
const dloss = Math.max(...ours.json.loss.map((l, i) => Math.abs(l - same.json.loss[i])));
const engine = (ours.stderr.match(/^.*(onnxruntime|tfjs backend)[^\n]*/m)?.[0] ?? ours.json.backend).trim();
const pool = ours.stderr.match(/^.*point pool[^\n]*/m)?.[0]?.trim();

console.log(`\n${STEPS}-point line between ${a} and ${b}`);
console.log(`Fashion-MNIST test set (${ours.json.n} images per point), batch ${BATCH}; ours: ${engine}${pool ? `\n${pool}` : ''}\n`);
console.log(`contender                                  time      peak memory   loss barrier`);
for (const r of refs) console.log(`${`PyTorch ${r.json.torch} CPU (${r.json.threads} thread${r.json.threads > 1 ? 's' : ''})`.padEnd(38)} ${r.json.seconds.toFixed(2).padStart(7)} s   ${mb(r.peakMB).padStart(9)}   ${r.json.barrier.lossLinear.toFixed(5)} nats`);
console.log(`${`Checkpoint Lens, ${ours.json.backend} (${THREADS} thread${THREADS > 1 ? 's' : ''})`.padEnd(38)} ${ours.json.seconds.toFixed(2).padStart(7)} s   ${mb(ours.peakMB).padStart(9)}   ${ours.json.barrier.lossLinear.toFixed(5)} nats`);
console.log(`\nratio (PyTorch's time ÷ ours; > 1: we are faster): ${(same.json.seconds / ours.json.seconds).toFixed(2)}× on the same ${THREADS} thread${THREADS > 1 ? 's' : ''}, ${(fastest.json.seconds / ours.json.seconds).toFixed(2)}× against PyTorch's faster configuration (${fastest.json.threads} thread${fastest.json.threads > 1 ? 's' : ''}); largest |Δloss| ${dloss.toExponential(1)}`);
