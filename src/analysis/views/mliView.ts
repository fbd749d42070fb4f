// The MLI report as the UI shows it: the monotonicity verdict and Δ, the loss and accuracy from
// the initialisation to the trained weights, and how far each layer moved.
import type { MliProgress, MliReport } from '../interpolate/mli';
import { MLI_DEFINITIONS } from '../interpolate/mli';
import type { AnalysisView, ChartView, Fact, ViewJson } from '../report/analysisView';
import { type Row, alphaText, nats, pathLineChart, spec } from './viewParts';

export function mliView(report: MliReport | MliProgress): AnalysisView {
  const rows = (key: 'loss' | 'accuracy'): Row[] => report.alphas.flatMap((alpha, i) => (report[key][i] === null ? [] : [{ path: 'init → final', alpha, value: report[key][i] }]));
  // Δ = 0 (the loss never rises above an earlier value): no rule to draw, the chart says so.
  const rise = report.complete && report.delta > 0;
  const noRise = report.complete && !rise;
  const charts: ChartView[] = [
    pathLineChart('mli-loss', 'Loss from initialisation to the trained weights', rows('loss'), 'loss (nats)', `mean cross-entropy at ${MLI_DEFINITIONS.path} (α = 0: init, α = 1: final); ${noRise ? 'no rise: the loss never goes above an earlier value (Δ = 0)' : 'the rule marks the largest rise Δ'}`, undefined, {
      xTitle: 'α (0 = init → 1 = final)',
      marks: rise ? [{ path: 'init → final', alpha: report.deltaAlpha, label: `largest rise Δ ${report.delta.toFixed(3)} nats` }] : [],
      ...(noRise ? { note: 'no rise (Δ = 0)' } : {}),
    }),
    pathLineChart('mli-accuracy', 'Accuracy from initialisation to the trained weights', rows('accuracy'), 'accuracy', `accuracy at ${MLI_DEFINITIONS.path} (axis zoomed to the data)`, '.1%', { xTitle: 'α (0 = init → 1 = final)', zoom: true }),
  ];
  const facts: Fact[] = [];
  const notes: string[] = [];
  const tables: AnalysisView['tables'] = [];
  if (report.complete) {
    facts.push(
      { label: 'monotonic (MLI)', value: report.monotonic ? `yes (Δ ≤ ${report.tol})` : `no (Δ > ${report.tol})`, definition: MLI_DEFINITIONS.delta },
      { label: 'largest rise Δ', value: report.delta > 0 ? `${nats(report.delta)} at ${alphaText(report.deltaAlpha)}` : 'no rise (Δ = 0)', definition: MLI_DEFINITIONS.delta },
      { label: 'max loss − initial loss', value: nats(report.maxIncrease), definition: MLI_DEFINITIONS.maxIncrease },
      { label: 'distance travelled', value: report.distance.toPrecision(5), definition: MLI_DEFINITIONS.distance },
      { label: 'relative distance', value: report.relativeDistance.toPrecision(5), definition: MLI_DEFINITIONS.relativeDistance },
    );
    const layerRows: Row[] = report.layers.map((l) => ({ layer: l.name, distance: l.distance, relativeDistance: Number.isFinite(l.relativeDistance) ? l.relativeDistance : null }));
    charts.push({
      id: 'mli-layers',
      title: 'Relative distance moved per layer',
      caption: `‖θ_T − θ₀‖₂ / ‖θ₀‖₂ over each module's parameters`,
      rows: layerRows,
      spec: spec({
        width: 'container',
        height: 220,
        data: { values: layerRows },
        mark: 'bar',
        encoding: {
          x: { field: 'layer', type: 'nominal', sort: null, title: 'layer' },
          y: { field: 'relativeDistance', type: 'quantitative', title: '‖θ_T − θ₀‖ / ‖θ₀‖' },
          tooltip: [{ field: 'layer', type: 'nominal' }, { field: 'distance', type: 'quantitative', format: '.4g' }, { field: 'relativeDistance', type: 'quantitative', format: '.4g' }],
        },
      }),
    });
    tables.push({ id: 'mli-layers', title: 'Distance per layer', columns: ['layer', '‖θ_T − θ₀‖₂', 'relative'], rows: report.layers.map((l) => [l.name, l.distance, Number.isFinite(l.relativeDistance) ? l.relativeDistance : null]) });
    notes.push(`model: ${report.description}`, report.batchNorm.note, `data: ${report.data}, ${report.n} examples per point`, `${report.backend} backend, ${report.threads} thread(s), ${report.seconds.toFixed(1)} s`);
  }
  tables.unshift({ id: 'mli-points', title: 'Points', columns: ['α', 'loss', 'accuracy'], rows: report.alphas.map((a, i) => [a, report.loss[i], report.accuracy[i]]) });
  return {
    kind: 'mli',
    title: 'Monotonic linear interpolation',
    subtitle: `${report.init} → ${report.final}`,
    facts, charts, tables, notes,
    report: report as unknown as ViewJson,
    complete: report.complete,
  };
}
