// The splitter between the tensor table and the detail pane. By default the table gets the
// width that shows all its columns when that leaves the detail pane room for its charts;
// dragging it (or ←/→ with it focused, Shift for bigger steps, Home/End, double-click or Enter
// to reset) sets the table's width, kept in the webview state.

/** The detail pane never gets less (its charts need it); the table never less than this. */
export const DETAIL_MIN = 280;
const DETAIL_COMFORT = 360;
const TABLE_MIN = 240;

/** The table's default width in a split `total` px wide, for a table whose columns need `natural` px. */
export function defaultTableWidth(total: number, natural: number): number {
  if (total - natural >= DETAIL_COMFORT) return natural;
  return Math.max(TABLE_MIN, Math.min(natural, total - DETAIL_COMFORT));
}

function clamp(w: number, total: number): number {
  return Math.round(Math.max(TABLE_MIN, Math.min(w, total - DETAIL_MIN - 10)));
}

export interface SplitterOptions {
  split: HTMLElement;
  /** The table's natural width now. */
  natural(): number;
  /** The width the user chose before (px), if any. */
  chosen?: number;
  onChange(width: number | undefined): void;
  onSettled(): void;
}

export class Splitter {
  readonly el: HTMLElement;
  private chosen: number | undefined;

  constructor(private readonly o: SplitterOptions) {
    this.chosen = o.chosen;
    const el = document.createElement('div');
    el.className = 'splitter';
    el.tabIndex = 0;
    el.setAttribute('role', 'separator');
    el.setAttribute('aria-orientation', 'vertical');
    el.setAttribute('aria-label', 'Width of the tensor table (←/→ to resize, Home/End, Enter to reset)');
    el.title = 'Drag to resize the table and the detail pane; double-click to reset';
    this.el = el;
    el.addEventListener('pointerdown', (e) => this.drag(e));
    el.addEventListener('dblclick', () => this.set(undefined));
    el.addEventListener('keydown', (e) => {
      const step = e.shiftKey ? 120 : 24;
      const now = this.width();
      const next = e.key === 'ArrowLeft' ? now - step : e.key === 'ArrowRight' ? now + step : e.key === 'Home' ? 0 : e.key === 'End' ? Infinity : e.key === 'Enter' ? null : undefined;
      if (next === undefined) return;
      e.preventDefault();
      this.set(next === null ? undefined : clamp(next, this.total()));
    });
    new ResizeObserver(() => this.apply()).observe(o.split);
  }

  private total(): number {
    return this.o.split.clientWidth;
  }

  /** The table's width now. */
  width(): number {
    const total = this.total();
    return this.chosen !== undefined ? clamp(this.chosen, total) : defaultTableWidth(total - 10, this.o.natural());
  }

  /** Re-applies the width (after the split or the table's natural width changed). */
  apply(): void {
    const total = this.total();
    if (total <= 0) return;
    const w = this.width();
    this.o.split.style.setProperty('--tree-w', `${w}px`);
    this.el.setAttribute('aria-valuemin', String(TABLE_MIN));
    this.el.setAttribute('aria-valuemax', String(Math.max(TABLE_MIN, total - DETAIL_MIN - 10)));
    this.el.setAttribute('aria-valuenow', String(w));
    this.el.setAttribute('aria-valuetext', `table ${w} px, detail ${total - w - 10} px`);
  }

  private set(w: number | undefined): void {
    this.chosen = w;
    this.apply();
    this.o.onChange(w);
    this.o.onSettled();
  }

  private drag(e: PointerEvent): void {
    if (e.button !== 0) return;
    e.preventDefault();
    const startX = e.clientX;
    const start = this.width();
    this.el.setPointerCapture(e.pointerId);
    this.el.classList.add('dragging');
    const move = (ev: PointerEvent): void => {
      this.chosen = clamp(start + ev.clientX - startX, this.total());
      this.apply();
    };
    const up = (): void => {
      this.el.removeEventListener('pointermove', move);
      this.el.removeEventListener('pointerup', up);
      this.el.removeEventListener('pointercancel', up);
      this.el.classList.remove('dragging');
      this.o.onChange(this.chosen);
      this.o.onSettled();
    };
    this.el.addEventListener('pointermove', move);
    this.el.addEventListener('pointerup', up);
    this.el.addEventListener('pointercancel', up);
  }
}
