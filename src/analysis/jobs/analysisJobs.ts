// The analyses the worker runs for the extension: each kind reads its JSON params, runs the
// analysis (the same functions the CLI calls) and returns its AnalysisView. Partial results
// go out as views too, so charts grow while a job runs.
import type { AnalysisKind } from '../protocol';
import type { AnalysisContext, AnalysisView } from '../report/analysisView';
import { alignCheckpoints } from '../align/alignCheckpoint';
import { alignView } from '../views/alignView';
import { type Params, ParamReader, ParamsError } from './params';
import type { PathDataOptions } from '../interpolate/pathInputs';
import { runInterpolation } from '../interpolate/linearPath';
import { runMli } from '../interpolate/mli';
import { runLlfc } from '../interpolate/llfc';
import { runPlane } from '../interpolate/lossPlane';
import { interpolationView } from '../views/interpolationView';
import { mliView } from '../views/mliView';
import { llfcView } from '../views/llfcView';
import { planeView } from '../views/planeView';
import { runDiff } from '../compare/checkpointDiff';
import { looksLikeGguf, runQuantError } from '../compare/quantError';
import { quantErrorView } from '../views/quantErrorView';
import { type RunsReport, runRuns } from '../compare/trainingRuns';
import { RunsWatcher } from '../compare/runsWatcher';
import { runSpectra } from '../spectra/spectra';
import { diffView } from '../views/diffView';
import { runsView } from '../views/runsView';
import { spectraView } from '../views/spectraView';
import { runStitch } from '../stitch/runStitch';
import { runDrop } from '../dropping/runDrop';
import { STRATEGIES } from '../dropping/strategies';
import { stitchView } from '../views/stitchView';
import { dropView } from '../views/dropView';
import { llcJob, llcSweepJob, runsDynamicsOptions, withDynamics } from './dynamicsJobs';
import { DynamicsFollower } from '../dynamics/followRuns';
import { runBasins } from '../sets/barrierMatrix';
import { basinsView } from '../views/basinsView';
import { runCka } from '../sets/ckaAnalysis';
import { ckaView } from '../views/ckaView';
import { runSwap } from '../sets/runSwap';
import { swapView } from '../views/swapView';
import { runHistograms } from '../sets/runHistograms';
import { histogramsView } from '../views/histogramsView';

export interface JobContext extends Omit<AnalysisContext, 'onPartial'> {
  /** A partial view (complete: false) to show while the job runs. */
  onView?: (view: AnalysisView) => void;
}

type JobRunner = (p: ParamReader, ctx: JobContext) => Promise<AnalysisView>;

/** The data and BatchNorm options every interpolation analysis takes. */
function pathData(p: ParamReader): PathDataOptions {
  return {
    data: p.path('data'),
    labels: p.optPath('labels'),
    split: p.optOneOf('split', ['test', 'train'] as const),
    limit: p.optInt('limit', 1, 1e9),
    arch: p.optPath('arch'),
    bnReset: p.optBool('bnReset'),
    trainData: p.optPath('trainData'),
    // The pool's threads run dist/pathWorker.js, found beside the worker bundle by default.
  };
}

/** The analysis context with partial reports turned into partial views. */
function withViews<R>(ctx: JobContext, view: (r: R) => AnalysisView): AnalysisContext {
  const { onView, ...rest } = ctx;
  return { ...rest, onPartial: onView ? (r) => onView(view(r as R)) : undefined };
}

// Every kind of the protocol has its runner (a missing one is a type error).
const RUNNERS: Record<AnalysisKind, JobRunner> = {
  align: async (p, ctx) => {
    const r = await alignCheckpoints(p.path('a'), p.path('b'), p.path('out'), {
      method: p.optOneOf('method', ['weights', 'activations'] as const),
      seed: p.optInt('seed', 0, 2 ** 31 - 1),
      maxIter: p.optInt('maxIter', 1, 10_000),
      archFile: p.optPath('arch'),
      data: p.optPath('data'),
      split: p.optOneOf('split', ['test', 'train'] as const),
      limit: p.optInt('limit', 1, 1e9),
      isCancelled: ctx.isCancelled,
      onProgress: (stage, done, total) => ctx.onProgress?.(stageFraction(stage, done / Math.max(1, total)), STAGE_TEXT[stage] ?? stage),
    });
    return alignView(r);
  },
  interpolate: async (p, ctx) =>
    interpolationView(await runInterpolation({ ...pathData(p), a: p.path('a'), b: p.path('b'), steps: p.optInt('steps', 2, 1001), align: p.optBool('align'), alignSeed: p.optInt('seed', 0, 2 ** 31 - 1) }, withViews(ctx, interpolationView))),
  mli: async (p, ctx) =>
    mliView(await runMli({ ...pathData(p), init: p.path('init'), final: p.path('final'), steps: p.optInt('steps', 2, 1001), tol: p.optNumber('tol', 0, 1e9) }, withViews(ctx, mliView))),
  llfc: async (p, ctx) =>
    llfcView(await runLlfc({ ...pathData(p), a: p.path('a'), b: p.path('b'), align: p.optBool('align'), alignSeed: p.optInt('seed', 0, 2 ** 31 - 1) }, withViews(ctx, llfcView))),
  diff: async (p, ctx) =>
    // A GGUF file against its source checkpoint: the quantization error, llama.cpp names mapped.
    (await looksLikeGguf(p.path('a'))) || (await looksLikeGguf(p.path('b')))
      ? quantErrorView(await runQuantError(p.path('a'), p.path('b'), { isCancelled: ctx.isCancelled, onProgress: ctx.onProgress, onPartial: ctx.onView ? (r) => ctx.onView!(quantErrorView(r)) : undefined }))
      : diffView(await runDiff({ a: p.path('a'), b: p.path('b'), align: p.optBool('align'), archFile: p.optPath('arch'), seed: p.optInt('seed', 0, 2 ** 31 - 1) }, withViews(ctx, diffView))),
  runs: async (p, ctx) => {
    const opts = { paths: p.paths('dirs'), align: p.optOneOf('align', ['auto', 'on', 'off'] as const), archFile: p.optPath('arch'), seed: p.optInt('seed', 0, 2 ** 31 - 1) };
    const dyn = runsDynamicsOptions(p);
    if (!p.optBool('watch')) return runsView(await withDynamics(await runRuns(opts, withViews(ctx, runsView)), dyn, ctx));
    return runsView(await watchRuns(opts, ctx, dyn));
  },
  spectra: async (p, ctx) =>
    spectraView(await runSpectra({ path: p.path('a'), topK: p.optInt('topK', 1, 4096), archFile: p.optPath('arch'), budgetSeconds: p.optNumber('budgetSeconds', 0.1, 86_400), maxExactWork: p.optNumber('maxExactWork', 1, 1e15) }, withViews(ctx, spectraView))),
  stitch: async (p, ctx) =>
    stitchView(await runStitch({
      a: p.path('a'), b: p.path('b'), data: p.path('data'), trainData: p.optPath('trainData'),
      split: p.optOneOf('split', ['test', 'train'] as const), archA: p.optPath('arch'), archB: p.optPath('arch'),
      epochs: p.optInt('epochs', 0, 1000), trainLimit: p.optInt('trainLimit', 1, 1e9), limit: p.optInt('limit', 1, 1e9),
      lr: p.optNumber('lr', 1e-8, 10), seed: p.optInt('seed', 0, 2 ** 31 - 1), both: p.optBool('both'), control: p.optBool('control'),
    }, withViews(ctx, stitchView))),
  drop: async (p, ctx) => {
    const strategy = p.optOneOf('strategy', STRATEGIES);
    return dropView(await runDrop({
      model: p.path('a'), data: p.path('data'), split: p.optOneOf('split', ['test', 'train'] as const), arch: p.optPath('arch'),
      strategies: strategy ? [strategy] : undefined, seeds: p.optInt('seeds', 1, 100), limit: p.optInt('limit', 1, 1e9), trainData: p.optPath('trainData'),
      recomputeBatchNorm: p.optInt('recomputeBatchNorm', 1, 10_000),
    }, withViews(ctx, dropView)));
  },
  llc: llcJob,
  'llc-sweep': llcSweepJob,
  basins: async (p, ctx) =>
    basinsView(await runBasins({
      ...pathData(p), paths: p.paths('paths'), steps: p.optInt('steps', 3, 101), align: p.optBool('align'), alignSeed: p.optInt('seed', 0, 2 ** 31 - 1),
      barrier: p.optOneOf('barrier', ['bump', 'linear'] as const), threshold: p.optNumber('threshold', 0, 1e9),
      nClusters: p.optInt('clusters', 1, 100), delta: p.optNumber('delta', 1e-9, 1e9), ood: p.optPath('ood'), oodLabels: p.optPath('oodLabels'),
    }, withViews(ctx, basinsView))),
  cka: async (p, ctx) =>
    ckaView(await runCka({
      paths: p.paths('paths'), mode: p.optOneOf('mode', ['pair', 'self', 'run'] as const), data: p.path('data'), labels: p.optPath('labels'),
      split: p.optOneOf('split', ['test', 'train'] as const), limit: p.optInt('limit', 4, 1e9), arch: p.optPath('arch'),
    }, ctx)),
  swap: async (p, ctx) =>
    swapView(await runSwap({
      model: p.path('a'), data: p.path('data'), labels: p.optPath('labels'), split: p.optOneOf('split', ['test', 'train'] as const),
      arch: p.optPath('arch'), limit: p.optInt('limit', 1, 1e9), window: p.optInt('window', 0, 1000),
    }, withViews(ctx, swapView))),
  histograms: async (p, ctx) =>
    histogramsView(await runHistograms({ paths: p.paths('paths'), tensor: p.text('tensor'), bins: p.optInt('bins', 1, 10_000) }, withViews(ctx, histogramsView))),
  plane: async (p, ctx) =>
    planeView(await runPlane({ ...pathData(p), a: p.path('a'), b: p.path('b'), c: p.path('c'), grid: p.optInt('grid', 2, 101), margin: p.optNumber('margin', 0, 10) }, withViews(ctx, planeView))),
};

/**
 * Live runs: reads the folders, then keeps watching them and sends a new view whenever a new
 * checkpoint has been read (only that file), until the job is cancelled (the panel closed or
 * Stop pressed); then returns the last report as the final view.
 */
async function watchRuns(opts: ConstructorParameters<typeof RunsWatcher>[0], ctx: JobContext, dyn: Parameters<typeof withDynamics>[1] = {}): Promise<RunsReport> {
  const watcher = new RunsWatcher(opts, { ctx: { isCancelled: ctx.isCancelled, onProgress: ctx.onProgress, log: ctx.log, wasmDir: ctx.wasmDir } });
  let latest = await watcher.start().catch(async (e) => {
    await watcher.close();
    throw e;
  });
  // Each new report gets its conserved quantities and lazy/rich measures (weights, and the data
  // when given) recomputed, and each new checkpoint its LLC (kept for the others); one at a
  // time, the latest report winning.
  let status: string | undefined;
  const follower = new DynamicsFollower(dyn, {
    onReport: (d) => ctx.onView?.({ ...runsView(d), complete: false }),
    onError: (e, r) => {
      ctx.log?.(`training dynamics: ${e.message}`);
      ctx.onView?.({ ...runsView(r), complete: false });
    },
    onStatus: (text) => (status = text),
  }, { isCancelled: ctx.isCancelled, log: ctx.log });
  const folders = `${opts.paths.length} folder${opts.paths.length > 1 ? 's' : ''}`;
  const files = (r: RunsReport): number => r.runs.reduce((n, run) => n + run.checkpoints.length, 0);
  const send = (r: RunsReport): void => {
    latest = r;
    ctx.log?.(`watching ${folders}: ${files(r)} checkpoints read`);
    follower.push(r);
  };
  watcher.on('report', send);
  watcher.on('warning', (w: string) => ctx.log?.(w));
  watcher.on('error', (e: Error) => ctx.log?.(`watching the runs: ${e.message}`));
  send(latest);
  try {
    // The cancel flag is shared memory: poll it while fs.watch events arrive on this thread.
    while (!ctx.isCancelled?.()) {
      ctx.onProgress?.(1, `watching ${folders}: ${files(latest)} checkpoints read${status ? ` · ${status}` : ''}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await watcher.close();
  }
  return follower.final({ ...watcher.report(), complete: true } as RunsReport);
}

const STAGE_TEXT: Record<string, string> = { load: 'reading weights', capture: 'capturing activations', match: 'matching units', write: 'writing the aligned checkpoint' };

/** load 0–15 %, capture 15–45 %, match 45–90 % (or 15–90 % without capture), write 90–100 %. */
function stageFraction(stage: string, f: number): number {
  const [lo, hi] = stage === 'load' ? [0, 0.15] : stage === 'capture' ? [0.15, 0.45] : stage === 'match' ? [0.45, 0.9] : [0.9, 1];
  return lo + (hi - lo) * Math.min(1, Math.max(0, f));
}

/** The kinds this build can run (the extension offers only these). */
export function availableAnalyses(): AnalysisKind[] {
  return Object.keys(RUNNERS) as AnalysisKind[];
}

/** Needs a tfjs backend (initBackend) for the analyses that run models. */
export function runAnalysis(kind: AnalysisKind, params: Params, ctx: JobContext = {}): Promise<AnalysisView> {
  const run = RUNNERS[kind];
  if (!run) return Promise.reject(new ParamsError(kind, 'this analysis is not available in this build'));
  return run(new ParamReader(kind, params), ctx);
}
