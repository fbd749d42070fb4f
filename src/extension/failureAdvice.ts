// What a failed analysis says: the cause first (the worker's CheckpointError reads "file: problem"),
// then the file, a "what to try" line matched to the kind of failure, and the actions that can
// help (pick another dataset when the data does not fit, another checkpoint when it is not
// recognised, retry always). vscode-free (unit-tested); the panel draws it, the host acts on it.
import { basename } from 'node:path';
import type { ErrorInfo, FailureAction, JsonValue, PanelFailure } from '../analysis/protocol';

type Params = Record<string, JsonValue>;

/** Params holding one checkpoint path each, in the order the pickers ask for them. */
export const CHECKPOINT_KEYS = ['a', 'b', 'c', 'init', 'final'] as const;

/** The checkpoint params of a run: a key (and index, for lists such as `paths`) with its path. */
export function checkpointSlots(params: Params): { key: string; index?: number; path: string }[] {
  const out: { key: string; index?: number; path: string }[] = [];
  for (const k of CHECKPOINT_KEYS) if (typeof params[k] === 'string') out.push({ key: k, path: params[k] as string });
  const list = params.paths;
  if (Array.isArray(list)) list.forEach((p, i) => typeof p === 'string' && out.push({ key: 'paths', index: i, path: p }));
  return out;
}

/** "784 values per example, the model takes 64 (digits.npz)": the problem, then the file's name. */
export function causeFirst(e: Pick<ErrorInfo, 'message' | 'file'>): string {
  const { cause, file } = splitCause(e);
  return file ? `${cause} (${basename(file)})` : cause;
}

function splitCause(e: Pick<ErrorInfo, 'message' | 'file'>): { cause: string; file?: string } {
  let cause = e.message.trim();
  let file = e.file;
  if (file) {
    for (const prefix of [`${file}: `, `${basename(file)}: `]) if (cause.startsWith(prefix)) cause = cause.slice(prefix.length);
  } else {
    // "…/x.safetensors: problem" from code that names the file only in the message.
    const m = /^(\/[^:]+|[A-Za-z]:\\[^:]+): (.+)$/s.exec(cause);
    if (m) [file, cause] = [m[1], m[2]];
  }
  return { cause: cause.charAt(0).toUpperCase() + cause.slice(1), ...(file ? { file } : {}) };
}

interface Rule {
  test: RegExp;
  tryNext: string;
  /** The pick that helps most, first. */
  pick: ('checkpoint' | 'data')[];
}

const RULES: Rule[] = [
  {
    test: /values per example|do not fit the .* model|examples of shape|targets have|token ids|exceed the model's/i,
    tryNext: 'Pick a dataset made for this model (its examples must have the shape the model takes), or a checkpoint trained on this data.',
    pick: ['data', 'checkpoint'],
  },
  {
    test: /not the same architecture|differ in shape|not found in B|missing in B|shapes? (do not|don't) match/i,
    tryNext: 'Pick checkpoints of one architecture (the same tensors with the same shapes): two seeds or two steps of one model.',
    pick: ['checkpoint'],
  },
  {
    test: /not recognised|no tensors to recognise|could not place|no droppable|no residual|needs? (an? )?(MLP|ResNet|transformer)|not supported for/i,
    tryNext: 'Pick a checkpoint of a family this analysis supports (the README lists them), or put a <checkpoint>.arch.json beside it that names its family.',
    pick: ['checkpoint'],
  },
  {
    test: /ENOENT|no such file|does not exist|cannot find/i,
    tryNext: 'The file was moved or deleted since it was picked: pick it again.',
    pick: ['checkpoint', 'data'],
  },
  {
    test: /truncated|unexpected end|corrupt|invalid|bad magic|not a (zip|safetensors|numpy|gguf)|header/i,
    tryNext: 'The file looks damaged or is not what its name says: check the copy (download it again), or pick another file.',
    pick: ['checkpoint', 'data'],
  },
  {
    test: /out of memory|heap|allocation failed|stopped unexpectedly|worker.*(exit|crash)/i,
    tryNext: 'The worker ran out of room: run again on fewer examples (examples (limit) in Run again with …), or close other jobs, then Retry.',
    pick: [],
  },
];

/** The failed panel's contents for an error of a run with these params. */
export function describeFailure(e: Pick<ErrorInfo, 'name' | 'message' | 'file'>, params: Params): PanelFailure {
  const { cause, file } = splitCause(e);
  const rule = RULES.find((r) => r.test.test(e.message));
  const hasData = typeof params.data === 'string';
  const hasCheckpoint = checkpointSlots(params).length > 0;
  const possible = (a: 'checkpoint' | 'data'): boolean => (a === 'data' ? hasData : hasCheckpoint);
  // The file the error names decides which pick comes first.
  const named: ('checkpoint' | 'data')[] = file && file === params.data ? ['data'] : file && checkpointSlots(params).some((s) => s.path === file) ? ['checkpoint'] : [];
  const picks = [...new Set([...named, ...(rule ? rule.pick : (['checkpoint', 'data'] as const))])].filter(possible);
  const actions: FailureAction[] = [...picks, 'retry'];
  const tryNext = rule?.tryNext ?? 'Retry; if it fails again, pick other inputs, and see the Checkpoint Lens output channel for the details.';
  return { cause, ...(file ? { file } : {}), tryNext, actions };
}
