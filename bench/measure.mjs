// Runs one benchmark contender (our CLI or a PyTorch reference script) as a child process and
// returns its JSON result (the last stdout line), its wall time, its peak resident memory and its
// stderr. Peak memory is GNU time's maximum RSS (%M, from wait4), the same measure for Node and
// Python: worker threads count (same process), imports and data included.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';

const GNU_TIME = '/usr/bin/time';
const MARK = 'BENCH_MAXRSS_KB';

/** Threads for both sides (BENCH_THREADS, default: the cores). */
export const THREADS = Number(process.env.BENCH_THREADS ?? availableParallelism());

/** { json, wallSeconds, peakMB (null without /usr/bin/time), stderr } of one run of cmd args. */
export function runContender(cmd, args, { env = {} } = {}) {
  const timed = existsSync(GNU_TIME);
  const t0 = performance.now();
  const r = spawnSync(timed ? GNU_TIME : cmd, timed ? ['-f', `${MARK} %M`, cmd, ...args] : args, {
    encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, ...env },
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}:\n${r.stderr.slice(-2000)}`);
  const m = r.stderr.match(new RegExp(`${MARK} (\\d+)`));
  const stderr = r.stderr.replace(new RegExp(`${MARK} \\d+\\n?`), '');
  return { json: JSON.parse(r.stdout.trim().split('\n').pop()), wallSeconds, peakMB: m ? Number(m[1]) / 1024 : null, stderr };
}

/** The run with the smallest `seconds` of n runs (peak memory: the largest seen). */
export function bestOf(n, run) {
  const runs = Array.from({ length: n }, run);
  const best = runs.reduce((a, b) => (b.json.seconds < a.json.seconds ? b : a));
  return { ...best, peakMB: Math.max(...runs.map((r) => r.peakMB ?? 0)) || null };
}

export const mb = (v) => (v == null ? '   n/a' : `${Math.round(v)} MB`.padStart(7));
