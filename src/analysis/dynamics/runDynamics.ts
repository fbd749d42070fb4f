// Training dynamics over the runs of a `runs` report: per checkpoint the conserved quantities
// (layer balances and per-unit δ drift, from weights alone), the lazy-vs-rich measures (relative
// weight change; with data, the activation-pattern change and kernel distance on a fixed probe
// set), the loss and accuracy, and optionally the LLC with the same hyper-parameters at every
// step. The per-checkpoint fields are added to the report's checkpoints, so `runs --json` carries
// them next to the weight drift.
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { RunCheckpoint, RunsReport } from '../compare/trainingRuns';
import { CancelledError } from '../core/errors';
import type { ModelGraph } from '../model/ir';
import type { StateDict } from '../model/stateDict';
import { type PairQuantities, conservationVerdict, layerPairs, pairDrift, pairQuantities } from './conserved';
import { type KernelKind, type ProbeSnapshot, kernelDistance, kernelKindFor, lossAndAccuracy, patternChange, probeSnapshot } from './lazyRich';
import { type LlcHyperparameters, estimateOnTask, resolveHyperparameters } from './llc';
import { type DenseNetSpec, flattenParams } from './mlpNet';
import { GraphNet, flattenGraphParams, graphLossAndAccuracy, graphOutputShape, graphSpec } from './graphNet';
import { initBackend } from '../model/backend';
import { openGraph, tryDense } from './openDense';
import { type LossChoice, type TaskData, loadTaskData } from './taskData';

export interface DynamicsOptions {
  data?: string;
  labels?: string;
  split?: 'train' | 'test';
  loss?: LossChoice;
  /** Examples for the loss (default all). */
  limit?: number;
  /** Probe examples for patterns and kernels: the first `probe` of the data (default 64). */
  probe?: number;
  /** A separate file of probe inputs (its first `probe` examples) instead of the data's. */
  probeData?: string;
  /** Estimate the LLC at every checkpoint with these hyper-parameters (needs data). */
  llc?: Partial<LlcHyperparameters>;
  /** LLC results kept across calls (a watched run): a checkpoint found here is not sampled again. */
  llcCache?: LlcCache;
  /** Only the LLC values in llcCache, none sampled (the final report once watching stops). */
  llcCachedOnly?: boolean;
  archFile?: string;
  threads?: number;
  workerScript?: string;
  /** Largest drift called conserved (default 0.01). */
  tolerance?: number;
}

export interface CheckpointDynamics {
  /** Per adjacent layer pair (see `pairs`): ‖W_ℓ+1‖_F² − (‖W_ℓ‖_F² + ‖b_ℓ‖²). */
  balances: number[];
  /** Per pair: ‖δ(t) − δ(0)‖₂ / ‖(‖w_in,i‖² + b_i² + ‖w_out,i‖²)(0)‖₂. */
  unitBalanceDrift: number[];
  /** Per linear pair (identity between, no bias): drift of W_ℓW_ℓᵀ − W_ℓ+1ᵀW_ℓ+1, else null. */
  matrixDrift: (number | null)[];
  /** Per weight layer (see `layers`): ‖W(t) − W(0)‖_F / ‖W(0)‖_F. */
  relativeChange: number[];
  patternChange?: number;
  kernelDistance?: number;
  loss?: number;
  accuracy?: number;
  llc?: { mean: number; std: number; perChain: (number | null)[] };
}

/** LLC results by checkpoint (see checkpointKey), with the warnings worth repeating. */
export type LlcCache = Map<string, { llc: NonNullable<CheckpointDynamics['llc']>; warnings: string[] }>;

/** A checkpoint file's cache key: its path, size and modification time. */
export async function checkpointKey(path: string): Promise<string> {
  const s = await stat(path);
  return `${path}|${s.size}|${s.mtimeMs}`;
}

export interface RunDynamics {
  run: string;
  pairs: { layer: string; next: string; units: number }[];
  layers: string[];
  checkpoints: (CheckpointDynamics & { step: number; file: string })[];
  maxDrift: number;
  conserved: boolean;
  verdict: string;
}

export interface DynamicsReport {
  runs: RunDynamics[];
  kernel?: KernelKind;
  probe?: number;
  data?: string;
  loss?: 'cross_entropy' | 'mse';
  llcHyperparameters?: LlcHyperparameters;
  bias: string;
  warnings: string[];
  seconds: number;
}

export interface DynamicsContext {
  isCancelled?: () => boolean;
  onProgress?: (fraction: number, message?: string) => void;
  log?: (m: string) => void;
}

export const BIAS_CONVENTION = "layer ℓ's bias counts with layer ℓ (b_i joins unit i's incoming weights); layer ℓ+1's bias does not enter";

function weightLayers(graph: ModelGraph): { id: string; weight: string }[] {
  return graph.nodes.flatMap((n) => (n.op === 'linear' || n.op === 'conv2d' ? [{ id: n.id, weight: n.weight }] : []));
}

function relChange(sd: StateDict, first: StateDict, name: string): number {
  const a = sd.get(name)!.values;
  const b = first.get(name)!.values;
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] * b[i];
  }
  return n > 0 ? Math.sqrt(d / n) : NaN;
}

/** Computes the dynamics of every run of `report` (checkpoints in step order). */
export async function runDynamics(report: RunsReport, opts: DynamicsOptions = {}, ctx: DynamicsContext = {}): Promise<DynamicsReport> {
  const t0 = performance.now();
  const warnings: string[] = [];
  const total = report.runs.reduce((n, r) => n + r.checkpoints.length, 0);
  let done = 0;
  let data: TaskData | undefined;
  let probe: { x: Float64Array; B: number } | undefined;
  let kernel: KernelKind | undefined;
  let llcH: LlcHyperparameters | undefined;
  const out: RunDynamics[] = [];
  for (const run of report.runs) {
    let first: { sd: StateDict; q: PairQuantities[]; snap?: ProbeSnapshot } | undefined;
    let graph: ModelGraph | undefined;
    let spec: DenseNetSpec | undefined;
    let pairs: ReturnType<typeof layerPairs> = [];
    let layers: { id: string; weight: string }[] = [];
    const rows: RunDynamics['checkpoints'] = [];
    for (const c of run.checkpoints) {
      if (ctx.isCancelled?.()) throw new CancelledError();
      ctx.onProgress?.(done / total, `${run.name}: step ${c.step}`);
      const path = isAbsolute(c.file) ? c.file : join(run.dir, c.file);
      const g = await openGraph(path, { archFile: opts.archFile, isCancelled: ctx.isCancelled });
      if (!graph) {
        graph = g.graph;
        pairs = layerPairs(graph);
        layers = weightLayers(graph);
        spec = tryDense(graph);
        if (!spec && opts.data) warnings.push(`${run.name}: activation patterns and kernels are computed for MLPs only (this is a ${graph.family} network); the loss${opts.llc ? ' and the LLC' : ''} are computed`);
        if (opts.data && !data) {
          const outputs = graphOutputShape(graph, graph.input.shape);
          data = await loadTaskData(opts.data, graph, spec ?? { outputSize: outputs[outputs.length - 1] }, { labels: opts.labels, split: opts.split, loss: opts.loss, limit: opts.limit });
          if (spec) {
            const from = opts.probeData ? await loadTaskData(opts.probeData, graph, spec, { loss: 'cross_entropy' }) : data;
            const B = Math.min(opts.probe ?? 64, from.n);
            probe = { x: Float64Array.from(from.x.subarray(0, B * from.inputSize)), B };
            kernel = kernelKindFor(spec, B);
          } else await initBackend();
          if (opts.llc) llcH = resolveHyperparameters(opts.llc, data.n);
        }
      }
      const q = pairs.map((p) => pairQuantities(p, g.stateDict));
      const w = spec ? flattenParams(spec, g.stateDict) : undefined;
      const snap = spec && probe && w ? probeSnapshot(spec, w, probe.x, probe.B, kernel) : undefined;
      if (!first) first = { sd: g.stateDict, q, snap };
      const drifts = q.map((x, i) => pairDrift(x, first!.q[i]));
      const row: CheckpointDynamics & { step: number; file: string } = {
        step: c.step,
        file: c.file,
        balances: q.map((x) => x.balance),
        unitBalanceDrift: drifts.map((d) => d.unitDrift),
        matrixDrift: drifts.map((d) => d.matrixDrift ?? null),
        relativeChange: layers.map((l) => relChange(g.stateDict, first!.sd, l.weight)),
      };
      if (snap && first.snap) {
        row.patternChange = patternChange(snap.pattern, first.snap.pattern);
        row.kernelDistance = kernelDistance(snap.kernel, first.snap.kernel);
      }
      // A graph net's spec per checkpoint: its BatchNorm running statistics change with the weights.
      const gspec = !spec && data ? graphSpec(graph!, g.stateDict, data.exampleShape) : undefined;
      const net = spec ? { spec, w } : gspec ? { spec: gspec, w: flattenGraphParams(gspec, g.stateDict) } : undefined;
      if (net && net.w && data) {
        let la: { loss: number; accuracy?: number };
        if (gspec) {
          const eval_ = new GraphNet(gspec, net.w, false);
          try {
            la = graphLossAndAccuracy(eval_, net.w, data);
          } finally {
            eval_.dispose();
          }
        } else la = lossAndAccuracy(spec!, net.w, data.x, data.y, data.n, data.loss === 'mse');
        row.loss = la.loss;
        if (la.accuracy !== undefined) row.accuracy = la.accuracy;
        if (llcH) {
          const key = opts.llcCache ? await checkpointKey(path) : undefined;
          let kept = key !== undefined ? opts.llcCache!.get(key) : undefined;
          if (!kept && !opts.llcCachedOnly) {
            const r = await estimateOnTask({ spec: net.spec, wStar: net.w, data, family: graph!.family }, llcH, {
              isCancelled: ctx.isCancelled,
              threads: opts.threads,
              workerScript: opts.workerScript,
              onProgress: (p) => ctx.onProgress?.((done + p.done / p.chains) / total, `${run.name}: LLC at step ${c.step}, ${p.done}/${p.chains} chains`),
            });
            kept = { llc: r.llc, warnings: r.warnings.filter((wn) => /diverged|negative/.test(wn)) };
            ctx.log?.(`${run.name}: LLC at step ${c.step} = ${r.llc.mean.toPrecision(4)} ± ${r.llc.std.toPrecision(2)} (${r.seconds.toFixed(1)} s)`);
            if (key !== undefined) opts.llcCache!.set(key, kept);
          }
          if (kept) {
            row.llc = kept.llc;
            for (const wn of kept.warnings) warnings.push(`${run.name} step ${c.step}: ${wn}`);
          }
        }
      }
      rows.push(row);
      Object.assign(c as RunCheckpoint & Partial<CheckpointDynamics>, Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'step' && k !== 'file')));
      done++;
    }
    const maxDrift = Math.max(0, ...rows.flatMap((r) => r.unitBalanceDrift));
    const v = conservationVerdict(maxDrift, opts.tolerance);
    out.push({ run: run.name, pairs: pairs.map((p) => ({ layer: p.layer, next: p.next, units: p.units })), layers: layers.map((l) => l.id), checkpoints: rows, maxDrift, conserved: v.conserved, verdict: v.text });
  }
  ctx.onProgress?.(1);
  return { runs: out, kernel, probe: probe?.B, data: data?.name, loss: data?.loss, llcHyperparameters: llcH, bias: BIAS_CONVENTION, warnings, seconds: (performance.now() - t0) / 1000 };
}
