// The training-dynamics jobs of the analysis worker: the LLC estimate, its calibration sweep,
// and the dynamics part of the runs view. Progress is per chain and draw; cancel reaches every
// chain's thread through the pool's shared flag.
import type { AnalysisView } from '../report/analysisView';
import type { LlcHyperparameters, LlcProgress } from '../dynamics/llc';
import { estimateLlc } from '../dynamics/llc';
import { runLlcSweep } from '../dynamics/llcSweep';
import type { DynamicsOptions } from '../dynamics/runDynamics';
import { type RunsWithDynamics, addDynamics } from '../dynamics/runsDynamics';
import { llcSweepView, llcView } from '../views/llcView';
import type { ParamReader } from './params';

interface Ctx {
  isCancelled?: () => boolean;
  onProgress?: (fraction: number, message?: string) => void;
  log?: (m: string) => void;
}

/** The hyper-parameters a job's params give (absent ones take devinterp's defaults). */
function hyperparameters(p: ParamReader): Partial<LlcHyperparameters> {
  const h: Partial<LlcHyperparameters> = {
    epsilon: p.optNumber('epsilon', 1e-12, 100),
    gamma: p.optNumber('gamma', 0, 1e9),
    nbeta: p.optNumber('nbeta', 1e-9, 1e12),
    chains: p.optInt('chains', 1, 1000),
    draws: p.optInt('draws', 2, 1e7),
    burnIn: p.optInt('burnIn', 0, 1e7),
    batchSize: p.optInt('batchSize', 1, 1e7),
    seed: p.optInt('seed', 0, 2 ** 31 - 1),
  };
  for (const k of Object.keys(h) as (keyof LlcHyperparameters)[]) if (h[k] === undefined) delete h[k];
  return h;
}

function dataParams(p: ParamReader): { data: string; labels?: string; split?: 'train' | 'test'; loss?: 'auto' | 'cross_entropy' | 'mse'; limit?: number; archFile?: string } {
  return { data: p.path('data'), labels: p.optPath('labels'), split: p.optOneOf('split', ['test', 'train'] as const), loss: p.optOneOf('loss', ['auto', 'cross_entropy', 'mse'] as const), limit: p.optInt('limit', 1, 1e9), archFile: p.optPath('arch') };
}

function chainProgress(ctx: Ctx): (x: LlcProgress) => void {
  return (x) => ctx.onProgress?.(Math.min(1, (x.done + x.draw / x.draws) / x.chains), `chain ${x.chain + 1} of ${x.chains}: draw ${x.draw}/${x.draws} (${x.done} chains done)`);
}

export async function llcJob(p: ParamReader, ctx: Ctx): Promise<AnalysisView> {
  const r = await estimateLlc({ checkpoint: p.path('a'), ...dataParams(p), hyperparameters: hyperparameters(p), threads: p.optInt('threads', 1, 64) }, { isCancelled: ctx.isCancelled, log: ctx.log, onProgress: chainProgress(ctx) });
  return llcView(r);
}

export async function llcSweepJob(p: ParamReader, ctx: Ctx & { onView?: (v: AnalysisView) => void }): Promise<AnalysisView> {
  const list = (key: string): number[] | undefined => {
    const s = p.optPath(key);
    if (s === undefined) return undefined;
    const v = s.split(',').map(Number);
    if (!v.length || v.some((x) => !Number.isFinite(x) || x <= 0)) throw new Error(`llc-sweep: ${key} must be comma-separated numbers > 0`);
    return v;
  };
  const r = await runLlcSweep(
    { checkpoint: p.path('a'), ...dataParams(p), hyperparameters: hyperparameters(p), epsilons: list('epsilons'), nbetas: list('nbetas'), threads: p.optInt('threads', 1, 64) },
    { isCancelled: ctx.isCancelled, log: ctx.log, onCell: (done, total, c) => ctx.onProgress?.(done / total, `cell ${done} of ${total}: ε ${c.epsilon}, nβ ${c.nbeta.toPrecision(4)}`) },
  );
  return llcSweepView(r);
}

/** The runs job's dynamics options from its params (data, probe, LLC). */
export function runsDynamicsOptions(p: ParamReader): DynamicsOptions {
  const data = p.optPath('data');
  return {
    data,
    labels: p.optPath('labels'),
    split: p.optOneOf('split', ['test', 'train'] as const),
    loss: p.optOneOf('loss', ['auto', 'cross_entropy', 'mse'] as const),
    limit: p.optInt('limit', 1, 1e9),
    probe: p.optInt('probe', 1, 4096),
    archFile: p.optPath('arch'),
    threads: p.optInt('threads', 1, 64),
    llc: data && p.optBool('llc') ? hyperparameters(p) : undefined,
  };
}

export async function withDynamics(r: RunsWithDynamics, opts: DynamicsOptions, ctx: Ctx): Promise<RunsWithDynamics> {
  return addDynamics(r, opts, { isCancelled: ctx.isCancelled, log: ctx.log, onProgress: ctx.onProgress });
}
