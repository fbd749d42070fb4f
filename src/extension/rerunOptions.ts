// "Run again with …": the options of each analysis that change its numbers, as a small form at
// the top of its panel (every one the CLI has, except file choices, which the pickers make),
// the params of the new run, and the sentence saying which data split the numbers come from.
// vscode-free (unit-tested); the panel draws the fields, the host checks what comes back.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { AnalysisKind, JsonValue, OptionField } from '../analysis/protocol';

type Params = Record<string, JsonValue>;

const split: OptionField = { key: 'split', label: 'evaluation split', kind: 'choice', choices: ['test', 'train'], default: 'test', hint: 'the split of the dataset the numbers are measured on' };
const limit = (dflt: number | null = null): OptionField => ({ key: 'limit', label: 'examples (limit)', kind: 'int', min: 1, max: 1e9, default: dflt, hint: 'the first N examples of the split; empty = all' });
const bnReset: OptionField = { key: 'bnReset', label: 'reset BatchNorm statistics', kind: 'bool', default: false, hint: 'recompute BatchNorm running statistics at every interpolated point (REPAIR-style reset on training data)' };
const align: OptionField = { key: 'align', label: 'also aligned (weight matching)', kind: 'bool', default: false };

/** The options per analysis, with the defaults the analyses use when an option is not given. */
export const RERUN_OPTIONS: Partial<Record<AnalysisKind, OptionField[]>> = {
  interpolate: [{ key: 'steps', label: 'α steps', kind: 'int', min: 2, max: 1001, default: 25 }, align, split, limit(), bnReset],
  mli: [{ key: 'steps', label: 'α steps', kind: 'int', min: 2, max: 1001, default: 50 }, split, limit(), bnReset],
  llfc: [align, split, limit(10_000)],
  plane: [{ key: 'grid', label: 'grid points per side', kind: 'int', min: 2, max: 101, default: 11 }, { key: 'margin', label: 'margin around the triangle', kind: 'number', min: 0, max: 10, default: 0.2 }, split, limit(), bnReset],
  stitch: [
    { key: 'trainData', label: 'training data', kind: 'data', default: null, hint: 'the dataset the stitching layers are trained on; empty: the train split of the evaluation data when it has one, else the evaluation data itself' },
    { key: 'epochs', label: 'training epochs', kind: 'int', min: 0, max: 1000, default: 1 },
    { key: 'trainLimit', label: 'training examples', kind: 'int', min: 1, max: 1e9, default: null, hint: 'empty = the whole training split' },
    { key: 'lr', label: 'learning rate (Adam)', kind: 'number', min: 1e-8, max: 10, default: 1e-3 },
    split,
    limit(),
    { key: 'control', label: 'also a control stitch of A to itself', kind: 'bool', default: false },
  ],
  drop: [split, limit()],
  align: [{ key: 'method', label: 'alignment method', kind: 'choice', choices: ['weights', 'activations'], default: 'weights' }, { key: 'seed', label: 'seed', kind: 'int', min: 0, max: 2 ** 31 - 1, default: 0 }],
  diff: [align],
  spectra: [{ key: 'topK', label: 'top-k singular values (large matrices)', kind: 'int', min: 1, max: 4096, default: 64 }],
};

export function rerunFields(kind: AnalysisKind): OptionField[] {
  return RERUN_OPTIONS[kind] ?? [];
}

/** The form's values now: the run's params, else each option's default. */
export function currentValues(kind: AnalysisKind, params: Params): Params {
  return Object.fromEntries(rerunFields(kind).map((f) => [f.key, params[f.key] ?? f.default]));
}

/** Checks values from the panel against the fields; returns the new params, or throws saying which value is wrong. */
export function applyRerun(kind: AnalysisKind, params: Params, values: Record<string, unknown>): Params {
  const out: Params = { ...params };
  for (const f of rerunFields(kind)) {
    const v = values[f.key];
    if (v === undefined) continue;
    if (v === null || v === '') {
      if (f.default !== null) throw new Error(`${f.label}: a value is needed`);
      delete out[f.key];
      continue;
    }
    if (f.kind === 'data') {
      if (typeof v !== 'string' || !existsSync(v)) throw new Error(`${f.label}: no such file ${String(v)}`);
      out[f.key] = v;
    } else if (f.kind === 'bool') {
      if (typeof v !== 'boolean') throw new Error(`${f.label}: expected yes or no`);
      out[f.key] = v;
    } else if (f.kind === 'choice') {
      if (typeof v !== 'string' || !f.choices!.includes(v)) throw new Error(`${f.label}: one of ${f.choices!.join(', ')}`);
      out[f.key] = v;
    } else {
      const n = typeof v === 'number' ? v : Number(v);
      if (!Number.isFinite(n) || (f.kind === 'int' && !Number.isInteger(n))) throw new Error(`${f.label}: expected ${f.kind === 'int' ? 'a whole number' : 'a number'}, got ${String(v)}`);
      if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) throw new Error(`${f.label}: ${n} is outside ${f.min} … ${f.max}`);
      out[f.key] = n;
    }
  }
  if (kind === 'align') {
    // Activation matching needs data; weight matching none.
    if (out.method === 'activations' && !out.data) throw new Error('activation matching needs a dataset: run "Align Checkpoint to…" again and pick one');
    // A new run writes beside the first one, never over it.
    if (typeof out.out === 'string' && (out.method !== params.method || out.seed !== params.seed)) out.out = out.out.replace(/(\.safetensors)?$/, `.${out.method}-seed${out.seed ?? 0}.safetensors`);
  }
  return out;
}

/** "test split of digits.npz, first 500 examples" — which data the panel's numbers come from. */
export function measuredOn(kind: AnalysisKind, params: Params): string | undefined {
  if (typeof params.data !== 'string' || !rerunFields(kind).some((f) => f.key === 'split')) return undefined;
  const s = `${params.split ?? 'test'} split of ${basename(params.data)}`;
  const lim = typeof params.limit === 'number' ? `, first ${params.limit} examples` : kind === 'llfc' ? ', first 10000 examples' : ', all examples';
  const train = kind === 'stitch' ? `; stitching layers trained on ${typeof params.trainData === 'string' ? `the train split of ${basename(params.trainData)}` : `the train split of ${basename(params.data)} when it has one (else the evaluation data itself, noted in the panel)`}` : '';
  return `Measured on the ${s}${lim}${train}.`;
}
