// The calibration sweep (devinterp's EpsilonBetaAnalyzer idea): λ̂ over a grid of step sizes ε
// and inverse temperatures nβ, at fixed γ, chains, draws, batch size and seed, with each cell's
// stationarity, divergence and MALA acceptance. A trustworthy setting sits where λ̂ is flat in
// ε (and λ̂/nβ flat in nβ), the chains have settled and none diverged.
import { type LlcContext, type LlcHyperparameters, type LlcOptions, type LoadedTask, chainPoolFor, defaultNbeta, estimateOnTask, loadTask, resolveHyperparameters } from './llc';
import { engineFallbackWarning } from './llcPool';

export interface SweepCell {
  epsilon: number;
  nbeta: number;
  llc: number;
  std: number;
  /** λ̂ / nβ, which the grokking notebook reads for a flat region. */
  llcOverNbeta: number;
  /** Split-R̂ of the cell's loss traces; settled (stationary) below RHAT_SETTLED. */
  rhat: number;
  stationary: boolean;
  diverged: number;
  malaAcceptance: number;
  drawsBelowInit: number;
}

export interface SweepReport {
  checkpoint: string;
  data: string;
  epsilons: number[];
  nbetas: number[];
  /** The settings shared by every cell (ε and nβ are the grid's). */
  hyperparameters: Omit<LlcHyperparameters, 'epsilon' | 'nbeta'>;
  cells: SweepCell[];
  /** The cell suggested: stationary, not diverged, λ̂ > 0, MALA nearest 0.9, at the default nβ when possible. */
  suggestion?: { epsilon: number; nbeta: number };
  seconds: number;
  /** Said when the chains fell back to a slower engine (tfjs-wasm's binaries missing). */
  warnings?: string[];
}

export interface SweepOptions extends LlcOptions {
  epsilons?: number[];
  nbetas?: number[];
}

/** Default grid: ε over five decades, nβ at ¼, 1 and 4 × the default. */
export function defaultGrid(batchSize: number): { epsilons: number[]; nbetas: number[] } {
  const nb = defaultNbeta(batchSize);
  return { epsilons: [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], nbetas: [nb / 4, nb, nb * 4] };
}

export async function sweepOnTask(task: LoadedTask, base: LlcHyperparameters, grid: { epsilons: number[]; nbetas: number[] }, ctx: LlcContext & { threads?: number; workerScript?: string; onCell?: (done: number, total: number, cell: SweepCell) => void } = {}): Promise<Omit<SweepReport, 'checkpoint' | 'data'>> {
  const t0 = performance.now();
  const cells: SweepCell[] = [];
  const total = grid.epsilons.length * grid.nbetas.length;
  // One pool for every cell: threads and their engines start once.
  const pool = chainPoolFor(task, base.chains, ctx);
  ctx.log?.(`sweep: ${total} cells on one pool of ${pool.threads} thread${pool.threads > 1 ? 's' : ''}`);
  try {
    for (const nbeta of grid.nbetas) {
      for (const epsilon of grid.epsilons) {
        const r = await estimateOnTask(task, { ...base, epsilon, nbeta }, { isCancelled: ctx.isCancelled, pool });
        const cell: SweepCell = {
          epsilon,
          nbeta,
          llc: r.llc.mean,
          std: r.llc.std,
          llcOverNbeta: r.llc.mean / nbeta,
          rhat: r.diagnostics.rhat,
          stationary: r.diagnostics.stationary,
          diverged: r.diagnostics.divergedChains,
          malaAcceptance: r.diagnostics.malaAcceptance,
          drawsBelowInit: r.diagnostics.drawsBelowInit,
        };
        cells.push(cell);
        ctx.onCell?.(cells.length, total, cell);
      }
    }
  } finally {
    await pool.pool.close();
  }
  const healthy = cells.filter((c) => c.stationary && c.diverged === 0 && c.llc > 0 && Number.isFinite(c.malaAcceptance));
  const atDefault = healthy.filter((c) => Math.abs(c.nbeta - base.nbeta) < 1e-9 * base.nbeta);
  const candidates = atDefault.length ? atDefault : healthy;
  const best = candidates.sort((a, b) => Math.abs(a.malaAcceptance - 0.9) - Math.abs(b.malaAcceptance - 0.9))[0];
  const { epsilon: _e, nbeta: _n, ...shared } = base;
  const fallback = engineFallbackWarning(pool.pool.engine, ctx.workerScript);
  return { epsilons: grid.epsilons, nbetas: grid.nbetas, hyperparameters: shared, cells, suggestion: best && { epsilon: best.epsilon, nbeta: best.nbeta }, seconds: (performance.now() - t0) / 1000, ...(fallback ? { warnings: [fallback] } : {}) };
}

export async function runLlcSweep(opts: SweepOptions, ctx: LlcContext & { onCell?: (done: number, total: number, cell: SweepCell) => void } = {}): Promise<SweepReport> {
  const task = await loadTask({ ...opts, isCancelled: ctx.isCancelled });
  const base = resolveHyperparameters({ chains: 4, draws: 200, burnIn: 200, ...opts.hyperparameters }, task.data.n);
  const dflt = defaultGrid(base.batchSize);
  const grid = { epsilons: opts.epsilons ?? dflt.epsilons, nbetas: opts.nbetas ?? (opts.hyperparameters?.nbeta !== undefined ? [opts.hyperparameters.nbeta] : dflt.nbetas) };
  const r = await sweepOnTask(task, base, grid, { ...ctx, threads: opts.threads, workerScript: opts.workerScript });
  return { checkpoint: opts.checkpoint, data: task.data.name, ...r };
}
