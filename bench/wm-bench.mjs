// Weight-matching benchmark: full Git Re-Basin weight matching of the Fashion-MNIST MLP pair
// (test/fixtures/fmnist, 784-512-512-512-10), ours (alignStateDicts: tfjs matmuls + our JV
// solver) against bench/wm_reference.py (numpy matmuls + scipy's linear_sum_assignment) in the
// same run. The two alternate process by process so that machine noise hits both alike; both
// use one thread. Each process matches twice: the first ("cold") includes JIT and tfjs kernel
// warm-up, the second ("warm") is what a running extension host sees. We print each side's
// median and best warm time, the median cold time, the ratio, sweeps and the objective reached
// (Σ⟨A, π(B)⟩ over the permuted tensors, the paper's Eq. 2; higher is better). Both visit the
// groups in the same seeded orders, so they should reach the same objective.
// Usage: node bench/wm-bench.mjs [runs=5] [backend=auto] [A B]
//        (needs /usr/bin/python3 with Debian's python3-scipy; PYTHON overrides)
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const runs = Number(process.argv[2] ?? 5);
const backend = process.argv[3] ?? 'auto';
const a = process.argv[4] ?? join(root, 'test', 'fixtures', 'fmnist', 'mlp_seed0.safetensors');
const b = process.argv[5] ?? join(root, 'test', 'fixtures', 'fmnist', 'mlp_seed1.safetensors');

const outfile = join(root, 'bench', 'out', 'ours_wm.js');
await esbuild.build({ entryPoints: [join(root, 'bench', 'ours_wm.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, external: ['@tensorflow/tfjs-node'], logLevel: 'warning' });

// One thread each: BLAS in numpy, and tfjs' wasm backend runs single-threaded here.
const env = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop());
const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const ref = [], ours = [], refCold = [], oursCold = [];
let refLast, oursLast;
for (let r = 0; r < runs; r++) {
  refLast = run(py, [join(root, 'bench', 'wm_reference.py'), a, b, '--seed', '0', '--repeat', '2']);
  refCold.push(refLast.seconds[0]);
  ref.push(refLast.seconds[1]);
  oursLast = run(process.execPath, [outfile, a, b, '2', backend, '0']);
  oursCold.push(oursLast.seconds[0]);
  ours.push(oursLast.seconds[1]);
  console.error(`run ${r + 1}/${runs}: reference ${refLast.seconds.map((x) => x.toFixed(3)).join(' / ')} s, ours ${oursLast.seconds.map((x) => x.toFixed(3)).join(' / ')} s (cold / warm)`);
}
const sameOrders = JSON.stringify(refLast.orders) === JSON.stringify(oursLast.orders);
const versions = JSON.parse(execFileSync(py, ['-c', 'import json, numpy, scipy; print(json.dumps({"numpy": numpy.__version__, "scipy": scipy.__version__}))'], { encoding: 'utf8' }));

console.log(`\nweight matching, ${a.split('/').pop()} ← ${b.split('/').pop()}, ${runs} alternating runs; numpy ${versions.numpy}, scipy ${versions.scipy}; ours on tfjs ${oursLast.backend}, Node ${process.versions.node}`);
console.log('contender                      warm median s  warm best s  cold median s  sweeps   objective (Σ⟨A, π(B)⟩)');
const line = (who, warm, cold, r) => console.log(`${who.padEnd(30)} ${median(warm).toFixed(3).padStart(13)}  ${Math.min(...warm).toFixed(3).padStart(11)}  ${median(cold).toFixed(3).padStart(13)}  ${String(r.sweeps).padStart(6)}   ${r.objective.toFixed(6)}`);
line('numpy/scipy (wm_reference.py)', ref, refCold, refLast);
line('Checkpoint Lens', ours, oursCold, oursLast);
console.log(`\nratio ours/reference (< 1: we are faster): warm median ${(median(ours) / median(ref)).toFixed(2)}, warm best ${(Math.min(...ours) / Math.min(...ref)).toFixed(2)}, cold median ${(median(oursCold) / median(refCold)).toFixed(2)}`);
console.log(`visiting orders ${sameOrders ? 'identical' : 'DIFFER'} (same seeded generator)`);
console.log(`objective at the identity ${refLast.objectiveIdentity.toFixed(6)} (ours ${oursLast.objectiveIdentity.toFixed(6)}); ours − reference = ${(oursLast.objective - refLast.objective).toExponential(3)} (relative ${((oursLast.objective - refLast.objective) / Math.abs(refLast.objective)).toExponential(2)})`);
