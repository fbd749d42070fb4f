// The command-palette analyses: each command gathers its inputs (explorer selection, quick
// picks, or an args object from tests), then runs the analysis in the worker with a
// cancellable progress notification and shows its view in a panel beside the code. Every
// command resolves to the final AnalysisView (undefined when cancelled or failed).
import * as vscode from 'vscode';
import { basename, dirname, join } from 'node:path';
import type { AnalysisKind, AnalysisView, JsonValue } from '../analysis/protocol';
import { AnalysisPanel } from './analysisPanel';
import { archSidecar, pickCheckpoint, pickData } from './pickers';
import { engineSettings } from './engineSettings';
import { causeFirst, checkpointSlots, describeFailure } from './failureAdvice';
import { applyRerun, currentValues, measuredOn, rerunFields } from './rerunOptions';
import type { Logger, WorkerHost } from './workerHost';

export interface AnalysisDeps {
  context: vscode.ExtensionContext;
  worker: WorkerHost;
  log: Logger;
}

/** The panel of the last analysis started (integration tests read its view). */
export let lastPanel: AnalysisPanel | undefined;

/** Runs `kind` in the worker and shows it in a new panel titled `title`. */
export async function runInPanel(deps: AnalysisDeps, kind: AnalysisKind, params: Record<string, JsonValue>, title: string, opts: { live?: boolean } = {}): Promise<AnalysisView | undefined> {
  const engine = engineSettings();
  const panel = new AnalysisPanel(deps.context, title, deps.log);
  lastPanel = panel;
  // "Run again with …": a new panel beside, so the two results can be compared.
  panel.setOptions(rerunFields(kind), currentValues(kind, params), measuredOn(kind, params));
  panel.onRerun = (values) => {
    let next: Record<string, JsonValue>;
    try {
      next = applyRerun(kind, params, values);
    } catch (e) {
      void vscode.window.showErrorMessage(`Checkpoint Lens: ${(e as Error).message}`);
      return;
    }
    const changed = Object.keys(values).filter((k) => JSON.stringify(next[k] ?? null) !== JSON.stringify(params[k] ?? null));
    const shown = (v: JsonValue | undefined): string => (typeof v === 'string' && /[\\/]/.test(v) ? basename(v) : String(v ?? 'default'));
    const suffix = changed.length ? ` (${changed.map((k) => `${k} ${shown(next[k])}`).join(', ')})` : ' (again)';
    void runInPanel(deps, kind, next, `${title.replace(/ \(.*\)$/, '')}${suffix}`, opts);
  };
  panel.onPickOption = (key) => pickData(deps.context, `${rerunFields(kind).find((f) => f.key === key)?.label ?? key} (Run again with …)`);
  deps.log.info(`${kind}: ${JSON.stringify(params)}`);
  // A live job (watching run folders) runs until stopped from its panel: a status-bar
  // indicator instead of a notification that would stay open for the whole session.
  const location = opts.live ? vscode.ProgressLocation.Window : vscode.ProgressLocation.Notification;
  return vscode.window.withProgress({ location, title, cancellable: !opts.live }, async (progress, token) => {
    let last = 0;
    const job = deps.worker.analysis(
      { kind, params, ...engine },
      {
        onProgress: (f, _tensor, message) => {
          // A live job says what it watches (no percentage: it runs until stopped).
          const live = opts.live && /^watching\b/.test(message ?? '');
          progress.report({ increment: Math.max(0, 100 * (f - last)), message: live ? message : `${Math.round(100 * f)}%${message ? ` · ${message}` : ''}` });
          last = f;
          panel.setJob('running', f, message);
        },
        onPartial: (v) => panel.setView(v),
        onQueued: (behind) => {
          const message = `queued behind ${behind.join(', ')}`;
          progress.report({ message: `${message} · Cancel to drop it` });
          panel.setJob('running', 0, message);
        },
        onStarted: () => {
          progress.report({ message: 'starting' });
          panel.setJob('running', 0, 'starting');
        },
      },
    );
    token.onCancellationRequested(() => job.cancel());
    panel.onCancel = () => job.cancel();
    try {
      const view = await job.promise;
      panel.setView(view);
      panel.setJob('done', 1);
      return view;
    } catch (e) {
      const err = e as Error;
      if (err.name === 'CancelledError') {
        deps.log.info(`${kind} cancelled`);
        panel.setJob('cancelled', last);
      } else {
        deps.log.error(`${kind} failed: ${err.message}`);
        const info = { name: err.name, message: err.message, file: (err as { file?: string }).file };
        panel.setJob('failed', last, causeFirst(info), { ...describeFailure(info, params), analysis: title });
        panel.onFailureAction = (action) => void afterFailure(deps, kind, params, title, opts, panel, action);
        void vscode.window.showErrorMessage(`Checkpoint Lens: ${causeFirst(info)}`);
      }
      return undefined;
    }
  });
}

/**
 * A button of a failed panel: run the same again, or with another checkpoint or dataset picked
 * now, in a new panel that replaces the failed one.
 */
async function afterFailure(deps: AnalysisDeps, kind: AnalysisKind, params: Record<string, JsonValue>, title: string, opts: { live?: boolean }, failed: AnalysisPanel, action: 'retry' | 'checkpoint' | 'data'): Promise<void> {
  const next: Record<string, JsonValue> = { ...params };
  let nextTitle = title;
  if (action === 'data') {
    const data = await pickData(deps.context, `Another dataset (instead of ${basename(String(params.data))})`);
    if (!data) return;
    next.data = data;
  } else if (action === 'checkpoint') {
    const slots = checkpointSlots(params);
    let slot = slots.length === 1 ? slots[0] : undefined;
    if (!slot) {
      const picked = await vscode.window.showQuickPick(
        slots.map((s) => ({ label: basename(s.path), description: s.index !== undefined ? `checkpoint ${s.index + 1}` : s.key === 'init' ? 'the initialisation' : s.key === 'final' ? 'the trained checkpoint' : `checkpoint ${s.key.toUpperCase()}`, detail: s.path, slot: s })),
        { title: 'Which checkpoint to replace?', ignoreFocusOut: true },
      );
      slot = picked?.slot;
    }
    if (!slot) return;
    // Not offered: the one that failed, nor the others of this run.
    const path = await pickCheckpoint(deps.context, `Another checkpoint instead of ${basename(slot.path)}`, slots.map((s) => s.path));
    if (!path) return;
    if (slot.index !== undefined) next.paths = (params.paths as JsonValue[]).map((p, i) => (i === slot!.index ? path : p));
    else next[slot.key] = path;
    // An architecture file found beside the old checkpoint belongs to it, not to the new one.
    if (next.arch === archSidecar(slot.path)) {
      const arch = archSidecar(path);
      if (arch) next.arch = arch;
      else delete next.arch;
    }
    nextTitle = title.split(basename(slot.path)).join(basename(path));
  }
  failed.dispose();
  await runInPanel(deps, kind, next, nextTitle, opts);
}

/** Command args from tests: an object as the first, second or (after an explorer's clicked, selected[] pair) third argument. */
export function argsObject(first: unknown, second: unknown, third?: unknown): Record<string, unknown> {
  for (const v of [third, second, first]) if (typeof v === 'object' && v !== null && !(v instanceof vscode.Uri) && !Array.isArray(v)) return v as Record<string, unknown>;
  return {};
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** The clicked explorer file, if the command came from the explorer. */
export function clicked(first: unknown): string | undefined {
  return first instanceof vscode.Uri && first.scheme === 'file' ? first.fsPath : undefined;
}

/** The checkpoint open in the active Checkpoint Lens editor, for commands run from the palette. */
export function activeCheckpoint(): string | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  return input instanceof vscode.TabInputCustom && input.viewType === 'checkpointLens.editor' && input.uri.scheme === 'file' ? input.uri.fsPath : undefined;
}

/** Explorer multi-selection (the second argument of an explorer command). */
export function selection(second: unknown): string[] {
  return Array.isArray(second) ? second.filter((u): u is vscode.Uri => u instanceof vscode.Uri).map((u) => u.fsPath) : [];
}

function stem(p: string): string {
  return basename(p).replace(/(\.(safetensors|index|json|pt|pth|ckpt|bin|t7))+$/i, '');
}

/** "Checkpoint Lens: Align checkpoint to…": B is the clicked/picked checkpoint, A the reference. */
export function registerAlignCommand(deps: AnalysisDeps): vscode.Disposable {
  return vscode.commands.registerCommand('checkpointLens.align', async (first?: unknown, second?: unknown) => {
    const a = argsObject(first, second);
    const b = str(a.b) ?? clicked(first) ?? (await pickCheckpoint(deps.context, 'Checkpoint to align (B: its units will be permuted)'));
    if (!b) return undefined;
    const ref = str(a.a) ?? (await pickCheckpoint(deps.context, `Align ${basename(b)} to… (A: the reference)`, [b]));
    if (!ref) return undefined;
    // Called with arguments (tests, other extensions): weight matching unless told otherwise.
    let method = str(a.method) ?? (str(a.out) ? 'weights' : undefined);
    if (!method) {
      const picked = await vscode.window.showQuickPick(
        [
          { label: 'Weight matching', description: 'from the weights alone (Git Re-Basin §3.2)', value: 'weights' },
          { label: 'Activation matching', description: 'correlates unit activations on a dataset (Git Re-Basin §3.1)', value: 'activations' },
        ],
        { title: 'Alignment method', ignoreFocusOut: true },
      );
      method = picked?.value;
    }
    if (method !== 'weights' && method !== 'activations') return undefined;
    const data = method === 'activations' ? (str(a.data) ?? (await pickData(deps.context, 'Data for activation matching'))) : undefined;
    if (method === 'activations' && !data) return undefined;
    let out = str(a.out);
    if (!out) {
      const target = await vscode.window.showSaveDialog({
        title: 'Write the aligned checkpoint (its permutations go beside it as .perm.json)',
        defaultUri: vscode.Uri.file(join(dirname(b), `${stem(b)}.aligned-to-${stem(ref)}.safetensors`)),
        filters: { Safetensors: ['safetensors'] },
      });
      out = target?.fsPath;
    }
    if (!out) return undefined;
    const params: Record<string, JsonValue> = { a: ref, b, out, method, ...(data ? { data } : {}) };
    if (typeof a.limit === 'number') params.limit = a.limit;
    const arch = str(a.arch) ?? archSidecar(b);
    if (arch) params.arch = arch;
    if (typeof a.seed === 'number') params.seed = a.seed;
    return runInPanel(deps, 'align', params, `Align ${basename(b)} → ${basename(ref)}`);
  });
}
