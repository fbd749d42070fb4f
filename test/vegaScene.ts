// Runs a Vega-Lite spec through vega-lite and vega headless (no renderer) and returns the scene
// graph: every mark item with the properties Vega computed for it (fill, stroke, strokeDash,
// symbol size and shape, datum), so tests check what a chart draws, not the spec's wording.
import type { ViewJson } from '../src/analysis/report/analysisView';

export interface SceneItem {
  /** The mark type that drew it (rect, text, symbol, line, rule, …) and the mark's role. */
  marktype: string;
  role: string;
  fill?: string;
  stroke?: string;
  strokeDash?: number[];
  shape?: string;
  size?: number;
  text?: string;
  x?: number;
  y?: number;
  width?: number;
  height?: number;
  datum?: Record<string, unknown>;
  /** Which group item holds it (items of one group share coordinates). */
  group: number;
}

type Compile = (spec: unknown) => { spec: unknown };
interface VegaModule {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, opts: { renderer: 'none' }) => { runAsync(): Promise<unknown>; scenegraph(): { root: SceneNode }; finalize(): void };
  scheme(name: string): ((t: number) => string) | undefined;
}
interface SceneNode { marktype?: string; role?: string; items?: SceneNode[]; [k: string]: unknown }

let modules: { compile: Compile; vega: VegaModule } | undefined;

async function load(): Promise<{ compile: Compile; vega: VegaModule }> {
  // Both are ESM: load them with import().
  modules ??= {
    compile: ((await import('vega-lite' as string)) as { compile: Compile }).compile,
    vega: (await import('vega' as string)) as VegaModule,
  };
  return modules;
}

/** Vega's colour scheme `name` as a function of t ∈ [0, 1] (what a scale with that scheme draws). */
export async function vegaScheme(name: string): Promise<(t: number) => string> {
  const s = (await load()).vega.scheme(name);
  if (!s) throw new Error(`vega has no scheme ${name}`);
  return s;
}

/**
 * The scene of `spec` at a fixed width (a 'container' width has no container here), under
 * `config` (the panel passes its theme's: text colours and fonts).
 */
export async function scene(spec: ViewJson, opts: { width?: number; config?: Record<string, ViewJson> } = {}): Promise<SceneItem[]> {
  const { compile, vega } = await load();
  const s = spec as Record<string, ViewJson>;
  const fixed = { ...s, ...(s.width === 'container' ? { width: opts.width ?? 480 } : {}), ...(opts.config ? { config: opts.config } : {}) };
  const view = new vega.View(vega.parse(compile(fixed).spec), { renderer: 'none' });
  await view.runAsync();
  const out: SceneItem[] = [];
  const groups = new Map<SceneNode, number>();
  // A mark holds items; a group mark's items hold marks of their own.
  const walkMark = (mark: SceneNode, group: number): void => {
    for (const it of mark.items ?? []) {
      if (mark.marktype === 'group') {
        if (!groups.has(it)) groups.set(it, groups.size);
        for (const child of it.items ?? []) walkMark(child, groups.get(it)!);
      } else out.push({ ...(it as object), marktype: mark.marktype!, role: mark.role ?? '', group } as SceneItem);
    }
  };
  walkMark(view.scenegraph().root, -1);
  view.finalize();
  return out;
}

const NAMED: Record<string, string> = { black: '#000000', white: '#ffffff' };

/** WCAG relative luminance of a CSS colour (#rgb, #rrggbb, rgb(r, g, b), black or white). */
export function luminanceOf(colour: string): number {
  let rgb: number[];
  colour = NAMED[colour.trim().toLowerCase()] ?? colour;
  const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(colour.trim());
  if (hex) {
    const h = hex[1].length === 3 ? [...hex[1]].map((c) => c + c).join('') : hex[1];
    rgb = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
  } else {
    const m = /^rgba?\(([^)]+)\)$/.exec(colour.trim());
    if (!m) throw new Error(`not a colour: ${colour}`);
    rgb = m[1].split(',').slice(0, 3).map((v) => Number(v));
  }
  const f = (v: number): number => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * f(rgb[0]) + 0.7152 * f(rgb[1]) + 0.0722 * f(rgb[2]);
}

/** WCAG contrast ratio of two CSS colours. */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminanceOf(a), luminanceOf(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
