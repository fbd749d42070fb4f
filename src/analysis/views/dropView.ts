// The layer-dropping report as facts, Vega-Lite charts and tables: accuracy with each block
// dropped alone, accuracy against the number of blocks dropped for every strategy, and the
// similarity metrics the ranking uses.
import type { DropPartial, DropReport } from '../dropping/runDrop';
import type { AnalysisView, ChartView, ViewJson } from '../report/analysisView';
import { heatColours, heatLabels } from './viewParts';

const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;

export function dropView(report: DropReport | DropPartial): AnalysisView {
  const complete = 'seconds' in report;
  const single = report.results.filter((r) => r.strategy === 'single');
  const charts: ChartView[] = [];
  if (single.length) {
    const rows = single.map((r) => ({ block: r.dropped[0], accuracy: r.accuracy, loss: r.loss, deltaAccuracy: r.deltaAccuracy, deltaLoss: r.deltaLoss }));
    charts.push({
      id: 'drop-single',
      title: 'Accuracy with one block dropped',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 'container',
        data: { values: rows },
        layer: [
          {
            mark: 'bar',
            encoding: {
              x: { field: 'block', type: 'nominal', sort: null, title: 'dropped block' },
              y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
              tooltip: [{ field: 'block' }, { field: 'accuracy', format: '.4f' }, { field: 'loss', format: '.4f' }, { field: 'deltaAccuracy', format: '+.4f' }],
            },
          },
          { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: report.baseline.accuracy } } },
        ],
      },
      rows,
      caption: `Each droppable block removed alone (its output replaced by its input; Veit et al. 2016). Dashed: the full network, ${pct(report.baseline.accuracy)}.`,
    });
  }
  const curves = report.results.filter((r) => r.strategy !== 'single' && r.strategy !== 'random' && r.strategy !== 'span');
  if (curves.length) charts.push(strategiesChart(report, curves));
  charts.push(...extraDropCharts(report));
  if (report.ranking.length) {
    const rows = report.ranking.flatMap((r) => [
      { block: r.block, metric: 'angular distance', value: r.angularDistance, rank: r.rank },
      { block: r.block, metric: 'block influence', value: r.blockInfluence, rank: r.rank },
    ]);
    charts.push({
      id: 'drop-similarity',
      title: 'How much each block changes its input',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 'container',
        data: { values: rows },
        mark: 'bar',
        encoding: {
          x: { field: 'block', type: 'nominal', sort: report.blocks as unknown as ViewJson, title: 'block' },
          xOffset: { field: 'metric' },
          y: { field: 'value', type: 'quantitative', title: 'value' },
          color: { field: 'metric', type: 'nominal' },
          tooltip: [{ field: 'block' }, { field: 'metric' }, { field: 'value', format: '.4f' }, { field: 'rank' }],
        },
      },
      rows,
      caption: 'Angular distance arccos(cos(x_in, x_out))/π (last token; whole map for images) and block influence 1 − mean cos over tokens/positions; low = dropped first.',
    });
  }
  return {
    kind: 'drop',
    title: `Layer dropping: ${report.model}`,
    subtitle: `${report.description}; ${report.data}, ${report.n} examples`,
    facts: [
      { label: 'Full network', value: `${pct(report.baseline.accuracy)}, loss ${report.baseline.loss.toFixed(4)}`, definition: 'accuracy and mean cross-entropy (nats) with no block dropped' },
      { label: 'Droppable blocks', value: `${report.blocks.length} (${report.blocks.join(', ')})`, definition: 'residual blocks with an identity shortcut, transformer layers' },
      { label: 'Most droppable (similarity)', value: report.ranking[0]?.block ?? '-', definition: report.rankBy === 'angularDistance' ? 'lowest mean arccos(cos(x_in, x_out))/π' : 'lowest 1 − mean cos(x_in, x_out)' },
      ...(report.batchNorm ? [{ label: 'BatchNorm', value: report.batchNorm }] : []),
    ],
    charts,
    tables: [
      {
        id: 'drop-results',
        title: 'Dropped configurations',
        columns: ['strategy', 'k', 'dropped', 'loss', 'accuracy', 'Δ loss', 'Δ accuracy'],
        rows: report.results.map((r) => [r.strategy, r.k, r.dropped.join(', '), r.loss, r.accuracy, r.deltaLoss, r.deltaAccuracy]),
      },
      {
        id: 'drop-ranking',
        title: 'Similarity ranking',
        columns: ['rank', 'block', 'angular distance', 'block influence'],
        rows: report.ranking.map((r) => [r.rank, r.block, r.angularDistance, r.blockInfluence]),
      },
    ],
    notes: report.notes,
    report: report as unknown as ViewJson,
    complete,
  };
}

/** Within this many accuracy points of the full network counts as "kept". */
const KEPT_POINTS = 1;

/**
 * Accuracy against blocks dropped, one small multiple per strategy (the strategies often drop
 * the same blocks, so one chart of overlapping lines hides some): each panel draws its strategy
 * in its colour over the others in grey, and its header says how many blocks it drops while
 * staying within KEPT_POINTS of the full network. Panels in that order, the best first.
 */
function strategiesChart(report: DropReport | DropPartial, curves: DropReport['results']): ChartView {
  const base = report.baseline;
  const strategies: string[] = [...new Set(curves.map((r) => r.strategy))];
  const rows = [
    ...strategies.map((strategy) => ({ strategy, k: 0, accuracy: base.accuracy, loss: base.loss, dropped: '' })),
    ...curves.map((r) => ({ strategy: r.strategy, k: r.k, accuracy: r.accuracy, loss: r.loss, dropped: r.dropped.join(', ') })),
  ];
  const kept = new Map(strategies.map((s) => {
    let k = 0;
    for (const r of rows.filter((x) => x.strategy === s).sort((a, b) => a.k - b.k)) {
      if (100 * (base.accuracy - r.accuracy) > KEPT_POINTS) break;
      k = r.k;
    }
    return [s, k];
  }));
  const order = [...strategies].sort((a, b) => kept.get(b)! - kept.get(a)! || a.localeCompare(b));
  const panel = (s: string): string => `${s}: ${kept.get(s)} block${kept.get(s) === 1 ? '' : 's'} dropped within ${KEPT_POINTS} point`;
  // Each panel's data: every strategy, flagged as the panel's own or another (drawn grey).
  const drawn = order.flatMap((p) => rows.map((r) => ({ ...r, panel: panel(p), own: r.strategy === p ? 'yes' : 'no' })));
  const x = { field: 'k', type: 'quantitative', title: 'blocks dropped', axis: { tickMinStep: 1 } };
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } };
  return {
    id: 'drop-strategies',
    title: 'Accuracy against blocks dropped, per strategy',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values: drawn },
      facet: { field: 'panel', type: 'nominal', title: null, sort: order.map(panel) as unknown as ViewJson, header: { labelFontWeight: 'bold' } },
      // Two columns fit a panel beside the code (about 600 px) as well as a full-width one.
      columns: Math.min(2, order.length),
      spec: {
        width: 240,
        height: 140,
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: base.accuracy } } },
          {
            transform: [{ filter: "datum.own === 'no'" }],
            mark: { type: 'line', strokeWidth: 1, opacity: 0.45, color: 'gray' },
            encoding: { x, y, detail: { field: 'strategy', type: 'nominal' } },
          },
          {
            transform: [{ filter: "datum.own === 'yes'" }],
            mark: { type: 'line', point: true, strokeWidth: 2.5 },
            encoding: {
              x,
              y,
              color: { field: 'strategy', type: 'nominal', scale: { domain: strategies }, legend: null },
              tooltip: [{ field: 'strategy' }, { field: 'k' }, { field: 'dropped' }, { field: 'accuracy', format: '.4f' }, { field: 'loss', format: '.4f' }],
            },
          },
        ],
      },
      resolve: { scale: { x: 'shared', y: 'shared' } },
    },
    rows,
    caption: `One panel per strategy, the one with most blocks dropped within ${KEPT_POINTS} accuracy point of the full network (dashed, ${pct(base.accuracy)}) first; the other strategies in grey behind. top / bottom: the last / first k blocks; alternate: every other block from the top; symmetric: the middle k (Sajjad et al.); similarity: lowest ${report.rankBy === 'angularDistance' ? 'angular distance' : 'block influence'} first (Gromov et al.); influence: lowest block influence first (ShortGPT).`,
  };
}

/** The random strategy (mean and spread over seeds per k) and contiguous spans (start × k). */
function extraDropCharts(report: DropReport | DropPartial): ChartView[] {
  const out: ChartView[] = [];
  const random = report.results.filter((r) => r.strategy === 'random');
  if (random.length) {
    const rows = random.map((r) => ({ k: r.k, seed: r.seed ?? 0, accuracy: r.accuracy, loss: r.loss, dropped: r.dropped.join(', ') }));
    out.push({
      id: 'drop-random',
      title: 'Random blocks dropped: mean and spread over seeds',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 'container',
        data: { values: rows },
        layer: [
          { mark: { type: 'errorband', extent: 'stdev' }, encoding: { x: { field: 'k', type: 'quantitative', title: 'blocks dropped', axis: { tickMinStep: 1 } }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } } } },
          { mark: { type: 'line', point: true }, encoding: { x: { field: 'k', type: 'quantitative' }, y: { aggregate: 'mean', field: 'accuracy', type: 'quantitative' } } },
          { mark: { type: 'point', opacity: 0.35 }, encoding: { x: { field: 'k', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, tooltip: [{ field: 'k' }, { field: 'seed' }, { field: 'dropped' }, { field: 'accuracy', format: '.4f' }, { field: 'loss', format: '.4f' }] } },
        ],
      },
      rows,
      caption: `k blocks drawn at random for each of ${new Set(random.map((r) => r.seed)).size} seeds (Veit et al.'s random deletions): the mean line, ±1 standard deviation band, each draw a dot.`,
    });
  }
  const span = report.results.filter((r) => r.strategy === 'span');
  if (span.length) {
    const colours = heatColours(span.map((r) => r.accuracy), 'viridis', { domain: [0, 1] });
    const rows = span.map((r) => ({ start: report.blocks[r.start ?? 0], k: r.k, accuracy: r.accuracy, loss: r.loss, dropped: r.dropped.join(', '), labelColour: colours.labelColour(r.accuracy) }));
    const x = { field: 'start', type: 'nominal', sort: report.blocks as unknown as ViewJson };
    const y = { field: 'k', type: 'ordinal' };
    out.push({
      id: 'drop-span',
      title: 'Contiguous spans dropped: first block × span length',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        data: { values: rows },
        layer: [
          {
            mark: { type: 'rect', tooltip: true },
            encoding: {
              x: { ...x, title: 'first dropped block', axis: { labelAngle: -40 } },
              y: { ...y, title: 'blocks dropped (k)' },
              color: { field: 'accuracy', type: 'quantitative', scale: colours.scale },
              tooltip: [{ field: 'dropped' }, { field: 'k' }, { field: 'accuracy', format: '.4f' }, { field: 'loss', format: '.4f' }],
            },
          },
          // Each cell's accuracy, black or white by its fill (small grids only).
          ...(rows.length <= 144 ? [heatLabels(x, y, { field: 'accuracy', type: 'quantitative', format: '.0%' })] : []),
        ],
        resolve: { scale: { color: 'independent' } },
      },
      rows,
      caption: 'Every span of k contiguous blocks removed, at every start (Gromov et al. prune the span ℓ*..ℓ*+k−1 of least change).',
    });
  }
  return out;
}
