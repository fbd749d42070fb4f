// `ckpt-lens basins`: the barrier matrix over N checkpoints and their basins (Juneja et al.).
import { UsageError, runSubcommand, stderrLog, wholeFlag } from './cliArgs';
import { PATH_DATA_USAGE, type PathCliArgs, fmt, numberFlag, parsePathArgs, pct } from './pathArgs';
import { initBackend } from '../model/backend';
import { type BarrierSet, type BasinsReport, DEFAULT_BASIN_LIMIT, DEFAULT_BASIN_STEPS, DEFAULT_THRESHOLD, type PairBarrier, runBasins } from '../sets/barrierMatrix';

export const BASINS_USAGE = `usage: ckpt-lens basins DIR|FILES... --data PATH [--steps N] [--align] [--threshold T] [--json] [options]

  DIR|FILES          checkpoints of one architecture (a folder stands for its checkpoint files)
  --steps N          points per pair, α = 0 … 1 (default ${DEFAULT_BASIN_STEPS}, as Juneja et al.)
  --align            also the matrix after weight matching every model onto the first (Git Re-Basin)
  --seed N           weight matching's seed (default 0)
  --barrier B        bump (default: Juneja et al.'s bump height) or linear (chord between the pair)
  --threshold T      basins by single linkage: connected when barrier < T nats (default ${DEFAULT_THRESHOLD})
  --clusters K       spectral clustering's clusters (default 2, as the paper)
  --delta D          width of the affinity exp(−D²/(2δ²)) (default 1, as the paper)
  --ood PATH         an out-of-distribution dataset: a second matrix and each model's score on it
  --ood-labels PATH  labels for an inputs-only --ood
${PATH_DATA_USAGE}
  --limit defaults to ${DEFAULT_BASIN_LIMIT} examples here (the paper's num_exs).
  (--json prints {"names", "loss": [[N×N]], "error": [[N×N]], "basins": [[names…], …], "method",
   "threshold": {"tau", "basins"}, "aligned": {…the same…} with --align, "ood": {…} with --ood, …})`;

function matrixLines(title: string, names: string[], m: number[][], f: (v: number) => string): string[] {
  const w = Math.max(8, ...names.map((n) => n.length));
  return [title, `  ${''.padEnd(w)}  ${names.map((n) => n.padStart(w)).join('  ')}`, ...m.map((row, i) => `  ${names[i].padEnd(w)}  ${row.map((v) => f(v).padStart(w)).join('  ')}`)];
}

function setLines(label: string, r: BasinsReport, s: BarrierSet): string[] {
  return [
    ...matrixLines(`${label}: loss barrier (nats)`, r.names, s.loss, (v) => fmt(v, 4)),
    ...matrixLines(`${label}: error barrier`, r.names, s.error, pct),
    `  basins (spectral, ${r.nClusters} clusters)  ${s.basins.map((b) => `{${b.join(', ')}}`).join('  ')}`,
    `  basins (barrier < ${s.threshold.tau})      ${s.threshold.basins.map((b) => `{${b.join(', ')}}`).join('  ')}`,
  ];
}

function basinsText(r: BasinsReport): string {
  const lines = [
    `model     ${r.description}`,
    `data      ${r.data}: ${r.n} examples per point, ${r.alphas.length} points per pair`,
    `barrier   ${r.definition}`,
    `clusters  ${r.method}`,
    `batchnorm ${r.batchNorm.note}`,
    ...r.models.map((m) => `  ${m.name}: loss ${fmt(m.loss, 4)}, accuracy ${pct(m.accuracy)}   ${m.path}`),
    ...setLines('naive', r, r),
  ];
  if (r.aligned) lines.push(`weight matching onto ${r.aligned.reference}`, ...setLines('aligned', r, r.aligned));
  if (r.ood) {
    lines.push(`out of distribution: ${r.ood.data} (${r.ood.n} examples)`, ...r.ood.models.map((m) => `  ${m.name}: loss ${fmt(m.loss, 4)}, accuracy ${pct(m.accuracy)}`), ...setLines('OOD naive', r, r.ood));
    if (r.ood.aligned) lines.push(...setLines('OOD aligned', r, r.ood.aligned));
  }
  lines.push(`time      ${r.seconds.toFixed(2)} s (${r.backend}, ${r.threads} thread${r.threads > 1 ? 's' : ''})`);
  return lines.join('\n') + '\n';
}

async function basins(a: PathCliArgs): Promise<void> {
  if (a.positional.length < 1) throw new UsageError('basins takes a folder or at least two checkpoints');
  const barrier = a.values['--barrier'];
  if (barrier !== undefined && barrier !== 'bump' && barrier !== 'linear') throw new UsageError('--barrier is bump or linear');
  await initBackend(a.backend, { log: stderrLog });
  const r = await runBasins({
    ...a.data, paths: a.positional,
    steps: wholeFlag(a.values, '--steps', 3), align: a.switches.has('--align'), alignSeed: wholeFlag(a.values, '--seed', 0),
    barrier: barrier as PairBarrier | undefined, threshold: numberFlag(a.values, '--threshold', 0),
    nClusters: wholeFlag(a.values, '--clusters', 1), delta: numberFlag(a.values, '--delta', 1e-9),
    ood: a.values['--ood'], oodLabels: a.values['--ood-labels'],
  }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : basinsText(r));
}

export function basinsMain(argv: string[]): Promise<number> {
  return runSubcommand('basins', BASINS_USAGE, argv, (v) => parsePathArgs(v, ['--steps', '--seed', '--barrier', '--threshold', '--clusters', '--delta', '--ood', '--ood-labels'], ['--align']), (a) => a.positional.join(', '), basins);
}
