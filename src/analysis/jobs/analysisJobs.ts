// The analyses the worker runs for the extension: each kind reads its JSON params, runs the
// analysis (the same functions the CLI calls) and returns its AnalysisView. Partial results
// go out as views too, so charts grow while a job runs.
import type { AnalysisKind } from '../protocol';
import type { AnalysisContext, AnalysisView } from '../report/analysisView';
import { alignCheckpoints } from '../align/alignCheckpoint';
import { alignView } from '../views/alignView';
import { type Params, ParamReader, ParamsError } from './params';

export interface JobContext extends Omit<AnalysisContext, 'onPartial'> {
  /** A partial view (complete: false) to show while the job runs. */
  onView?: (view: AnalysisView) => void;
}

type JobRunner = (p: ParamReader, ctx: JobContext) => Promise<AnalysisView>;

const RUNNERS: Partial<Record<AnalysisKind, JobRunner>> = {
  align: async (p, ctx) => {
    const r = await alignCheckpoints(p.path('a'), p.path('b'), p.path('out'), {
      method: p.optOneOf('method', ['weights', 'activations'] as const),
      seed: p.optInt('seed', 0, 2 ** 31 - 1),
      maxIter: p.optInt('maxIter', 1, 10_000),
      archFile: p.optPath('arch'),
      isCancelled: ctx.isCancelled,
      onProgress: (stage, done, total) => ctx.onProgress?.(stageFraction(stage, done / Math.max(1, total)), stage === 'match' ? 'matching units' : stage === 'load' ? 'reading weights' : 'writing the aligned checkpoint'),
    });
    return alignView(r);
  },
};

/** load 0–20 %, match 20–90 %, write 90–100 %. */
function stageFraction(stage: string, f: number): number {
  const [lo, hi] = stage === 'load' ? [0, 0.2] : stage === 'match' ? [0.2, 0.9] : [0.9, 1];
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
