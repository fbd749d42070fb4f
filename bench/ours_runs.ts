// Our side of the runs benchmark, in its own process so peak RSS is its own.
// Usage: node bench/out/ours_runs.js DIR  -> one JSON line on stdout.
import { runRuns } from '../src/analysis/compare/trainingRuns';

async function main(): Promise<void> {
  const t0 = performance.now();
  const r = await runRuns({ paths: [process.argv[2]], align: 'off' });
  const seconds = (performance.now() - t0) / 1000;
  const checksum = r.points.reduce((a, p) => a + p.distFromFirst, 0);
  console.log(JSON.stringify({ seconds, checkpoints: r.runs[0].checkpoints.length, points: r.points.length, checksum, peak_rss_mb: process.resourceUsage().maxRSS / 1024 }));
}
main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
