// The `runs` report's training-dynamics part: computed after the weight drift, attached as
// `dynamics` (verdicts, settings) and as per-checkpoint fields. Runs whose checkpoints are not
// a recognised model get a warning instead (the weight drift still stands).
import type { RunsReport } from '../compare/trainingRuns';
import { isCancelled } from '../core/errors';
import { fmtNum, table } from '../cli/textTable';
import { type DynamicsContext, type DynamicsOptions, type DynamicsReport, runDynamics } from './runDynamics';

export type { DynamicsOptions } from './runDynamics';

export type RunsWithDynamics = RunsReport & { dynamics?: DynamicsReport };

export async function addDynamics(r: RunsWithDynamics, opts: DynamicsOptions, ctx: DynamicsContext = {}): Promise<RunsWithDynamics> {
  try {
    r.dynamics = await runDynamics(r, opts, ctx);
    r.warnings.push(...r.dynamics.warnings);
  } catch (e) {
    if (isCancelled(e)) throw e;
    if (opts.data || opts.llc) throw e;
    r.warnings.push(`conserved quantities and lazy/rich measures skipped: ${(e as Error).message}`);
  }
  return r;
}

/** One line for a checkpoint's dynamics (the watch output, as each checkpoint arrives). */
export function checkpointDynamicsLine(run: DynamicsReport['runs'][number], c: DynamicsReport['runs'][number]['checkpoints'][number], d: DynamicsReport): string {
  const parts = [`${run.run}  step ${c.step}  balances ${c.balances.map((b) => fmtNum(b)).join(' ')}  max δ drift ${fmtNum(Math.max(0, ...c.unitBalanceDrift))}  max rel. change ${fmtNum(Math.max(...c.relativeChange))}`];
  if (c.loss !== undefined) parts.push(`loss ${fmtNum(c.loss)}${c.accuracy !== undefined ? `  accuracy ${fmtNum(c.accuracy)}` : ''}`);
  if (d.llcHyperparameters) parts.push(c.llc ? `λ̂ ${fmtNum(c.llc.mean)} ± ${fmtNum(c.llc.std)}` : 'λ̂ -');
  return parts.join('  ');
}

/** Text lines for the human-readable runs output. */
export function dynamicsLines(r: RunsWithDynamics): string[] {
  const d = r.dynamics;
  if (!d) return [];
  const lines: string[] = [''];
  for (const run of d.runs) {
    lines.push(`dynamics  ${run.run}: ${run.verdict}`);
    const pairNames = run.pairs.map((p) => `${p.layer}→${p.next}`);
    lines.push(table(
      ['step', ...pairNames.map((p) => `balance ${p}`), ...pairNames.map((p) => `δ drift ${p}`), 'max rel. change', ...(d.probe ? ['pattern Δ', d.kernel === 'ntk' ? 'NTK dist.' : 'feature-Gram dist.'] : []), ...(d.data ? ['loss', 'accuracy'] : []), ...(d.llcHyperparameters ? ['λ̂'] : [])],
      run.checkpoints.map((c) => [String(c.step), ...c.balances.map((b) => fmtNum(b)), ...c.unitBalanceDrift.map((b) => fmtNum(b)), fmtNum(Math.max(...c.relativeChange)), ...(d.probe ? [fmtNum(c.patternChange), fmtNum(c.kernelDistance)] : []), ...(d.data ? [fmtNum(c.loss), fmtNum(c.accuracy)] : []), ...(d.llcHyperparameters ? [c.llc ? `${fmtNum(c.llc.mean)} ± ${fmtNum(c.llc.std)}` : '-'] : [])]),
    ));
  }
  lines.push(`bias      ${d.bias}`);
  if (d.llcHyperparameters) {
    const h = d.llcHyperparameters;
    lines.push(`llc       ε ${h.epsilon}, γ ${h.gamma}, nβ ${fmtNum(h.nbeta)}, ${h.chains} chains × ${h.draws} draws, burn-in ${h.burnIn}, batch ${h.batchSize}, seed ${h.seed} at every step`);
  }
  return lines;
}
