// The editor's "Weight diagnostics" section: per weight matrix singular values, spectral norm,
// stable and effective rank, power-law α, dead and duplicated units, balancedness (the spectra
// analysis, computed in the worker when the section is first opened), drawn with the analysis
// panel's renderer. Exports live in the panel ("Weight Spectra and Diagnostics" on the title bar).
import type { AnalysisView, Listing } from '../../analysis/protocol';
import { ViewRenderer } from '../analysis/viewRender';
import { progressRing } from '../ui/toolkit';
import { post } from './vscodeApi';

function h<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class DiagnosticsSection {
  readonly el: HTMLDetailsElement;
  private readonly body: HTMLElement;
  private requested = false;
  private renderer: ViewRenderer | undefined;
  private view: AnalysisView | undefined;

  constructor(matrices: number) {
    this.el = h('details', 'section diagnostics');
    this.el.append(h('summary', undefined, `Weight diagnostics (${matrices} matrices)`));
    this.body = h('div', 'diagnostics-body');
    this.el.append(this.body);
    this.el.addEventListener('toggle', () => {
      if (!this.el.open || this.requested) return;
      this.requested = true;
      this.body.replaceChildren(progressRing('Computing weight diagnostics'), h('span', 'muted', ' Computing singular values…'));
      post({ type: 'requestDiagnostics' });
    });
  }

  /** Weight matrices: floating tensors of two or more dimensions (what the analysis covers). */
  static matrices(l: Listing): number {
    return l.tensors.filter((t) => t.shape.length >= 2 && /^(F|BF)\d+/.test(t.dtype)).length;
  }

  show(view: AnalysisView | null, error?: string): void {
    if (!view) {
      this.requested = false;
      this.body.replaceChildren(h('p', 'error-text', `Weight diagnostics failed: ${error ?? 'unknown error'}`));
      return;
    }
    this.view = view;
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
