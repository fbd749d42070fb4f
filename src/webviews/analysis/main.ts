// The analysis panel: renders one AnalysisView (facts, Vega-Lite charts, tables, notes) sent by
// the host, re-rendered as partial views arrive, with job progress, Cancel, and exports (chart
// PNG/SVG, chart data and tables as CSV/JSON, the report as JSON) through the host's save
// dialog. Every string from the analysis is set with textContent.
import { type AnalysisView, type ChartView, type HostToPanel, type JobState, type PanelToHost, isHostToPanel } from '../../analysis/protocol';
import { type RenderedChart, chartPng, chartSvg, renderChart, watchTheme } from '../editor/charts';
import { button, registerToolkit, setDisabled } from '../ui/toolkit';

const api = acquireVsCodeApi<{ scrollY: number }>();
const post = (m: PanelToHost): void => api.postMessage(m);

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

let view: AnalysisView | undefined;
let job: { state: JobState; fraction: number; message?: string } = { state: 'running', fraction: 0 };
const rendered = new Map<string, RenderedChart>();
/** Chart specs last drawn, so a partial view only redraws the charts that changed. */
const drawnSpecs = new Map<string, string>();

const root = document.getElementById('app')!;
const head = el('header');
const jobLine = el('div', undefined, 'job');
const body = el('main');
root.replaceChildren(head, jobLine, body);

function renderJob(): void {
  const bar = el('progress');
  bar.max = 1;
  bar.value = job.fraction;
  bar.setAttribute('aria-label', 'Progress');
  const label =
    job.state === 'running' ? `Running… ${Math.round(100 * job.fraction)} %${job.message ? ` · ${job.message}` : ''}` :
    job.state === 'done' ? 'Done.' :
    job.state === 'cancelled' ? 'Cancelled: the charts show what was computed before.' :
    `Failed${job.message ? `: ${job.message}` : ''}`;
  const state = el('span', label, `state${job.state === 'failed' ? ' bad' : ''}`);
  state.setAttribute('role', 'status');
  const cancel = button('Cancel', { title: 'Cancel the analysis', onClick: () => post({ type: 'cancelJob' }) });
  setDisabled(cancel, job.state !== 'running');
  jobLine.replaceChildren(...(job.state === 'running' ? [bar] : []), state, ...(job.state === 'running' ? [cancel] : []));
}

function renderHead(v: AnalysisView): void {
  const report = button('Export report JSON', { title: 'Save the full report as JSON', onClick: () => post({ type: 'exportView', what: 'report', format: 'json' }) });
  const actions = el('div', undefined, 'actions');
  actions.append(report);
  head.replaceChildren(el('h1', v.title), ...(v.subtitle ? [el('p', v.subtitle, 'muted')] : []), actions);
}

function renderFacts(v: AnalysisView): HTMLElement {
  const dl = el('dl', undefined, 'facts');
  for (const f of v.facts) {
    const dt = el('dt', f.label);
    const dd = el('dd', f.value);
    if (f.definition) {
      dd.append(el('span', f.definition, 'def'));
      dt.title = f.definition;
    }
    dl.append(dt, dd);
  }
  return dl;
}

function chartBox(c: ChartView): HTMLElement {
  const box = el('section', undefined, 'chart-box');
  box.dataset.chart = c.id;
  const h = el('div', undefined, 'chart-head');
  const title = el('h2', c.title);
  const actions = el('div', undefined, 'actions');
  const exportChart = (format: 'svg' | 'png') => async () => {
    const r = rendered.get(c.id);
    if (!r) return;
    const content = format === 'svg' ? await chartSvg(r) : await chartPng(r);
    post({ type: 'exportView', what: 'chart', id: c.id, format, content });
  };
  actions.append(
    button('PNG', { title: `Save "${c.title}" as PNG`, onClick: () => void exportChart('png')() }),
    button('SVG', { title: `Save "${c.title}" as SVG`, onClick: () => void exportChart('svg')() }),
    button('CSV', { title: `Save the data of "${c.title}" as CSV`, onClick: () => post({ type: 'exportView', what: 'rows', id: c.id, format: 'csv' }) }),
    button('JSON', { title: `Save the data of "${c.title}" as JSON`, onClick: () => post({ type: 'exportView', what: 'rows', id: c.id, format: 'json' }) }),
  );
  h.append(title, actions);
  const chart = el('div', undefined, 'chart');
  chart.setAttribute('role', 'img');
  chart.setAttribute('aria-label', c.caption ? `${c.title}. ${c.caption}` : c.title);
  box.append(h, chart);
  if (c.caption) box.append(el('p', c.caption, 'caption'));
  return box;
}

function tableBox(t: AnalysisView['tables'][number]): HTMLElement {
  const box = el('section', undefined, 'table-box');
  const h = el('div', undefined, 'chart-head');
  const actions = el('div', undefined, 'actions');
  actions.append(
    button('CSV', { title: `Save "${t.title}" as CSV`, onClick: () => post({ type: 'exportView', what: 'table', id: t.id, format: 'csv' }) }),
    button('JSON', { title: `Save "${t.title}" as JSON`, onClick: () => post({ type: 'exportView', what: 'table', id: t.id, format: 'json' }) }),
  );
  h.append(el('h2', t.title), actions);
  const wrap = el('div', undefined, 'table-wrap');
  wrap.tabIndex = 0;
  const table = el('table');
  const tr = el('tr');
  for (const c of t.columns) tr.append(el('th', c));
  table.append(tr);
  for (const r of t.rows) {
    const row = el('tr');
    for (const c of r) {
      const text = typeof c === 'number' ? (Number.isInteger(c) ? String(c) : Math.abs(c) >= 1e-3 && Math.abs(c) < 1e6 ? c.toFixed(4) : c.toExponential(3)) : c === null ? '—' : String(c);
      row.append(el('td', text, typeof c === 'number' ? 'num' : undefined));
    }
    table.append(row);
  }
  wrap.append(table);
  box.append(h, wrap);
  return box;
}

/** Draws each chart whose spec changed; boxes are kept so partial updates do not flicker. */
async function renderView(v: AnalysisView): Promise<void> {
  renderHead(v);
  const parts: HTMLElement[] = [renderFacts(v)];
  const boxes: HTMLElement[] = [];
  for (const c of v.charts) {
    let box = body.querySelector<HTMLElement>(`section.chart-box[data-chart="${CSS.escape(c.id)}"]`);
    if (!box) box = chartBox(c);
    boxes.push(box);
  }
  parts.push(...boxes, ...v.tables.map(tableBox));
  if (v.notes.length) {
    const ul = el('ul', undefined, 'notes');
    for (const n of v.notes) ul.append(el('li', n));
    parts.push(el('h2', 'Notes'), ul);
  }
  body.replaceChildren(...parts);
  for (const c of v.charts) {
    const key = JSON.stringify(c.spec);
    if (drawnSpecs.get(c.id) === key && rendered.has(c.id)) continue;
    const target = body.querySelector<HTMLElement>(`section.chart-box[data-chart="${CSS.escape(c.id)}"] .chart`)!;
    try {
      rendered.get(c.id)?.dispose();
      rendered.set(c.id, await renderChart(target, c.spec, 'svg'));
      drawnSpecs.set(c.id, key);
    } catch (e) {
      target.replaceChildren(el('p', `This chart could not be drawn: ${(e as Error).message}`, 'bad'));
    }
  }
  for (const id of [...rendered.keys()]) {
    if (!v.charts.some((c) => c.id === id)) {
      rendered.get(id)!.dispose();
      rendered.delete(id);
      drawnSpecs.delete(id);
    }
  }
  document.body.dataset.rendered = v.complete ? 'complete' : 'partial';
}

let queue: Promise<void> = Promise.resolve();
function show(v: AnalysisView): void {
  view = v;
  // Renders run one after another; a burst of partial views collapses to the newest.
  queue = queue.then(() => (view === v ? renderView(v) : undefined)).catch((e) => {
    body.append(el('p', `The view could not be drawn: ${(e as Error).message}`, 'bad'));
  });
}

window.addEventListener('message', (ev: MessageEvent) => {
  const msg: unknown = ev.data;
  if (!isHostToPanel(msg)) return;
  const m: HostToPanel = msg;
  if (m.type === 'view') show(m.view);
  else {
    job = { state: m.state, fraction: m.fraction, message: m.message };
    renderJob();
    document.body.dataset.job = m.state;
  }
});

watchTheme(() => {
  // Theme colours are read at render time: redraw every chart.
  drawnSpecs.clear();
  if (view) show(view);
});

registerToolkit();
renderJob();
post({ type: 'panelReady' });
