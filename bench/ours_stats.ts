// Our side of the statistics benchmark, run in its own process so peak RSS is its own.
// Usage: node bench/out/ours_stats.js FILE THREADS  -> one JSON line on stdout.
import { openCheckpoint } from '../src/analysis/open';
import { computeAllStats } from '../src/analysis/stats/statsPool';
import { join } from 'node:path';

async function main(): Promise<void> {
  const [file, threadsArg] = process.argv.slice(2);
  const threads = Number(threadsArg);
  const t0 = performance.now();
  const ckpt = await openCheckpoint(file);
  const listS = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await computeAllStats(ckpt, { threads, workerScript: join(__dirname, '..', '..', 'dist', 'statsWorker.js') });
  const statsS = (performance.now() - t1) / 1000;
  const bytes = ckpt.tensors.reduce((s, t) => s + t.nbytes, 0);
  await ckpt.close();
  // maxRSS covers this thread and the statistics threads (one process).
  console.log(JSON.stringify({ list_s: listS, stats_s: statsS, bytes, tensors: ckpt.tensors.length, peak_rss_mb: process.resourceUsage().maxRSS / 1024, threads }));
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
