// LLC benchmark: SGLD steps per second on the Fashion-MNIST MLP (784-512-512-512-10, 932k
// parameters) at batch 64, and on the ResNet fixture (the graph engine), one chain on one thread, ours (float32 products on XNNPACK, the engine
// estimates use; and the float64 JS engine) against PyTorch CPU (float32, 1 thread, the devinterp
// update); then a whole estimate, 4 chains × 200 draws on 2 threads, whose goal is under a minute. Usage: npm run bench:llc  (needs /usr/bin/python3 with torch and
// Debian's dataset-fashion-mnist; LLC_BENCH_BATCH=N changes the batch size)
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const ckpt = join(root, 'test', 'fixtures', 'fmnist', 'mlp_seed0.safetensors');
const fmnist = '/usr/share/datasets/fashion-mnist';
const BATCH = Number(process.env.LLC_BENCH_BATCH ?? 64);
const STEPS = 40;
if (!existsSync(join(fmnist, 't10k-images-idx3-ubyte.gz'))) {
  console.log(`Fashion-MNIST not found at ${fmnist} (apt-get install dataset-fashion-mnist)`);
  process.exit(0);
}
for (const name of ['ours_llc', 'ours_llc_graph']) {
  await esbuild.build({ entryPoints: [join(root, 'bench', `${name}.ts`)], bundle: true, platform: 'node', target: 'node20', outfile: join(root, 'bench', 'out', `${name}.js`), external: ['onnxruntime-node', '@tensorflow/tfjs-node'], logLevel: 'warning' });
}
/** The last stdout line as JSON; a side that fails stops the bench, its last stderr line the cause. */
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  process.stderr.write(r.stderr ?? '');
  if (r.status !== 0) {
    console.error(`${args[0]} failed: ${String(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}`);
    process.exit(1);
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
};
const ref = run(py, [join(root, 'bench', 'llc_reference.py'), ckpt, fmnist, String(BATCH), String(STEPS), '1']);
const ours = run(process.execPath, [join(root, 'bench', 'out', 'ours_llc.js'), ckpt, fmnist, String(BATCH), String(STEPS), join(root, 'dist')]);
console.log(`\nSGLD on the Fashion-MNIST MLP (${ours.parameters} parameters), batch ${BATCH}, ${STEPS} steps, one chain on one thread\n`);
console.log('contender                          steps/s   steps per CPU second');
console.log(`${`PyTorch ${ref.torch} (float32, 1 thread)`.padEnd(34)} ${ref.stepsPerSecond.toFixed(2).padStart(7)}   ${ref.stepsPerCpuSecond.toFixed(2).padStart(7)}`);
console.log(`${'Checkpoint Lens (XNNPACK, float32)'.padEnd(34)} ${ours.stepsPerSecond.toFixed(2).padStart(7)}   ${ours.stepsPerCpuSecond.toFixed(2).padStart(7)}`);
console.log(`${'Checkpoint Lens (JS, float64)'.padEnd(34)} ${ours.float64StepsPerSecond.toFixed(2).padStart(7)}`);
console.log(`\nratio: ${(ours.stepsPerSecond / ref.stepsPerSecond).toFixed(2)}× PyTorch's speed in wall-clock time, ${(ours.stepsPerCpuSecond / ref.stepsPerCpuSecond).toFixed(2)}× per CPU second (> 1: we are faster)`);
console.log(`LLC estimate, 4 chains × 200 draws, batch ${BATCH}, on ${ours.threads} threads (${ours.engine}): ${ours.llcSeconds.toFixed(1)} s (goal < 60 s); λ̂ = ${ours.llc.mean.toFixed(2)} ± ${ours.llc.std.toFixed(2)}`);

// Graph networks (the tfjs executor's gradients): the ResNet fixture on 8×8 digits, BatchNorm in training mode.
const digits = join(root, 'test', 'fixtures', 'dynamics', 'digits.npz');
const resnet = join(root, 'test', 'fixtures', 'models', 'resnet_basic.safetensors');
const GRAPH_STEPS = 30;
const gref = run(py, [join(root, 'bench', 'llc_graph_reference.py'), digits, String(BATCH), String(GRAPH_STEPS), '1']);
const gours = run(process.execPath, [join(root, 'bench', 'out', 'ours_llc_graph.js'), resnet, digits, String(BATCH), String(GRAPH_STEPS), join(root, 'dist')]);
console.log(`\nSGLD on the ResNet fixture (${gours.parameters} parameters, BatchNorm in training mode), batch ${BATCH}, ${GRAPH_STEPS} steps, one chain on one thread\n`);
console.log('contender                          steps/s   steps per CPU second');
console.log(`${`PyTorch ${gref.torch} (float32, 1 thread)`.padEnd(34)} ${gref.stepsPerSecond.toFixed(2).padStart(7)}   ${gref.stepsPerCpuSecond.toFixed(2).padStart(7)}`);
console.log(`${'Checkpoint Lens (graph, tfjs-wasm)'.padEnd(34)} ${gours.stepsPerSecond.toFixed(2).padStart(7)}   ${gours.stepsPerCpuSecond.toFixed(2).padStart(7)}`);
console.log(`\nratio: ${(gours.stepsPerSecond / gref.stepsPerSecond).toFixed(2)}× PyTorch's speed in wall-clock time, ${(gours.stepsPerCpuSecond / gref.stepsPerCpuSecond).toFixed(2)}× per CPU second (> 1: we are faster)`);
