// Linear-assignment benchmark: our solver (src/analysis/align/linearAssignment.ts) against
// scipy.optimize.linear_sum_assignment on the same matrices in the same run, n = 256 … 2048,
// for uniform random costs (minimised) and similarity-like matrices A·Bᵀ (maximised, as weight
// matching does). The two solvers alternate run by run so that machine noise hits both alike;
// we print the median and best time of each, their ratio, and the difference of the optimal totals.
// Usage: node bench/lap-bench.mjs [sizes=256,512,1024,2048] [runs]
//        (runs per size default to 31, 21, 11, 7 for n = 256, 512, 1024, 2048: small solves take
//        a millisecond or two, so they need more samples to see through scheduling noise)
//        (needs /usr/bin/python3 with Debian's python3-scipy; PYTHON overrides)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const py = process.env.PYTHON ?? '/usr/bin/python3';
const sizes = (process.argv[2] ?? '256,512,1024,2048').split(',').map(Number);
const runsFor = (n) => Number(process.argv[3] ?? (n <= 256 ? 31 : n <= 512 ? 21 : n <= 1024 ? 11 : 7));

const outfile = join(root, 'bench', 'out', 'linearAssignment.cjs');
await esbuild.build({ entryPoints: [join(root, 'src', 'analysis', 'align', 'linearAssignment.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'warning' });
const { linearSumAssignment } = createRequire(import.meta.url)(outfile);

// The scipy side: one long-lived Python process answering one JSON line per command.
const child = spawn(py, [join(root, 'bench', 'lap_reference.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
const ask = async (cmd) => {
  if (cmd) child.stdin.write(cmd + '\n');
  const { value, done } = await lines.next();
  if (done) throw new Error('lap_reference.py exited');
  return JSON.parse(value);
};
const versions = await ask();

const dir = join(tmpdir(), `lap-bench-${process.pid}`);
mkdirSync(dir, { recursive: true });
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

// Warm the JIT on a small problem first, as a long-running extension host would be.
{
  const n = 128, m = new Float64Array(n * n).map(() => Math.random());
  for (let k = 0; k < 5; k++) linearSumAssignment(m, n);
}

const rows = [];
try {
  for (const [kind, maximize] of [['uniform', false], ['similarity', true]]) {
    for (const n of sizes) {
      const path = join(dir, `${kind}-${n}.f64`);
      await ask(`gen ${kind} ${n} ${n} ${path}`);
      const buf = readFileSync(path);
      const cost = new Float64Array(buf.buffer, buf.byteOffset, n * n);
      const ours = [], ref = [];
      let ourTotal = 0, refTotal = 0;
      for (let r = 0; r < runsFor(n); r++) {
        const s = await ask(`time ${path} ${n} ${maximize ? 1 : 0}`);
        ref.push(s.seconds); refTotal = s.total;
        const t0 = performance.now();
        const res = linearSumAssignment(cost, n, { maximize });
        ours.push((performance.now() - t0) / 1e3); ourTotal = res.total;
      }
      const row = { kind, n, runs: ours.length, scipyMedian: median(ref), oursMedian: median(ours), scipyBest: Math.min(...ref), oursBest: Math.min(...ours), relDiff: Math.abs(ourTotal - refTotal) / Math.abs(refTotal) };
      rows.push(row);
      console.error(`${kind} n=${n}: scipy ${row.scipyMedian.toFixed(4)} s, ours ${row.oursMedian.toFixed(4)} s`);
      rmSync(path);
    }
  }
} finally {
  child.stdin.end('quit\n');
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nlinear sum assignment, alternating runs (scipy, ours, scipy, …); scipy ${versions.scipy} (numpy ${versions.numpy}), Node ${process.versions.node}`);
console.log('matrix         n  runs  scipy median  ours median  ratio (ours/scipy)   scipy best  ours best  ratio   |Δtotal|/|total|');
for (const r of rows) {
  console.log(`${r.kind.padEnd(11)} ${String(r.n).padStart(5)} ${String(r.runs).padStart(5)}  ${r.scipyMedian.toFixed(4).padStart(12)}  ${r.oursMedian.toFixed(4).padStart(11)}  ${(r.oursMedian / r.scipyMedian).toFixed(2).padStart(18)}   ${r.scipyBest.toFixed(4).padStart(10)}  ${r.oursBest.toFixed(4).padStart(9)}  ${(r.oursBest / r.scipyBest).toFixed(2).padStart(5)}   ${r.relDiff.toExponential(1)}`);
}
