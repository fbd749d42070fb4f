// Vega-Lite charts in the webview: vega-embed under our CSP (expression interpreter via
// `ast: true`, no injected <style> elements, no actions menu, no network), themed from the
// --vscode-* CSS variables at render time.
import embed, { type Result } from 'vega-embed';
import type { VegaLiteSpec } from '../../analysis/charts/histogramSpec';

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** A Vega-Lite config from the current VS Code theme. */
export function themeConfig(): Record<string, unknown> {
  const fg = cssVar('--vscode-editor-foreground', cssVar('--vscode-foreground', '#888'));
  const muted = cssVar('--vscode-descriptionForeground', fg);
  const border = cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', '#8884'));
  const font = cssVar('--vscode-font-family', 'sans-serif');
  const size = parseFloat(cssVar('--vscode-font-size', '13')) || 13;
  const bar = cssVar('--vscode-charts-blue', '#3794ff');
  const category = ['--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple', '--vscode-charts-red', '--vscode-charts-yellow']
    .map((v) => cssVar(v, ''))
    .filter(Boolean);
  return {
    background: 'transparent',
    font,
    view: { stroke: 'transparent' },
    title: { color: fg, font, fontSize: size + 1, fontWeight: 600, anchor: 'start' },
    axis: {
      labelColor: muted,
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
    },
    legend: { labelColor: muted, titleColor: fg, labelFont: font, titleFont: font, labelFontSize: size - 2, titleFontSize: size - 1, titleFontWeight: 'normal' },
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
