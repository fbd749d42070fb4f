// The layer-swap report as a view: the L×L heatmap of the loss change with blocks i and j
// exchanged (Zhao et al.), the same for accuracy, and the reversed windows as bars.
import type { SwapReport } from '../sets/runSwap';
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import { type Row, chartSpec, fmt, jsonSafe, pct } from './viewHelpers';
import { heatColours, heatLabels } from './viewParts';

function heatmap(id: string, title: string, r: SwapReport, field: 'deltaLoss' | 'accuracy', caption: string): ChartView {
  const cells = r.blocks.flatMap((_, i) => r.blocks.map((__, j) => {
    const loss = r.loss[i][j], acc = r.accuracy[i][j];
    return { i: r.blocks[i], j: r.blocks[j], loss, accuracy: acc, deltaLoss: loss === null ? null : loss - r.baseline.loss };
  }));
  // Accuracy on viridis; Δ loss on inferno reversed (light for no change, dark for a large rise).
  const colours = heatColours(cells.map((c) => c[field]), field === 'accuracy' ? 'viridis' : 'inferno', { reverse: field !== 'accuracy' });
  const rows: Row[] = cells.map((c) => ({ ...c, labelColour: colours.labelColour(c[field]) }));
  const step = Math.max(18, Math.min(44, Math.floor(480 / r.blocks.length)));
  const fmtS = field === 'accuracy' ? '.1%' : '.3~g';
  return {
    id, title, rows, caption,
    spec: chartSpec(rows, {
      width: { step }, height: { step },
      layer: [
        {
          mark: { type: 'rect', tooltip: true },
          encoding: {
            x: { field: 'j', type: 'nominal', sort: r.blocks as ViewJson, title: 'block j', axis: { labelAngle: -40 } },
            y: { field: 'i', type: 'nominal', sort: r.blocks as ViewJson, title: 'block i' },
            color: { field, type: 'quantitative', title: field === 'accuracy' ? 'accuracy' : 'Δ loss (nats)', scale: colours.scale, legend: { format: fmtS } },
            tooltip: [{ field: 'i' }, { field: 'j' }, { field: 'loss', type: 'quantitative', format: '.4f' }, { field: 'deltaLoss', type: 'quantitative', format: '+.4f' }, { field: 'accuracy', type: 'quantitative', format: '.2%' }],
          },
        },
        ...(r.blocks.length <= 12 ? [heatLabels({ field: 'j', type: 'nominal', sort: r.blocks as ViewJson }, { field: 'i', type: 'nominal', sort: r.blocks as ViewJson }, { field, type: 'quantitative', format: field === 'accuracy' ? '.0%' : '.2f' })] : []),
      ],
      // The labels' colours are literal (black or white by their cell's fill), not the cells' scale.
      resolve: { scale: { color: 'independent' } },
    }, { description: `${title}: ${r.blocks.length}×${r.blocks.length} heatmap` }),
  };
}

export function swapView(r: SwapReport): AnalysisView {
  const charts: ChartView[] = [
    heatmap('swap-loss', 'Loss change with blocks i and j exchanged', r, 'deltaLoss', 'Δ loss = loss with blocks i and j exchanged (no retraining) − the network\'s loss; the diagonal is the network (Zhao et al. 2021).'),
    heatmap('swap-accuracy', 'Accuracy with blocks i and j exchanged', r, 'accuracy', `The network: ${pct(r.baseline.accuracy)}.`),
  ];
  if (r.windows.length) {
    const rows: Row[] = r.windows.map((w) => ({ window: w.blocks.join(' → '), start: w.start, loss: w.loss, accuracy: w.accuracy, deltaLoss: w.loss - r.baseline.loss }));
    charts.push({
      id: 'swap-windows', title: `Windows of ${r.window} contiguous blocks reversed`, rows,
      caption: 'Each window of contiguous blocks in reverse order (Zhao et al.\'s order for three or more layers).',
      spec: chartSpec(rows, {
        mark: 'bar',
        encoding: {
          x: { field: 'window', type: 'nominal', sort: null, title: 'reversed window', axis: { labelAngle: -30 } },
          y: { field: 'deltaLoss', type: 'quantitative', title: 'Δ loss (nats)' },
          tooltip: [{ field: 'window' }, { field: 'loss', format: '.4f' }, { field: 'deltaLoss', format: '+.4f' }, { field: 'accuracy', format: '.2%' }],
        },
      }),
    });
  }
  const off = r.loss.flatMap((row, i) => row.filter((v, j) => i !== j && v !== null) as number[]);
  return {
    kind: 'swap', title: `Layer swaps: ${r.blocks.length} blocks`, subtitle: r.description,
    facts: [
      { label: 'the network', value: `loss ${fmt(r.baseline.loss)}, accuracy ${pct(r.baseline.accuracy)} (${r.n} examples of ${r.data})` },
      { label: 'swappable blocks', value: r.blocks.join(', '), definition: 'residual blocks of identical structure (same ops and weight shapes), derived from the graph IR' },
      ...(off.length ? [{ label: 'Δ loss over swaps', value: `${fmt(Math.min(...off) - r.baseline.loss)} … ${fmt(Math.max(...off) - r.baseline.loss)} nats` }] : []),
      { label: 'time', value: `${r.seconds.toFixed(2)} s (${r.backend})` },
    ],
    charts,
    tables: [],
    notes: [
      'Blocks are exchanged by exchanging their weights, which is the network with the two layers\' order changed; no retraining.',
      ...(r.otherGroups.length ? [`Other swappable groups, not in the matrix: ${r.otherGroups.map((g) => `{${g.join(', ')}}`).join(' ')}`] : []),
    ],
    report: jsonSafe(r) as unknown as ViewJson, complete: r.complete,
  };
}
