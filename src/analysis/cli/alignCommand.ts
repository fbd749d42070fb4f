// `ckpt-lens align`: permute checkpoint B's units to match checkpoint A's (Git Re-Basin weight
// matching) and write the aligned B, its permutations and a per-group report.
import { CheckpointError, isCancelled } from '../core/errors';
import { type AlignMethod, alignCheckpoints, permutationsPath } from '../align/alignCheckpoint';
import { BACKENDS, type BackendChoice, initBackend } from '../model/backend';

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

class UsageError extends Error {}

function parseAlignArgs(argv: string[]): AlignArgs {
  const pos: string[] = [];
  const opt: Record<string, string> = {};
  let json = false;
  const valued = ['--out', '--method', '--data', '--seed', '--max-iter', '--arch', '--backend'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help') throw new UsageError('');
    if (a === '--json') json = true;
    else if (valued.includes(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      opt[a] = argv[++i];
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else pos.push(a);
  }
  if (pos.length !== 2) throw new UsageError('align takes two checkpoints, A and B');
  if (!opt['--out']) throw new UsageError('align needs --out OUT.safetensors');
  const method = opt['--method'] ?? 'weights';
  if (method !== 'weights' && method !== 'activations') throw new UsageError('--method is weights or activations');
  const backend = opt['--backend'] ?? 'auto';
  if (backend !== 'auto' && !(BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`--backend is one of auto, ${BACKENDS.join(', ')}`);
  const whole = (flag: string, min: number, dflt: number): number => {
    if (opt[flag] === undefined) return dflt;
    const n = Number(opt[flag]);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} takes a whole number ≥ ${min}`);
    return n;
  };
  return {
    a: pos[0],
    b: pos[1],
    out: opt['--out'],
    method,
    data: opt['--data'],
    seed: whole('--seed', 0, 0),
    maxIter: whole('--max-iter', 1, 100),
    arch: opt['--arch'],
    backend: backend as BackendChoice,
    json,
  };
}

async function runAlign(a: AlignArgs): Promise<void> {
  const log = (m: string): void => {
    process.stderr.write(`ckpt-lens: ${m}\n`);
  };
  await initBackend(a.backend, { log });
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

export async function alignMain(argv: string[]): Promise<number> {
  let args: AlignArgs;
  try {
    args = parseAlignArgs(argv);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write((msg ? `ckpt-lens align: ${msg}\n` : '') + ALIGN_USAGE + '\n');
    return msg ? 2 : 0;
  }
  if (args.method === 'activations') {
    process.stderr.write('ckpt-lens align: --method activations is not available yet; use --method weights\n');
    return 2;
  }
  try {
    await runAlign(args);
    return 0;
  } catch (e) {
    if (isCancelled(e)) return 130;
    const msg = e instanceof CheckpointError ? e.message : `${args.b}: ${(e as Error).message}`;
    process.stderr.write(`ckpt-lens: ${msg.split('\n')[0]}\n`);
    return 1;
  }
}
