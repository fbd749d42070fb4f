// The LLC estimate and its calibration sweep as views: λ̂ with its spread, the per-chain loss
// traces against L(w*) (the chart researchers read first), per-chain λ̂ and MALA acceptance, and
// the sweep's ε × nβ heatmap with unsettled and diverged cells marked.
import { type LlcReport, SETTLED_CRITERION } from '../dynamics/llc';
import type { SweepReport } from '../dynamics/llcSweep';
import type { AnalysisView } from '../report/analysisView';
import { type Row, cell, chart, fmt } from './compareViewParts';
import { jsonSafe } from './viewHelpers';
import { textOnViridis } from './viewParts';

/** Draws per chain kept in the trace chart (every k-th draw beyond this). */
const MAX_TRACE_POINTS = 400;

export function hyperparameterText(h: { epsilon: number; gamma: number; nbeta: number; chains: number; draws: number; burnIn: number; batchSize: number; seed: number }): string {
  return `ε ${h.epsilon}, γ ${h.gamma}, nβ ${fmt(h.nbeta)}, ${h.chains} chains × ${h.draws} draws, burn-in ${h.burnIn}, batch ${h.batchSize}, seed ${h.seed}`;
}

export function llcView(r: LlcReport, complete = true): AnalysisView {
  const h = r.hyperparameters;
  const trace: Row[] = [];
  r.traces.forEach((t, c) => {
    const every = Math.max(1, Math.ceil(t.length / MAX_TRACE_POINTS));
    t.forEach((loss, d) => {
      if (d % every === 0 || d === t.length - 1) trace.push({ chain: `chain ${c}`, draw: d + 1, loss });
    });
  });
  const perChain: Row[] = r.chains.map((c) => ({ chain: `chain ${c.chain}`, llc: cell(c.llc), mala: cell(c.mala), settled: c.stationary, diverged: c.diverged ?? null }));
  const d = r.diagnostics;
  return {
    kind: 'llc',
    title: 'Local learning coefficient',
    subtitle: `${r.checkpoint} on ${r.data}`,
    facts: [
      { label: 'λ̂', value: `${fmt(r.llc.mean)} ± ${fmt(r.llc.std)}`, definition: 'nβ · (mean SGLD minibatch loss over the draws − L(w*)) per chain; mean ± standard deviation over chains (Lau et al. 2023; devinterp v1.3.2)' },
      { label: 'L(w*)', value: fmt(r.lossAtCheckpoint), definition: `mean ${r.loss === 'mse' ? 'squared error' : r.nextToken ? 'next-token cross-entropy' : 'cross-entropy'} of the first ${Math.min(h.chains, Math.ceil(r.n / h.batchSize))} batches in dataset order (devinterp's init_loss)` },
      { label: 'Settings', value: hyperparameterText(h), definition: 'SGLD: Δw = −(ε/2)(nβ ∇L_batch + γ (w − w*)) + √ε · N(0, 1); draws after burn-in, one step apart' },
      { label: 'Chains with λ̂ < 0', value: `${Math.round(d.negativeChains * (h.chains - d.divergedChains))} of ${h.chains - d.divergedChains}`, definition: 'the chain found lower loss than the checkpoint: w* is not a local minimum at this resolution, γ too small or ε too large' },
      { label: 'Draws below L(w*)', value: `${fmt(100 * d.drawsBelowInit, 3)} %`, definition: "devinterp's percent_neg_steps" },
      { label: 'MALA acceptance', value: fmt(d.malaAcceptance, 3), definition: 'mean Metropolis-adjusted acceptance of the SGLD moves; ≈ 0.9 when ε suits the posterior, near 0 when ε is too large' },
      { label: 'Diverged chains', value: String(d.divergedChains), definition: 'loss NaN/∞ or ≥ 10⁴ × its start: the chain is stopped and left out' },
      { label: 'Split-R̂', value: `${fmt(d.rhat, 3)} (${d.stationary ? 'settled' : 'not settled'})`, definition: `settled: ${SETTLED_CRITERION}` },
      { label: 'Data', value: `${r.n} ${r.nextToken ? 'sequences' : 'examples'}, ${r.parameters} parameters, ${r.loss === 'mse' ? 'mean squared error' : r.nextToken ? 'next-token cross-entropy' : 'cross-entropy'}` },
    ],
    charts: [
      chart('llc-traces', 'Loss traces per chain', trace, {
        height: 260,
        layer: [
          { mark: { type: 'line', tooltip: true, strokeWidth: 1 }, encoding: { x: { field: 'draw', type: 'quantitative', title: 'Draw' }, y: { field: 'loss', type: 'quantitative', title: 'Minibatch loss', scale: { zero: false } }, color: { field: 'chain', type: 'nominal', title: 'Chain' } } },
          { data: { values: [{ init: r.lossAtCheckpoint }] }, mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { field: 'init', type: 'quantitative' } } },
        ],
      }, 'the loss at each draw (before the step); dashed: L(w*). Healthy chains rise, then level off without spikes'),
      chart('llc-per-chain', 'λ̂ per chain', perChain.filter((p) => p.llc !== null), {
        height: 200,
        mark: { type: 'point', filled: true, size: 80, tooltip: true },
        encoding: { x: { field: 'chain', type: 'nominal', title: 'Chain', sort: null }, y: { field: 'llc', type: 'quantitative', title: 'λ̂', scale: { zero: false } }, shape: { field: 'settled', type: 'nominal', title: 'Settled' } },
      }, `λ̂ of each chain; the shape says whether the chain settled on its own (${SETTLED_CRITERION})`),
    ],
    tables: [
      {
        id: 'llc-chains',
        title: 'Chains',
        columns: ['chain', 'λ̂', 'mean loss', 'draws below L(w*)', 'MALA acceptance', 'split-R̂', 'settled', 'diverged', 'seconds'],
        rows: r.chains.map((c) => [c.chain, cell(c.llc), cell(c.meanLoss), cell(c.belowInit), cell(c.mala), cell(c.rhat), c.stationary, c.diverged ?? null, cell(c.seconds)]),
      },
    ],
    notes: [...r.warnings, `Losses and gradients ${r.engine.note}; ${r.threads} thread${r.threads > 1 ? 's' : ''}, ${r.seconds.toFixed(1)} s; for this engine the result depends on the seed only, not on the threads.`],
    report: jsonSafe(r) as unknown as AnalysisView['report'],
    complete,
  };
}

export function llcSweepView(r: SweepReport, complete = true): AnalysisView {
  // The colour domain, set explicitly so each label's colour can follow its cell's luminance.
  const finite = r.cells.map((c) => c.llc).filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 1;
  const rows: Row[] = r.cells.map((c) => ({
    epsilon: c.epsilon,
    nbeta: Number(c.nbeta.toPrecision(4)),
    llc: cell(c.llc),
    llcOverNbeta: cell(c.llcOverNbeta),
    mala: cell(c.malaAcceptance),
    status: c.diverged ? 'diverged' : !c.stationary ? 'not settled' : c.llc < 0 ? 'λ̂ < 0' : 'ok',
    rhat: cell(c.rhat),
    label: c.diverged ? '✕' : Number.isFinite(c.llc) ? fmt(c.llc, 3) + (c.stationary ? '' : ' ~') : '—',
    // Black or white, whichever contrasts more with the cell's viridis fill; none on cells without fill.
    labelColour: Number.isFinite(c.llc) ? textOnViridis(hi > lo ? (c.llc - lo) / (hi - lo) : 0.5) : null,
  }));
  const h = r.hyperparameters;
  return {
    kind: 'llc-sweep',
    title: 'LLC calibration sweep',
    subtitle: `${r.checkpoint} on ${r.data}`,
    facts: [
      { label: 'Suggested', value: r.suggestion ? `ε ${r.suggestion.epsilon}, nβ ${fmt(r.suggestion.nbeta)}` : 'none (no settled cell with λ̂ > 0)', definition: 'among settled, non-diverged cells with λ̂ > 0 (at the default nβ when possible), the MALA acceptance nearest 0.9' },
      { label: 'Shared settings', value: `γ ${h.gamma}, ${h.chains} chains × ${h.draws} draws, burn-in ${h.burnIn}, batch ${h.batchSize}, seed ${h.seed}` },
      { label: 'Cells', value: `${r.cells.length} in ${r.seconds.toFixed(1)} s` },
    ],
    charts: [
      chart('llc-sweep-heatmap', 'λ̂ over ε × nβ', rows, {
        height: 60 + 40 * r.nbetas.length,
        encoding: {
          x: { field: 'epsilon', type: 'ordinal', title: 'Step size ε' },
          y: { field: 'nbeta', type: 'ordinal', title: 'nβ', sort: 'descending' },
        },
        layer: [
          { mark: { type: 'rect', tooltip: true }, encoding: { color: { field: 'llc', type: 'quantitative', title: 'λ̂', scale: { scheme: 'viridis', domain: [lo, hi === lo ? lo + 1 : hi], nice: false, zero: false } } } },
          { transform: [{ filter: 'datum.labelColour != null' }], mark: { type: 'text' }, encoding: { text: { field: 'label', type: 'nominal' }, color: { field: 'labelColour', type: 'nominal', scale: null } } },
          // Diverged or empty cells have no fill: their mark takes the theme's text colour.
          { transform: [{ filter: 'datum.labelColour == null' }], mark: { type: 'text' }, encoding: { text: { field: 'label', type: 'nominal' } } },
        ],
        // The labels' colours are literal (scale: null), not values of the cells' colour scale.
        resolve: { scale: { color: 'independent' } },
      }, `each cell: λ̂ (mean over chains); ~ marks cells whose chains have not settled (${SETTLED_CRITERION}), ✕ diverged. Pick ε where λ̂ is flat in ε`),
      chart('llc-sweep-lines', 'λ̂ / nβ against ε', rows.filter((x) => x.status !== 'diverged'), {
        height: 220,
        mark: { type: 'line', point: true, tooltip: true },
        encoding: {
          x: { field: 'epsilon', type: 'quantitative', scale: { type: 'log' }, title: 'ε (log)' },
          y: { field: 'llcOverNbeta', type: 'quantitative', title: 'λ̂ / nβ' },
          color: { field: 'nbeta', type: 'nominal', title: 'nβ' },
        },
      }, 'λ̂/nβ per nβ (the grokking notebook looks for a flat region); diverged cells left out'),
    ],
    tables: [{ id: 'llc-sweep-cells', title: 'Cells', columns: ['ε', 'nβ', 'λ̂', 'std', 'λ̂/nβ', 'MALA', 'split-R̂', 'settled', 'diverged chains', 'draws below L(w*)'], rows: r.cells.map((c) => [c.epsilon, cell(c.nbeta), cell(c.llc), cell(c.std), cell(c.llcOverNbeta), cell(c.malaAcceptance), cell(c.rhat), c.stationary, c.diverged, cell(c.drawsBelowInit)]) }],
    notes: [...(r.warnings ?? []), 'Every cell runs the same chains (same seed and data order) at its own ε and nβ.', `Settled: ${SETTLED_CRITERION}.`],
    report: jsonSafe(r) as unknown as AnalysisView['report'],
    complete,
  };
}
