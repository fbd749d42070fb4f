// The local learning coefficient of a checkpoint (Lau et al. 2023), estimated as devinterp's
// estimate_learning_coeff_with_summary does (v1.3.2): SGLD chains from w*, localised by γ at
// inverse temperature nβ, and
//   λ̂ per chain = nβ · (mean over draws of the minibatch loss − L(w*)),
// the mean and the (unbiased) standard deviation over chains. L(w*) is devinterp's init_loss
// for a seeded run: the mean loss of the first `chains` batches in dataset order.
// Calibration diagnostics come with every estimate: the loss traces, the share of chains with
// λ̂ < 0 and of draws below L(w*), the MALA acceptance (≈ 0.9 for a healthy step size) and
// split-R̂ of the loss traces (settled below 1.1); problems are put in plain words in `warnings`.
import type { OpenModelOptions } from '../model/openModel';
import { openNet } from './openDense';
import { GraphNet, type NetSpec, isGraphSpec } from './graphNet';
import { initBackend } from '../model/backend';
import { batchesPerPass, type ChainResult, type ChainSettings, initLoss } from './llcChain';
import { type ChainEngine, type ChainJob, ChainPool, ENGINE_NOTES, type PoolOptions, chainEngine, engineFallbackWarning, chainThreads, runChains } from './llcPool';
import type { LossChoice, TaskData, TaskLoss } from './taskData';

export interface LlcHyperparameters {
  epsilon: number;
  gamma: number;
  nbeta: number;
  chains: number;
  draws: number;
  burnIn: number;
  batchSize: number;
  seed: number;
  noiseLevel: number;
  weightDecay: number;
  /** Fixed at 1, as devinterp's default num_steps_bw_draws. */
  stepsBetweenDraws: number;
}

/** devinterp's defaults (SGLD lr 0.01, localization 0, noise 1; 10 chains × 100 draws, no burn-in); the batch size is ours. */
export const LLC_DEFAULTS = { epsilon: 0.01, gamma: 0, chains: 10, draws: 100, burnIn: 0, batchSize: 256, seed: 0, noiseLevel: 1, weightDecay: 0 } as const;

/** devinterp's default_nbeta: m / log m for a batch of m examples (1 when m ≤ 1). */
export function defaultNbeta(batchSize: number): number {
  return batchSize <= 1 ? 1 : batchSize / Math.log(batchSize);
}

export interface ChainSummary {
  chain: number;
  /** null when the chain diverged. */
  llc: number | null;
  meanLoss: number;
  /** Share of this chain's draws with a loss below L(w*). */
  belowInit: number;
  /** Mean MALA acceptance over the chain's transitions. */
  mala: number;
  /** Split-R̂ of this chain's loss trace (its two halves as two sequences; Gelman et al., BDA3 §11.4). */
  rhat: number;
  /** Settled: rhat below RHAT_SETTLED. */
  stationary: boolean;
  diverged?: string;
  seconds: number;
}

export interface LlcReport {
  checkpoint: string;
  data: string;
  loss: TaskLoss;
  /** Language-model data without labels: the cross-entropy of every next token. */
  nextToken?: boolean;
  /** Examples the losses are taken over. */
  n: number;
  parameters: number;
  llc: { mean: number; std: number; perChain: (number | null)[] };
  lossAtCheckpoint: number;
  hyperparameters: LlcHyperparameters;
  /** Minibatch loss per chain and draw. */
  traces: number[][];
  chains: ChainSummary[];
  diagnostics: {
    /** Share of (non-diverged) chains with λ̂ < 0. */
    negativeChains: number;
    /** Share of all draws with a loss below L(w*) (devinterp's percent_neg_steps, as a fraction). */
    drawsBelowInit: number;
    malaAcceptance: number;
    divergedChains: number;
    /** Split-R̂ over every non-diverged chain's halves. */
    rhat: number;
    /** rhat below RHAT_SETTLED. */
    stationary: boolean;
  };
  warnings: string[];
  threads: number;
  /** How the chains computed losses and gradients, and what that means for the numbers. */
  engine: { name: ChainEngine; note: string };
  seconds: number;
}

export interface LlcOptions extends OpenModelOptions {
  checkpoint: string;
  data: string;
  labels?: string;
  split?: 'train' | 'test';
  loss?: LossChoice;
  /** Use the first `limit` examples only. */
  limit?: number;
  hyperparameters?: Partial<LlcHyperparameters>;
  threads?: number;
  workerScript?: string;
}

export interface LlcContext {
  isCancelled?: () => boolean;
  log?: (m: string) => void;
  /** Progress per chain: draws done of the draws per chain. */
  onProgress?: (p: LlcProgress) => void;
}

export interface LlcProgress {
  chain: number;
  draw: number;
  draws: number;
  chains: number;
  loss: number;
  /** Chains finished so far. */
  done: number;
}

/** Fills in devinterp's defaults; nβ defaults to batch/log(batch) of the batch actually used. */
export function resolveHyperparameters(h: Partial<LlcHyperparameters>, n: number): LlcHyperparameters {
  const batchSize = Math.min(h.batchSize ?? LLC_DEFAULTS.batchSize, n);
  const out: LlcHyperparameters = {
    epsilon: h.epsilon ?? LLC_DEFAULTS.epsilon,
    gamma: h.gamma ?? LLC_DEFAULTS.gamma,
    nbeta: h.nbeta ?? defaultNbeta(batchSize),
    chains: h.chains ?? LLC_DEFAULTS.chains,
    draws: h.draws ?? LLC_DEFAULTS.draws,
    burnIn: h.burnIn ?? LLC_DEFAULTS.burnIn,
    batchSize,
    seed: h.seed ?? LLC_DEFAULTS.seed,
    noiseLevel: h.noiseLevel ?? LLC_DEFAULTS.noiseLevel,
    weightDecay: h.weightDecay ?? LLC_DEFAULTS.weightDecay,
    stepsBetweenDraws: 1,
  };
  const positive = (k: keyof LlcHyperparameters, min: number): void => {
    if (!(Number.isFinite(out[k]) && out[k] >= min)) throw new RangeError(`${k} must be a number ≥ ${min}, got ${out[k]}`);
  };
  positive('epsilon', Number.MIN_VALUE);
  positive('nbeta', Number.MIN_VALUE);
  positive('gamma', 0);
  positive('chains', 1);
  positive('draws', 2);
  positive('burnIn', 0);
  positive('batchSize', 1);
  positive('noiseLevel', 0);
  positive('weightDecay', 0);
  for (const k of ['chains', 'draws', 'burnIn', 'batchSize', 'seed'] as const) if (!Number.isInteger(out[k])) throw new RangeError(`${k} must be a whole number, got ${out[k]}`);
  return out;
}

export interface LoadedTask {
  spec: NetSpec;
  wStar: Float64Array;
  data: TaskData;
  family: string;
}

/** Opens the checkpoint (a dense network, or any graph) and the data for it. */
export async function loadTask(opts: LlcOptions | (OpenModelOptions & { checkpoint: string; data: string; labels?: string; split?: 'train' | 'test'; loss?: LossChoice; limit?: number })): Promise<LoadedTask> {
  const opened = await openNet(opts.checkpoint, { labels: opts.labels, split: opts.split, loss: opts.loss, limit: opts.limit, data: opts.data }, { archFile: opts.archFile, isCancelled: opts.isCancelled });
  return { spec: opened.spec, wStar: opened.params, data: opened.data, family: opened.graph.family };
}

/**
 * L(w*) as devinterp's init_loss takes it. Dense nets: float64 on this thread. Graph nets: float32
 * on this thread's tfjs backend, BatchNorm in training mode (devinterp's get_init_loss_multi_batch
 * calls model.train()).
 */
async function checkpointLoss(task: LoadedTask, h: LlcHyperparameters): Promise<number> {
  if (!isGraphSpec(task.spec)) return initLoss(task.spec, task.wStar, task.data, h.batchSize, h.chains);
  await initBackend();
  const net = new GraphNet(task.spec, task.wStar);
  try {
    return initLoss(task.spec, task.wStar, task.data, h.batchSize, h.chains, net);
  } finally {
    net.dispose();
  }
}

const mean = (a: readonly number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

/** Unbiased standard deviation (torch.std's default). */
export function sampleStd(a: readonly number[]): number {
  if (a.length < 2) return NaN;
  const m = mean(a);
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1));
}

/** Summarises chains into λ̂ and the calibration diagnostics (also used by the sweep). */
export function summarizeChains(results: ChainResult[], init: number, h: LlcHyperparameters): Pick<LlcReport, 'llc' | 'chains' | 'diagnostics' | 'traces'> & { warnings: string[] } {
  const chains: ChainSummary[] = results.map((r) => {
    const ok = !r.diverged && r.trace.length > 0;
    const m = r.trace.length ? mean(r.trace) : NaN;
    const llc = ok ? h.nbeta * (m - init) : null;
    const acc = r.acceptance.filter((a) => Number.isFinite(a));
    const rhat = ok ? splitRhat([r.trace]) : NaN;
    return {
      chain: r.chain,
      llc,
      meanLoss: m,
      belowInit: r.trace.length ? r.trace.filter((l) => l < init).length / r.trace.length : NaN,
      mala: acc.length ? mean(acc) : NaN,
      rhat,
      stationary: rhat < RHAT_SETTLED,
      diverged: r.diverged,
      seconds: r.seconds,
    };
  });
  const good = chains.filter((c) => c.llc !== null);
  const rhat = good.length ? splitRhat(results.filter((r) => !r.diverged && r.trace.length > 0).map((r) => r.trace)) : NaN;
  const values = good.map((c) => c.llc!);
  const allDraws = results.flatMap((r) => r.trace);
  const warnings: string[] = [];
  const diverged = chains.filter((c) => c.diverged);
  if (diverged.length) {
    warnings.push(`${diverged.length} of ${chains.length} chains diverged (${diverged[0].diverged}): the step size ε = ${h.epsilon} is too large for nβ = ${fmt(h.nbeta)}, or γ = ${h.gamma} too weak; λ̂ is over the other chains. Run the calibration sweep.`);
  }
  const malaAll = good.map((c) => c.mala).filter(Number.isFinite);
  const mala = malaAll.length ? mean(malaAll) : NaN;
  const llcMean = values.length ? mean(values) : NaN;
  if (values.length && llcMean < 0) warnings.push(`λ̂ is negative (${fmt(llcMean)}): the chains found lower loss than the checkpoint's, so w* is not a local minimum at this resolution (a mid-training checkpoint), or γ is too small or ε too large.`);
  else if (values.some((v) => v < 0)) warnings.push(`${values.filter((v) => v < 0).length} of ${values.length} chains have λ̂ < 0: treat the estimate with care.`);
  if (Number.isFinite(mala) && (mala < 0.5 || mala > 0.999)) warnings.push(`MALA acceptance is ${mala.toFixed(3)} (healthy chains are near 0.9): ${mala < 0.5 ? 'the step size ε is probably too large' : 'ε may be smaller than needed'}.`);
  if (good.length && !(rhat < RHAT_SETTLED)) warnings.push(`The chains have not settled: split-R̂ of the loss traces is ${fmt(rhat)} (settled below ${RHAT_SETTLED}; ${good.filter((c) => !c.stationary).length} of ${good.length} chains are unsettled on their own): the first and second halves of the draws disagree. Take more burn-in or draws.`);
  return {
    llc: { mean: llcMean, std: sampleStd(values), perChain: chains.map((c) => c.llc) },
    chains,
    traces: results.map((r) => r.trace),
    diagnostics: {
      negativeChains: values.length ? values.filter((v) => v < 0).length / values.length : NaN,
      drawsBelowInit: allDraws.length ? allDraws.filter((l) => l < init).length / allDraws.length : NaN,
      malaAcceptance: mala,
      divergedChains: diverged.length,
      rhat,
      stationary: rhat < RHAT_SETTLED,
    },
    warnings,
  };
}

/**
 * The settledness threshold on split-R̂: 1.1, Gelman et al.'s classical cut-off (BDA3 §11.5;
 * Vehtari et al. 2021 ask 1.01 of long runs, stricter than a few hundred correlated draws allow).
 */
export const RHAT_SETTLED = 1.1;

/** How the settled mark is decided, for reports and charts. */
export const SETTLED_CRITERION = `split-R̂ of the loss traces < ${RHAT_SETTLED}: each chain's draws cut into halves, the halves' means compared with the variance within them (Gelman et al., BDA3 §11.4)`;

/**
 * Split-R̂ (Gelman et al., BDA3 §11.4) of chains of draws: each chain is cut into two halves (its
 * middle draw dropped when the count is odd), and with m halves of n draws,
 *   B = n/(m−1)·Σ(mean_j − mean)²,  W = mean of the halves' variances,
 *   R̂ = √(((n−1)/n·W + B/n) / W).
 * Near 1 when every half samples the same distribution; a drifting trace makes its halves'
 * means differ and R̂ grow. NaN with fewer than 4 draws per chain.
 */
export function splitRhat(chains: readonly (readonly number[])[]): number {
  const n = Math.min(...chains.map((c) => Math.floor(c.length / 2)));
  if (!chains.length || !(n >= 2)) return NaN;
  const halves = chains.flatMap((c) => [c.slice(0, n), c.slice(c.length - n)]);
  const means = halves.map(mean);
  const all = mean(means);
  const m = halves.length;
  const B = (n / (m - 1)) * means.reduce((s, v) => s + (v - all) ** 2, 0);
  const W = mean(halves.map((x) => sampleStd(x) ** 2));
  if (W === 0) return B === 0 ? 1 : Infinity;
  return Math.sqrt(((n - 1) / n * W + B / n) / W);
}

function fmt(v: number): string {
  return Number.isFinite(v) ? Number(v.toPrecision(4)).toString() : String(v);
}

/** Runs the estimate on an opened task (the CLI, the runs view and the sweep share this); `pool`, when given, holds this task (made by chainPoolFor) and is reused. */
export async function estimateOnTask(task: LoadedTask, h: LlcHyperparameters, ctx: LlcContext & { threads?: number; workerScript?: string; pool?: { pool: ChainPool; threads: number } } = {}): Promise<Omit<LlcReport, 'checkpoint' | 'data'>> {
  const t0 = performance.now();
  // L(w*) in float64 on this thread (dense nets): the chains' float32 losses differ from it by
  // ~1e-7 relative, a shift of λ̂ far below its spread over chains.
  const init = await checkpointLoss(task, h);
  const settings: ChainSettings = { ...h };
  // A shared pool's threads run the engine they were started with.
  const engine = ctx.pool ? { engine: ctx.pool.pool.engine } : chainEngine(task.spec, ctx.workerScript);
  const job: ChainJob = { spec: task.spec, wStar: task.wStar, data: task.data, settings, ...engine };
  let done = 0;
  const threads = ctx.pool?.threads ?? chainThreads(h.chains, ctx.threads);
  const runOpts: PoolOptions = {
    threads,
    workerScript: ctx.workerScript,
    isCancelled: ctx.isCancelled,
    onDraw: (chain, draw, loss) => ctx.onProgress?.({ chain, draw: draw + 1, draws: h.draws, chains: h.chains, loss, done }),
    onChain: (r) => {
      done++;
      ctx.onProgress?.({ chain: r.chain, draw: r.trace.length, draws: h.draws, chains: h.chains, loss: r.trace[r.trace.length - 1] ?? NaN, done });
    },
  };
  const results = ctx.pool ? await ctx.pool.pool.run(settings, h.chains, runOpts) : await runChains(job, h.chains, runOpts);
  const s = summarizeChains(results, init, h);
  const warnings = [...s.warnings];
  const fallback = engineFallbackWarning(engine.engine, ctx.workerScript);
  if (fallback) warnings.unshift(fallback);
  if (h.burnIn < h.draws) warnings.push(`burn-in (${h.burnIn}) is shorter than the draws (${h.draws}): devinterp warns that LLC estimates will then likely be underestimates; check that the loss traces have flattened.`);
  if (h.gamma === 0) warnings.push('γ = 0: the chains are not localised at w*, so they may wander to other basins (devinterp\'s default; set --gamma, e.g. 1 to 100).');
  const perPass = batchesPerPass(task.data.n, h.batchSize);
  if (h.draws > perPass) warnings.push(`more draws (${h.draws}) than batches per pass over the data (${perPass}): batches repeat (reshuffled each pass).`);
  return {
    loss: task.data.loss,
    ...(task.data.nextToken ? { nextToken: true } : {}),
    n: task.data.n,
    parameters: task.spec.size,
    llc: s.llc,
    lossAtCheckpoint: init,
    hyperparameters: h,
    traces: s.traces,
    chains: s.chains,
    diagnostics: s.diagnostics,
    warnings,
    threads,
    engine: { name: engine.engine, note: ENGINE_NOTES[engine.engine] },
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A thread pool holding `task` for several estimates at once (the sweep's cells). */
export function chainPoolFor(task: LoadedTask, chains: number, ctx: { threads?: number; workerScript?: string } = {}): { pool: ChainPool; threads: number } {
  const threads = chainThreads(chains, ctx.threads);
  return { pool: new ChainPool({ spec: task.spec, wStar: task.wStar, data: task.data, ...chainEngine(task.spec, ctx.workerScript) }, threads, ctx.workerScript), threads };
}

export async function estimateLlc(opts: LlcOptions, ctx: LlcContext = {}): Promise<LlcReport> {
  const task = await loadTask({ ...opts, isCancelled: ctx.isCancelled });
  const h = resolveHyperparameters(opts.hyperparameters ?? {}, task.data.n);
  ctx.log?.(`LLC: ${task.spec.size} parameters, ${task.data.n} examples (${task.data.loss}), ${h.chains} chains × ${h.draws} draws`);
  const r = await estimateOnTask(task, h, { ...ctx, threads: opts.threads, workerScript: opts.workerScript });
  return { checkpoint: opts.checkpoint, data: task.data.name, ...r };
}
