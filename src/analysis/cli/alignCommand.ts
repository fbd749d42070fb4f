// `ckpt-lens align`: permute checkpoint B's units to match checkpoint A's (Git Re-Basin weight
// matching, or activation matching on a dataset) and write the aligned B, its permutations and
// a per-group report.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { type AlignMethod, alignCheckpoints, permutationsPath } from '../align/alignCheckpoint';
import type { Split } from '../data/dataset';
import { type BackendChoice, initBackend } from '../model/backend';

export const ALIGN_USAGE = `usage: ckpt-lens align A B --out OUT.safetensors [--method weights|activations]
                       [--data PATH [--labels PATH] [--split test|train] [--limit N] [--batch-size N]]
                       [--seed N] [--max-iter N] [--arch FILE] [--backend auto|onnxruntime|tensorflow|wasm|cpu] [--json]

  A, B          two checkpoints of one architecture (MLP, plain CNN, torchvision ResNet, GPT-2-style)
  --out OUT     the aligned B, written as safetensors; the permutations go to OUT.perm.json
  --method M    weights (default): Git Re-Basin weight matching (coordinate descent over the groups).
                activations: Git Re-Basin activation matching — run A and B on --data and match each
                group's units by E[a·b] of their activations (hidden layers after the activation,
                conv channels over every position, residual streams at the block outputs)
  --data PATH   inputs for --method activations (as for eval: IDX, .npy, .npz/safetensors, MNIST folder)
  --labels PATH --split S   as for eval (labels are not needed)
  --limit N     use only the first N examples of --data
  --batch-size N  examples per forward pass (default 256)
  --seed N      seed of the group visiting order (default 0; weights only)
  --max-iter N  most sweeps over the groups (default 100; weights only)
  --arch FILE   JSON architecture hints for both checkpoints
  --backend B   engine (default auto: onnxruntime, else tfjs)
  --json        print {"method", "iterations", "seconds", "groups": [{"name", "size", "similarityBefore", "similarityAfter"}]};
                the similarity is, per group, the mean over A's units of their similarity to the matched B
                unit before (identity) and after alignment: the cosine of the weights for --method weights,
                the Pearson correlation of the activations for --method activations (iterations is 1)`;

interface AlignArgs {
  a: string;
  b: string;
  out: string;
  method: AlignMethod;
  data?: string;
  labels?: string;
  split?: Split;
  limit?: number;
  batchSize?: number;
  seed: number;
  maxIter: number;
  arch?: string;
  backend: BackendChoice;
  json: boolean;
}

function parseAlignArgs(argv: string[]): AlignArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--out', '--method', '--data', '--labels', '--split', '--limit', '--batch-size', '--seed', '--max-iter', '--arch', '--backend']);
  if (pos.length !== 2) throw new UsageError('align takes two checkpoints, A and B');
  if (!opt['--out']) throw new UsageError('align needs --out OUT.safetensors');
  const method = opt['--method'] ?? 'weights';
  if (method !== 'weights' && method !== 'activations') throw new UsageError('--method is weights or activations');
  if (method === 'activations' && !opt['--data']) throw new UsageError('--method activations needs --data PATH (the inputs the activations are taken on)');
  for (const f of ['--data', '--labels', '--split', '--limit', '--batch-size']) {
    if (method === 'weights' && opt[f] !== undefined) throw new UsageError(`${f} is for --method activations`);
  }
  const split = opt['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  const backend = backendFlag(opt);
  const whole = (flag: string, min: number, dflt: number): number => wholeFlag(opt, flag, min) ?? dflt;
  return {
    a: pos[0],
    b: pos[1],
    out: opt['--out'],
    method,
    data: opt['--data'],
    labels: opt['--labels'],
    split,
    limit: wholeFlag(opt, '--limit', 1),
    batchSize: wholeFlag(opt, '--batch-size', 1),
    seed: whole('--seed', 0, 0),
    maxIter: whole('--max-iter', 1, 100),
    arch: opt['--arch'],
    backend,
    json,
  };
}

async function runAlign(a: AlignArgs): Promise<void> {
  await initBackend(a.backend, { log: stderrLog });
  const r = await alignCheckpoints(a.a, a.b, a.out, {
    method: a.method, seed: a.seed, maxIter: a.maxIter, archFile: a.arch,
    data: a.data, labels: a.labels, split: a.split, limit: a.limit, batchSize: a.batchSize,
  });
  if (a.json) {
    const out = {
      method: r.method,
      iterations: r.iterations,
      seconds: r.seconds,
      groups: r.groups.map((g) => ({ name: g.name, size: g.size, similarityBefore: g.similarityBefore, similarityAfter: g.similarityAfter })),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  const nameW = Math.max(5, ...r.groups.map((g) => g.name.length));
  const acts = r.method === 'activations';
  const lines = [
    acts
      ? `aligned   ${a.b} → ${a.a} (${r.family}, activation matching on ${r.data!.examples} examples of ${r.data!.name})`
      : `aligned   ${a.b} → ${a.a} (${r.family}, weight matching, seed ${r.seed})`,
    ...(acts ? [] : [`sweeps    ${r.iterations}${r.converged ? '' : ' (stopped at --max-iter without converging)'}`]),
    `distance  ‖A − B‖ ${r.distanceBefore.toPrecision(6)} → ${r.distanceAfter.toPrecision(6)}`,
    `${'group'.padEnd(nameW)}  ${'size'.padStart(5)}  ${'moved'.padStart(5)}  ${acts ? 'corr before  corr after' : 'cos before  cos after'}  seconds`,
    ...r.groups.map((g) => `${g.name.padEnd(nameW)}  ${String(g.size).padStart(5)}  ${String(g.moved).padStart(5)}  ${g.similarityBefore.toFixed(4).padStart(acts ? 11 : 10)}  ${g.similarityAfter.toFixed(4).padStart(acts ? 10 : 9)}  ${g.seconds.toFixed(3)}`),
    `wrote     ${r.out}`,
    `          ${permutationsPath(r.out)}`,
    `time      ${r.seconds.toFixed(3)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function alignMain(argv: string[]): Promise<number> {
  return runSubcommand('align', ALIGN_USAGE, argv, parseAlignArgs, (a) => a.b, runAlign);
}
