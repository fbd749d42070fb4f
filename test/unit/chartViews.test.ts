// What the analysis charts draw, read from Vega's scene graph (vega-lite → vega, headless): the
// labels on colour-map heatmaps reach 4.5:1 against their own cell's fill (Vega's viridis and
// inferno, not our table of it), the interpolation legend shows the dashes the lines have, and
// MLI says "no rise" where Δ = 0 instead of drawing a rule on the axis.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisView, ChartView } from '../../src/analysis/report/analysisView';
import type { CkaReport } from '../../src/analysis/sets/ckaAnalysis';
import type { BasinsProgress } from '../../src/analysis/sets/barrierMatrix';
import type { SwapReport } from '../../src/analysis/sets/runSwap';
import type { DropReport } from '../../src/analysis/dropping/runDrop';
import { ckaView } from '../../src/analysis/views/ckaView';
import { basinsView } from '../../src/analysis/views/basinsView';
import { swapView } from '../../src/analysis/views/swapView';
import { dropView } from '../../src/analysis/views/dropView';
import { mliView } from '../../src/analysis/views/mliView';
import { type MliReport } from '../../src/analysis/interpolate/mli';
import { monotonicityGap } from '../../src/analysis/interpolate/barriers';
import { pathLineChart, textOnScheme } from '../../src/analysis/views/viewParts';
import { type SceneItem, contrast, scene, vegaScheme } from '../vegaScene';
import { checkView } from '../viewCheck';

const chartOf = (v: AnalysisView, id: string): ChartView => {
  const c = v.charts.find((x) => x.id === id);
  assert.ok(c, `${v.kind}: no chart ${id} (${v.charts.map((x) => x.id).join(', ')})`);
  return c;
};

/** Every text label drawn inside a rect of the same group, with that rect's fill. */
function labelsOnCells(items: SceneItem[]): { text: string; colour: string; cell: string }[] {
  const rects = items.filter((i) => i.marktype === 'rect' && typeof i.fill === 'string' && i.width && i.height);
  const texts = items.filter((i) => i.marktype === 'text' && i.role === 'mark' && i.text !== undefined && i.text !== '');
  return texts.flatMap((t) => {
    const r = rects.find((c) => c.group === t.group && t.x! >= c.x! && t.x! <= c.x! + c.width! && t.y! >= c.y! && t.y! <= c.y! + c.height!);
    return r ? [{ text: String(t.text), colour: t.fill ?? '#000000', cell: r.fill! }] : [];
  });
}

// The text colours the panel's theme config gives (VS Code Dark Modern and Light Modern editor
// foregrounds): a label that keeps the theme's colour fails on one end of the scale.
const THEMES = { dark: '#cccccc', light: '#3b3b3b' };

/** Draws the chart in both themes; every label on a cell reads at 4.5:1 or better. Returns how many were checked. */
async function labelsReadable(chart: ChartView): Promise<number> {
  const counts = [];
  for (const [theme, fg] of Object.entries(THEMES)) {
    const labels = labelsOnCells(await scene(chart.spec, { config: { text: { color: fg } } }));
    for (const l of labels) {
      const c = contrast(l.colour, l.cell);
      assert.ok(c >= 4.5, `${chart.id} (${theme} theme): label "${l.text}" in ${l.colour} on a ${l.cell} cell: ${c.toFixed(2)}:1`);
    }
    counts.push(labels.length);
  }
  assert.equal(counts[0], counts[1]);
  return counts[0];
}

// A value grid spanning the whole scale: dark and light cells both get labels.
const grid = (n: number, lo: number, hi: number): number[][] => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => lo + ((hi - lo) * (i * n + j)) / (n * n - 1)));

describe('heatmap labels follow their cell\'s fill', () => {
  test('black or white by WCAG contrast with Vega\'s own viridis and inferno, across the scale', async () => {
    for (const name of ['viridis', 'inferno'] as const) {
      const map = await vegaScheme(name);
      for (let k = 0; k <= 100; k++) {
        const fill = map(k / 100);
        const ours = textOnScheme(name, k / 100);
        const other = ours === '#000000' ? '#ffffff' : '#000000';
        assert.ok(contrast(ours, fill) >= contrast(other, fill) - 0.05, `${name} at ${k / 100} (${fill}): ${ours} is the weaker choice`);
        assert.ok(contrast(ours, fill) >= 4.5, `${name} at ${k / 100} (${fill}): ${contrast(ours, fill).toFixed(2)}:1`);
      }
    }
  });

  test('CKA', async () => {
    const m = grid(4, 0, 1);
    const names = ['0', '2', '4', '6'];
    const r = {
      kind: 'cka', complete: true, mode: 'pair', a: names, b: names, linear: m, debiased: m,
      models: [{ name: 'a', path: 'a', description: 'MLP' }, { name: 'b', path: 'b', description: 'MLP' }],
      features: {}, data: 'd', n: 10, definitions: { linear: 'linear', debiased: 'debiased' }, backend: 'cpu', seconds: 0,
    } as unknown as CkaReport;
    const v = ckaView(r);
    await checkView(v);
    assert.equal(await labelsReadable(chartOf(v, 'cka-debiased')), 16);
  });

  test('barrier matrix (filling in: pending pairs get no label)', async () => {
    const names = ['a', 'b', 'c', 'd'];
    const loss: (number | null)[][] = grid(4, 0, 2.5);
    loss[0][3] = loss[3][0] = null;
    const r: BasinsProgress = { kind: 'basins', complete: false, names, barrier: 'linear' as BasinsProgress['barrier'], loss, error: grid(4, 0, 0.9), pairsDone: 5, pairsTotal: 6 };
    const v = basinsView(r);
    await checkView(v);
    assert.equal(await labelsReadable(chartOf(v, 'basins-loss')), 14);
  });

  test('layer swaps: accuracy (viridis) and Δ loss (inferno, reversed)', async () => {
    const blocks = ['h.0', 'h.1', 'h.2', 'h.3'];
    const r: SwapReport = {
      kind: 'swap', complete: true, model: 'm', description: 'GPT-2', data: 'd', n: 10, baseline: { loss: 1, accuracy: 0.9 }, blocks,
      loss: grid(4, 1, 6), accuracy: grid(4, 0, 1), windows: [], window: 3, otherGroups: [], backend: 'cpu', seconds: 0,
    };
    const v = swapView(r);
    await checkView(v);
    assert.equal(await labelsReadable(chartOf(v, 'swap-accuracy')), 16);
    assert.equal(await labelsReadable(chartOf(v, 'swap-loss')), 16);
  });

  test('layer dropping: contiguous spans', async () => {
    const blocks = ['b0', 'b1', 'b2', 'b3'];
    const results = blocks.flatMap((_, start) => blocks.slice(start).map((__, j) => {
      const k = j + 1;
      const accuracy = Math.max(0, 1 - 0.3 * k - 0.05 * start);
      return { strategy: 'span' as const, k, start, dropped: blocks.slice(start, start + k), loss: 1 + k, accuracy, deltaLoss: k, deltaAccuracy: accuracy - 1 };
    }));
    const r = {
      model: 'm', family: 'resnet', description: 'ResNet', data: 'd', n: 10, baseline: { loss: 1, accuracy: 1 }, blocks, strategies: ['span'],
      results, ranking: [], rankBy: 'angularDistance', batchNorm: null, notes: [], seconds: 0,
    } as unknown as DropReport;
    const v = dropView(r);
    await checkView(v);
    assert.equal(await labelsReadable(chartOf(v, 'drop-span')), results.length);
  });
});

describe('interpolation paths: the legend shows what the lines draw', () => {
  test('LMC (naive dashed, aligned solid): each legend entry is a line segment with its path\'s dash, long enough to show it', async () => {
    const rows = [0, 0.25, 0.5, 0.75, 1].flatMap((alpha) => ['naive', 'aligned'].map((path) => ({ alpha, path, value: 0.3 + (path === 'naive' ? 0.8 : 0.1) * Math.sin(Math.PI * alpha) })));
    const chart = pathLineChart('interpolate-loss', 'Loss along the path', rows, 'loss (nats)', 'caption', undefined, { marks: [{ path: 'naive', alpha: 0.5, label: 'barrier 0.8 nats' }] });
    const items = await scene(chart.spec);
    const lines = items.filter((i) => i.marktype === 'line' && i.role === 'mark');
    const symbols = items.filter((i) => i.role === 'legend-symbol');
    assert.equal(symbols.length, 2, 'one legend entry per path');
    for (const s of symbols) {
      const line = lines.find((l) => l.stroke === s.stroke);
      assert.ok(line, `no line drawn in the legend's ${s.stroke}`);
      assert.equal(s.shape, 'stroke', 'a line segment, not a dot');
      assert.deepEqual(s.strokeDash, line.strokeDash, `legend dash of the ${s.stroke} path`);
      const [on, off] = line.strokeDash ?? [1, 0];
      // A 'stroke' symbol is √size long: at least two dash periods of a dashed line.
      if (off > 0) assert.ok(Math.sqrt(s.size!) >= 2 * (on + off), `legend segment ${Math.sqrt(s.size!)} px for a ${on}-${off} dash`);
    }
    assert.ok(symbols.some((s) => (s.strokeDash ?? [1, 0])[1] > 0), 'the naive path is dashed in the legend');
  });
});

describe('MLI: the largest rise', () => {
  const report = (loss: number[]): MliReport => {
    const alphas = loss.map((_, i) => i / (loss.length - 1));
    const gap = monotonicityGap(alphas, loss);
    return {
      kind: 'mli', complete: true, init: 'init.pt', final: 'final.pt', data: 'd', n: 10, family: 'mlp', description: 'MLP', alphas, loss, accuracy: loss.map(() => 0.5),
      monotonic: gap.delta <= 0, tol: 0, delta: gap.delta, deltaAlpha: gap.alpha, maxIncrease: Math.max(...loss) - loss[0], distance: 1, relativeDistance: 0.5, layers: [],
      batchNorm: { note: '' }, definitions: {}, backend: 'cpu', threads: 1, seconds: 0,
    } as unknown as MliReport;
  };

  test('Δ = 0: no rule on the axis; the chart, its caption and the facts say "no rise"', async () => {
    const v = mliView(report([2.3, 1.9, 1.2, 0.6, 0.2]));
    await checkView(v);
    const chart = chartOf(v, 'mli-loss');
    const items = await scene(chart.spec);
    assert.equal(items.filter((i) => i.marktype === 'rule' && i.role === 'mark').length, 0, 'no rule drawn');
    const note = items.find((i) => i.marktype === 'text' && i.role === 'mark' && /no rise/.test(String(i.text)));
    assert.ok(note, `no "no rise" text in the chart: ${items.filter((i) => i.marktype === 'text').map((i) => i.text).join(' | ')}`);
    assert.ok(note.x! > 240 && note.x! <= 480 && note.y! >= 0, `the note sits in the plot's top right (${note.x}, ${note.y})`);
    assert.match(chart.caption ?? '', /no rise/);
    assert.equal(v.facts.find((f) => f.label === 'largest rise Δ')?.value, 'no rise (Δ = 0)');
  });

  test('Δ > 0: a rule at the rise\'s α, labelled with Δ; no "no rise"', async () => {
    const v = mliView(report([2.3, 1.2, 1.5, 0.6, 0.2]));
    const chart = chartOf(v, 'mli-loss');
    const items = await scene(chart.spec);
    const rules = items.filter((i) => i.marktype === 'rule' && i.role === 'mark');
    assert.equal(rules.length, 1);
    assert.ok(Math.abs(rules[0].x! - 0.5 * 480) < 1, `the rule at α = 0.5 (x ${rules[0].x} of 480 px)`);
    assert.ok(items.some((i) => i.marktype === 'text' && /largest rise Δ 0\.300 nats/.test(String(i.text))));
    assert.ok(!items.some((i) => /no rise/.test(String(i.text ?? ''))));
    assert.match(v.facts.find((f) => f.label === 'largest rise Δ')?.value ?? '', /^0\.3000 nats at α = 0\.500$/);
  });
});
