// The editor's "Weight diagnostics" section: per weight matrix singular values, spectral norm,
// stable and effective rank, power-law α, dead and duplicated units, balancedness (the spectra
// analysis, computed in the worker), drawn with the analysis panel's renderer. Exports live in
// the panel ("Weight Spectra and Diagnostics" on the title bar).
//
// Like statistics, it is computed on opening the section only below a size limit
// (checkpointLens.diagnostics.maxAutoBytes of weight matrices); above it a button says what it
// will cost. While it runs the section shows progress (or what it is queued behind) and Cancel.
import type { AnalysisView, DiagnosticsProgressMessage, Listing } from '../../analysis/protocol';
import { ViewRenderer } from '../analysis/viewRender';
import { button } from '../ui/toolkit';
import { formatBytes } from './format';
import { tableOf } from '../../analysis/core/tensorTable';
import { post } from './vscodeApi';

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface DiagnosticsSettings {
  maxAutoBytes: number;
  budgetSeconds: number;
}

export class DiagnosticsSection {
  readonly el: HTMLDetailsElement;
  private readonly summary: HTMLElement;
  private readonly body: HTMLElement;
  private requested = false;
  private renderer: ViewRenderer | undefined;
  private view: AnalysisView | undefined;
  private bar: HTMLProgressElement | undefined;
  private status: HTMLElement | undefined;

  constructor(
    private readonly matrices: number,
    private readonly weightBytes: number,
    private readonly settings: DiagnosticsSettings,
  ) {
    this.el = h('details', 'section diagnostics');
    this.summary = h('summary', undefined, `Weight diagnostics (${matrices} weight matrices, ${formatBytes(weightBytes)})`);
    this.el.append(this.summary);
    this.body = h('div', 'diagnostics-body');
    this.el.append(this.body);
    this.el.addEventListener('toggle', () => {
      this.el.closest('.header')?.classList.toggle('diag-open', this.el.open);
      if (!this.el.open || this.requested || this.view) return;
      if (this.weightBytes <= this.settings.maxAutoBytes) this.request();
      else this.offer();
    });
  }

  /** Floating tensors of two or more dimensions (the analysis may narrow this to the model's layers). */
  static weights(l: Listing): { matrices: number; bytes: number } {
    // A Lightning/trainer checkpoint's model weights live under its state-dict prefix (not its optimizer moments).
    const p = l.stateDictPrefix;
    const t = tableOf(l.tensors);
    let matrices = 0;
    let bytes = 0;
    for (let i = 0; i < t.length; i++) {
      if (t.rank(i) >= 2 && t.numel(i) > 0 && /^(F|BF)\d+/.test(t.dtype(i)) && (!p || t.name(i).startsWith(p))) {
        matrices++;
        bytes += t.nbytes(i);
      }
    }
    return { matrices, bytes };
  }

  /** Above the automatic limit: say what computing costs, and offer it. */
  private offer(note?: string): void {
    const p = h(
      'p',
      'muted',
      `${formatBytes(this.weightBytes)} of weights is above the automatic limit (${formatBytes(this.settings.maxAutoBytes)}, setting checkpointLens.diagnostics.maxAutoBytes). ` +
        `Small matrices get every singular value exactly; large ones the top 32 by Lanczos within about ${this.settings.budgetSeconds} s in all ` +
        '(checkpointLens.diagnostics.timeBudgetSeconds), and the result says which values settled.',
    );
    const parts: HTMLElement[] = [];
    if (note) parts.push(h('p', 'muted', note));
    parts.push(p, button('Compute weight diagnostics', { appearance: 'primary', className: 'diag-compute', onClick: () => this.request() }));
    this.body.replaceChildren(...parts);
  }

  private request(): void {
    this.requested = true;
    this.bar = h('progress', 'diag-progress');
    this.bar.max = 1;
    this.bar.value = 0;
    this.bar.setAttribute('aria-label', 'Weight diagnostics progress');
    this.status = h('span', 'muted diag-status', 'Starting…');
    this.status.setAttribute('role', 'status');
    const row = h('div', 'diag-running');
    row.append(this.bar, this.status, button('Cancel', { className: 'diag-cancel', title: 'Cancel the weight diagnostics', onClick: () => post({ type: 'cancelDiagnostics' }) }));
    this.body.replaceChildren(row);
    post({ type: 'requestDiagnostics' });
  }

  progress(m: DiagnosticsProgressMessage): void {
    if (!this.bar || !this.status || this.view) return;
    if (m.queuedBehind) {
      this.bar.removeAttribute('value'); // indeterminate while waiting
      this.status.textContent = `Queued behind ${m.queuedBehind}: it starts when a worker is free.`;
      return;
    }
    this.bar.value = m.fraction;
    this.status.textContent = `${Math.round(100 * m.fraction)}%${m.message ? ` · ${m.message}` : ''}`;
  }

  show(view: AnalysisView | null, error?: string, cancelled?: boolean): void {
    this.bar = this.status = undefined;
    if (!view) {
      this.requested = false;
      if (cancelled) {
        this.offer('Cancelled.');
        return;
      }
      const retry = button('Retry', { onClick: () => this.request() });
      this.body.replaceChildren(h('p', 'error-text', `Weight diagnostics failed: ${error ?? 'unknown error'}`), retry);
      return;
    }
    this.view = view;
    // The count the analysis actually covers (the model's layers, not optimizer moments).
    const n = (view.tables.find((t) => t.id === 'spectra-layers')?.rows.length ?? this.matrices);
    this.summary.textContent = `Weight diagnostics (${n} weight matrices)`;
    this.renderer ??= new ViewRenderer(this.body, {});
    void this.renderer.render(view);
  }

  /** Theme change: charts read the colours when drawn. */
  redraw(): void {
    if (!this.renderer || !this.view) return;
    this.renderer.invalidate();
    void this.renderer.render(this.view);
  }
}
