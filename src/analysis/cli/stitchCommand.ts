// `ckpt-lens stitch`: train a stitching layer between A's bottom and B's top at every block
// boundary and report the stitched network's loss, accuracy and stitching penalty.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import type { Split } from '../data/dataset';
import { type BackendChoice, initBackend } from '../model/backend';
import { type StitchOptions, type StitchPointResult, type StitchReport, runStitch } from '../stitch/runStitch';

export const STITCH_USAGE = `usage: ckpt-lens stitch A B --data PATH [--epochs N] [--train-data PATH] [--limit N] [--train-limit N]
                        [--batch-size N] [--lr X] [--seed N] [--init random|identity] [--points P,Q]
                        [--both] [--no-control] [--labels PATH] [--split test|train] [--arch FILE]
                        [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--json]

  A, B            two checkpoints: A's layers up to each stitch point feed B's layers after it
  --data PATH     test data: the penalties are measured here (as for ckpt-lens eval)
  --train-data P  training data for the stitching layers (default: the train split of an MNIST
                  folder, else --data itself)
  --epochs N      epochs of Adam (lr 1e-3, cosine decay) on the stitching layer only (default 1;
                  0 evaluates the stitch as initialised)
  --limit N       evaluate on the first N test examples
  --train-limit N train on the first N training examples
  --init I        random (PyTorch's default, the default) or identity (equal widths only)
  --points P,Q    only these stitch points (block names)
  --both          also stitch B's bottom to A's top
  --no-control    skip the random-bottom control
  --json          print {"points": [{"name", "loss", "accuracy", "penalty", "accuracyPenalty",
                  "lossPenalty", …}], "control": {"points": […]}, "baselines", "directions", …}

  penalty = err(stitched) − err(B) = acc(B) − acc(stitched), in accuracy units (Bansal et al.)`;

interface StitchArgs extends StitchOptions {
  backend: BackendChoice;
  json: boolean;
}

function parseStitchArgs(argv: string[]): StitchArgs {
  const flags = ['--both', '--no-control'];
  const present = new Set(argv.filter((a) => flags.includes(a)));
  const { positional: pos, values: opt, json } = scanArgs(argv.filter((a) => !flags.includes(a)), ['--data', '--train-data', '--epochs', '--limit', '--train-limit', '--batch-size', '--lr', '--seed', '--init', '--points', '--labels', '--split', '--arch', '--backend']);
  if (pos.length !== 2) throw new UsageError('stitch takes two checkpoints, A and B');
  if (!opt['--data']) throw new UsageError('stitch needs --data PATH');
  const init = opt['--init'] ?? 'random';
  if (init !== 'random' && init !== 'identity') throw new UsageError('--init is random or identity');
  const split = opt['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  let lr: number | undefined;
  if (opt['--lr'] !== undefined) {
    lr = Number(opt['--lr']);
    if (!(lr > 0) || !Number.isFinite(lr)) throw new UsageError('--lr takes a positive number');
  }
  return {
    a: pos[0],
    b: pos[1],
    data: opt['--data'],
    trainData: opt['--train-data'],
    epochs: wholeFlag(opt, '--epochs', 0),
    limit: wholeFlag(opt, '--limit', 1),
    trainLimit: wholeFlag(opt, '--train-limit', 1),
    batchSize: wholeFlag(opt, '--batch-size', 1),
    lr,
    seed: wholeFlag(opt, '--seed', 0),
    init,
    points: opt['--points']?.split(',').filter(Boolean),
    both: present.has('--both'),
    control: !present.has('--no-control'),
    labels: opt['--labels'],
    split: split as Split | undefined,
    archA: opt['--arch'],
    backend: backendFlag(opt),
    json,
  };
}

async function runStitchCommand(a: StitchArgs): Promise<void> {
  await initBackend(a.backend, { log: stderrLog });
  let last = -1;
  const r = await runStitch(a, {
    onProgress: (f, m) => {
      // Progress to stderr, at most every 10 %, so --json stays clean.
      const tenth = Math.floor(f * 10);
      if (tenth !== last) stderrLog(`${Math.round(100 * f)}% ${m ?? ''}`);
      last = tenth;
    },
  });
  process.stdout.write((a.json ? JSON.stringify(r) : formatStitch(r)) + '\n');
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
const signed = (v: number, digits = 2): string => (v >= 0 ? '+' : '') + v.toFixed(digits);

function formatStitch(r: StitchReport): string {
  const rows = (list: StitchPointResult[]): string[] => list.map((p) => `  ${p.name.padEnd(w)}  ${p.loss.toFixed(5).padStart(9)}  ${pct(p.accuracy).padStart(8)}  ${signed(100 * p.penalty).padStart(8)}  ${signed(p.lossPenalty, 4).padStart(9)}`);
  const w = Math.max(5, ...r.points.map((p) => p.name.length));
  const head = `  ${'point'.padEnd(w)}  ${'loss'.padStart(9)}  ${'accuracy'.padStart(8)}  ${'penalty'.padStart(8)}  ${'Δ loss'.padStart(9)}`;
  const lines = [
    `model      ${r.description}`,
    `data       ${r.data}: ${r.n} test examples; trained on ${r.trainExamples} of ${r.trainData}`,
    `training   ${r.epochs} epoch${r.epochs === 1 ? '' : 's'}, Adam lr ${r.lr} cosine, batch ${r.batchSize}, seed ${r.seed}, ${r.init} init`,
    `A          loss ${r.baselines.a.loss.toFixed(5)}  accuracy ${pct(r.baselines.a.accuracy)}`,
    `B          loss ${r.baselines.b.loss.toFixed(5)}  accuracy ${pct(r.baselines.b.accuracy)}`,
  ];
  for (const d of r.directions) {
    lines.push('', `${d.label} (penalty = err(stitched) − err(top), points of accuracy)`, head, ...rows(d.points));
    if (d.control) lines.push(`${d.label} random-bottom control`, head, ...rows(d.control));
  }
  lines.push(...r.notes.map((n) => `note       ${n}`), `time       ${r.seconds.toFixed(2)} s`);
  return lines.join('\n');
}

export function stitchMain(argv: string[]): Promise<number> {
  return runSubcommand('stitch', STITCH_USAGE, argv, parseStitchArgs, (a) => a.a, runStitchCommand);
}
