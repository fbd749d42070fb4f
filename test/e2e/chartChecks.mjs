// Checks on drawn charts that a bare "<svg> is there" misses: every chart draws data marks of
// non-zero size with finite coordinates (and a line chart with points one point per row), and
// every chart title, header, axis and legend text has a WCAG contrast of at least 4.5:1 against
// the page background, in whatever theme VS Code shows.
import assert from 'node:assert/strict';

/** Per chart in `scope`: its id, data marks drawn, empty or broken ones, symbols and rows. */
export async function chartMarks(frame, scope = '') {
  return frame.evaluate((scope) => [...document.querySelectorAll(`${scope} .chart-box`)].map((box) => {
    const svg = box.querySelector('.chart svg');
    const out = { id: box.dataset.chart, rows: Number(box.dataset.rows ?? NaN), drawn: 0, empty: 0, broken: 0, symbols: 0, hasSvg: !!svg };
    if (!svg) return out;
    for (const g of svg.querySelectorAll('g.role-mark')) {
      const kind = [...g.classList].find((c) => c.startsWith('mark-'))?.slice(5);
      for (const el of g.children) {
        if (!['path', 'line', 'text', 'rect', 'g'].includes(el.tagName)) continue;
        if (el.tagName === 'g') continue; // group marks (facets) hold the others
        const d = el.getAttribute('d') ?? '';
        if (/NaN|Infinity/.test(d) || /NaN/.test(el.getAttribute('transform') ?? '')) { out.broken++; continue; }
        let ok;
        if (el.tagName === 'text') ok = (el.textContent ?? '').trim().length > 0;
        else {
          const b = el.getBBox();
          ok = kind === 'line' || kind === 'rule' ? b.width + b.height > 0 : b.width > 0 && b.height > 0;
        }
        if (ok) out.drawn++;
        else out.empty++;
        if (ok && kind === 'symbol') out.symbols++;
      }
    }
    return out;
  }), scope);
}

/** Asserts every chart in `scope` draws marks; `points` maps chart ids to "one symbol per row". */
export async function checkChartMarks(frame, scope = '', { points = [] } = {}) {
  const charts = await chartMarks(frame, scope);
  assert.ok(charts.length > 0, 'no charts');
  for (const c of charts) {
    assert.ok(c.hasSvg, `${c.id}: no svg`);
    assert.equal(c.broken, 0, `${c.id}: ${c.broken} marks with NaN/Infinity coordinates`);
    assert.ok(c.drawn > 0, `${c.id}: draws no marks (${c.empty} empty)`);
    if (points.includes(c.id)) assert.equal(c.symbols, c.rows, `${c.id}: ${c.symbols} points drawn for ${c.rows} rows`);
  }
  return charts;
}

/** Contrast of chart titles, headers, axis and legend text, and the panel's own headings. */
export async function textContrast(frame, scope = '') {
  return frame.evaluate((scope) => {
    const cv = document.createElement('canvas').getContext('2d');
    const rgba = (c) => {
      cv.clearRect(0, 0, 1, 1);
      cv.fillStyle = '#00000000';
      cv.fillStyle = c;
      cv.fillRect(0, 0, 1, 1);
      const [r, g, b, a] = cv.getImageData(0, 0, 1, 1).data;
      return [r, g, b, a / 255];
    };
    const lum = ([r, g, b]) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const bg = rgba(getComputedStyle(document.body).backgroundColor);
    const ratio = (colour, opacity = 1) => {
      const c = rgba(colour);
      const a = c[3] * opacity;
      const mix = [0, 1, 2].map((i) => c[i] * a + bg[i] * (1 - a));
      const [l1, l2] = [lum(mix), lum(bg)].sort((x, y) => y - x);
      return (l1 + 0.05) / (l2 + 0.05);
    };
    const out = [];
    const svgText = `${scope} .chart svg g:is(.role-title, .role-title-text, .role-axis-label, .role-axis-title, .role-legend-label, .role-legend-title, .role-column-header, .role-row-header, .role-column-title, .role-row-title, [class*="header"]) text`;
    for (const t of document.querySelectorAll(svgText)) {
      if (!(t.textContent ?? '').trim()) continue;
      const role = [...t.closest('g[class*="role-"]').classList].find((c) => c.startsWith('role-'));
      const op = Number(t.getAttribute('fill-opacity') ?? 1) * Number(t.getAttribute('opacity') ?? 1);
      if (op === 0) continue; // a label Vega hid to avoid overlap is not shown
      out.push({ where: role, text: t.textContent.slice(0, 40), ratio: ratio(t.getAttribute('fill') ?? getComputedStyle(t).fill, op) });
    }
    for (const e of document.querySelectorAll(`${scope} :is(h1, .chart-head h2, .table-box h2, .facts dt, .facts dd, .failure h2, .failure p)`)) {
      if (!(e.textContent ?? '').trim()) continue;
      out.push({ where: e.tagName.toLowerCase(), text: e.textContent.slice(0, 40), ratio: ratio(getComputedStyle(e).color) });
    }
    return { background: getComputedStyle(document.body).backgroundColor, texts: out };
  }, scope);
}

/** Asserts every checked text reaches `min` (WCAG AA for normal text: 4.5:1); returns the lowest ratio. */
export async function checkContrast(frame, scope = '', min = 4.5) {
  const { background, texts } = await textContrast(frame, scope);
  assert.ok(texts.length > 0, 'no chart text found to check');
  const bad = texts.filter((t) => !(t.ratio >= min));
  assert.deepEqual(bad, [], `text below ${min}:1 on ${background}`);
  return Math.min(...texts.map((t) => t.ratio));
}
