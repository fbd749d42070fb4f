// The runs view's training-dynamics sections: conserved quantities per adjacent layer pair
// (balance and per-unit drift, with the verdict), lazy vs rich (relative weight change per layer,
// activation-pattern change and kernel distance), loss and accuracy, and the LLC curve with its
// ±std band and the hyper-parameters on the chart.
import type { DynamicsReport } from '../dynamics/runDynamics';
import type { ChartView, Fact, TableView, ViewJson } from '../report/analysisView';
import { type Row, cell, chart, fmt } from './compareViewParts';
import { hyperparameterText } from './llcView';

function facet(id: string, title: string, rows: Row[], y: string, yTitle: string, by: string, order: string[], caption: string): ChartView {
  const spec: { [key: string]: ViewJson } = {
    facet: { field: by, type: 'nominal', title: by === 'pair' ? 'Layer pair' : 'Layer', sort: order },
    columns: Math.min(3, Math.max(1, order.length)),
    spec: { width: 200, height: 130, mark: { type: 'line', point: true, tooltip: true }, encoding: { x: { field: 'step', type: 'quantitative', title: 'Step' }, y: { field: y, type: 'quantitative', title: yTitle }, color: { field: 'run', type: 'nominal', title: 'Run' } } },
    resolve: { scale: { y: 'independent' } },
  };
  return chart(id, title, rows, spec, caption);
}

function lines(id: string, title: string, rows: Row[], y: string, yTitle: string, caption: string): ChartView {
  return chart(id, title, rows, { height: 200, mark: { type: 'line', point: true, tooltip: true }, encoding: { x: { field: 'step', type: 'quantitative', title: 'Step' }, y: { field: y, type: 'quantitative', title: yTitle }, color: { field: 'run', type: 'nominal', title: 'Run' } } }, caption);
}

export function dynamicsSections(d: DynamicsReport): { facts: Fact[]; charts: ChartView[]; tables: TableView[]; notes: string[] } {
  const pairRows: Row[] = d.runs.flatMap((run) => run.checkpoints.flatMap((c) => run.pairs.map((p, i) => ({ run: run.run, step: c.step, pair: `${p.layer} → ${p.next}`, balance: cell(c.balances[i]), drift: cell(c.unitBalanceDrift[i]) }))));
  const pairOrder = [...new Set(pairRows.map((r) => r.pair as string))];
  const layerRows: Row[] = d.runs.flatMap((run) => run.checkpoints.flatMap((c) => run.layers.map((l, i) => ({ run: run.run, step: c.step, layer: l, relativeChange: cell(c.relativeChange[i]) }))));
  const layerOrder = [...new Set(layerRows.map((r) => r.layer as string))];
  const perCkpt: Row[] = d.runs.flatMap((run) => run.checkpoints.map((c) => ({ run: run.run, step: c.step, patternChange: cell(c.patternChange), kernelDistance: cell(c.kernelDistance), loss: cell(c.loss), accuracy: cell(c.accuracy), llc: cell(c.llc?.mean), llcLow: c.llc ? cell(c.llc.mean - c.llc.std) : null, llcHigh: c.llc ? cell(c.llc.mean + c.llc.std) : null })));
  const charts: ChartView[] = [];
  if (pairRows.length) {
    charts.push(facet('dynamics-balance', 'Layer balance ‖W_ℓ+1‖² − (‖W_ℓ‖² + ‖b_ℓ‖²)', pairRows, 'balance', 'balance', 'pair', pairOrder, 'conserved under gradient flow for ReLU/linear networks (Du et al. 2018): flat lines mean gradient-flow-like training'));
    charts.push(facet('dynamics-unit-drift', 'Per-unit δ drift from the first checkpoint', pairRows, 'drift', '‖δ(t) − δ(0)‖ / ‖s(0)‖', 'pair', pairOrder, 'δ_i = ‖w_in,i‖² + b_i² − ‖w_out,i‖²; drift relative to s_i = ‖w_in,i‖² + b_i² + ‖w_out,i‖² at the first checkpoint'));
  }
  if (layerRows.length) charts.push(facet('dynamics-relative-change', 'Relative weight change ‖W(t) − W(0)‖ / ‖W(0)‖', layerRows, 'relativeChange', 'relative change', 'layer', layerOrder, 'near 0: lazy (the network stays near its initial linearisation)'));
  if (perCkpt.some((r) => r.patternChange !== null)) {
    charts.push(lines('dynamics-pattern-change', 'Activation-pattern change', perCkpt.filter((r) => r.patternChange !== null), 'patternChange', 'share of flipped ReLU bits', `share of (probe example, ReLU unit) on/off bits that differ from the first checkpoint, on ${d.probe} probe examples`));
    charts.push(lines('dynamics-kernel-distance', d.kernel === 'ntk' ? 'Kernel distance (empirical NTK)' : 'Kernel distance (last-hidden-feature Gram, a proxy for the NTK)', perCkpt.filter((r) => r.kernelDistance !== null), 'kernelDistance', '1 − cos(K_t, K_0)', d.kernel === 'ntk' ? 'exact empirical NTK over (probe example, output) pairs: 0 lazy, towards 1 rich (Kunin et al. 2024)' : 'Gram matrix of the last hidden layer\'s features on the probe set (the network is too large for the exact NTK here)'));
  }
  if (perCkpt.some((r) => r.loss !== null)) {
    charts.push(lines('dynamics-loss', 'Loss per checkpoint', perCkpt.filter((r) => r.loss !== null), 'loss', d.loss === 'mse' ? 'mean squared error' : 'cross-entropy (nats)', `on ${d.data}`));
    if (perCkpt.some((r) => r.accuracy !== null)) charts.push(lines('dynamics-accuracy', 'Accuracy per checkpoint', perCkpt.filter((r) => r.accuracy !== null), 'accuracy', 'accuracy', `on ${d.data}`));
  }
  if (d.llcHyperparameters && perCkpt.some((r) => r.llc !== null)) {
    const rows = perCkpt.filter((r) => r.llc !== null);
    charts.push(chart('dynamics-llc', `LLC over training (${hyperparameterText(d.llcHyperparameters)})`, rows, {
      height: 220,
      encoding: { x: { field: 'step', type: 'quantitative', title: 'Step' }, color: { field: 'run', type: 'nominal', title: 'Run' } },
      layer: [
        { mark: { type: 'area', opacity: 0.2 }, encoding: { y: { field: 'llcLow', type: 'quantitative', title: 'λ̂' }, y2: { field: 'llcHigh' } } },
        { mark: { type: 'line', point: true, tooltip: true }, encoding: { y: { field: 'llc', type: 'quantitative', title: 'λ̂' } } },
      ],
    }, `λ̂ mean ± std over chains at every checkpoint, same hyper-parameters throughout: ${hyperparameterText(d.llcHyperparameters)}. Compare within one architecture only`));
  }
  return {
    facts: d.runs.map((run) => ({ label: `Conserved quantities, ${run.run}`, value: run.verdict, definition: `largest per-unit δ drift over the layer pairs; ${d.bias}` })),
    charts,
    tables: [{
      id: 'dynamics-checkpoints',
      title: 'Training dynamics per checkpoint',
      columns: ['run', 'step', 'balances', 'δ drift (max)', 'relative change (max)', 'pattern change', 'kernel distance', 'loss', 'accuracy', 'λ̂', 'λ̂ std'],
      rows: d.runs.flatMap((run) => run.checkpoints.map((c) => [run.run, c.step, c.balances.map((b) => fmt(b)).join(', '), cell(Math.max(0, ...c.unitBalanceDrift)), cell(Math.max(0, ...c.relativeChange)), cell(c.patternChange), cell(c.kernelDistance), cell(c.loss), cell(c.accuracy), cell(c.llc?.mean), cell(c.llc?.std)])),
    }],
    notes: [`Bias convention of the conserved quantities: ${d.bias}.`, 'These quantities are conserved only under gradient flow: SGD drifts them slowly (O(lr²) per step), Adam and weight decay break them.'],
  };
}
