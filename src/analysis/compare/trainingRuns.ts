// `runs`: how every weight matrix moves over training, within and across runs. Per run and
// checkpoint (ordered by step): ‖W_t‖, ‖W_t − W_first‖, ‖W_t − W_prev‖; between each other run and
// the reference run (the first) at equal steps: ‖W^ref_t − W^run_t‖ and their cosine, naive and,
// when the model is recognised, after aligning the run's units onto the reference's.
//
// Memory and I/O: each checkpoint file is opened and read exactly once. A RunsTracker keeps per
// run the first and the last checkpoint's weight matrices (decoded, as stored: f32 stays f32) and
// small per-checkpoint summaries; nothing else. The batch analysis feeds it checkpoints in step
// order across runs, so runs at equal steps meet while both are each run's "last"; the live
// RunsWatcher feeds it new files as they appear (see runsWatcher.ts).
import { basename } from 'node:path';
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import type { Decoded } from '../core/dtype';
import { CancelledError, CheckpointError } from '../core/errors';
import { checkSameArchitecture } from '../align/alignCheckpoint';
import { permutationSpec } from '../align/permutationSpec';
import type { BackendChoice } from '../model/backend';
import { type ModelGraph, checkpointName, tensorShapes } from '../model/ir';
import { type StateDict, loadStateDict } from '../model/stateDict';
import { openCheckpoint } from '../open';
import type { AnalysisContext } from '../report/analysisView';
import { isWeightMatrix } from '../spectra/layerOrder';
import { arrayPairMetrics, movement } from './pairMetrics';
import { readValues } from './readValues';
import { type StepInfo, type StepSource, checkpointStep, expandRunPaths, listRunFolder, runNames } from './runFiles';
import { alignLoaded, ensureBackend, recognizedGraph } from './stateDictAlign';
import { topSingularValues } from '../spectra/svd';

export interface RunsOptions {
  /** Run folders, or glob patterns of folders (`runs/seed*`). The first run is the reference. */
  paths: string[];
  /** Cross-run alignment: auto (default) when the model is recognised and no permutation group exceeds alignMaxUnits; on; off. */
  align?: 'auto' | 'on' | 'off';
  alignMaxUnits?: number;
  archFile?: string;
  seed?: number;
  maxIter?: number;
  backend?: BackendChoice;
}

export interface RunCheckpoint {
  file: string;
  step: number;
  stepSource: StepSource;
}

export interface RunSummary {
  name: string;
  dir: string;
  checkpoints: RunCheckpoint[];
  /** Files left out: unreadable (truncated, not a checkpoint) or without a step. */
  skipped: { file: string; reason: string }[];
}

export interface LayerPoint {
  run: string;
  step: number;
  layer: string;
  norm: number;
  /** ‖W_t − W_first‖ (the run's first checkpoint read). */
  distFromFirst: number;
  /** ‖W_t − W_prev‖; null at the first checkpoint and for checkpoints that arrived out of order. */
  update: number | null;
  /** update / ‖W_prev‖. */
  relUpdate: number | null;
  /** σ₁ of W as out × in·k·k (exact top singular value); null above SPECTRAL_MAX_DIM. */
  spectralNorm: number | null;
  /** Stable rank ‖W‖_F² / σ₁²; null where spectralNorm is. */
  stableRank: number | null;
}

/**
 * Data-free diagnostics over training: σ₁ (Lanczos, converged to 1e-9) for matrices whose
 * shorter side is at most this; larger ones would cost more than reading the checkpoint.
 */
export const SPECTRAL_MAX_DIM = 1024;

/** σ₁ of a weight stored as [out, …] viewed as out × (in·k·k); null when too large. */
function spectralNorm(values: Decoded, shape: readonly number[] | undefined): number | null {
  if (!shape || shape.length < 2) return null;
  const rows = shape[0];
  const cols = values.length / rows;
  if (Math.min(rows, cols) > SPECTRAL_MAX_DIM) return null;
  const r = topSingularValues({ rows, cols, values }, 1);
  return r.converged ? r.values[0] : null;
}

export interface CrossPoint {
  /** The reference run and the compared run. */
  runA: string;
  runB: string;
  step: number;
  layer: string;
  distance: number;
  cosine: number | null;
  /** After aligning run B's units onto run A's at this step (null when not aligned). */
  alignedDistance: number | null;
  alignedCosine: number | null;
}

export interface RunsReport {
  kind: 'runs';
  runs: RunSummary[];
  /** Weight matrices followed (names below the state-dict prefix), in the first checkpoint's order. */
  layers: string[];
  points: LayerPoint[];
  cross: CrossPoint[];
  /** The recognised model, or null. */
  model: string | null;
  /** Whether cross-run figures include aligned ones. */
  aligned: boolean;
  warnings: string[];
  seconds: number;
  complete: boolean;
}

interface Snapshot {
  step: number;
  layers: Map<string, Decoded>;
  /** Stored shape of each layer's weight. */
  shapes: Map<string, number[]>;
  /** The model's state dict, kept only when runs are aligned. */
  stateDict?: StateDict;
}

interface RunState {
  summary: RunSummary;
  first?: Snapshot;
  last?: Snapshot;
  graph?: ModelGraph;
  stateDictPrefix?: string;
}

export interface Pending {
  run: number;
  path: string;
  ckpt: Checkpoint;
  step: StepInfo;
}

const localName = (t: TensorInfo, prefix: string): string => (prefix && t.name.startsWith(prefix + '.') ? t.name.slice(prefix.length + 1) : t.name);

/** Accumulates the runs report one checkpoint at a time (used by runRuns and RunsWatcher). */
export class RunsTracker {
  readonly report: RunsReport;
  private readonly runs: RunState[];
  private alignMode: 'auto' | 'on' | 'off';
  private alignDecided = false;
  private readonly t0 = performance.now();

  constructor(dirs: string[], private readonly opts: RunsOptions, private readonly ctx: AnalysisContext = {}) {
    const names = runNames(dirs);
    this.runs = dirs.map((dir, i) => ({ summary: { name: names[i], dir, checkpoints: [], skipped: [] } }));
    this.alignMode = opts.align ?? 'auto';
    this.report = { kind: 'runs', runs: this.runs.map((r) => r.summary), layers: [], points: [], cross: [], model: null, aligned: false, warnings: [], seconds: 0, complete: false };
  }

  get runCount(): number {
    return this.runs.length;
  }

  skip(run: number, path: string, reason: string): void {
    this.runs[run].summary.skipped.push({ file: basename(path), reason });
    this.report.warnings.push(`${path}: skipped (${reason})`);
  }

  /** Opens a candidate file and finds its step; unreadable files and files without a step are skipped with a warning. */
  async prepare(run: number, path: string, open: (p: string) => Promise<Checkpoint>): Promise<Pending | undefined> {
    let ckpt: Checkpoint;
    try {
      ckpt = await open(path);
    } catch (e) {
      this.skip(run, path, e instanceof CheckpointError ? e.problem : (e as Error).message);
      return undefined;
    }
    const step = checkpointStep(ckpt, path);
    if (!step) {
      await ckpt.close();
      this.skip(run, path, 'no step in its values, metadata or name');
      return undefined;
    }
    return { run, path, ckpt, step };
  }

  /** Reads one checkpoint (closing it) and adds its figures. */
  async add(p: Pending): Promise<void> {
    const st = this.runs[p.run];
    try {
      if (st.summary.checkpoints.some((c) => c.step === p.step.step)) {
        this.skip(p.run, p.path, `step ${p.step.step} is already in this run`);
        return;
      }
      if (!this.alignDecided) await this.decideAlignment(p.ckpt);
      let snap: Snapshot;
      try {
        snap = await this.readSnapshot(st, p);
      } catch (e) {
        if (e instanceof CancelledError) throw e;
        this.skip(p.run, p.path, e instanceof CheckpointError ? e.problem : (e as Error).message);
        return;
      }
      st.summary.checkpoints.push({ file: basename(p.path), step: p.step.step, stepSource: p.step.source });
      // A file skipped earlier (caught mid-write) that now reads is no longer skipped.
      const was = st.summary.skipped.findIndex((s) => s.file === basename(p.path));
      if (was >= 0) st.summary.skipped.splice(was, 1);
      const inOrder = !st.last || p.step.step > st.last.step;
      if (!inOrder) this.report.warnings.push(`${p.path}: step ${p.step.step} arrived after step ${st.last!.step}; its update size is not measured`);
      if (!st.first) st.first = snap;
      for (const layer of this.report.layers) {
        const w = snap.layers.get(layer);
        if (!w) continue;
        const f = st.first.layers.get(layer);
        const prev = inOrder ? st.last?.layers.get(layer) : undefined;
        const m = movement(w, f && f.length === w.length ? f : w, prev && prev.length === w.length ? prev : undefined);
        const sigma = spectralNorm(w, snap.shapes.get(layer));
        this.report.points.push({
          run: st.summary.name, step: p.step.step, layer,
          norm: m.norm,
          distFromFirst: m.fromFirst,
          update: m.update,
          relUpdate: m.update !== null && m.prevNorm ? m.update / m.prevNorm : null,
          spectralNorm: sigma,
          stableRank: sigma ? (m.norm * m.norm) / (sigma * sigma) : null,
        });
      }
      await this.crossRun(p.run, snap);
      if (inOrder) st.last = snap;
      this.report.seconds = (performance.now() - this.t0) / 1000;
    } finally {
      await p.ckpt.close();
    }
  }

  /** Runs at this step whose last checkpoint is at the same step are compared with this one. */
  private async crossRun(run: number, snap: Snapshot): Promise<void> {
    for (let q = 0; q < this.runs.length; q++) {
      if (q === run) continue;
      // Every run is compared with the reference (run 0).
      if (q !== 0 && run !== 0) continue;
      const other = this.runs[q].last;
      if (!other || other.step !== snap.step) continue;
      const [ra, a, rb, b] = q < run ? [q, other, run, snap] : [run, snap, q, other];
      let aligned: StateDict | undefined;
      let alignedA: StateDict | undefined;
      const graphA = this.runs[ra].graph;
      if (this.report.aligned && a.stateDict && b.stateDict && graphA) {
        if (this.ctx.isCancelled?.()) throw new CancelledError();
        aligned = (await alignLoaded(graphA, a.stateDict, b.stateDict, { seed: this.opts.seed, maxIter: this.opts.maxIter, isCancelled: this.ctx.isCancelled })).aligned;
        alignedA = a.stateDict;
      }
      const graphLocal = graphA ? new Map([...tensorShapes(graphA).keys()].map((n) => [this.layerName(graphA, n, this.runs[ra]), n])) : undefined;
      for (const layer of this.report.layers) {
        const x = a.layers.get(layer), y = b.layers.get(layer);
        if (!x || !y || x.length !== y.length) continue;
        const m = arrayPairMetrics(x, y);
        const g = graphLocal?.get(layer);
        const am = aligned && alignedA && g && aligned.get(g) && alignedA.get(g) ? arrayPairMetrics(alignedA.get(g)!.values, aligned.get(g)!.values) : undefined;
        this.report.cross.push({
          runA: this.runs[ra].summary.name, runB: this.runs[rb].summary.name, step: snap.step, layer,
          distance: m.distance, cosine: m.cosine,
          alignedDistance: am ? am.distance : null, alignedCosine: am ? am.cosine : null,
        });
      }
    }
  }

  /** A graph tensor's layer name: its stored name below the run's state-dict prefix. */
  private layerName(graph: ModelGraph, local: string, st: RunState): string {
    const stored = checkpointName(graph, local);
    const prefix = st.stateDictPrefix ?? '';
    return prefix && stored.startsWith(prefix + '.') ? stored.slice(prefix.length + 1) : stored;
  }

  private async decideAlignment(first: Checkpoint): Promise<void> {
    this.alignDecided = true;
    if (this.alignMode === 'off' || this.runs.length < 2) return;
    let graph: ModelGraph;
    try {
      graph = await recognizedGraph(first, this.opts.archFile);
    } catch (e) {
      if (this.alignMode === 'on') throw e;
      this.report.warnings.push(`runs are compared without alignment: ${(e as Error).message}`);
      return;
    }
    this.report.model = graph.description;
    const largest = Math.max(0, ...permutationSpec(graph).groups.map((g) => g.size));
    const limit = this.opts.alignMaxUnits ?? 512;
    if (this.alignMode === 'auto' && largest > limit) {
      this.report.warnings.push(`runs are compared without alignment: its largest layer has ${largest} units (auto alignment up to ${limit}; align: 'on' forces it)`);
      return;
    }
    await ensureBackend({ backend: this.opts.backend, wasmDir: this.ctx.wasmDir }, this.ctx.log);
    this.report.aligned = true;
  }

  private async readSnapshot(st: RunState, p: Pending): Promise<Snapshot> {
    const ckpt = p.ckpt;
    const weights = ckpt.tensors.filter(isWeightMatrix);
    if (!this.report.layers.length) {
      const seen = new Set<string>();
      for (const t of weights) {
        const n = localName(t, ckpt.stateDictPrefix);
        if (!seen.has(n)) this.report.layers.push(n);
        seen.add(n);
      }
      if (!this.report.layers.length) throw new CheckpointError(ckpt.path, 'has no weight matrices (floating tensors of 2 or more dimensions)');
    }
    const wanted = new Set(this.report.layers);
    const snap: Snapshot = { step: p.step.step, layers: new Map(), shapes: new Map() };
    if (this.report.aligned) {
      // Each run's own graph (prefixes may differ between runs), checked against the reference's.
      if (!st.graph) {
        st.graph = await recognizedGraph(ckpt, this.opts.archFile);
        st.stateDictPrefix = ckpt.stateDictPrefix;
        const ref = this.runs[0].graph;
        if (ref && ref !== st.graph) checkSameArchitecture(ref, st.graph, this.runs[0].summary.dir, ckpt.path);
      }
      snap.stateDict = await loadStateDict(ckpt, st.graph, { isCancelled: this.ctx.isCancelled });
      for (const [local, v] of snap.stateDict) {
        const name = this.layerName(st.graph, local, st);
        if (wanted.has(name)) {
          snap.layers.set(name, v.values);
          snap.shapes.set(name, v.shape);
        }
      }
    }
    for (const t of weights) {
      const name = localName(t, ckpt.stateDictPrefix);
      if (!wanted.has(name) || snap.layers.has(name)) continue;
      if (this.ctx.isCancelled?.()) throw new CancelledError();
      snap.layers.set(name, await readValues(t, this.ctx.isCancelled));
      snap.shapes.set(name, t.shape);
    }
    return snap;
  }

  /** A copy of the report as it stands (for onPartial and watchers' listeners). */
  snapshot(complete = false): RunsReport {
    this.report.seconds = (performance.now() - this.t0) / 1000;
    return {
      ...this.report,
      runs: this.report.runs.map((r) => ({ ...r, checkpoints: [...r.checkpoints].sort((a, b) => a.step - b.step), skipped: [...r.skipped] })),
      layers: [...this.report.layers],
      points: [...this.report.points],
      cross: [...this.report.cross],
      warnings: [...this.report.warnings],
      complete,
    };
  }
}

/** Adds prepared checkpoints in step order (ties: run order), so equal steps of runs meet. */
export async function addInStepOrder(tracker: RunsTracker, pending: Pending[], ctx: AnalysisContext, onEach?: () => void): Promise<void> {
  pending.sort((a, b) => a.step.step - b.step.step || a.run - b.run);
  for (const [i, p] of pending.entries()) {
    if (ctx.isCancelled?.()) {
      await Promise.all(pending.slice(i).map((q) => q.ckpt.close()));
      throw new CancelledError();
    }
    ctx.onProgress?.(i / pending.length, `${basename(p.path)} (step ${p.step.step})`);
    await tracker.add(p);
    onEach?.();
  }
}

export async function runRuns(opts: RunsOptions, ctx: AnalysisContext = {}): Promise<RunsReport> {
  const dirs = await expandRunPaths(opts.paths);
  if (!dirs.length) throw new Error('no run folders given');
  const tracker = new RunsTracker(dirs, opts, ctx);
  const pending: Pending[] = [];
  for (const [i, dir] of dirs.entries()) {
    for (const path of await listRunFolder(dir)) {
      const p = await tracker.prepare(i, path, openCheckpoint);
      if (p) pending.push(p);
    }
  }
  await addInStepOrder(tracker, pending, ctx, () => ctx.onPartial?.(tracker.snapshot()));
  ctx.onProgress?.(1);
  return tracker.snapshot(true);
}
