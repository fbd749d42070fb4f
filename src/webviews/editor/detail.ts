// The selected tensor: its facts, statistics, a histogram and a heatmap of a downsampled 2-D
// slice, each chart exportable (SVG / PNG / data) through the host's save dialog.
import { heatmapCells, heatmapSpec } from '../../analysis/charts/heatmapSpec';
import { histogramBins, histogramSpec } from '../../analysis/charts/histogramSpec';
import type { Sharing } from '../../analysis/core/tensorTable';
import type { ChartFormat, ChartKind, ExportDataMessage, Slice2D, StatsEntry, TensorRow } from '../../analysis/protocol';
import { button, checkbox, progressRing } from '../ui/toolkit';
import { chartPng, chartSvg, renderChart, type RenderedChart } from './charts';
import { formatBytes, formatCount, formatInt, formatPercent, formatShape, formatStat } from './format';

export interface DetailOptions {
  logScale: boolean;
  onLogScale(on: boolean): void;
  onSelect(name: string): void;
  onExport(msg: ExportDataMessage): void;
  /** The other tensors on a tensor's storage (derived for large groups). */
  sharing(name: string): Sharing | undefined;
}

function h(tag: string, className?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

interface ChartSlot {
  box: HTMLElement;
  plot: HTMLElement;
  note: HTMLElement;
  tools: HTMLElement;
  chart?: RenderedChart;
  seq: number;
}

export class DetailPane {
  readonly el: HTMLElement;
  private tensor: TensorRow | undefined;
  private stats: StatsEntry | undefined;
  private slice: Slice2D | null | undefined;
  private sliceError: string | undefined;
  private progress: number | undefined;
  private readonly head: HTMLElement;
  private readonly statsBox: HTMLElement;
  private readonly hist: ChartSlot;
  private readonly heat: ChartSlot;

  constructor(private readonly opts: DetailOptions) {
    this.el = h('section', 'detail');
    this.el.setAttribute('aria-label', 'Selected tensor');
    this.head = h('div', 'detail-head');
    this.statsBox = h('div', 'detail-stats');
    this.statsBox.setAttribute('aria-live', 'polite');
    this.hist = this.slot('Histogram', 'histogram');
    this.heat = this.slot('Heatmap', 'heatmap');
    const scale = checkbox('Log scale', opts.logScale, (on) => {
      this.opts.logScale = on;
      this.opts.onLogScale(on);
      void this.drawHistogram();
    });
    scale.classList.add('log-toggle');
    this.hist.tools.prepend(scale);
    this.el.append(this.head, this.statsBox, this.hist.box, this.heat.box);
    this.show(undefined);
  }

  get current(): string | undefined {
    return this.tensor?.name;
  }

  private slot(title: string, kind: ChartKind): ChartSlot {
    const box = h('div', `chart-box chart-${kind}`);
    const bar = h('div', 'chart-bar');
    const tools = h('div', 'chart-tools');
    const formats: [ChartFormat, string, string][] = [
      ['svg', 'SVG', `Save the ${kind} as SVG`],
      ['png', 'PNG', `Save the ${kind} as PNG`],
      ['json', 'Data', `Save the ${kind}'s data as JSON`],
    ];
    for (const [format, label, tip] of formats) tools.append(button(label, { title: tip, onClick: () => void this.export(kind, format) }));
    bar.append(h('h2', undefined, title), tools);
    const plot = h('div', 'chart');
    plot.setAttribute('role', 'img');
    plot.setAttribute('aria-label', title);
    const note = h('p', 'chart-note muted');
    box.append(bar, plot, note);
    return { box, plot, note, tools, seq: 0 };
  }

  /** Shows a tensor (or the empty hint). Statistics and slice arrive later. */
  show(t: TensorRow | undefined): void {
    if (t?.name !== this.tensor?.name) {
      this.stats = undefined;
      this.slice = undefined;
      this.sliceError = undefined;
      this.progress = undefined;
    }
    this.tensor = t;
    this.el.classList.toggle('empty', !t);
    this.head.replaceChildren();
    if (!t) {
      this.head.append(h('p', 'muted hint', 'Select a tensor (click, or Enter in the table) to see its statistics, histogram and heatmap.'));
      this.statsBox.replaceChildren();
      this.hist.box.hidden = true;
      this.heat.box.hidden = true;
      return;
    }
    this.hist.box.hidden = false;
    this.heat.box.hidden = false;
    const title = h('h2', 'tensor-name mono', t.name);
    const facts = h('p', 'facts');
    facts.textContent = `${t.dtype} · ${formatShape(t.shape)} · ${formatInt(t.numel)} elements (${formatCount(t.numel)}) · ${formatBytes(t.nbytes)}`;
    this.head.append(title, facts);
    // Dequantized, densified, broadcast: how these values came from what the file stores.
    if (t.stored) this.head.append(h('p', 'stored-line', t.stored));
    const shared = this.opts.sharing(t.name);
    if (shared) {
      const p = h('p', 'tied-line');
      p.append(document.createTextNode('Shares storage with '));
      shared.others.slice(0, 20).forEach((other, i) => {
        if (i > 0) p.append(document.createTextNode(', '));
        const a = h('button', 'link-button mono', other);
        a.setAttribute('type', 'button');
        a.title = `Select ${other}`;
        a.addEventListener('click', () => this.opts.onSelect(other));
        p.append(a);
      });
      const shown = Math.min(20, shared.others.length);
      if (shared.count > shown) p.append(document.createTextNode(` and ${(shared.count - shown).toLocaleString('en-US')} more`));
      this.head.append(p);
    }
    this.renderStats();
    void this.drawHistogram();
    void this.drawHeatmap();
  }

  setStats(e: StatsEntry | undefined): void {
    if (!this.tensor || e?.name !== this.tensor.name) return;
    const changed = this.stats !== e;
    this.stats = e;
    this.progress = undefined;
    this.renderStats();
    if (changed) void this.drawHistogram();
  }

  setProgress(name: string, fraction: number): void {
    if (name !== this.tensor?.name || this.stats?.stats) return;
    this.progress = fraction;
    this.renderStats();
  }

  setSlice(name: string, slice: Slice2D | null, error?: string): void {
    if (name !== this.tensor?.name) return;
    this.slice = slice;
    this.sliceError = error;
    void this.drawHeatmap();
  }

  /** Theme changed: draw the charts again with the new colours. */
  redraw(): void {
    if (!this.tensor) return;
    void this.drawHistogram();
    void this.drawHeatmap();
  }

  private renderStats(): void {
    const box = this.statsBox;
    box.replaceChildren();
    const s = this.stats?.stats;
    if (!s) {
      const line = h('div', 'pending');
      if (this.stats?.error) {
        line.classList.add('error-text');
        line.textContent = `Statistics failed: ${this.stats.error}`;
      } else {
        line.append(progressRing('Computing statistics'), h('span', undefined, `Computing statistics…${this.progress !== undefined ? ` ${Math.floor(this.progress * 100)}%` : ''}`));
      }
      box.append(line);
      return;
    }
    const table = h('table', 'stats-table');
    const finite = s.count - s.nan - s.inf;
    const rows: [string, string, string?, boolean?][] = [
      ['Elements', formatInt(s.count)],
      ['Finite', formatInt(finite), undefined],
      ['Mean', formatStat(s.mean), s.mean === null ? undefined : String(s.mean)],
      ['Std', formatStat(s.std), s.std === null ? 'needs at least two finite values' : String(s.std)],
      ['Min', formatStat(s.min), s.min === null ? undefined : String(s.min)],
      ['Max', formatStat(s.max), s.max === null ? undefined : String(s.max)],
      ['L2 norm', formatStat(s.l2), s.l2 === null ? undefined : String(s.l2)],
      ['Zeros', `${formatInt(s.zeros)} (${formatPercent(s.zeros, s.count)})`],
      ['NaN', formatInt(s.nan), undefined, s.nan > 0],
      ['Inf', formatInt(s.inf), undefined, s.inf > 0],
    ];
    for (const [k, v, tip, bad] of rows) {
      const tr = h('tr');
      const td = h('td', `num${bad ? ' bad' : ''}`, v);
      if (tip) td.title = tip;
      tr.append(h('th', undefined, k), td);
      table.append(tr);
    }
    box.append(table);
  }

  private async drawHistogram(): Promise<void> {
    const slot = this.hist;
    const seq = ++slot.seq;
    const t = this.tensor;
    const s = this.stats?.stats;
    slot.chart?.dispose();
    slot.chart = undefined;
    this.setTools(slot, false);
    if (!t) return;
    if (!s) {
      slot.plot.replaceChildren(h('p', 'muted', this.stats?.error ? 'No histogram: statistics failed.' : 'The histogram appears when the statistics are ready.'));
      slot.note.textContent = '';
      return;
    }
    if (!s.histogram) {
      slot.plot.replaceChildren(h('p', 'muted', 'No histogram: the tensor has no finite values.'));
      slot.note.textContent = '';
      return;
    }
    const spec = histogramSpec(s.histogram, { dtype: t.dtype, yScale: this.opts.logScale ? 'log' : 'linear', width: this.chartWidth(), height: 170 });
    try {
      const chart = await renderChart(slot.plot, spec, 'svg');
      if (seq !== slot.seq) {
        chart.dispose();
        return;
      }
      slot.chart = chart;
      slot.note.textContent = `${s.histogram.counts.length} equal-width bins over the finite values, ${formatStat(s.histogram.lo)} to ${formatStat(s.histogram.hi)}.`;
      this.setTools(slot, true);
    } catch (e) {
      if (seq === slot.seq) slot.plot.replaceChildren(h('p', 'error-text', `Chart failed: ${(e as Error).message}`));
    }
  }

  private async drawHeatmap(): Promise<void> {
    const slot = this.heat;
    const seq = ++slot.seq;
    const t = this.tensor;
    slot.chart?.dispose();
    slot.chart = undefined;
    this.setTools(slot, false);
    if (!t) return;
    if (this.slice === undefined) {
      slot.plot.replaceChildren(h('div', 'pending'));
      slot.plot.firstElementChild!.append(progressRing('Reading a 2-D slice'), h('span', undefined, 'Reading a 2-D slice…'));
      slot.note.textContent = '';
      return;
    }
    if (this.slice === null || this.slice.rows * this.slice.cols === 0 || this.slice.values.every((v) => v === null)) {
      const why = this.sliceError ?? (this.slice && this.slice.rows * this.slice.cols > 0 ? 'the sampled values are all NaN or infinite.' : 'the tensor is empty.');
      slot.plot.replaceChildren(h('p', this.sliceError ? 'error-text' : 'muted', `No heatmap: ${why}`));
      slot.note.textContent = '';
      return;
    }
    const sl = this.slice;
    const width = this.chartWidth();
    // Leave room for the y-axis title and the colour legend beside the plot.
    const spec = heatmapSpec(sl, { maxWidth: Math.max(128, width - 110), maxHeight: 360 });
    try {
      const chart = await renderChart(slot.plot, spec, 'canvas');
      if (seq !== slot.seq) {
        chart.dispose();
        return;
      }
      slot.chart = chart;
      const [R, C] = sl.sourceShape;
      const parts = [`Viewed as ${formatInt(R)} × ${formatInt(C)}${t.shape.length > 2 ? ` (dims after the first flattened)` : ''}.`];
      if (sl.rows < R) parts.push(`${sl.rows} evenly spaced rows shown.`);
      if (sl.colStep > 1) parts.push(`Each cell is the mean of ${+sl.colStep.toFixed(2)} adjacent columns.`);
      if (sl.values.some((v) => v === null)) parts.push('Blank cells hold no finite value (NaN/Inf).');
      slot.note.textContent = parts.join(' ');
      this.setTools(slot, true);
    } catch (e) {
      if (seq === slot.seq) slot.plot.replaceChildren(h('p', 'error-text', `Chart failed: ${(e as Error).message}`));
    }
  }

  private chartWidth(): number {
    const w = this.el.clientWidth || 480;
    return Math.max(240, Math.min(640, w - 90));
  }

  private setTools(slot: ChartSlot, enabled: boolean): void {
    for (const b of slot.tools.querySelectorAll('vscode-button')) (b as HTMLElement & { disabled: boolean }).disabled = !enabled;
  }

  private async export(kind: ChartKind, format: ChartFormat): Promise<void> {
    const t = this.tensor;
    const slot = kind === 'histogram' ? this.hist : this.heat;
    if (!t || !slot.chart) return;
    let content: string;
    if (format === 'svg') content = await chartSvg(slot.chart);
    else if (format === 'png') content = await chartPng(slot.chart);
    else content = JSON.stringify(this.chartData(kind), null, 2);
    this.opts.onExport({ type: 'exportData', kind: 'chart', chart: kind, format, tensor: t.name, content });
  }

  private chartData(kind: ChartKind): unknown {
    const t = this.tensor!;
    if (kind === 'histogram') {
      const hgm = this.stats?.stats?.histogram;
      return { tensor: t.name, dtype: t.dtype, shape: t.shape, lo: hgm?.lo, hi: hgm?.hi, bins: hgm ? histogramBins(hgm) : [] };
    }
    const s = this.slice!;
    return {
      tensor: t.name,
      dtype: t.dtype,
      shape: t.shape,
      sourceShape: s.sourceShape,
      rowIndex: s.rowIndex,
      colStep: s.colStep,
      columns: heatmapCells(s).slice(0, s.cols).map((c) => c.col),
      values: Array.from({ length: s.rows }, (_, i) => s.values.slice(i * s.cols, (i + 1) * s.cols)),
    };
  }
}
