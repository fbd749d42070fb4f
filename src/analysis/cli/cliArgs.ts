// What every ckpt-lens subcommand shares: scanning flags, the --backend flag, whole-number
// flags, and turning errors into one stderr line that names the file.
import { CheckpointError, isCancelled } from '../core/errors';
import { BACKENDS, type BackendChoice } from '../model/backend';

export class UsageError extends Error {}

export interface ScannedArgs {
  positional: string[];
  /** Values of the flags that take one, keyed by flag (`--data` → path). */
  values: Record<string, string>;
  json: boolean;
  /** The `switches` (flags without a value) that were given. */
  switches: Set<string>;
}

/** Splits argv into positionals, `valued` flags with their values, `switches`, and --json; --help asks for usage. */
export function scanArgs(argv: string[], valued: readonly string[], switches: readonly string[] = []): ScannedArgs {
  const positional: string[] = [];
  const values: Record<string, string> = {};
  const given = new Set<string>();
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help') throw new UsageError('');
    if (a === '--json') json = true;
    else if (switches.includes(a)) given.add(a);
    else if (valued.includes(a)) {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      values[a] = argv[++i];
    } else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else positional.push(a);
  }
  return { positional, values, json, switches: given };
}

export function backendFlag(values: Record<string, string>): BackendChoice {
  const backend = values['--backend'] ?? 'auto';
  if (backend !== 'auto' && !(BACKENDS as readonly string[]).includes(backend)) throw new UsageError(`--backend is one of auto, ${BACKENDS.join(', ')}`);
  return backend as BackendChoice;
}

export function wholeFlag(values: Record<string, string>, flag: string, min: number): number | undefined {
  if (values[flag] === undefined) return undefined;
  const n = Number(values[flag]);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} takes a whole number ≥ ${min}`);
  return n;
}

/** Progress and backend notes go to stderr, so --json output stays one clean line. */
export function stderrLog(m: string): void {
  process.stderr.write(`ckpt-lens: ${m}\n`);
}

/**
 * Parses, runs and maps the outcome to an exit code: 0 done, 2 usage, 130 cancelled, 1 any
 * other error — printed as one line naming the file (`subject` when the error does not).
 */
export async function runSubcommand<A>(name: string, usage: string, argv: string[], parse: (argv: string[]) => A, subject: (a: A) => string, run: (a: A) => Promise<void>): Promise<number> {
  let args: A;
  try {
    args = parse(argv);
  } catch (e) {
    const msg = (e as Error).message;
    process.stderr.write((msg ? `ckpt-lens ${name}: ${msg}\n` : '') + usage + '\n');
    return msg ? 2 : 0;
  }
  try {
    await run(args);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ckpt-lens ${name}: ${e.message}\n`);
      return 2;
    }
    if (isCancelled(e)) return 130;
    const msg = e instanceof CheckpointError ? e.message : `${subject(args)}: ${(e as Error).message}`;
    process.stderr.write(`ckpt-lens: ${msg.split('\n')[0]}\n`);
    return 1;
  }
}
