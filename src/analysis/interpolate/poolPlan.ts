// How a point pool (interpolation points, plane cells, barrier-matrix pairs) uses the cores when
// onnxruntime runs the forward passes: parallel inference sessions (one worker thread per core,
// each session on one intra-op thread) or one session spreading each batch over every core
// (intra-op threads, in this thread). Which is faster depends on the model and batch (MLAS
// scales a 512-wide matmul well, small convolutions less so, and parallel sessions pay a worker
// start and a copy of the data each), so it is measured, not guessed: a short calibration on the
// job's own network and data, cached per architecture for the life of the process.
//
// The calibration, on a slice of the data (two batches):
//   1. in this thread, one point with one session on every core, and one on a single thread;
//   2. only if N parallel single-thread sessions could win even with perfect scaling (N points
//      in the time of one single-thread point), N workers each run two points at once: the
//      second round times parallel sessions under real contention, the first their start-up.
// The plan predicts the whole job both ways from those per-example times and takes the faster.
import { createHash } from 'node:crypto';
import type { Dataset } from '../data/dataset';
import type { ModelGraph } from '../model/ir';
import type { PathSetup } from './pointEvaluator';

export interface PoolPlan {
  /** Worker threads, each with its own sessions (1: one session in this thread). */
  workers: number;
  /** onnxruntime intra-op threads of each session. */
  intraOpThreads: number;
  /** The choice and the figures behind it, for the job log. */
  reason: string;
}

/** What the calibration measured, in seconds per example evaluated (BatchNorm examples included). */
export interface Calibration {
  /** One session using every core. */
  intra: number;
  /** One session on one thread, nothing else running. */
  single: number;
  /** One of `workers` parallel single-thread sessions while all run (undefined: not worth measuring). */
  parallel?: number;
  /** Worker start, data copy and first session, per worker pool (seconds). */
  startup?: number;
  workers: number;
  /** Examples in one calibration point. */
  examples: number;
}

/** Runs the calibration's points: one in this thread with `threads` intra-op threads; or N workers × rounds. */
export interface CalibrationRunners {
  /** Seconds for one point of `setup` in this thread on `threads` intra-op threads (after a warm-up). */
  inThread(setup: PathSetup, threads: number): Promise<number>;
  /** `workers` pool threads with one intra-op thread each, two points each: per-point seconds of the second round, and the start-up. */
  inWorkers(setup: PathSetup, workers: number): Promise<{ perPoint: number; startup: number }>;
}

const calibrations = new Map<string, Calibration>();

/** Tests: forget every cached calibration. */
export function clearPoolPlans(): void {
  calibrations.clear();
}

/** Examples one point of `setup` evaluates (its data, plus the BatchNorm reset's batches). */
export function examplesPerPoint(setup: PathSetup): number {
  const bn = setup.bn.reset && setup.bnData && setup.graph.nodes.some((n) => n.op === 'batchnorm') ? Math.min(setup.bnData.n, setup.bn.batches * setup.bn.batchSize) : 0;
  return setup.data.n + bn;
}

function cacheKey(graph: ModelGraph, setup: PathSetup, cores: number): string {
  const shape = JSON.stringify([graph.family, graph.input, graph.nodes, graph.output, setup.batchSize ?? 0, setup.bn.reset, setup.data.x.shape.slice(1), cores]);
  return createHash('sha1').update(shape).digest('hex');
}

function slice(ds: Dataset, n: number): Dataset {
  const per = ds.x.shape.slice(1).reduce((a, b) => a * b, 1);
  const m = Math.min(n, ds.n);
  return {
    ...ds,
    n: m,
    x: { ...ds.x, shape: [m, ...ds.x.shape.slice(1)], values: ds.x.values.slice(0, m * per) as Dataset['x']['values'] },
    y: ds.y?.slice(0, m),
  };
}

/** The setup cut to a calibration slice: two evaluation batches, one BatchNorm batch. */
export function calibrationSetup(setup: PathSetup, batchSize: number): PathSetup {
  return {
    ...setup,
    data: slice(setup.data, 2 * batchSize),
    bnData: setup.bnData && slice(setup.bnData, setup.bn.batchSize),
    bn: { ...setup.bn, batches: 1 },
    cacheFirstLayer: false,
  };
}

/** The plan for `points` points of `examples` examples each, from a calibration (pure: tests drive it). */
export function choosePlan(c: Calibration, points: number, examples: number, cores: number, cached: boolean): PoolPlan {
  const fmt = (s: number): string => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`);
  const intraTotal = points * examples * c.intra;
  const rounds = Math.ceil(points / c.workers);
  const ideal = rounds * examples * c.single;
  const source = cached ? 'calibration cached for this architecture' : `calibrated on ${c.examples} examples`;
  const one: PoolPlan = { workers: 1, intraOpThreads: cores, reason: '' };
  if (c.parallel === undefined || c.startup === undefined) {
    one.reason = `point pool: one onnxruntime session on ${cores} intra-op threads (predicted ${fmt(intraTotal)}; ${c.workers} parallel sessions could not beat it even with perfect scaling: ${fmt(ideal)}; ${source})`;
    return one;
  }
  const parallelTotal = c.startup + rounds * examples * c.parallel;
  if (parallelTotal < intraTotal) {
    return {
      workers: c.workers,
      intraOpThreads: Math.max(1, Math.floor(cores / c.workers)),
      reason: `point pool: ${c.workers} parallel onnxruntime sessions, one thread each (predicted ${fmt(parallelTotal)} against ${fmt(intraTotal)} for one session on ${cores} threads; ${source})`,
    };
  }
  one.reason = `point pool: one onnxruntime session on ${cores} intra-op threads (predicted ${fmt(intraTotal)} against ${fmt(parallelTotal)} for ${c.workers} parallel sessions; ${source})`;
  return one;
}

/**
 * The plan for evaluating `points` points of `setup` with up to `workers` pool threads on
 * `cores` cores: calibrates (or reuses the calibration of this architecture) and chooses.
 */
export async function planPool(setup: PathSetup, points: number, workers: number, cores: number, run: CalibrationRunners): Promise<PoolPlan> {
  const key = cacheKey(setup.graph, setup, cores) + `|${workers}`;
  let c = calibrations.get(key);
  const cached = c !== undefined;
  if (!c) {
    const calib = calibrationSetup(setup, setup.batchSize ?? 256);
    const examples = examplesPerPoint(calib);
    const intra = (await run.inThread(calib, cores)) / examples;
    const single = (await run.inThread(calib, 1)) / examples;
    c = { intra, single, workers, examples };
    // Parallel sessions can at best run `workers` single-thread points in the time of one.
    if (single / workers < intra) {
      const r = await run.inWorkers(calib, workers);
      c.parallel = r.perPoint / examples;
      c.startup = r.startup;
    }
    calibrations.set(key, c);
  }
  return choosePlan(c, points, examplesPerPoint(setup), cores, cached);
}
