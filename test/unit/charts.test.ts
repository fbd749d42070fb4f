// Chart specs are valid Vega-Lite: they compile with vega-lite's compile() to Vega with the
// expected marks and encodings, carry their data inline, and load nothing from URLs.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decadeTicks, histogramBins, histogramSpec, niceTicks } from '../../src/analysis/charts/histogramSpec';
import { heatmapCells, heatmapSpec } from '../../src/analysis/charts/heatmapSpec';
import type { Histogram, Slice2D } from '../../src/analysis/protocol';

type VgMark = { type: string; name?: string; from?: { data?: string }; encode?: { update?: Record<string, unknown> } };
type VgSpec = { marks?: VgMark[]; data?: { name: string; url?: unknown; values?: unknown[] }[]; scales?: { name: string; type?: string; scheme?: unknown; domainMid?: number }[]; axes?: { title?: unknown }[]; legends?: unknown[] };

function collectKeys(v: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) collectKeys(x, key, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === key) out.push(x);
      collectKeys(x, key, out);
    }
  }
  return out;
}

// vega-lite is ESM with top-level await: load it with import(), not require(). (Typed loosely:
// the root tsconfig's `node` resolution cannot see vega-lite's `exports`-only typings.)
type Compile = (spec: unknown, opt?: { logger?: unknown }) => { spec: unknown };
let compile: Compile;
before(async () => {
  ({ compile } = (await import('vega-lite' as string)) as { compile: Compile });
});

function compileQuiet(spec: unknown): VgSpec {
  const warnings: string[] = [];
  const logger = {
    level: () => logger,
    error: (...a: unknown[]) => { throw new Error(a.join(' ')); },
    warn: (...a: unknown[]) => { warnings.push(a.join(' ')); return logger; },
    info: () => logger,
    debug: () => logger,
  };
  const vg = compile(spec, { logger }).spec as VgSpec;
  assert.deepEqual(warnings, [], 'vega-lite compiled without warnings');
  return vg;
}

const hist: Histogram = { lo: -2, hi: 2, counts: Array.from({ length: 64 }, (_, i) => (i === 10 ? 0 : i * 3)) };

describe('histogram spec', () => {
  test('bins carry their edges; the last edge is exactly hi', () => {
    const bins = histogramBins(hist);
    assert.equal(bins.length, 64);
    assert.equal(bins[0].x0, -2);
    assert.equal(bins[63].x1, 2);
    assert.ok(Math.abs(bins[1].x0 - (-2 + 4 / 64)) < 1e-12);
    assert.equal(bins.reduce((a, b) => a + b.count, 0), hist.counts.reduce((a, b) => a + b, 0));
  });

  test('compiles to a rect mark over inline data with labelled axes', () => {
    const spec = histogramSpec(hist, { dtype: 'BF16', title: 'layer.weight' });
    assert.equal(collectKeys(spec, 'url').length, 0, 'no URLs in the spec data');
    const vg = compileQuiet(spec);
    const marks = vg.marks ?? [];
    assert.equal(marks.length, 1);
    assert.equal(marks[0].type, 'rect');
    const enc = marks[0].encode!.update!;
    for (const ch of ['x', 'x2', 'y', 'y2', 'tooltip']) assert.ok(ch in enc, `encodes ${ch}`);
    const source = vg.data!.find((d) => d.name === 'source_0')!;
    assert.equal(source.values!.length, 64);
    assert.equal(collectKeys(vg.data, 'url').length, 0);
    const titles = (vg.axes ?? []).map((a) => a.title).filter(Boolean);
    assert.ok(titles.includes('Value (BF16 elements)'), JSON.stringify(titles));
    assert.ok(titles.includes('Count of elements'), JSON.stringify(titles));
  });

  test('log option uses a symlog y scale (zero-count bins stay valid)', () => {
    const vg = compileQuiet(histogramSpec(hist, { yScale: 'log' }));
    assert.equal(vg.scales!.find((s) => s.name === 'y')!.type, 'symlog');
    const lin = compileQuiet(histogramSpec(hist));
    assert.equal(lin.scales!.find((s) => s.name === 'y')!.type, 'linear');
  });

  test('no colours are hard-coded (the theme config supplies them)', () => {
    const spec = histogramSpec(hist);
    for (const k of ['color', 'fill', 'stroke', 'background']) assert.equal(collectKeys(spec, k).length, 0, k);
  });
});

const slice: Slice2D = {
  rows: 3,
  cols: 4,
  values: [-1, 0, 1, 2, 0.5, null, -0.5, 3, 1, 1, 1, 1],
  rowIndex: [0, 10, 20],
  colStep: 2.5,
  sourceShape: [30, 10],
};

describe('heatmap spec', () => {
  test('cells map to source rows and first source columns', () => {
    const cells = heatmapCells(slice);
    assert.equal(cells.length, 12);
    assert.deepEqual(cells[5], { row: 10, col: 2, value: null });
    assert.deepEqual(cells.slice(0, 4).map((c) => c.col), [0, 2, 5, 7]);
  });

  test('compiles to a rect mark with x, y, colour and tooltip encodings', () => {
    const spec = heatmapSpec(slice, { title: 't' });
    assert.equal(collectKeys(spec, 'url').length, 0);
    const vg = compileQuiet(spec);
    const marks = vg.marks ?? [];
    assert.equal(marks.length, 1);
    assert.equal(marks[0].type, 'rect');
    const enc = marks[0].encode!.update!;
    for (const ch of ['x', 'y', 'width', 'height', 'fill', 'tooltip']) assert.ok(ch in enc, `encodes ${ch}`);
    const color = vg.scales!.find((s) => s.name === 'color')!;
    assert.equal(color.domainMid, 0, 'values of both signs get a diverging scale centred on 0');
    assert.equal((vg.legends ?? []).length, 1);
    const titles = (vg.axes ?? []).map((a) => a.title).filter(Boolean).map(String);
    assert.ok(titles.some((t) => t.startsWith('Row index (3 sampled of 30)')), JSON.stringify(titles));
    assert.ok(titles.some((t) => t.startsWith('Column index (bins of 2.5 of 10 columns)')), JSON.stringify(titles));
  });

  test('one-signed values get a sequential scale', () => {
    const pos = { ...slice, values: slice.values.map((v) => (v === null ? null : Math.abs(v) + 1)) };
    const vg = compileQuiet(heatmapSpec(pos));
    const color = vg.scales!.find((s) => s.name === 'color')!;
    assert.equal(color.domainMid, undefined);
  });

  // A 1 × 1 tensor drew a 12 px plot, its axis titles over each other and the legend.
  test('slices of a few cells still get a plot of at least 120 px a side; bigger ones keep 12 px cells', () => {
    for (const [rows, cols] of [[1, 1], [1, 3], [3, 1], [10, 10]]) {
      const tiny: Slice2D = { rows, cols, values: Array.from({ length: rows * cols }, (_, i) => i), rowIndex: Array.from({ length: rows }, (_, i) => i), colStep: 1, sourceShape: [rows, cols] };
      const spec = heatmapSpec(tiny) as { width: { step: number }; height: { step: number } };
      assert.ok(spec.width.step * cols >= 120 && spec.height.step * rows >= 120, `${rows} × ${cols}: ${spec.width.step * cols} × ${spec.height.step * rows} px`);
    }
    const mid: Slice2D = { rows: 20, cols: 30, values: Array.from({ length: 600 }, (_, i) => i), rowIndex: Array.from({ length: 20 }, (_, i) => i), colStep: 1, sourceShape: [20, 30] };
    const spec = heatmapSpec(mid) as { width: { step: number }; height: { step: number } };
    assert.deepEqual([spec.width.step, spec.height.step], [12, 12]);
  });

  test('a 128 × 128 slice stays within the size limits', () => {
    const n = 128;
    const big: Slice2D = { rows: n, cols: n, values: Array.from({ length: n * n }, (_, i) => Math.sin(i)), rowIndex: Array.from({ length: n }, (_, i) => i * 8), colStep: 4, sourceShape: [1024, 512] };
    const spec = heatmapSpec(big, { maxWidth: 480, maxHeight: 360 }) as { width: { step: number }; height: { step: number } };
    assert.ok(spec.width.step * n <= 480 && spec.height.step * n <= 360);
    const vg = compileQuiet(spec);
    assert.equal(vg.marks![0].type, 'rect');
  });
});

test('histogram axes: x ticks are round and include 0 when the range spans it; the log count axis shows decades', () => {
  assert.deepEqual(niceTicks(-0.37, 0.52), [-0.2, 0, 0.2, 0.4]);
  assert.ok(niceTicks(-3.1, 17).includes(0));
  assert.deepEqual(niceTicks(2, 2), [2]);
  assert.deepEqual(decadeTicks(4321), [0, 1, 10, 100, 1000]);
  const s = histogramSpec({ lo: -1, hi: 1, counts: [1, 10, 1000, 5] }, { yScale: 'log' }) as { encoding: { x: { axis: { values: number[] } }; y: { axis: { values: number[]; minExtent: number } } } };
  assert.ok(s.encoding.x.axis.values.includes(0));
  assert.deepEqual(s.encoding.y.axis.values, [0, 1, 10, 100, 1000]);
  const lin = histogramSpec({ lo: -1, hi: 1, counts: [1, 10, 1000, 5] }) as typeof s;
  assert.equal(lin.encoding.y.axis.minExtent, s.encoding.y.axis.minExtent, 'same axis width: no jump when toggled');
});
