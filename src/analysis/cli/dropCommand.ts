// `ckpt-lens drop`: evaluate a checkpoint with residual blocks / transformer layers removed,
// one at a time and by the top, bottom, alternate and similarity strategies.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import type { Split } from '../data/dataset';
import { type DropOptions, type DropReport, runDrop } from '../dropping/runDrop';
import { type DropStrategy, STRATEGIES } from '../dropping/strategies';
import { type BackendChoice, initBackend } from '../model/backend';

export const DROP_USAGE = `usage: ckpt-lens drop CKPT --data PATH [--strategy S[,S…]] [--seeds N]
                      [--rank-by angular|influence] [--limit N] [--batch-size N] [--recompute-bn N]
                      [--train-data PATH] [--labels PATH] [--split test|train] [--arch FILE]
                      [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--json]

  CKPT             a torchvision ResNet or a GPT-2-style decoder (networks with droppable blocks)
  --data PATH      evaluation data, as for ckpt-lens eval
  --strategy S     strategies, comma-separated (default: single, top, bottom, alternate, similarity).
                   single: each block alone; top / bottom: the last / first k blocks; alternate:
                   every other block from the top; similarity: blocks in order of lowest angular
                   distance between their input and output; symmetric: the middle k (Sajjad et
                   al.); influence: lowest block influence first (ShortGPT); span: every contiguous
                   span of k blocks (Gromov et al.); random: k random blocks per seed
  --seeds N        draws per k for the random strategy (default 5)
  --rank-by M      angular (default; arccos of the cosine / π, last token) or influence
                   (block influence, 1 − mean cosine over all tokens)
  --limit N        evaluate only the first N examples
  --recompute-bn N recompute BatchNorm statistics for every configuration on N batches of 128
                   (from --train-data, or the train split of an MNIST folder)
  --json           print {"baseline", "results": [{"strategy", "k", "dropped", "loss", "accuracy", …}],
                   "ranking": [{"block", "angularDistance", "blockInfluence", "rank"}], …}`;

interface DropArgs extends DropOptions {
  backend: BackendChoice;
  json: boolean;
}

function parseDropArgs(argv: string[]): DropArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--data', '--strategy', '--seeds', '--rank-by', '--limit', '--batch-size', '--recompute-bn', '--train-data', '--labels', '--split', '--arch', '--backend']);
  if (pos.length !== 1) throw new UsageError('drop takes exactly one CKPT');
  if (!opt['--data']) throw new UsageError('drop needs --data PATH');
  const strategies = opt['--strategy']?.split(',').map((x) => x.trim());
  for (const st of strategies ?? []) if (!(STRATEGIES as readonly string[]).includes(st)) throw new UsageError(`--strategy takes ${STRATEGIES.join(', ')} (comma-separated)`);
  const rankBy = opt['--rank-by'] ?? 'angular';
  if (rankBy !== 'angular' && rankBy !== 'influence') throw new UsageError('--rank-by is angular or influence');
  const split = opt['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  return {
    model: pos[0],
    data: opt['--data'],
    strategies: strategies as DropStrategy[] | undefined,
    seeds: wholeFlag(opt, '--seeds', 1),
    rankBy: rankBy === 'angular' ? 'angularDistance' : 'blockInfluence',
    limit: wholeFlag(opt, '--limit', 1),
    batchSize: wholeFlag(opt, '--batch-size', 1),
    recomputeBatchNorm: wholeFlag(opt, '--recompute-bn', 1),
    trainData: opt['--train-data'],
    labels: opt['--labels'],
    split: split as Split | undefined,
    arch: opt['--arch'],
    backend: backendFlag(opt),
    json,
  };
}

async function runDropCommand(a: DropArgs): Promise<void> {
  await initBackend(a.backend, { log: stderrLog });
  const r = await runDrop(a);
  if (a.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  process.stdout.write(formatDrop(r) + '\n');
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;

function formatDrop(r: DropReport): string {
  const w = Math.max(7, ...r.results.map((x) => x.dropped.join(', ').length));
  return [
    `model      ${r.description}`,
    `data       ${r.data}: ${r.n} examples`,
    ...(r.batchNorm ? [`batchnorm  ${r.batchNorm}`] : []),
    `baseline   loss ${r.baseline.loss.toFixed(5)}  accuracy ${pct(r.baseline.accuracy)}`,
    '',
    `rank  block${' '.repeat(Math.max(0, w - 5))}  angular distance  block influence`,
    ...r.ranking.map((x) => `${String(x.rank).padStart(4)}  ${x.block.padEnd(Math.max(5, w))}  ${x.angularDistance.toFixed(5).padStart(16)}  ${x.blockInfluence.toFixed(5).padStart(15)}`),
    '',
    `strategy    k  ${'dropped'.padEnd(w)}  loss       accuracy  Δ accuracy`,
    ...r.results.map((x) => `${x.strategy.padEnd(10)} ${String(x.k).padStart(2)}  ${x.dropped.join(', ').padEnd(w)}  ${x.loss.toFixed(5).padStart(9)}  ${pct(x.accuracy).padStart(8)}  ${(x.deltaAccuracy >= 0 ? '+' : '') + (100 * x.deltaAccuracy).toFixed(2)}`),
    ...r.notes.map((n) => `note       ${n}`),
    `time       ${r.seconds.toFixed(2)} s`,
  ].join('\n');
}

export function dropMain(argv: string[]): Promise<number> {
  return runSubcommand('drop', DROP_USAGE, argv, parseDropArgs, (a) => a.model, runDropCommand);
}
