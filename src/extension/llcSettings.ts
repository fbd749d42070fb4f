// The LLC hyper-parameters as one editable line ("epsilon=0.0001 gamma=100 …"), prefilled with the
// last settings used in this workspace (a curve over checkpoints must keep them fixed) or
// devinterp's defaults; nbeta=auto means batch/log(batch).
import * as vscode from 'vscode';
import type { JsonValue } from '../analysis/protocol';

const KEY = 'checkpointLens.llcSettings';
const DEFAULT = 'epsilon=0.01 gamma=0 nbeta=auto chains=10 draws=100 burnIn=0 batchSize=256 seed=0';
const NUMERIC: Record<string, 'int' | 'number'> = { epsilon: 'number', gamma: 'number', nbeta: 'number', chains: 'int', draws: 'int', burnIn: 'int', batchSize: 'int', seed: 'int' };

/** Parses "key=value …"; returns the params or the first problem. */
export function parseLlcSettings(line: string): { params: Record<string, JsonValue> } | { problem: string } {
  const params: Record<string, JsonValue> = {};
  for (const part of line.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(part);
    if (!m) return { problem: `"${part}" is not key=value` };
    const [, key, raw] = m;
    const kind = NUMERIC[key];
    if (!kind) return { problem: `unknown setting "${key}" (${Object.keys(NUMERIC).join(', ')})` };
    if (key === 'nbeta' && raw === 'auto') continue;
    const v = Number(raw);
    if (!Number.isFinite(v) || v < 0 || (kind === 'int' && !Number.isInteger(v))) return { problem: `${key} must be ${kind === 'int' ? 'a whole number' : 'a number'} ≥ 0` };
    if ((key === 'epsilon' || key === 'nbeta' || key === 'chains' || key === 'batchSize') && v === 0) return { problem: `${key} must be > 0` };
    params[key] = v;
  }
  return { params };
}

export async function askLlcSettings(context: vscode.ExtensionContext, title: string): Promise<Record<string, JsonValue> | undefined> {
  const last = context.workspaceState.get<string>(KEY) ?? DEFAULT;
  const line = await vscode.window.showInputBox({
    title,
    prompt: 'SGLD step ε, localisation γ, inverse temperature nβ (auto = batch/log batch), chains, draws per chain, burn-in steps, batch size, seed',
    value: last,
    ignoreFocusOut: true,
    validateInput: (v) => {
      const r = parseLlcSettings(v);
      return 'problem' in r ? r.problem : undefined;
    },
  });
  if (line === undefined) return undefined;
  const r = parseLlcSettings(line);
  if ('problem' in r) return undefined;
  await context.workspaceState.update(KEY, line.trim());
  return r.params;
}
