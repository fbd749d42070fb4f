// The analysis commands as a table: for each, how its inputs are gathered (explorer click or
// selection, quick picks, or an args object from tests) into the JSON params of its worker job.
// Registration is generic (registerAnalysisCommands); each command resolves to the final
// AnalysisView, or undefined when the user backed out, cancelled, or the job failed.
import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { AnalysisKind, JsonValue } from '../analysis/protocol';
import { type AnalysisDeps, activeCheckpoint, argsObject, clicked, runInPanel, selection, str } from './analysisCommands';
import { checkPair } from './pairCheck';
import { archSidecar, pickCheckpoint, pickData, pickRunFolders } from './pickers';
import { askLlcSettings } from './llcSettings';

type Params = Record<string, JsonValue>;

interface Gathered {
  params: Params;
  title: string;
  /** A job that runs until stopped (watching run folders): progress in the status bar, not a notification. */
  live?: boolean;
}

export interface AnalysisCommand {
  id: string;
  kind: AnalysisKind;
  gather(deps: AnalysisDeps, args: Record<string, unknown>, first: unknown, second: unknown): Promise<Gathered | undefined>;
}

/** Copies the optional args a test (or a caller) may give, with their JSON types checked. */
function extras(args: Record<string, unknown>, keys: string[]): Params {
  const out: Params = {};
  for (const k of keys) {
    const v = args[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  }
  return out;
}

async function yesNo(title: string, yes: string, no: string): Promise<boolean | undefined> {
  const picked = await vscode.window.showQuickPick([{ label: yes, value: true }, { label: no, value: false }], { title, ignoreFocusOut: true });
  return picked?.value;
}

/** Two checkpoints: A from args, the explorer selection or click, or a pick; then B likewise. */
async function twoCheckpoints(deps: AnalysisDeps, args: Record<string, unknown>, first: unknown, second: unknown, titles: [string, string], useActive = false, sameArch = false): Promise<[string, string] | undefined> {
  const sel = selection(second);
  const a = str(args.a) ?? (sel.length === 2 ? sel[0] : clicked(first)) ?? (useActive ? activeCheckpoint() : undefined) ?? (await pickCheckpoint(deps.context, titles[0]));
  if (!a) return undefined;
  let b = str(args.b) ?? (sel.length === 2 ? sel[1] : undefined) ?? (await pickCheckpoint(deps.context, titles[1], [a]));
  // Paths between two points of one network: refuse another architecture at once (before the dataset).
  for (let tries = 0; b && sameArch && tries < 5; tries++) {
    const why = await checkPair(deps.worker, a, b);
    if (!why) break;
    const again = await vscode.window.showErrorMessage(`Checkpoint Lens: ${why}`, 'Pick another B');
    b = again ? await pickCheckpoint(deps.context, titles[1], [a, b]) : undefined;
  }
  return b ? [a, b] : undefined;
}

async function dataFor(deps: AnalysisDeps, args: Record<string, unknown>): Promise<string | undefined> {
  return str(args.data) ?? (await pickData(deps.context));
}

function withArch(params: Params, checkpoint: string, args: Record<string, unknown>): Params {
  const arch = str(args.arch) ?? archSidecar(checkpoint);
  return arch ? { ...params, arch } : params;
}

/** Diff params; asks whether to align B to A first unless the args say (tests pass align). */
async function diffParams(args: Record<string, unknown>, [a, b]: [string, string]): Promise<Gathered | undefined> {
  const align = typeof args.align === 'boolean' ? args.align : Object.keys(args).length ? false
    : await yesNo('Align B to A first (weight matching), so permuted units are not counted as change?', 'Align B to A first', 'Compare as stored');
  if (align === undefined) return undefined;
  return { params: { a, b, align }, title: `Diff ${basename(a)} ↔ ${basename(b)}` };
}

export const ANALYSIS_COMMANDS: AnalysisCommand[] = [
  {
    id: 'checkpointLens.linearModeConnectivity',
    kind: 'interpolate',
    async gather(deps, args, first, second) {
      const ab = await twoCheckpoints(deps, args, first, second, ['Linear mode connectivity: checkpoint A (α = 0)', 'Checkpoint B (α = 1)'], false, true);
      if (!ab) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      const align = typeof args.align === 'boolean' ? args.align : await yesNo('Also draw the path to B aligned to A (Git Re-Basin weight matching)?', 'Naive and aligned paths', 'Naive path only');
      if (align === undefined) return undefined;
      return {
        params: withArch({ a: ab[0], b: ab[1], data, align, ...extras(args, ['steps', 'bnReset', 'split', 'limit', 'trainData']) }, ab[0], args),
        title: `LMC ${basename(ab[0])} ↔ ${basename(ab[1])}`,
      };
    },
  },
  {
    id: 'checkpointLens.monotonicInterpolation',
    kind: 'mli',
    async gather(deps, args, first) {
      const init = str(args.init) ?? (await pickCheckpoint(deps.context, 'Monotonic linear interpolation: the initialisation θ₀'));
      if (!init) return undefined;
      const final = str(args.final) ?? clicked(first) ?? (await pickCheckpoint(deps.context, 'The trained checkpoint θ_T', [init]));
      if (!final) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      return { params: withArch({ init, final, data, ...extras(args, ['steps', 'bnReset', 'split', 'limit', 'trainData']) }, final, args), title: `MLI ${basename(init)} → ${basename(final)}` };
    },
  },
  {
    id: 'checkpointLens.featureConnectivity',
    kind: 'llfc',
    async gather(deps, args, first, second) {
      const ab = await twoCheckpoints(deps, args, first, second, ['Layerwise linear feature connectivity: checkpoint A', 'Checkpoint B'], false, true);
      if (!ab) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      const align = typeof args.align === 'boolean' ? args.align : await yesNo('Also measure B aligned to A (weight matching)?', 'Naive and aligned', 'Naive only');
      if (align === undefined) return undefined;
      return { params: withArch({ a: ab[0], b: ab[1], data, align, ...extras(args, ['split', 'limit']) }, ab[0], args), title: `LLFC ${basename(ab[0])} ↔ ${basename(ab[1])}` };
    },
  },
  {
    id: 'checkpointLens.lossPlane',
    kind: 'plane',
    async gather(deps, args, first, second) {
      const sel = selection(second);
      const a = str(args.a) ?? (sel.length === 3 ? sel[0] : clicked(first)) ?? (await pickCheckpoint(deps.context, 'Loss plane: first checkpoint (origin)'));
      if (!a) return undefined;
      const b = str(args.b) ?? (sel.length === 3 ? sel[1] : undefined) ?? (await pickCheckpoint(deps.context, 'Second checkpoint', [a]));
      if (!b) return undefined;
      const c = str(args.c) ?? (sel.length === 3 ? sel[2] : undefined) ?? (await pickCheckpoint(deps.context, 'Third checkpoint', [a, b]));
      if (!c) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      return { params: withArch({ a, b, c, data, ...extras(args, ['grid', 'margin', 'bnReset', 'split', 'limit', 'trainData']) }, a, args), title: `Loss plane ${basename(a)}, ${basename(b)}, ${basename(c)}` };
    },
  },
  {
    id: 'checkpointLens.stitch',
    kind: 'stitch',
    async gather(deps, args, first, second) {
      const ab = await twoCheckpoints(deps, args, first, second, ['Model stitching: model A (bottom)', 'Model B (top)']);
      if (!ab) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      return { params: withArch({ a: ab[0], b: ab[1], data, ...extras(args, ['epochs', 'trainData', 'trainLimit', 'limit', 'split', 'both', 'control']) }, ab[0], args), title: `Stitching ${basename(ab[0])} → ${basename(ab[1])}` };
    },
  },
  {
    id: 'checkpointLens.dropLayers',
    kind: 'drop',
    async gather(deps, args, first) {
      const a = str(args.a) ?? clicked(first) ?? activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'Layer dropping: checkpoint'));
      if (!a) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      return { params: withArch({ a, data, ...extras(args, ['strategy', 'limit', 'split', 'bnReset']) }, a, args), title: `Layer dropping ${basename(a)}` };
    },
  },
  {
    id: 'checkpointLens.compareWith',
    kind: 'diff',
    async gather(deps, args, first, second) {
      const ab = await twoCheckpoints(deps, args, first, second, ['Compare: checkpoint A', 'Compare with… (checkpoint B)'], true);
      if (!ab) return undefined;
      return diffParams(args, ab);
    },
  },
  {
    // From the explorer with two checkpoints selected (the palette hides it).
    id: 'checkpointLens.compareSelected',
    kind: 'diff',
    async gather(deps, args, first, second) {
      const ab = await twoCheckpoints(deps, args, first, second, ['Compare: checkpoint A', 'Compare with… (checkpoint B)']);
      if (!ab) return undefined;
      return diffParams(args, ab);
    },
  },
  {
    id: 'checkpointLens.compareRuns',
    kind: 'runs',
    async gather(_deps, args, first, second) {
      const given = Array.isArray(args.dirs) ? args.dirs.filter((d): d is string => typeof d === 'string') : [];
      const sel = selection(second);
      const dirs = given.length ? given : sel.length ? sel : clicked(first) ? [clicked(first)!] : await pickRunFolders('Training runs: one or more folders of checkpoints (the first is the reference)');
      if (!dirs?.length) return undefined;
      // Loss, accuracy, activation patterns, kernels and the LLC need data: asked for only from
      // the palette or explorer (callers with args pass data/llc themselves).
      let more: Params = extras(args, ['data', 'llc', 'probe', 'split', 'limit', 'epsilon', 'gamma', 'nbeta', 'chains', 'draws', 'burnIn', 'batchSize', 'seed']);
      if (!Object.keys(args).length) {
        const picked = await vscode.window.showQuickPick([
          { label: 'Weights only', description: 'norms, drift, conserved quantities, relative change', value: 'none' },
          { label: 'Also loss and lazy/rich on a dataset…', description: 'loss, accuracy, activation-pattern change, kernel distance', value: 'data' },
          { label: 'Also the LLC at every checkpoint…', description: 'slow: SGLD chains per checkpoint, same settings throughout', value: 'llc' },
        ], { title: 'Training runs: what to compute per checkpoint', ignoreFocusOut: true });
        if (!picked) return undefined;
        if (picked.value !== 'none') {
          const data = await pickData(_deps.context, 'Dataset for the loss, probe set and LLC');
          if (!data) return undefined;
          more = { data };
          if (picked.value === 'llc') {
            const settings = await askLlcSettings(_deps.context, 'LLC settings, the same at every checkpoint');
            if (!settings) return undefined;
            more = { ...more, ...settings, llc: true };
          }
        }
      }
      const watch = args.watch !== false;
      return { params: { dirs, watch, ...extras(args, ['align']), ...more }, title: `Runs ${dirs.map((d) => basename(d)).join(', ')}`, live: watch };
    },
  },
  {
    id: 'checkpointLens.basins',
    kind: 'basins',
    async gather(deps, args, first, second) {
      const given = Array.isArray(args.paths) ? args.paths.filter((d): d is string => typeof d === 'string') : [];
      const sel = selection(second);
      const paths = given.length ? given : sel.length >= 2 ? sel : clicked(first) ? [clicked(first)!] : await pickRunFolders('Barrier matrix: a folder of checkpoints (or select several checkpoints in the explorer)');
      if (!paths?.length) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      const align = typeof args.align === 'boolean' ? args.align : await yesNo('Also the matrix after weight matching every model onto the first (Git Re-Basin)?', 'Naive and weight-matched', 'Naive only');
      if (align === undefined) return undefined;
      const params = { paths, data, align, ...extras(args, ['steps', 'threshold', 'barrier', 'clusters', 'delta', 'limit', 'split', 'ood', 'bnReset']) };
      return { params: withArch(params, paths[0], args), title: `Basins of ${paths.length === 1 ? basename(paths[0]) : `${paths.length} checkpoints`}` };
    },
  },
  {
    id: 'checkpointLens.cka',
    kind: 'cka',
    async gather(deps, args, first, second) {
      const given = Array.isArray(args.paths) ? args.paths.filter((d): d is string => typeof d === 'string') : [];
      const sel = selection(second);
      const paths = given.length ? given : sel.length >= 2 ? sel.slice(0, 2) : clicked(first) ? [clicked(first)!] : [];
      if (!paths.length) {
        const a = activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'CKA: model A'));
        if (!a) return undefined;
        const b = await pickCheckpoint(deps.context, 'CKA: model B (Escape: A\'s layers against each other)', [a]);
        paths.push(...(b ? [a, b] : [a]));
      }
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      const folder = paths.length === 1 && (await vscode.workspace.fs.stat(vscode.Uri.file(paths[0]))).type === vscode.FileType.Directory;
      const mode = str(args.mode) ?? (folder ? 'run' : paths.length === 2 ? 'pair' : 'self');
      return { params: { paths, data, mode, ...extras(args, ['limit', 'split']) }, title: `CKA ${paths.map((p) => basename(p)).join(' × ')}` };
    },
  },
  {
    id: 'checkpointLens.layerSwaps',
    kind: 'swap',
    async gather(deps, args, first) {
      const a = str(args.a) ?? clicked(first) ?? activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'Layer swaps: checkpoint (residual blocks)'));
      if (!a) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      return { params: withArch({ a, data, ...extras(args, ['window', 'limit', 'split']) }, a, args), title: `Layer swaps ${basename(a)}` };
    },
  },
  {
    id: 'checkpointLens.histogramsOverRun',
    kind: 'histograms',
    async gather(_deps, args, first, second) {
      const given = Array.isArray(args.paths) ? args.paths.filter((d): d is string => typeof d === 'string') : [];
      const sel = selection(second);
      const paths = given.length ? given : sel.length >= 2 ? sel : clicked(first) ? [clicked(first)!] : await pickRunFolders('Distributions over a run: a folder of checkpoints');
      if (!paths?.length) return undefined;
      const tensor = str(args.tensor) ?? (await vscode.window.showInputBox({
        title: 'Tensor (or module prefix, whose tensors are pooled)', placeHolder: 'e.g. layers.0.weight or transformer.h.3', ignoreFocusOut: true,
        validateInput: (v) => (v.trim() ? undefined : 'a tensor name or a module prefix'),
      }))?.trim();
      if (!tensor) return undefined;
      return { params: { paths, tensor, ...extras(args, ['bins']) }, title: `${tensor} over ${paths.length === 1 ? basename(paths[0]) : `${paths.length} checkpoints`}` };
    },
  },
  {
    id: 'checkpointLens.spectra',
    kind: 'spectra',
    async gather(deps, args, first) {
      const a = str(args.a) ?? clicked(first) ?? activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'Weight spectra and data-free diagnostics: checkpoint'));
      if (!a) return undefined;
      return { params: { a, ...extras(args, ['topK']) }, title: `Spectra ${basename(a)}` };
    },
  },
  {
    id: 'checkpointLens.estimateLlc',
    kind: 'llc',
    async gather(deps, args, first) {
      const a = str(args.a) ?? clicked(first) ?? activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'Local learning coefficient: checkpoint'));
      if (!a) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      const given = extras(args, ['epsilon', 'gamma', 'nbeta', 'chains', 'draws', 'burnIn', 'batchSize', 'seed', 'loss', 'split', 'limit']);
      const settings = Object.keys(args).length ? given : await askLlcSettings(deps.context, 'LLC settings (devinterp\'s defaults; calibrate with the sweep)');
      if (!settings) return undefined;
      return { params: withArch({ a, data, ...settings }, a, args), title: `LLC ${basename(a)}` };
    },
  },
  {
    id: 'checkpointLens.llcSweep',
    kind: 'llc-sweep',
    async gather(deps, args, first) {
      const a = str(args.a) ?? clicked(first) ?? activeCheckpoint() ?? (await pickCheckpoint(deps.context, 'LLC calibration sweep: checkpoint'));
      if (!a) return undefined;
      const data = await dataFor(deps, args);
      if (!data) return undefined;
      let grid: Params = extras(args, ['epsilons', 'nbetas', 'gamma', 'chains', 'draws', 'burnIn', 'batchSize', 'seed', 'loss', 'split', 'limit']);
      if (!Object.keys(args).length) {
        const eps = await vscode.window.showInputBox({ title: 'LLC sweep: step sizes ε (comma-separated)', value: '1e-5,1e-4,1e-3,1e-2,1e-1', ignoreFocusOut: true, validateInput: (v) => (v.split(',').every((x) => Number(x) > 0) ? undefined : 'comma-separated numbers > 0') });
        if (eps === undefined) return undefined;
        const rest = await vscode.window.showInputBox({ title: 'LLC sweep: the shared settings (nβ values comma-separated, or auto for ¼, 1, 4 × batch/log batch)', value: 'nbetas=auto gamma=10 chains=4 draws=200 burnIn=200 batchSize=256 seed=0', ignoreFocusOut: true });
        if (rest === undefined) return undefined;
        grid = { epsilons: eps };
        for (const part of rest.trim().split(/\s+/)) {
          const [k, v] = part.split('=');
          if (k === 'nbetas') {
            if (v !== 'auto') grid.nbetas = v;
          } else if (k && v !== undefined && Number.isFinite(Number(v))) grid[k] = Number(v);
        }
      }
      return { params: withArch({ a, data, ...grid }, a, args), title: `LLC sweep ${basename(a)}` };
    },
  },
];

/** Registers the commands of the analyses this build contributes (package.json lists them). */
export function registerAnalysisCommands(deps: AnalysisDeps, contributed: ReadonlySet<string>): vscode.Disposable[] {
  return ANALYSIS_COMMANDS.filter((c) => contributed.has(c.id)).map((c) =>
    vscode.commands.registerCommand(c.id, async (first?: unknown, second?: unknown, third?: unknown) => {
      const g = await c.gather(deps, argsObject(first, second, third), first, second);
      return g ? runInPanel(deps, c.kind, g.params, g.title, { live: g.live }) : undefined;
    }),
  );
}
