// Renders the demo report (data embedded by src/analysis/demo/demo.ts) with vega-embed.
import embed from 'vega-embed';
import { REPORT_COLUMNS, type ReportSection } from '../../analysis/demo/reportTypes';



function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function themeConfig(): Record<string, unknown> {
  const cs = getComputedStyle(document.body);
  const fg = cs.getPropertyValue('--fg').trim() || '#1f2328';
  const muted = cs.getPropertyValue('--muted').trim() || '#59636e';
  const rule = cs.getPropertyValue('--rule').trim() || '#d1d9e0';
  return {
    background: null,
    axis: { labelColor: muted, titleColor: fg, gridColor: rule, domainColor: rule, tickColor: rule },
    title: { color: fg },
    legend: { labelColor: muted, titleColor: fg },
    view: { stroke: null },
  };
}

async function render(): Promise<void> {
  const data = JSON.parse(document.getElementById('report-data')!.textContent!) as ReportSection[];
  const root = document.getElementById('report')!;
  for (const s of data) {
    root.append(el('h2', s.file));
    root.append(el('p', `${s.format} · ${s.summary}`, 'muted'));
    if (s.evaluation) root.append(el('p', s.evaluation));
    if (Object.keys(s.metadata).length) root.append(el('pre', JSON.stringify(s.metadata, null, 1)));
    const table = el('table');
    const hr = el('tr');
    for (const h of REPORT_COLUMNS) hr.append(el('th', h));
    table.append(hr);
    for (const r of s.rows) {
      const tr = el('tr');
      for (const c of r) tr.append(el('td', String(c)));
      table.append(tr);
    }
    root.append(table);
    const charts = el('div', undefined, 'charts');
    root.append(charts);
    for (const c of s.charts) {
      const box = el('div', undefined, 'chart');
      box.dataset.title = c.title;
      charts.append(box);
      await embed(box, { ...c.spec, config: themeConfig() } as never, { ast: true, actions: false, renderer: 'svg', defaultStyle: false });
    }
  }
  document.body.dataset.rendered = 'true';
}

render().catch((e) => {
  document.body.append(el('pre', `report failed to render: ${(e as Error).message}`));
  document.body.dataset.rendered = 'error';
});
