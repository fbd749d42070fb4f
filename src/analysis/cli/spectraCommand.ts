// `ckpt-lens spectra CKPT`: data-free diagnostics of every weight matrix.
import { runSpectra } from '../spectra/spectra';
import { UsageError, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { fmtNum, table } from './textTable';

export const SPECTRA_USAGE = `usage: ckpt-lens spectra CKPT [--exact-max-dim N] [--top-k N] [--arch FILE] [--json]

  CKPT              any supported checkpoint; every floating tensor with ≥ 2 dimensions is a weight
                    matrix (conv kernels as out × in·kh·kw)
  --exact-max-dim N all singular values exactly (QR + one-sided Jacobi, float64) when the smaller
                    side is ≤ N (default 256); larger matrices get the top k by Lanczos
  --top-k N         singular values computed for large matrices (default 64)
  --arch FILE       JSON architecture hints (the recognised model orders the layers)
  --json            print the report as one JSON object`;

interface SpectraArgs {
  path: string;
  exactMaxDim?: number;
  topK?: number;
  arch?: string;
  json: boolean;
}

function parseSpectraArgs(argv: string[]): SpectraArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--exact-max-dim', '--top-k', '--arch']);
  if (pos.length !== 1) throw new UsageError('spectra takes exactly one CKPT');
  return { path: pos[0], exactMaxDim: wholeFlag(opt, '--exact-max-dim', 1), topK: wholeFlag(opt, '--top-k', 1), arch: opt['--arch'], json };
}

async function spectraCommand(a: SpectraArgs): Promise<void> {
  const r = await runSpectra({ path: a.path, exactMaxDim: a.exactMaxDim, topK: a.topK, archFile: a.arch }, { log: stderrLog });
  if (a.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  const s = r.settings;
  const lines = [
    `file      ${r.file} (${r.format})`,
    `model     ${r.model ?? 'not recognised; layers in name order'}`,
    `method    exact (QR + one-sided Jacobi) up to min side ${s.exactMaxDim}, else top ${s.topK} by Lanczos; α: power-law MLE of λ = σ², xmin by KS, tail ≥ ${s.minTail}`,
    `units     dead: ‖[w_i, b_i]‖ < ${s.deadThreshold} × max; duplicate: cosine ≥ ${s.duplicateThreshold}`,
    '',
    table(
      ['layer', 'matrix', 'method', '‖W‖₂', 'stable rank', 'eff. rank', 'α', 'α range', 'dead', 'dup'],
      r.layers.map((l) => [l.name, `${l.matrix[0]}×${l.matrix[1]}`, l.method, fmtNum(l.spectralNorm), fmtNum(l.stableRank), fmtNum(l.effectiveRank), fmtNum(l.alpha?.alpha), l.alpha ? `[${fmtNum(l.alpha.xmin)}, ${fmtNum(l.alpha.xmax)}] n=${l.alpha.nTail}` : '-', l.units ? `${l.units.dead}/${l.units.units}` : '-', l.units ? String(l.units.duplicates) : '-']),
    ),
  ];
  if (r.balancedness.length) {
    lines.push('', table(['balancedness', 'next', '‖W_ℓ‖_F² − ‖W_ℓ+1‖_F²'], r.balancedness.map((b) => [b.layer, b.next, fmtNum(b.value)])));
  }
  for (const w of r.warnings) lines.push(`warning   ${w}`);
  lines.push(`time      ${r.seconds.toFixed(3)} s`);
  process.stdout.write(lines.join('\n') + '\n');
}

export function spectraMain(argv: string[]): Promise<number> {
  return runSubcommand('spectra', SPECTRA_USAGE, argv, parseSpectraArgs, (a) => a.path, spectraCommand);
}
