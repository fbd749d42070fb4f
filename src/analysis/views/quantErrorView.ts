// The quantization error report: facts, a chart of the relative RMS error per layer and tensor
// kind (one line per kind, so a layer or kind that quantized badly stands out), and the table.
import type { QuantErrorReport } from '../compare/quantError';
import type { AnalysisView, TableView } from '../report/analysisView';
import { type Row, cell, chart, fmt } from './compareViewParts';

export function quantErrorView(r: QuantErrorReport): AnalysisView {
  const layerRows: Row[] = r.rows.filter((x) => x.layer !== null).map((x) => ({ layer: x.layer, tensor: x.part, type: x.type, relRms: cell(x.relRms), maxAbs: cell(x.maxAbs), name: x.gguf }));
  const table: TableView = {
    id: 'quant-error-tensors',
    title: 'Tensors',
    columns: ['GGUF tensor', 'source tensor', 'GGUF type', 'source dtype', 'shape', 'max |q − s|', 'RMS error', 'RMS error / RMS(s)', 'Q/K un-permuted'],
    rows: [
      ...r.rows.map((x) => [x.gguf, x.source, x.type, x.sourceDtype, `[${x.shape}]`, cell(x.maxAbs), cell(x.rms), cell(x.relRms), x.unpermuted]),
      ...r.unmatchedGguf.map((n) => [n, null, null, null, null, null, null, null, null]),
      ...r.unmatchedSource.map((n) => [null, n, null, null, null, null, null, null, null]),
    ],
  };
  return {
    kind: 'quantError',
    title: 'Quantization error',
    subtitle: `${r.gguf} against ${r.source}`,
    facts: [
      { label: 'Architecture', value: r.architecture },
      { label: 'Tensors compared', value: `${r.rows.length}${r.unmatchedGguf.length || r.unmatchedSource.length ? ` (unmatched: ${r.unmatchedGguf.length} in the GGUF, ${r.unmatchedSource.length} in the source)` : ''}` },
      { label: 'Relative RMS error (all)', value: fmt(r.overall.relRms), definition: '‖q − s‖ / ‖s‖ over every compared value, q dequantized as ggml does' },
      { label: 'RMS error (all)', value: fmt(r.overall.rms), definition: 'sqrt(mean((q − s)²))' },
      { label: 'Max |q − s|', value: fmt(r.overall.maxAbs) },
    ],
    charts: layerRows.length
      ? [chart('quant-error-layers', 'Relative RMS error per layer', layerRows, {
        height: 260,
        mark: { type: 'line', point: true, tooltip: true },
        encoding: {
          x: { field: 'layer', type: 'quantitative', title: 'Layer', axis: { tickMinStep: 1 } },
          y: { field: 'relRms', type: 'quantitative', title: '‖q − s‖ / ‖s‖' },
          color: { field: 'tensor', type: 'nominal', title: 'Tensor' },
        },
      }, 'per block tensor: RMS of the dequantization error relative to the source tensor\'s RMS')]
      : [],
    tables: [table],
    notes: r.notes,
    report: JSON.parse(JSON.stringify(r)),
    complete: r.complete,
  };
}
