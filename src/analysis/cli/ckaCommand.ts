// `ckpt-lens cka`: linear and debiased CKA between capture points of two models, within one
// model, or across a run's checkpoints against its final checkpoint.
import { UsageError, backendFlag, runSubcommand, scanArgs, stderrLog, wholeFlag } from './cliArgs';
import { initBackend } from '../model/backend';
import { type CkaReport, DEFAULT_CKA_LIMIT, runCka } from '../sets/ckaAnalysis';

export const CKA_USAGE = `usage: ckpt-lens cka A B --data PATH [--limit N] [--json]      A's capture points × B's
       ckpt-lens cka A --data PATH [--json]                    one model's points against each other
       ckpt-lens cka --run DIR|FILES... --data PATH [--json]   each checkpoint against the run's last

  --data PATH        evaluation data (as ckpt-lens eval --data); --labels, --split as there
  --limit N          examples (default ${DEFAULT_CKA_LIMIT}); the moments are streamed, memory does not grow with N
  --batch-size N     examples per forward batch (default 256)
  --arch FILE        architecture hints (--arch-b FILE for B)
  --backend B        engine: auto (default), onnxruntime, tensorflow, wasm, cpu
  --json             print {"a": [capture names], "b": [...], "linear": [[…]], "debiased": [[…]], …}`;

interface CkaArgs {
  positional: string[];
  values: Record<string, string>;
  run: boolean;
  json: boolean;
}

function matrix(title: string, r: CkaReport, m: (number | null)[][]): string[] {
  const w = Math.max(7, ...r.b.map((n) => n.length));
  const lw = Math.max(...r.a.map((n) => n.length));
  return [title, `  ${''.padEnd(lw)}  ${r.b.map((n) => n.padStart(w)).join('  ')}`, ...m.map((row, i) => `  ${r.a[i].padEnd(lw)}  ${row.map((v) => (v === null ? '—' : v.toFixed(4)).padStart(w)).join('  ')}`)];
}

function ckaText(r: CkaReport): string {
  return [
    ...r.models.map((m) => `model     ${m.name}: ${m.description}   ${m.path}`),
    `data      ${r.data}: ${r.n} examples`,
    ...matrix(`linear CKA   ${r.definitions.linear}`, r, r.linear),
    ...matrix(`debiased CKA ${r.definitions.debiased}`, r, r.debiased),
    `time      ${r.seconds.toFixed(2)} s (${r.backend})`,
  ].join('\n') + '\n';
}

async function cka(a: CkaArgs): Promise<void> {
  if (!a.values['--data']) throw new UsageError('needs --data PATH');
  if (!a.run && (a.positional.length < 1 || a.positional.length > 2)) throw new UsageError('cka takes one or two checkpoints (or --run DIR)');
  if (a.run && a.positional.length < 1) throw new UsageError('--run takes a folder or the checkpoints of one run');
  await initBackend(backendFlag(a.values), { log: stderrLog });
  const split = a.values['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  const r = await runCka({
    paths: a.positional, mode: a.run ? 'run' : undefined, data: a.values['--data'], labels: a.values['--labels'], split,
    limit: wholeFlag(a.values, '--limit', 4), batchSize: wholeFlag(a.values, '--batch-size', 1), arch: a.values['--arch'], archB: a.values['--arch-b'],
  }, { log: stderrLog });
  process.stdout.write(a.json ? JSON.stringify(r) + '\n' : ckaText(r));
}

export function ckaMain(argv: string[]): Promise<number> {
  return runSubcommand('cka', CKA_USAGE, argv, (v) => {
    const s = scanArgs(v, ['--data', '--labels', '--split', '--limit', '--batch-size', '--arch', '--arch-b', '--backend'], ['--run']);
    return { positional: s.positional, values: s.values, run: s.switches.has('--run'), json: s.json };
  }, (a) => a.positional.join(', '), cka);
}
