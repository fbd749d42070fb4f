// Vega-Lite charts in the webview: vega-embed under our CSP (expression interpreter via
// `ast: true`, no injected <style> elements, no actions menu, no network), themed from the
// --vscode-* CSS variables at render time.
import embed, { type Result } from 'vega-embed';
import type { VegaLiteSpec } from '../../analysis/charts/histogramSpec';

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Chart colours for exports: a white page, dark text, VS Code Light Modern's chart colours. */
const EXPORT_THEME = {
  fg: '#1f1f1f',
  muted: '#3b3b3b',
  border: '#c8c8c8',
  category: ['#1a85ff', '#d18616', '#388a34', '#652d90', '#e51400', '#bf8803'],
};

/**
 * A Vega-Lite config from the current VS Code theme, or (`forExport`) for a white page. Every
 * text element gets a theme colour: titles, axis and legend labels, facet headers, text marks.
 */
export function themeConfig(forExport = false): Record<string, unknown> {
  const fg = forExport ? EXPORT_THEME.fg : cssVar('--vscode-editor-foreground', cssVar('--vscode-foreground', '#888'));
  const muted = forExport ? EXPORT_THEME.muted : cssVar('--vscode-descriptionForeground', fg);
  const border = forExport ? EXPORT_THEME.border : cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', '#8884'));
  const font = cssVar('--vscode-font-family', 'sans-serif');
  const size = parseFloat(cssVar('--vscode-font-size', '13')) || 13;
  const category = forExport
    ? EXPORT_THEME.category
    : ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow']
        .map((v) => cssVar(v, ''))
        .filter(Boolean);
  const bar = category[0] ?? '#3794ff';
  const text = { labelColor: fg, titleColor: fg, labelFont: font, titleFont: font, labelFontSize: size - 1, titleFontSize: size, titleFontWeight: 'normal' };
  return {
    background: forExport ? '#ffffff' : 'transparent',
    font,
    padding: forExport ? 12 : 5,
    view: { stroke: 'transparent' },
    title: { color: fg, subtitleColor: muted, font, fontSize: size + 1, fontWeight: 600, anchor: 'start' },
    axis: {
      labelColor: fg,
      titleColor: fg,
      domainColor: border,
      tickColor: border,
      gridColor: border,
      gridOpacity: 0.5,
      labelFont: font,
      titleFont: font,
      labelFontSize: size - 2,
      titleFontSize: size - 1,
      titleFontWeight: 'normal',
      labelOverlap: 'greedy',
      // Labels that merely touch count as overlapping (log axes printed "200300").
      labelSeparation: 4,
    },
    header: text,
    legend: { labelColor: fg, titleColor: fg, labelFont: font, titleFont: font, labelFontSize: size - 2, titleFontSize: size - 1, titleFontWeight: 'normal', labelLimit: 400 },
    text: { color: fg, font },
    rule: { color: muted },
    bar: { fill: bar, stroke: null },
    rect: { stroke: null },
    ...(category.length ? { range: { category } } : {}),
  };
}

export interface RenderedChart {
  result: Result;
  dispose(): void;
}

/** Renders a Vega-Lite spec into `el` (replacing what was there). */
export async function renderChart(el: HTMLElement, spec: VegaLiteSpec, renderer: 'svg' | 'canvas'): Promise<RenderedChart> {
  el.replaceChildren();
  const result = await embed(el, { ...spec, config: themeConfig() } as never, {
    mode: 'vega-lite',
    ast: true,
    actions: false,
    defaultStyle: false,
    renderer,
    tooltip: { disableDefaultStyle: true, theme: 'custom' },
  });
  return { result, dispose: () => result.finalize() };
}

export async function chartSvg(c: RenderedChart): Promise<string> {
  return c.result.view.toSVG();
}

export async function chartPng(c: RenderedChart): Promise<string> {
  return c.result.view.toImageURL('png', 2);
}

/**
 * The chart drawn again off-screen for a file: on white with dark text (whatever the editor's
 * theme), with `title` (naming the checkpoints) above it. SVG text or a PNG data URL.
 */
export async function exportChart(spec: VegaLiteSpec, format: 'svg' | 'png', title?: string): Promise<string> {
  const host = document.createElement('div');
  host.style.cssText = 'position:fixed;left:-10000px;top:0;width:900px;';
  document.body.append(host);
  try {
    const s = { ...spec, ...(title ? { title: { text: title, anchor: 'start' } } : {}), config: themeConfig(true) } as Record<string, unknown>;
    if (s.width === 'container') s.width = 720;
    const result = await embed(host, s as never, { mode: 'vega-lite', ast: true, actions: false, defaultStyle: false, renderer: 'svg' });
    try {
      return format === 'svg' ? await result.view.toSVG() : await result.view.toImageURL('png', 2);
    } finally {
      result.finalize();
    }
  } finally {
    host.remove();
  }
}

/** Calls `onChange` when the VS Code theme changes (body class / theme attributes). */
export function watchTheme(onChange: () => void): void {
  let timer: number | undefined;
  new MutationObserver(() => {
    if (timer !== undefined) clearTimeout(timer);
    timer = window.setTimeout(() => {
      timer = undefined;
      onChange();
    }, 50);
  }).observe(document.body, { attributes: true, attributeFilter: ['class', 'data-vscode-theme-kind', 'data-vscode-theme-name'] });
}
