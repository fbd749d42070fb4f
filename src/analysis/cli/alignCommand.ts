// `ckpt-lens align`: permute checkpoint B's units to match checkpoint A's (Git Re-Basin weight
// matching) and write the aligned B, its permutations and a per-group report.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { type AlignMethod, alignCheckpoints, permutationsPath } from '../align/alignCheckpoint';
import { type BackendChoice, initBackend } from '../model/backend';

export const ALIGN_USAGE = `usage: ckpt-lens align A B --out OUT.safetensors [--method weights|activations] [--data PATH]
                       [--seed N] [--max-iter N] [--arch FILE] [--backend auto|tensorflow|wasm|cpu] [--json]

  A, B          two checkpoints of one architecture (MLP, plain CNN, torchvision ResNet, GPT-2-style)
  --out OUT     the aligned B, written as safetensors; the permutations go to OUT.perm.json
  --method M    weights (default): Git Re-Basin weight matching. activations: not available yet
  --data PATH   inputs for --method activations
  --seed N      seed of the group visiting order (default 0)
  --max-iter N  most sweeps over the groups (default 100)
  --arch FILE   JSON architecture hints for both checkpoints
  --backend B   tfjs backend (default auto)
  --json        print {"method", "iterations", "seconds", "groups": [{"name", "size", "similarityBefore", "similarityAfter"}]}`;

interface AlignArgs {
  a: string;
  b: string;
  out: string;
  method: AlignMethod;
  data?: string;
  seed: number;
  maxIter: number;
  arch?: string;
  backend: BackendChoice;
  json: boolean;
}

function parseAlignArgs(argv: string[]): AlignArgs {
  const { positional: pos, values: opt, json } = scanArgs(argv, ['--out', '--method', '--data', '--seed', '--max-iter', '--arch', '--backend']);
  if (pos.length !== 2) throw new UsageError('align takes two checkpoints, A and B');
  if (!opt['--out']) throw new UsageError('align needs --out OUT.safetensors');
  const method = opt['--method'] ?? 'weights';
  if (method !== 'weights' && method !== 'activations') throw new UsageError('--method is weights or activations');
  const backend = backendFlag(opt);
  const whole = (flag: string, min: number, dflt: number): number => wholeFlag(opt, flag, min) ?? dflt;
  return {
    a: pos[0],
    b: pos[1],
    out: opt['--out'],
    method,
    data: opt['--data'],
    seed: whole('--seed', 0, 0),
    maxIter: whole('--max-iter', 1, 100),
    arch: opt['--arch'],
    backend,
    json,
  };
}

async function runAlign(a: AlignArgs): Promise<void> {
  if (a.method === 'activations') throw new UsageError('--method activations is not available yet; use --method weights');
  await initBackend(a.backend, { log: stderrLog });
  const r = await alignCheckpoints(a.a, a.b, a.out, { method: a.method, seed: a.seed, maxIter: a.maxIter, archFile: a.arch });
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
  const lines = [
    `aligned   ${a.b} → ${a.a} (${r.family}, weight matching, seed ${r.seed})`,
    `sweeps    ${r.iterations}${r.converged ? '' : ' (stopped at --max-iter without converging)'}`,
    `distance  ‖A − B‖ ${r.distanceBefore.toPrecision(6)} → ${r.distanceAfter.toPrecision(6)}`,
    `${'group'.padEnd(nameW)}  ${'size'.padStart(5)}  ${'moved'.padStart(5)}  cos before  cos after  seconds`,
    ...r.groups.map((g) => `${g.name.padEnd(nameW)}  ${String(g.size).padStart(5)}  ${String(g.moved).padStart(5)}  ${g.similarityBefore.toFixed(4).padStart(10)}  ${g.similarityAfter.toFixed(4).padStart(9)}  ${g.seconds.toFixed(3)}`),
    `wrote     ${r.out}`,
    `          ${permutationsPath(r.out)}`,
    `time      ${r.seconds.toFixed(3)} s`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export function alignMain(argv: string[]): Promise<number> {
  return runSubcommand('align', ALIGN_USAGE, argv, parseAlignArgs, (a) => a.b, runAlign);
}
