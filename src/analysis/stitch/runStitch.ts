// Model stitching (issue #7; Bansal, Nakkiran & Barak 2021; Csiszárik et al. 2021): for every
// stitch point (block boundary) the network made of A's layers up to the point, a trained
// stitching layer, and B's layers after it. Reported per point: the stitched network's loss and
// accuracy on test data, and the stitching penalty against B (the top model) — in test error,
// err(stitched) − err(B) = acc(B) − acc(stitched), positive when stitching costs accuracy — plus
// the loss penalty loss(stitched) − loss(B). The control stitches a randomly initialised copy of
// A's architecture to B the same way. With `both`, B → A as well.
import { CheckpointError } from '../core/errors';
import { type Dataset, type Split, loadDataset } from '../data/dataset';
import { type InputPlan, planInputs } from '../data/inputs';
import type { AnalysisContext } from '../report/analysisView';
import { evaluate } from '../model/evaluate';
import { type Model, TfjsModel, createModel } from '../model/execute';
import { type CapturePoint, stitchPoints } from '../model/ir';
import { type OpenedModel, openModel } from '../model/openModel';
import { randomStateDict } from './randomInit';
import { type StitchInit, StitchLayer } from './stitchLayer';
import { evaluateStitched, trainStitch } from './trainStitch';

export interface StitchOptions {
  /** Bottom checkpoint (its layers up to the stitch point). */
  a: string;
  /** Top checkpoint (its layers after the point). */
  b: string;
  /** Test data: the penalties are measured here. */
  data: string;
  /** Training data for the stitching layers (default: the train split of an MNIST folder, else data). */
  trainData?: string;
  labels?: string;
  split?: Split;
  archA?: string;
  archB?: string;
  /** Epochs over the training subset (default 1; 0 evaluates the initial stitch). */
  epochs?: number;
  /** Training examples used (the first N; default all). */
  trainLimit?: number;
  /** Test examples used (the first N; default all). */
  limit?: number;
  batchSize?: number;
  /** Adam learning rate before cosine decay (default 1e-3). */
  lr?: number;
  seed?: number;
  /** Stitching-layer initialisation (default random). */
  init?: StitchInit;
  /** Also stitch B's bottom to A's top. */
  both?: boolean;
  /** Train the random-bottom control too (default true). */
  control?: boolean;
  /** Only these stitch points (default all). */
  points?: string[];
}

export interface Metrics {
  loss: number;
  accuracy: number;
}

export interface StitchPointResult extends Metrics {
  /** Stitch point of the bottom model (and the top's, when the names differ: `to`). */
  name: string;
  to: string;
  /** Position among the stitch points, 0 (first) … 1 (last). */
  depth: number;
  /** Per-example feature shape at the point (PyTorch layout). */
  shape: number[];
  /** err(stitched) − err(top) = acc(top) − acc(stitched). */
  penalty: number;
  accuracyPenalty: number;
  /** loss(stitched) − loss(top). */
  lossPenalty: number;
  trainLoss: number | null;
  steps: number;
  seconds: number;
}

export interface StitchDirection {
  /** "A→B" or "B→A". */
  label: string;
  bottom: string;
  top: string;
  /** The top model's own metrics, what penalties are relative to. */
  topBaseline: Metrics;
  points: StitchPointResult[];
  /** Random-bottom control at the same points; null when not run. */
  control: StitchPointResult[] | null;
}

export interface StitchReport {
  a: string;
  b: string;
  description: string;
  data: string;
  n: number;
  trainData: string;
  trainExamples: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  init: StitchInit;
  baselines: { a: Metrics; b: Metrics };
  /** A→B, as a flat list (the CLI's "points"). */
  points: StitchPointResult[];
  /** A→B random-bottom control: {points}; null when not run. */
  control: { points: StitchPointResult[] } | null;
  /** Every direction run: A→B, then B→A with `both`. */
  directions: StitchDirection[];
  notes: string[];
  seconds: number;
}

export type StitchPartial = Omit<StitchReport, 'seconds'>;

const DEFAULTS = { epochs: 1, batchSize: 128, lr: 1e-3, seed: 0 };

export async function runStitch(opts: StitchOptions, ctx: AnalysisContext = {}): Promise<StitchReport> {
  const t0 = performance.now();
  const isCancelled = ctx.isCancelled;
  const notes: string[] = [];
  const test = await loadDataset(opts.data, { labels: opts.labels, split: opts.split ?? 'test' });
  const train = await trainingData(opts, test, notes);
  const hint = test.x.shape.slice(1);
  const opened: OpenedModel[] = [];
  const tfjsModels: Model[] = [];
  try {
    opened.push(await openModel(opts.a, { archFile: opts.archA, inputHint: hint, isCancelled }));
    opened.push(await openModel(opts.b, { archFile: opts.archB ?? opts.archA, inputHint: hint, isCancelled }));
    const [A, B] = opened;
    // Stitches train and are measured on tfjs models, bottom and top alike (gradients need tfjs;
    // onnxruntime only serves the baselines). With the bottom's features from onnxruntime, its
    // ~1e-6 differences from tfjs reached Adam's normalised steps g/√v, and the same seed gave a
    // different stitch per forward engine (the random-bottom control +49.47 points on
    // onnxruntime, +49.08 on tfjs-wasm). Now a seed gives one result whichever engine is in use.
    const stitchModels = new Map(opened.map((o): [OpenedModel, Model] => {
      if (o.model instanceof TfjsModel) return [o, o.model];
      const m = createModel(o.graph, o.stateDict, { engine: 'tfjs' });
      tfjsModels.push(m);
      return [o, m];
    }));
    const settings = { ...DEFAULTS, ...definedOnly({ epochs: opts.epochs, batchSize: opts.batchSize, lr: opts.lr, seed: opts.seed }) };
    const evalOpts = { count: opts.limit, batchSize: settings.batchSize, isCancelled };
    ctx.onProgress?.(0, 'evaluating A and B');
    const baselines = { a: metrics(await evaluate(A.model, test, evalOpts)), b: metrics(await evaluate(B.model, test, evalOpts)) };
    const control = opts.control ?? true;
    const runs: [OpenedModel, OpenedModel, string][] = [[A, B, 'A→B'], ...(opts.both ? [[B, A, 'B→A'] as [OpenedModel, OpenedModel, string]] : [])];
    const pairsPer = runs.map(([bottom, top, label]) => matchPoints(bottom, top, test, opts.points, label === 'A→B' ? [opts.a, opts.b] : [opts.b, opts.a]));
    const jobs = pairsPer.reduce((s, p) => s + p.length, 0) * (control ? 2 : 1);
    let done = 0;
    const report: StitchPartial = {
      a: opts.a,
      b: opts.b,
      description: A.graph.description === B.graph.description ? A.graph.description : `${A.graph.description} / ${B.graph.description}`,
      data: test.name,
      n: Math.min(test.n, opts.limit ?? Infinity),
      trainData: train.name,
      trainExamples: Math.min(train.n, opts.trainLimit ?? Infinity),
      ...settings,
      init: opts.init ?? 'random',
      baselines,
      points: [],
      control: control ? { points: [] } : null,
      directions: [],
      notes,
    };
    for (const [r, [bottom, top, label]] of runs.entries()) {
      const dir: StitchDirection = { label, bottom: label === 'A→B' ? opts.a : opts.b, top: label === 'A→B' ? opts.b : opts.a, topBaseline: label === 'A→B' ? baselines.b : baselines.a, points: [], control: control ? [] : null };
      report.directions.push(dir);
      const random = control ? createModel(bottom.graph, randomStateDict(bottom.graph, settings.seed + 1), { engine: 'tfjs' }) : undefined;
      try {
        const pairs = pairsPer[r];
        for (const [i, [pa, pb]] of pairs.entries()) {
          for (const [list, model, what] of [[dir.points, stitchModels.get(bottom)!, label], ...(random ? [[dir.control!, random, `${label} control`]] : [])] as [StitchPointResult[], Model, string][]) {
            const base = done / jobs;
            const say = (f: number): void => ctx.onProgress?.(base + f / jobs, `${what} at ${pa.name}${settings.epochs ? `: training ${Math.round(100 * f)}%` : ''}`);
            say(0);
            list.push(await stitchAt(model, pa, stitchModels.get(top)!, pb, i / Math.max(1, pairs.length - 1), dir.topBaseline, train, test, settings, opts, isCancelled, say));
            done++;
            if (r === 0) {
              report.points = dir.points;
              if (report.control) report.control.points = dir.control!;
            }
            ctx.onPartial?.(structuredClone(report));
          }
        }
      } finally {
        random?.dispose();
      }
    }
    ctx.onProgress?.(1, 'done');
    return { ...report, seconds: (performance.now() - t0) / 1000 };
  } finally {
    for (const m of tfjsModels) m.dispose();
    for (const o of opened) o.model.dispose();
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function metrics(r: { loss: number; accuracy: number }): Metrics {
  return { loss: r.loss, accuracy: r.accuracy };
}

async function trainingData(opts: StitchOptions, test: Dataset, notes: string[]): Promise<Dataset> {
  if (opts.trainData) return loadDataset(opts.trainData, { labels: opts.labels, split: 'train' });
  try {
    const train = await loadDataset(opts.data, { labels: opts.labels, split: 'train' });
    if (train.name !== test.name) return train;
  } catch {
    // No train split beside the test data: fall through.
  }
  notes.push(`no training data given: the stitching layers are trained on the test data itself (${test.name}); pick training data (Run again with … in the panel, or --train-data) for a clean penalty`);
  return test;
}

/**
 * Stitch points of `bottom` paired with the top's: by name when the top has the same point
 * (same architecture), else by position when both have as many points.
 */
function matchPoints(bottom: OpenedModel, top: OpenedModel, data: Dataset, only: string[] | undefined, [bottomFile, topFile]: string[]): [CapturePoint, CapturePoint][] {
  const shape = planInputs(data, bottom.graph).exampleShape;
  const pa = stitchPoints(bottom.graph, shape);
  const pb = stitchPoints(top.graph, planInputs(data, top.graph).exampleShape);
  const byName = new Map(pb.map((p) => [p.name, p]));
  const pairs: [CapturePoint, CapturePoint][] = pa.every((p) => byName.has(p.name)) ? pa.map((p) => [p, byName.get(p.name)!]) : pa.length === pb.length ? pa.map((p, i) => [p, pb[i]]) : [];
  if (!pairs.length) throw new CheckpointError(topFile, `cannot pair the stitch points of ${bottomFile} with this network's (${pa.map((p) => p.name).join(', ')} / ${pb.map((p) => p.name).join(', ')})`);
  if (only?.length) {
    const unknown = only.filter((n) => !pa.some((p) => p.name === n));
    if (unknown.length) throw new CheckpointError(bottomFile, `no stitch point ${unknown.join(', ')} (points: ${pa.map((p) => p.name).join(', ')})`);
    return pairs.filter(([p]) => only.includes(p.name));
  }
  return pairs;
}

async function stitchAt(
  bottom: Model,
  pa: CapturePoint,
  top: Model,
  pb: CapturePoint,
  depth: number,
  topBaseline: Metrics,
  train: Dataset,
  test: Dataset,
  s: typeof DEFAULTS,
  opts: StitchOptions,
  isCancelled: (() => boolean) | undefined,
  onProgress: (f: number) => void,
): Promise<StitchPointResult> {
  const layer = new StitchLayer(pa.shape, pb.shape, opts.init ?? 'random', s.seed);
  try {
    const pair = { bottom, from: pa.name, top, to: pb.name, layer };
    const plan: InputPlan = planInputs(train, bottom.graph);
    const t = s.epochs > 0 ? await trainStitch(pair, train, plan, { epochs: s.epochs, batchSize: s.batchSize, lr: s.lr, seed: s.seed, count: opts.trainLimit, isCancelled, onProgress }) : { steps: 0, trainLoss: null, seconds: 0 };
    const m = await evaluateStitched(pair, test, planInputs(test, bottom.graph), { batchSize: s.batchSize, count: opts.limit, isCancelled });
    const accuracyPenalty = topBaseline.accuracy - m.accuracy;
    return { name: pa.name, to: pb.name, depth, shape: pa.shape, ...m, penalty: accuracyPenalty, accuracyPenalty, lossPenalty: m.loss - topBaseline.loss, trainLoss: t.trainLoss, steps: t.steps, seconds: t.seconds };
  } finally {
    layer.dispose();
  }
}
