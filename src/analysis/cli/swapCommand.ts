// `ckpt-lens swap`: the layer-swap matrix of a residual stack (Zhao et al.).
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { initBackend } from '../model/backend';
import { type SwapReport, runSwap } from '../sets/runSwap';

export const SWAP_USAGE = `usage: ckpt-lens swap CKPT --data PATH [--window K] [--limit N] [--json]

  CKPT               a network with residual blocks (ResNet blocks, transformer layers)
  --data PATH        evaluation data (as ckpt-lens eval --data); --labels, --split as there
  --window K         also reverse every window of K contiguous blocks (default 3; 0 = none)
  --limit N          evaluate only the first N examples
  --arch FILE        architecture hints; --batch-size N; --backend B
  --json             print {"blocks", "loss": [[L×L]], "accuracy": [[L×L]], "windows": […], "baseline", …}`;

function swapText(r: SwapReport): string {
  const w = Math.max(9, ...r.blocks.map((b) => b.length));
  const table = (label: string, m: (number | null)[][], f: (v: number) => string): string[] => [
    label, `  ${''.padEnd(w)}  ${r.blocks.map((b) => b.padStart(w)).join('  ')}`,
    ...m.map((row, i) => `  ${r.blocks[i].padEnd(w)}  ${row.map((v) => (v === null ? '—' : f(v)).padStart(w)).join('  ')}`),
  ];
  return [
    `model     ${r.description}   ${r.model}`,
    `data      ${r.data}: ${r.n} examples; the network: loss ${r.baseline.loss.toFixed(5)}, accuracy ${(100 * r.baseline.accuracy).toFixed(2)}%`,
    ...table('loss with blocks i and j exchanged (diagonal: the network)', r.loss, (v) => v.toFixed(5)),
    ...table('accuracy', r.accuracy, (v) => `${(100 * v).toFixed(2)}%`),
    ...(r.windows.length ? [`windows of ${r.window} reversed`, ...r.windows.map((x) => `  ${x.blocks.join(', ')}: loss ${x.loss.toFixed(5)}, accuracy ${(100 * x.accuracy).toFixed(2)}%`)] : []),
    ...(r.otherGroups.length ? [`other swappable groups (not in the matrix): ${r.otherGroups.map((g) => `{${g.join(', ')}}`).join(' ')}`] : []),
    `time      ${r.seconds.toFixed(2)} s (${r.backend})`,
  ].join('\n') + '\n';
}

interface SwapArgs { positional: string[]; values: Record<string, string>; json: boolean }

async function swap(a: SwapArgs): Promise<void> {
  if (a.positional.length !== 1) throw new UsageError('swap takes one checkpoint');
  if (!a.values['--data']) throw new UsageError('needs --data PATH');
  const split = a.values['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  await initBackend(backendFlag(a.values), { log: stderrLog });
  const r = await runSwap({
    model: a.positional[0], data: a.values['--data'], labels: a.values['--labels'], split, arch: a.values['--arch'],
    limit: wholeFlag(a.values, '--limit', 1), batchSize: wholeFlag(a.values, '--batch-size', 1), window: wholeFlag(a.values, '--window', 0),
  }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : swapText(r));
}

export function swapMain(argv: string[]): Promise<number> {
  return runSubcommand('swap', SWAP_USAGE, argv, (v) => scanArgs(v, ['--data', '--labels', '--split', '--limit', '--batch-size', '--arch', '--backend', '--window']), (a) => a.positional.join(', '), swap);
}
