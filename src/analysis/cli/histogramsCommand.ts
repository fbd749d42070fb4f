// `ckpt-lens histograms`: one tensor's (or module's) distribution over a run's checkpoints.
import { UsageError, runSubcommand, scanArgs, wholeFlag } from './cliArgs';
import { DEFAULT_HISTOGRAM_BINS, type HistogramsReport, runHistograms } from '../sets/runHistograms';

export const HISTOGRAMS_USAGE = `usage: ckpt-lens histograms DIR|FILES... --tensor NAME [--bins N] [--json]

  DIR|FILES      a run folder, or the checkpoints of one run (ordered by step when each has one)
  --tensor NAME  a tensor (layers.0.weight), or a module prefix (layers.0) whose floating tensors are pooled
  --bins N       equal bins shared by every checkpoint (default ${DEFAULT_HISTOGRAM_BINS})
  --json         print {"tensor", "edges", "checkpoints": [{"name", "step", "counts", "mean", "std", "norm", "min", "max"}], …}`;

function text(r: HistogramsReport): string {
  const w = Math.max(10, ...r.checkpoints.map((c) => c.name.length));
  return [
    `tensor    ${r.tensor}${r.tensors.length > 1 ? ` (${r.tensors.length} tensors pooled)` : ''}`,
    `bins      ${r.edges.length - 1} over ${r.edges[0].toPrecision(5)} … ${r.edges[r.edges.length - 1].toPrecision(5)}`,
    `  ${'checkpoint'.padEnd(w)}  ${'step'.padStart(8)}  ${'mean'.padStart(11)}  ${'std'.padStart(11)}  ${'L2 norm'.padStart(11)}  ${'min'.padStart(11)}  ${'max'.padStart(11)}`,
    ...r.checkpoints.map((c) => `  ${c.name.padEnd(w)}  ${String(c.step ?? '—').padStart(8)}  ${[c.mean, c.std, c.norm, c.min, c.max].map((v) => v.toPrecision(5).padStart(11)).join('  ')}`),
    `time      ${r.seconds.toFixed(2)} s`,
  ].join('\n') + '\n';
}

interface HistArgs { positional: string[]; values: Record<string, string>; json: boolean }

async function histograms(a: HistArgs): Promise<void> {
  if (!a.positional.length) throw new UsageError('histograms takes a run folder or checkpoints');
  if (!a.values['--tensor']) throw new UsageError('needs --tensor NAME');
  const r = await runHistograms({ paths: a.positional, tensor: a.values['--tensor'], bins: wholeFlag(a.values, '--bins', 1) });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : text(r));
}

export function histogramsMain(argv: string[]): Promise<number> {
  return runSubcommand('histograms', HISTOGRAMS_USAGE, argv, (v) => scanArgs(v, ['--tensor', '--bins']), (a) => a.positional.join(', '), histograms);
}
