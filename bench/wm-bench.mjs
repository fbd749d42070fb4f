// Weight-matching benchmark: full Git Re-Basin weight matching of the Fashion-MNIST MLP pair
// (test/fixtures/fmnist, 784-512-512-512-10), ours (alignStateDicts: tfjs matmuls + our JV
// solver) against bench/wm_reference.py (numpy matmuls + scipy's linear_sum_assignment) in the
// same run. The two alternate run by run so that machine noise hits both alike; both use one
// thread. We print each side's median and best time, the ratio, sweeps and the objective reached
// (Σ⟨A, π(B)⟩ over the permuted tensors, the paper's Eq. 2; higher is better).
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

const ref = [], ours = [];
let refLast, oursLast;
for (let r = 0; r < runs; r++) {
  refLast = run(py, [join(root, 'bench', 'wm_reference.py'), a, b, '--seed', '0']);
  ref.push(refLast.seconds[0]);
  oursLast = run(process.execPath, [outfile, a, b, '1', backend, '0']);
  ours.push(oursLast.seconds[0]);
  console.error(`run ${r + 1}/${runs}: reference ${refLast.seconds[0].toFixed(3)} s, ours ${oursLast.seconds[0].toFixed(3)} s`);
}
const versions = JSON.parse(execFileSync(py, ['-c', 'import json, numpy, scipy; print(json.dumps({"numpy": numpy.__version__, "scipy": scipy.__version__}))'], { encoding: 'utf8' }));

console.log(`\nweight matching, ${a.split('/').pop()} ← ${b.split('/').pop()}, ${runs} alternating runs; numpy ${versions.numpy}, scipy ${versions.scipy}; ours on tfjs ${oursLast.backend}, Node ${process.versions.node}`);
console.log('contender                       median s   best s   sweeps   objective (Σ⟨A, π(B)⟩)');
console.log(`numpy/scipy (wm_reference.py)  ${median(ref).toFixed(3).padStart(8)}  ${Math.min(...ref).toFixed(3).padStart(7)}  ${String(refLast.sweeps).padStart(7)}   ${refLast.objective.toFixed(6)}`);
console.log(`Checkpoint Lens                ${median(ours).toFixed(3).padStart(8)}  ${Math.min(...ours).toFixed(3).padStart(7)}  ${String(oursLast.sweeps).padStart(7)}   ${oursLast.objective.toFixed(6)}`);
console.log(`\nratio ours/reference: median ${(median(ours) / median(ref)).toFixed(2)}, best ${(Math.min(...ours) / Math.min(...ref)).toFixed(2)} (< 1: we are faster)`);
console.log(`objective at the identity ${refLast.objectiveIdentity.toFixed(6)} (ours ${oursLast.objectiveIdentity.toFixed(6)}); ours − reference = ${(oursLast.objective - refLast.objective).toExponential(3)} (relative ${((oursLast.objective - refLast.objective) / Math.abs(refLast.objective)).toExponential(2)})`);
