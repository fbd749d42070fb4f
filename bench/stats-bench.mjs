// Statistics benchmark: opens and computes full statistics of a ~1 GB f32 checkpoint, as
// safetensors and as a PyTorch .pt, with our code and with PyTorch (torch.load / mmap) on the
// same files in the same run, and prints time-to-list, throughput, peak memory and ratios.
// Usage: npm run bench   (needs /usr/bin/python3 with Debian's python3-torch for the reference)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const data = join(root, 'bench', 'data');
const py = process.env.PYTHON ?? '/usr/bin/python3';
mkdirSync(data, { recursive: true });
if (!existsSync(join(data, 'bench.pt'))) {
  console.log('generating ~1 GB of benchmark tensors (once)…');
  execFileSync(py, [join(root, 'bench', 'make_stats_data.py'), data], { stdio: 'inherit' });
}
await esbuild.build({ entryPoints: [join(root, 'bench', 'ours_stats.ts')], bundle: true, platform: 'node', target: 'node20', outfile: join(root, 'bench', 'out', 'ours_stats.js'), logLevel: 'warning' });

const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').pop());
const ours = (file, threads) => run(process.execPath, [join(root, 'bench', 'out', 'ours_stats.js'), file, String(threads)]);
const ref = (kind, file) => run(py, [join(root, 'bench', 'reference_stats.py'), kind, file]);

// Warm the page cache so every contender reads from memory, not the disk.
for (const f of ['bench.safetensors', 'bench.pt']) execFileSync('cat', [join(data, f)], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 0 });

const rows = [];
for (const [kind, file] of [['safetensors', 'bench.safetensors'], ['pt', 'bench.pt']]) {
  const path = join(data, file);
  const r = ref(kind, path);
  rows.push({ file, who: `PyTorch ${r.torch} (${r.threads} threads)`, ...r });
  for (const threads of [1, 2]) rows.push({ file, who: `Checkpoint Lens (${threads} thread${threads > 1 ? 's' : ''})`, ...ours(path, threads) });
}

const gbps = (r) => r.bytes / 1e9 / r.stats_s;
console.log('\nfile               contender                          list (s)  stats (s)  GB/s   peak RSS (MB)');
for (const r of rows) {
  console.log(`${r.file.padEnd(18)} ${r.who.padEnd(34)} ${r.list_s.toFixed(4).padStart(8)}  ${r.stats_s.toFixed(2).padStart(9)}  ${gbps(r).toFixed(2).padStart(5)}  ${r.peak_rss_mb.toFixed(0).padStart(13)}`);
}
console.log('\nratios (PyTorch time / ours with 2 threads; > 1 means we are faster):');
for (const file of ['bench.safetensors', 'bench.pt']) {
  const [r, , o] = rows.filter((x) => x.file === file);
  console.log(`  ${file}: list ${(r.list_s / o.list_s).toFixed(1)}×, stats ${(r.stats_s / o.stats_s).toFixed(2)}×, peak memory ${(o.peak_rss_mb / r.peak_rss_mb).toFixed(2)} of PyTorch's`);
}
