// Renders the demo report (data embedded by src/analysis/demo/demo.ts) with vega-embed.
import embed from 'vega-embed';
import { REPORT_COLUMNS, type ReportData } from '../../analysis/demo/reportTypes';
import type { ChartView, TableView } from '../../analysis/report/analysisView';
import { registerToolkit } from '../ui/toolkit';
import { ViewRenderer } from '../analysis/viewRender';



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

/** Saves a download from the page (the report is a plain file, no host to ask). */
function download(fileName: string, content: string, type: string): void {
  const a = document.createElement('a');
  a.href = content.startsWith('data:') ? content : URL.createObjectURL(new Blob([content], { type }));
  a.download = fileName;
  a.click();
}

function csv(columns: string[], rows: unknown[][]): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? '' : /[",\r\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  return [columns, ...rows].map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

function rowsCsv(c: ChartView): string {
  const cols = [...new Set(c.rows.flatMap((r) => Object.keys(r)))];
  return csv(cols, c.rows.map((r) => cols.map((k) => r[k])));
}

function tableJson(t: TableView): string {
  return JSON.stringify(t.rows.map((r) => Object.fromEntries(t.columns.map((k, i) => [k, r[i]]))), null, 1);
}

async function renderAnalyses(data: ReportData): Promise<void> {
  const root = document.getElementById('analyses')!;
  if (!data.analyses.length) document.getElementById('analyses-title')!.hidden = true;
  for (const v of data.analyses) {
    const section = el('section', undefined, 'analysis');
    section.dataset.kind = v.kind;
    section.append(el('h2', v.title));
    if (v.subtitle) section.append(el('p', v.subtitle, 'muted'));
    const body = el('div');
    section.append(body);
    root.append(section);
    await new ViewRenderer(body, {
      chart: (c, format, content) => download(`${c.id}.${format}`, content, 'image/svg+xml'),
      rows: (c, format) => download(`${c.id}.${format}`, format === 'csv' ? rowsCsv(c) : JSON.stringify(c.rows, null, 1), format === 'csv' ? 'text/csv' : 'application/json'),
      table: (t, format) => download(`${t.id}.${format}`, format === 'csv' ? csv(t.columns, t.rows) : tableJson(t), format === 'csv' ? 'text/csv' : 'application/json'),
    }).render(v);
  }
}

async function render(): Promise<void> {
  const data = JSON.parse(document.getElementById('report-data')!.textContent!) as ReportData;
  const root = document.getElementById('report')!;
  registerToolkit();
  for (const s of data.sections) {
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
  await renderAnalyses(data);
  document.body.dataset.rendered = 'true';
}

render().catch((e) => {
  document.body.append(el('pre', `report failed to render: ${(e as Error).message}`));
  document.body.dataset.rendered = 'error';
});
