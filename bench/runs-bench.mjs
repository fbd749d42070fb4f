// Runs benchmark: `runs` over one training run of 50 checkpoints of a ~25M-parameter MLP (float32
// safetensors, ~100 MB each, generated once into bench/data/runs), ours against numpy doing the
// same figures with the same memory strategy, same files, same page-cache state; prints time,
// peak memory and the ratios. Usage: npm run bench:runs  (needs /usr/bin/python3 with numpy)
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const dir = join(root, 'bench', 'data', 'runs');
const RUNS = 2;
if (!existsSync(dir) || readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length < 50) {
  console.log('generating 50 checkpoints of a 25M-parameter MLP (~5 GB, once)…');
  execFileSync(py, [join(root, 'bench', 'make_runs_data.py'), dir], { stdio: 'inherit', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
}
await esbuild.build({ entryPoints: [join(root, 'bench', 'ours_runs.ts')], bundle: true, platform: 'node', target: 'node20', outfile: join(root, 'bench', 'out', 'ours_runs.js'), external: ['onnxruntime-node', '@tensorflow/tfjs-node'], logLevel: 'warning' });

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } }).trim().split('\n').pop());
const best = (f) => Array.from({ length: RUNS }, f).reduce((a, b) => (b.seconds < a.seconds ? b : a));
// Warm the page cache so both contenders read from memory, not the disk.
for (const f of readdirSync(dir)) execFileSync('cat', [join(dir, f)], { stdio: ['ignore', 'ignore', 'inherit'] });

const ref = best(() => run(py, [join(root, 'bench', 'reference_runs.py'), dir]));
const ours = best(() => run(process.execPath, [join(root, 'bench', 'out', 'ours_runs.js'), dir]));
const bytes = readdirSync(dir).length * 25.2e6 * 4;
console.log(`\n${ours.checkpoints} checkpoints × 25.2M float32 parameters (MLP 1024-4096-4096-1024), best of ${RUNS}\n`);
console.log('contender                         time (s)  GB/s   peak RSS (MB)  points');
for (const [who, r] of [[`numpy ${ref.numpy} (1 thread)`, ref], ['Checkpoint Lens', ours]]) {
  console.log(`${who.padEnd(33)} ${r.seconds.toFixed(2).padStart(8)}  ${(bytes / 1e9 / r.seconds).toFixed(2).padStart(5)}  ${r.peak_rss_mb.toFixed(0).padStart(13)}  ${r.points}`);
}
const agree = Math.abs(ours.checksum - ref.checksum) <= 1e-9 * Math.abs(ref.checksum);
console.log(`\nratios: time ${(ref.seconds / ours.seconds).toFixed(2)}× numpy's speed (> 1: we are faster), peak memory ${(ours.peak_rss_mb / ref.peak_rss_mb).toFixed(2)} of numpy's; Σ‖W−W₀‖ ${agree ? 'agrees' : `differs: ${ours.checksum} vs ${ref.checksum}`}`);
