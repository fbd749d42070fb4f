// Draws an AnalysisView into a container: facts, one box per Vega-Lite chart (redrawn only
// when its spec changes, so partial views grow without flicker), tables and notes. Shared by
// the VS Code panel and the demo report; what the export buttons do is the caller's.
import type { AnalysisView, ChartView, TableView } from '../../analysis/report/analysisView';
import { type RenderedChart, exportChart, renderChart } from '../editor/charts';
import { button, textField } from '../ui/toolkit';

export interface ViewActions {
  chart?: (chart: ChartView, format: 'svg' | 'png', content: string) => void;
  rows?: (chart: ChartView, format: 'csv' | 'json') => void;
  table?: (table: TableView, format: 'csv' | 'json') => void;
}

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function cellText(c: string | number | boolean | null): string {
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : Math.abs(c) >= 1e-3 && Math.abs(c) < 1e6 ? c.toFixed(4) : c.toExponential(3);
  return c === null ? '—' : String(c);
}

export class ViewRenderer {
  private readonly rendered = new Map<string, RenderedChart>();
  private readonly drawn = new Map<string, string>();
  private readonly boxes = new Map<string, HTMLElement>();
  /** Sort column, direction and filter per table, kept across partial views. */
  private readonly tableState = new Map<string, { sort: number; desc: boolean; filter: string }>();
  /** The view's subtitle (the checkpoints), for the titles of exported charts. */
  private subtitle = '';

  constructor(
    private readonly root: HTMLElement,
    private readonly actions: ViewActions,
  ) {}

  /** Forget drawn specs so the next render redraws every chart (theme change). */
  invalidate(): void {
    this.drawn.clear();
  }

  async render(v: AnalysisView): Promise<void> {
    this.subtitle = v.subtitle ?? '';
    const parts: HTMLElement[] = [this.facts(v)];
    for (const c of v.charts) {
      let box = this.boxes.get(c.id);
      if (!box) {
        box = this.chartBox(c);
        this.boxes.set(c.id, box);
      }
      this.updateChartText(box, c);
      parts.push(box);
    }
    parts.push(...v.tables.map((t) => this.tableBox(t)));
    if (v.notes.length) {
      const ul = el('ul', undefined, 'notes');
      for (const n of v.notes) ul.append(el('li', n));
      parts.push(el('h2', 'Notes'), ul);
    }
    this.root.replaceChildren(...parts);
    for (const c of v.charts) {
      const key = JSON.stringify(c.spec);
      if (this.drawn.get(c.id) === key && this.rendered.has(c.id)) continue;
      const target = this.boxes.get(c.id)!.querySelector<HTMLElement>('.chart')!;
      try {
        this.rendered.get(c.id)?.dispose();
        this.rendered.set(c.id, await renderChart(target, c.spec, 'svg'));
        this.drawn.set(c.id, key);
      } catch (e) {
        target.replaceChildren(el('p', `This chart could not be drawn: ${(e as Error).message}`, 'bad'));
      }
    }
    for (const id of [...this.boxes.keys()]) {
      if (v.charts.some((c) => c.id === id)) continue;
      this.rendered.get(id)?.dispose();
      this.rendered.delete(id);
      this.drawn.delete(id);
      this.boxes.delete(id);
    }
  }

  private facts(v: AnalysisView): HTMLElement {
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

  private chartBox(c: ChartView): HTMLElement {
    const box = el('section', undefined, 'chart-box');
    box.dataset.chart = c.id;
    const h = el('div', undefined, 'chart-head');
    const actions = el('div', undefined, 'actions');
    const current = (): ChartView => (box as HTMLElement & { chartView: ChartView }).chartView;
    const { chart, rows } = this.actions;
    if (chart) {
      // Exports are drawn again on white, titled with the chart and the checkpoints.
      const exportAs = (format: 'svg' | 'png') => async () => {
        const cv = current();
        chart(cv, format, await exportChart(cv.spec, format, this.subtitle ? `${cv.title} — ${this.subtitle}` : cv.title));
      };
      actions.append(
        button('PNG', { title: `Save "${c.title}" as PNG`, onClick: () => void exportAs('png')() }),
        button('SVG', { title: `Save "${c.title}" as SVG`, onClick: () => void exportAs('svg')() }),
      );
    }
    if (rows) {
      actions.append(
        button('CSV', { title: `Save the data of "${c.title}" as CSV`, onClick: () => rows(current(), 'csv') }),
        button('JSON', { title: `Save the data of "${c.title}" as JSON`, onClick: () => rows(current(), 'json') }),
      );
    }
    h.append(el('h2', c.title), actions);
    const target = el('div', undefined, 'chart');
    target.setAttribute('role', 'img');
    box.append(h, target, el('p', '', 'caption'));
    return box;
  }

  private updateChartText(box: HTMLElement, c: ChartView): void {
    (box as HTMLElement & { chartView: ChartView }).chartView = c;
    box.dataset.rows = String(c.rows.length);
    box.querySelector('h2')!.textContent = c.title;
    box.querySelector('.chart')!.setAttribute('aria-label', c.caption ? `${c.title}. ${c.caption}` : c.title);
    const cap = box.querySelector<HTMLElement>('.caption')!;
    cap.textContent = c.caption ?? '';
    cap.hidden = !c.caption;
  }

  private tableBox(t: TableView): HTMLElement {
    const box = el('section', undefined, 'table-box');
    box.dataset.table = t.id;
    const h = el('div', undefined, 'chart-head');
    const actions = el('div', undefined, 'actions');
    const { table } = this.actions;
    if (table) {
      actions.append(
        button('CSV', { title: `Save "${t.title}" as CSV`, onClick: () => table(t, 'csv') }),
        button('JSON', { title: `Save "${t.title}" as JSON`, onClick: () => table(t, 'json') }),
      );
    }
    h.append(el('h2', t.title), actions);
    const wrap = el('div', undefined, 'table-wrap');
    wrap.tabIndex = 0;
    wrap.setAttribute('aria-label', t.title);
    // Sorting (click or Enter on a header) and filtering (any cell contains the text) are views
    // of the rows; exports always write every row.
    const state = this.tableState.get(t.id) ?? { sort: -1, desc: false, filter: '' };
    this.tableState.set(t.id, state);
    const tableEl = el('table');
    const draw = (): void => {
      const q = state.filter.trim().toLowerCase();
      let rows = q ? t.rows.filter((r) => r.some((c) => cellText(c).toLowerCase().includes(q))) : [...t.rows];
      if (state.sort >= 0) {
        const k = state.sort;
        const key = (c: string | number | boolean | null): number | string => (typeof c === 'number' ? c : c === null ? -Infinity : String(c));
        rows = rows.sort((a, b) => {
          const x = key(a[k]), y = key(b[k]);
          const d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
          return state.desc ? -d : d;
        });
      }
      const tr = el('tr');
      t.columns.forEach((c, i) => {
        const th = el('th', c + (state.sort === i ? (state.desc ? ' ▼' : ' ▲') : ''));
        th.tabIndex = 0;
        th.setAttribute('role', 'columnheader');
        th.setAttribute('aria-sort', state.sort === i ? (state.desc ? 'descending' : 'ascending') : 'none');
        th.title = `Sort by ${c}`;
        const sortBy = (): void => {
          state.desc = state.sort === i ? !state.desc : false;
          state.sort = i;
          draw();
          (tableEl.querySelectorAll('th')[i] as HTMLElement | undefined)?.focus();
        };
        th.addEventListener('click', sortBy);
        th.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter' || ev.key === ' ') {
            ev.preventDefault();
            sortBy();
          }
        });
        tr.append(th);
      });
      const body = rows.map((r) => {
        const row = el('tr');
        for (const c of r) row.append(el('td', cellText(c), typeof c === 'number' ? 'num' : undefined));
        return row;
      });
      tableEl.replaceChildren(tr, ...body);
      count.textContent = q ? `${rows.length} of ${t.rows.length} rows` : `${t.rows.length} rows`;
    };
    const count = el('span', '', 'muted');
    const tools = el('div', undefined, 'table-tools');
    if (t.rows.length > 8) {
      const f = textField({ placeholder: 'Filter rows', ariaLabel: `Filter ${t.title}`, value: state.filter, onInput: (v) => { state.filter = v; draw(); }, className: 'table-filter' });
      tools.append(f.el);
    }
    tools.append(count);
    wrap.append(tableEl);
    draw();
    box.append(h, tools, wrap);
    return box;
  }
}
