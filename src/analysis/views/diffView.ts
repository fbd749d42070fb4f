// The diff report as facts, a table of every tensor's fate and metrics, and a bar chart of the
// relative change per shared tensor (naive, and after alignment when it was run).
import type { DiffReport } from '../compare/checkpointDiff';
import type { AnalysisView, TableView } from '../report/analysisView';
import { type Row, cell, chart, fmt } from './compareViewParts';
import { comparisonEncoding } from './viewParts';

export function diffView(r: DiffReport): AnalysisView {
  const s = r.summary;
  const bars: Row[] = r.shared.flatMap((t, i) => [
    { tensor: t.name, order: i, comparison: 'naive', relChange: cell(t.metrics.relChange) },
    ...(t.aligned ? [{ tensor: t.name, order: i, comparison: 'aligned', relChange: cell(t.aligned.relChange) }] : []),
  ]);
  const table: TableView = {
    id: 'diff-tensors',
    title: 'Tensors',
    columns: ['tensor', 'status', 'dtype A', 'dtype B', 'shape A', 'shape B', '‖b−a‖/‖a‖', 'cosine', 'max |b−a|', 'aligned ‖b−a‖/‖a‖', 'aligned cosine'],
    rows: [
      ...r.shared.map((t) => [t.name, t.metrics.distance === 0 ? 'identical' : t.dtypeA !== t.dtypeB ? 'dtype changed' : 'changed', t.dtypeA, t.dtypeB, `[${t.shape}]`, `[${t.shape}]`, cell(t.metrics.relChange), cell(t.metrics.cosine), cell(t.metrics.maxAbsDiff), cell(t.aligned?.relChange), cell(t.aligned?.cosine)]),
      ...r.renamed.map((t) => [`${t.from} → ${t.to}`, 'renamed', t.dtype, t.dtype, `[${t.shape}]`, `[${t.shape}]`, cell(t.metrics.relChange), cell(t.metrics.cosine), cell(t.metrics.maxAbsDiff), null, null]),
      ...r.shapeChanged.map((t) => [t.name, 'shape changed', t.dtypeA, t.dtypeB, `[${t.from}]`, `[${t.to}]`, null, null, null, null, null]),
      ...r.removed.map((t) => [t.name, 'removed', t.dtype, null, `[${t.shape}]`, null, null, null, null, null, null]),
      ...r.added.map((t) => [t.name, 'added', null, t.dtype, null, `[${t.shape}]`, null, null, null, null, null]),
    ],
  };
  const al = r.alignment;
  return {
    kind: 'diff',
    title: 'Checkpoint diff',
    subtitle: `${r.a} → ${r.b}`,
    facts: [
      { label: 'Shared tensors', value: `${s.shared} (${s.identical} identical)` },
      { label: 'Added / removed / renamed', value: `${s.added} / ${s.removed} / ${s.renamed}`, definition: 'a rename: a removed and an added tensor of equal shape and dtype with cosine ≥ 0.9 or similar names' },
      { label: 'dtype / shape changes', value: `${s.dtypeChanged} / ${s.shapeChanged}` },
      { label: 'Relative change (all shared)', value: fmt(r.overall.relChange), definition: '‖b − a‖ / ‖a‖ over all shared tensors as one vector' },
      { label: 'Cosine similarity (all shared)', value: fmt(r.overall.cosine, 6), definition: '⟨a, b⟩ / (‖a‖ ‖b‖)' },
      ...(al ? [{ label: 'Relative change after alignment', value: fmt(al.overall.relChange), definition: `B permuted onto A by weight matching (${al.iterations} sweeps, seed ${al.seed}), over the tensors the model uses` }] : []),
    ],
    charts: [
      chart('diff-relative-change', 'Relative change per tensor', bars, {
        // One bar row per tensor: the height follows the rows (a fixed width, since 'container'
        // sizing would also try to fit the discrete height).
        width: 480,
        height: { step: al ? 10 : 16 },
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'tensor', type: 'nominal', sort: { field: 'order' }, title: 'Tensor' },
          x: { field: 'relChange', type: 'quantitative', title: '‖b − a‖ / ‖a‖' },
          ...(al ? { yOffset: { field: 'comparison', type: 'nominal' }, color: comparisonEncoding('comparison', ['naive', 'aligned'], 'Comparison') } : {}),
        },
      }, al ? 'naive: as stored; aligned: after permuting B onto A' : 'relative L2 change of each shared tensor (float64 sums)'),
    ],
    tables: [table],
    notes: [
      ...(r.prefixA || r.prefixB ? [`Names compared below the state-dict prefixes ("${r.prefixA}", "${r.prefixB}").`] : []),
      ...(al ? [`Aligned as ${al.model}: ‖A − B‖ ${fmt(al.distanceBefore)} → ${fmt(al.distanceAfter)} over the permuted tensors.`] : []),
      ...r.warnings,
    ],
    report: JSON.parse(JSON.stringify(r)),
    complete: r.complete,
  };
}
