// CKA between networks' capture points (every block output and the logits; methods.md §9):
//   pair  — A's points × B's points (any two architectures that take the same inputs),
//   self  — one model's points against each other,
//   run   — each checkpoint of a training run against the final checkpoint, point by point.
// One pass over the data in minibatches: each model runs once per batch and the streaming
// moments (ckaMoments.ts) of every pair of feature matrices are updated, so memory is bounded by
// the feature widths, not the number of examples. A capture point's features are flattened per
// example (C·H·W for convolutions, T·D for token sequences), as Kornblith et al. compare them.
import { basename } from 'node:path';
import { CancelledError } from '../core/errors';
import { type Dataset, loadDataset, subset } from '../data/dataset';
import { batches, planInputs } from '../data/inputs';
import { stepFromName } from '../compare/runFiles';
import { currentBackend } from '../model/backend';
import type { Model } from '../model/execute';
import { capturePoints } from '../model/ir';
import { openModel } from '../model/openModel';
import type { AnalysisContext } from '../report/analysisView';
import { expandCheckpointSet, setNames } from './basinPaths';
import { type CkaValue, CrossMoments, ckaFromMoments } from './ckaMoments';

export const DEFAULT_CKA_LIMIT = 2000;
/** f64 moments held at once (≈ 2 GB); more means too many or too wide capture points. */
const MAX_MOMENT_ENTRIES = 2.5e8;

export type CkaMode = 'pair' | 'self' | 'run';

export interface CkaOptions {
  /** pair: [A, B]; self: [A]; run: a folder (or files) of one run, the last by step is the reference. */
  paths: string[];
  mode?: CkaMode;
  data: string;
  labels?: string;
  split?: 'train' | 'test';
  /** Examples (default 2000). */
  limit?: number;
  batchSize?: number;
  arch?: string;
  archB?: string;
}

export const CKA_DEFINITIONS = {
  linear: 'linear CKA = ‖YcᵀXc‖²_F / (‖XcᵀXc‖_F·‖YcᵀYc‖_F), features centred over the examples (Kornblith et al. 2019)',
  debiased: 'debiased CKA: the same ratio with the unbiased HSIC estimator (Song et al. 2012; Kornblith feature_space_linear_cka(debiased=True)); ≈ 0 for independent features at any n',
} as const;

export interface CkaReport {
  kind: 'cka';
  complete: true;
  mode: CkaMode;
  /** Row labels: A's capture points (pair, self) or the run's checkpoints (run). */
  a: string[];
  /** Column labels: B's capture points (pair), A's again (self), the capture points (run). */
  b: string[];
  linear: (number | null)[][];
  debiased: (number | null)[][];
  models: { name: string; path: string; description: string }[];
  /** run: the steps of the checkpoints (from their names), when found. */
  steps?: (number | null)[];
  /** run: the reference checkpoint. */
  reference?: string;
  features: Record<string, number>;
  data: string;
  n: number;
  definitions: typeof CKA_DEFINITIONS;
  backend: string;
  seconds: number;
}

interface Loaded {
  name: string;
  path: string;
  model: Model;
  points: { name: string; size: number }[];
  description: string;
}

async function load(path: string, name: string, data: Dataset, arch: string | undefined): Promise<Loaded> {
  const m = await openModel(path, { archFile: arch, inputHint: data.x.shape.slice(1) });
  const plan = planInputs(data, m.graph);
  const points = capturePoints(m.graph, plan.exampleShape).map((c) => ({ name: c.name, size: c.shape.reduce((s, v) => s * v, 1) }));
  return { name, path, model: m.model, points, description: m.graph.description };
}

/** Which feature pairs each cell needs: (model, point) × (model, point). */
interface Cell {
  row: number;
  col: number;
  x: [number, number];
  y: [number, number];
}

export async function runCka(opts: CkaOptions, ctx: AnalysisContext = {}): Promise<CkaReport> {
  const t0 = performance.now();
  const mode = opts.mode ?? (opts.paths.length === 1 ? 'self' : 'pair');
  const all = await loadDataset(opts.data, { labels: opts.labels, split: opts.split });
  const limit = opts.limit ?? DEFAULT_CKA_LIMIT;
  const data = limit < all.n ? subset(all, 0, limit) : all;
  let paths = mode === 'run' ? await expandCheckpointSet(opts.paths) : opts.paths;
  if (mode === 'pair' && paths.length !== 2) throw new Error('CKA between two models takes two checkpoints, A and B');
  if (mode === 'self' && paths.length !== 1) throw new Error('CKA within one model takes one checkpoint');
  if (mode === 'run') {
    if (paths.length < 2) throw new Error(`CKA over a run needs at least two checkpoints (got ${paths.length})`);
    const steps = paths.map((p) => stepFromName(p)?.step);
    if (steps.every((s) => s !== undefined)) paths = paths.map((p, i) => [p, steps[i]!] as const).sort((u, v) => u[1] - v[1]).map(([p]) => p);
  }
  const names = setNames(paths);
  const models: Loaded[] = [];
  try {
    for (const [i, p] of paths.entries()) {
      if (ctx.isCancelled?.()) throw new CancelledError();
      ctx.onProgress?.(0, `opening ${basename(p)}`);
      models.push(await load(p, names[i], data, mode === 'pair' && i === 1 ? opts.archB ?? opts.arch : opts.arch));
    }
    // The cells of the matrix and the distinct moment pairs they need.
    const cells: Cell[] = [];
    let rows: string[], cols: string[];
    if (mode === 'run') {
      const ref = models.length - 1;
      const pts = models[ref].points;
      for (const m of models) if (m.points.map((p) => `${p.name}:${p.size}`).join() !== pts.map((p) => `${p.name}:${p.size}`).join()) throw new Error(`${m.path}: not the architecture of ${models[ref].path}`);
      rows = names;
      cols = pts.map((p) => p.name);
      models.forEach((_, t) => pts.forEach((_, l) => cells.push({ row: t, col: l, x: [t, l], y: [ref, l] })));
    } else {
      const A = models[0], B = models[mode === 'pair' ? 1 : 0];
      rows = A.points.map((p) => p.name);
      cols = B.points.map((p) => p.name);
      rows.forEach((_, i) => cols.forEach((_, j) => cells.push({ row: i, col: j, x: [0, i], y: [mode === 'pair' ? 1 : 0, j] })));
    }
    const key = (u: [number, number], v: [number, number]): string => `${u[0]}.${u[1]}|${v[0]}.${v[1]}`;
    const moments = new Map<string, { x: [number, number]; y: [number, number]; m: CrossMoments }>();
    const size = (u: [number, number]): number => models[u[0]].points[u[1]].size;
    const need = (u: [number, number], v: [number, number]): void => {
      if (!moments.has(key(u, v))) moments.set(key(u, v), { x: u, y: v, m: new CrossMoments(size(u), size(v)) });
    };
    for (const c of cells) {
      need(c.x, c.y);
      need(c.x, c.x);
      need(c.y, c.y);
    }
    const entries = [...moments.values()].reduce((s, e) => s + e.m.p * e.m.q, 0);
    if (entries > MAX_MOMENT_ENTRIES) throw new Error(`CKA over these capture points needs ${(entries * 8 / 2 ** 30).toFixed(1)} GB of moments: compare fewer or narrower layers`);
    const used = new Set([...moments.values()].flatMap((e) => [e.x[0], e.y[0]]));
    const plan = planInputs(data, models[0].model.graph);
    let done = 0;
    for (const batch of batches(data, plan, { batchSize: opts.batchSize ?? 256 })) {
      try {
        if (ctx.isCancelled?.()) throw new CancelledError();
        const feats = new Map<number, Float32Array[]>();
        for (const mi of used) {
          const m = models[mi];
          const { output, features } = m.model.forward(batch.x, { capture: m.points.map((p) => p.name) });
          feats.set(mi, m.points.map((p) => features[p.name].dataSync() as Float32Array));
          for (const t of [output, ...Object.values(features)]) if (!t.isDisposed) t.dispose();
        }
        const rowsIn = batch.end - batch.start;
        for (const e of moments.values()) e.m.add(feats.get(e.x[0])![e.x[1]], feats.get(e.y[0])![e.y[1]], rowsIn);
        done += rowsIn;
        ctx.onProgress?.(done / data.n, `features of ${done} / ${data.n} examples`);
      } finally {
        batch.x.dispose();
        batch.y?.dispose();
      }
    }
    const linear = rows.map(() => cols.map((): number | null => null));
    const deb = rows.map(() => cols.map((): number | null => null));
    for (const c of cells) {
      const v: CkaValue = ckaFromMoments(moments.get(key(c.x, c.y))!.m, moments.get(key(c.x, c.x))!.m, moments.get(key(c.y, c.y))!.m);
      linear[c.row][c.col] = v.linear;
      deb[c.row][c.col] = v.debiased;
    }
    const features: Record<string, number> = {};
    for (const m of models) for (const p of m.points) features[mode === 'pair' ? `${m.name}:${p.name}` : p.name] = p.size;
    return {
      kind: 'cka', complete: true, mode, a: rows, b: cols, linear, debiased: deb,
      models: models.map((m) => ({ name: m.name, path: m.path, description: m.description })),
      steps: mode === 'run' ? paths.map((p) => stepFromName(p)?.step ?? null) : undefined,
      reference: mode === 'run' ? names[names.length - 1] : undefined,
      features, data: data.name, n: data.n, definitions: CKA_DEFINITIONS,
      backend: currentBackend()?.name ?? 'unknown', seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    for (const m of models) m.model.dispose();
  }
}
