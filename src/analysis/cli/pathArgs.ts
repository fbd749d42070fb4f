// Flags shared by the interpolation subcommands (interpolate, mli, llfc, plane): the evaluation
// data as in `eval`, the BatchNorm-reset data and switch, threads, backend.
import { UsageError, backendFlag, scanArgs, wholeFlag } from './cliArgs';
import type { Split } from '../data/dataset';
import type { BackendChoice } from '../model/backend';
import type { PathDataOptions } from '../interpolate/pathInputs';

export const PATH_DATA_USAGE = `  --data PATH        evaluation data: IDX images, .npy inputs, an .npz/safetensors with x and y (or
                     x_train/x_test), or a folder in the MNIST layout
  --labels PATH      labels for an inputs-only --data
  --split S          test (default) or train, for an MNIST folder or a file with x_train/x_test
  --limit N          evaluate only the first N examples
  --arch FILE        JSON architecture hints for every checkpoint
  --backend B        engine: auto (default), onnxruntime, tensorflow, wasm, cpu
  --batch-size N     examples per evaluation batch (default 256)
  --threads N        threads evaluating points in parallel (default: the cores; 1 = no pool)
  --no-bn-reset      networks with BatchNorm: keep the combined stored statistics instead of
                     recomputing them at every point (recomputing is the default)
  --train-data PATH  data for the BatchNorm reset (default: the train split of --data when it has
                     one, e.g. an MNIST folder or an .npz with x_train; else --data itself)
  --bn-batches N     BatchNorm reset batches (default 32) …
  --bn-batch-size N  … of N examples (default 128), the first ones in order unless --bn-seed
  --bn-seed N        shuffle the BatchNorm reset examples with this seed
  --json             print the report as one JSON object`;

export const PATH_DATA_FLAGS = ['--data', '--labels', '--split', '--limit', '--arch', '--backend', '--batch-size', '--threads', '--train-data', '--bn-batches', '--bn-batch-size', '--bn-seed'] as const;

export interface PathCliArgs {
  positional: string[];
  values: Record<string, string>;
  switches: Set<string>;
  json: boolean;
  backend: BackendChoice;
  data: PathDataOptions;
}

/** Scans argv with the shared flags plus `valued` and `switches` of the subcommand. */
export function parsePathArgs(argv: string[], valued: readonly string[] = [], switches: readonly string[] = []): PathCliArgs {
  const s = scanArgs(argv, [...PATH_DATA_FLAGS, ...valued], ['--no-bn-reset', ...switches]);
  const opt = s.values;
  if (!opt['--data']) throw new UsageError('needs --data PATH');
  const split = opt['--split'];
  if (split !== undefined && split !== 'test' && split !== 'train') throw new UsageError('--split is test or train');
  const whole = (flag: string, min: number): number | undefined => wholeFlag(opt, flag, min);
  return {
    ...s,
    backend: backendFlag(opt),
    data: {
      data: opt['--data'],
      labels: opt['--labels'],
      split: split as Split | undefined,
      limit: whole('--limit', 1),
      arch: opt['--arch'],
      batchSize: whole('--batch-size', 1),
      threads: whole('--threads', 1),
      bnReset: !s.switches.has('--no-bn-reset'),
      trainData: opt['--train-data'],
      bnBatches: whole('--bn-batches', 1),
      bnBatchSize: whole('--bn-batch-size', 1),
      bnSeed: whole('--bn-seed', 0),
    },
  };
}

/** A number flag (may be fractional) within [min, max]. */
export function numberFlag(values: Record<string, string>, flag: string, min: number, max = Infinity): number | undefined {
  if (values[flag] === undefined) return undefined;
  const n = Number(values[flag]);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} takes a number from ${min}${max === Infinity ? '' : ` to ${max}`}`);
  return n;
}

export const fmt = (v: number, digits = 5): string => v.toFixed(digits);
export const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
