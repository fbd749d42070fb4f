// The webview bundles in a real browser (headless Chromium) under the exact HTML and CSP the
// extension sets (src/extension/webviewHtml.ts), fed with real data from the analysis worker:
// every chart renders with ZERO CSP violations, no 'unsafe-eval', and no request leaving the
// page's own origin. Run by test/e2e/run.mjs (bundled to out/csp/cspCheck.js by
// scripts/e2e-build.mjs).
//
// How a webview is imitated: a local HTTP server plays the webview resource origin
// (`webview.cspSource`), the page is editorHtml()'s output verbatim, and `acquireVsCodeApi`
// comes from a Playwright init script (VS Code injects it the same way, outside the page's
// CSP). Messages: the page's postMessage → a Playwright binding → this file, which answers
// like the extension host (init, statsUpdate, statsProgress, sliceData) with window.postMessage.
//
// The detector is proved to work on every run: a canary (an inline <script> without the nonce)
// must produce exactly one violation, which is then set aside.
import { createServer, type Server } from 'node:http';
import { readFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { contentSecurityPolicy, editorHtml, makeNonce } from '../../src/extension/webviewHtml';
import { WorkerHost } from '../../src/extension/workerHost';
import type { HostToWebview, Listing, StatsEntry, WebviewToHost } from '../../src/analysis/protocol';
import { sanitizeStats } from '../../src/analysis/protocol';
import { tableOf } from '../../src/analysis/core/tensorTable';

export interface CspCheckOptions {
  browser: Browser;
  /** The dist/ folder to serve (the production build that goes into the .vsix). */
  distDir: string;
  /** Checkpoints to show, each with the tensor to select. */
  cases: { file: string; select: string }[];
  shotsDir: string;
  log(msg: string): void;
}

export interface Violation {
  directive: string;
  blockedURI: string;
  sample: string;
  source: string;
}

export interface CspCaseResult {
  file: string;
  csp: string;
  violations: Violation[];
  canary: Violation[];
  offOrigin: string[];
  errors: string[];
  histogramBars: number;
  heatmapCanvas: { width: number; height: number; colours: number };
  exports: string[];
  rows: { name: string; shape: string; mean: string }[];
  screenshot: string;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.html': 'text/html' };

/** Serves `/` (the page) and `/dist/**` (the bundles); everything else is a 404 and recorded. */
async function serve(distDir: string, page: () => string, misses: string[]): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page());
      return;
    }
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^\/+/, '');
    if (rel.startsWith('dist/') && !rel.includes('..')) {
      const f = join(distDir, rel.slice('dist/'.length));
      if (existsSync(f)) {
        res.writeHead(200, { 'content-type': TYPES[extname(f)] ?? 'application/octet-stream' });
        res.end(readFileSync(f));
        return;
      }
    }
    misses.push(url.pathname);
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// The functions below marked "in the page" run in the browser (Playwright serializes them); the
// root tsconfig has no DOM types, so they reach the DOM through `globalThis` as `any`.
/* eslint-disable @typescript-eslint/no-explicit-any */

/** In the page, before any of its scripts (like VS Code's webview preload). */
function initScript(): void {
  const w = globalThis as any;
  w.document.addEventListener(
    'securitypolicyviolation',
    (e: any) => w.__cspViolation({ directive: e.effectiveDirective, blockedURI: e.blockedURI, sample: e.sample, source: `${e.sourceFile}:${e.lineNumber}` }),
    true,
  );
  let state: unknown;
  w.acquireVsCodeApi = () => ({
    postMessage: (m: unknown) => w.__toHost(m),
    getState: () => state,
    setState: (s: unknown) => {
      state = s;
      return s;
    },
  });
}

async function runCase(opts: CspCheckOptions, file: string, select: string, worker: WorkerHost): Promise<CspCaseResult> {
  const listing: Listing = await worker.open(file).promise;
  const stats: StatsEntry[] = [];
  await worker.stats(file, [...tableOf(listing.tensors).names()], {
    onItem: (name, s, err) => stats.push(s ? { name, stats: sanitizeStats(s) } : { name, stats: null, error: err?.message ?? 'failed' }),
  }).promise;

  const misses: string[] = [];
  let csp = '';
  const { server, origin } = await serve(
    opts.distDir,
    () => {
      // A fresh page per load, exactly as resolveCustomEditor builds it.
      const nonce = makeNonce();
      const styleNonce = makeNonce();
      csp = contentSecurityPolicy(origin, nonce, styleNonce);
      return editorHtml({ cspSource: origin, nonce, styleNonce, scriptUri: `${origin}/dist/webviews/editor.js`, styleUri: [`${origin}/dist/webviews/vega.css`, `${origin}/dist/webviews/editor.css`] });
    },
    misses,
  );
  const context = await opts.browser.newContext({ viewport: { width: 1300, height: 900 } });
  const violations: Violation[] = [];
  const offOrigin: string[] = [];
  const errors: string[] = [];
  const exports: string[] = [];
  let page: Page | undefined;
  try {
    // Any request that is not to the page's origin (or data:/blob:) is a remote load: block and record.
    await context.route(
      (u) => !u.href.startsWith(origin) && !/^(data|blob):/.test(u.protocol),
      (route) => {
        offOrigin.push(route.request().url());
        return route.abort();
      },
    );
    await context.exposeBinding('__cspViolation', (_src, v: Violation) => void violations.push(v));
    page = await context.newPage();
    const p = page;
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    const send = (m: HostToWebview) => p.evaluate((msg) => (globalThis as any).postMessage(msg, '*'), m as unknown);
    await page.exposeBinding('__toHost', async (_src, raw: WebviewToHost) => {
      switch (raw.type) {
        case 'ready':
          await send({ type: 'init', fileName: basename(file), listing, stats: [], settings: { autoCompute: true, maxAutoBytes: 4e9 } });
          await send({ type: 'statsProgress', state: 'running', done: 0, total: stats.length, fraction: 0 });
          await send({ type: 'statsUpdate', entries: stats });
          await send({ type: 'statsProgress', state: 'done', done: stats.length, total: stats.length, fraction: 1 });
          return;
        case 'selectTensor': {
          const slice = await worker.slice2d(file, raw.name, 128, 128).promise;
          await send({ type: 'sliceData', name: raw.name, slice });
          return;
        }
        case 'exportData':
          exports.push(raw.kind === 'chart' ? `${raw.chart}.${raw.format}:${raw.content.length}` : `table.${raw.format}`);
          return;
        default:
          return;
      }
    });
    await page.addInitScript(initScript);
    await page.goto(`${origin}/`);

    // The table with real rows.
    await page.locator('.tree-row.tensor').first().waitFor({ timeout: 20000 });
    await page.locator('.stats-status', { hasText: 'Statistics of' }).waitFor({ timeout: 20000 });
    const rows = await page.locator('.tree-row.tensor').evaluateAll((els: any[]) =>
      els.map((r) => ({
        name: String(r.querySelector('.c-name').title),
        shape: String(r.querySelector('.c-shape').textContent),
        mean: String(r.querySelector('.c-mean').title),
      })),
    );

    // Select a tensor: histogram (svg) and heatmap (canvas).
    await page.locator(`.tree-row.tensor .c-name[title="${select}"]`).click();
    const bars = page.locator('.chart-histogram svg .mark-rect path');
    await bars.first().waitFor({ timeout: 20000 });
    const histogramBars = await bars.count();
    await page.locator('.chart-heatmap canvas').waitFor({ timeout: 20000 });
    const heatmapCanvas = await page.locator('.chart-heatmap canvas').evaluate((c: any) => {
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      const colours = new Set<number>();
      for (let i = 0; i < d.length; i += 4 * 7) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      return { width: c.width, height: c.height, colours: colours.size };
    });

    // Everything else that draws: log scale, chart exports (SVG, PNG through a canvas, data),
    // a theme change (both charts redrawn), and a filter.
    await page.locator('.log-toggle').click();
    await page.waitForTimeout(300);
    for (const kind of ['histogram', 'heatmap']) {
      for (const label of ['SVG', 'PNG', 'Data']) {
        await page.locator(`.chart-${kind} .chart-tools vscode-button`, { hasText: label }).click();
      }
    }
    await page.evaluate(() => {
      const body = (globalThis as any).document.body;
      body.className = 'vscode-light';
      body.setAttribute('data-vscode-theme-kind', 'vscode-light');
    });
    await page.waitForTimeout(500);
    await page.locator('.chart-histogram svg .mark-rect path').first().waitFor();
    await page.locator('vscode-text-field.filter').click();
    await page.keyboard.type('weight');
    await page.waitForTimeout(400);
    const screenshot = join(opts.shotsDir, `csp-${basename(file).replace(/\W+/g, '_')}.png`);
    mkdirSync(opts.shotsDir, { recursive: true });
    await page.screenshot({ path: screenshot });
    await waitUntil(() => exports.length >= 6, 10000);

    // Canary: an inline script without the nonce must be reported (proves the listener works).
    // Chromium also logs it as a console error: errors are settled before it.
    const settledErrors = errors.splice(0);
    const before = violations.length;
    await page.evaluate(() => {
      const doc = (globalThis as any).document;
      const s = doc.createElement('script');
      s.textContent = 'window.__canaryRan = true';
      doc.body.append(s);
    });
    await waitUntil(() => violations.length > before, 5000);
    const canary = violations.splice(before);
    if (await page.evaluate(() => (globalThis as any).__canaryRan === true)) settledErrors.push('the CSP let an inline script run');
    if (misses.length) settledErrors.push(`404s: ${misses.join(', ')}`);
    const canaryErrors = errors.filter((e) => !/Content Security Policy/.test(e));
    return { file, csp, violations, canary, offOrigin, errors: [...settledErrors, ...canaryErrors], histogramBars, heatmapCanvas, exports, rows, screenshot };
  } finally {
    await context.close();
    server.close();
  }
}

async function waitUntil(pred: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

export async function cspCheck(opts: CspCheckOptions): Promise<CspCaseResult[]> {
  const worker = new WorkerHost({
    workerPath: join(opts.distDir, 'worker.js'),
    log: { trace() {}, debug() {}, info() {}, warn: (m) => opts.log(`worker: ${m}`), error: (m) => opts.log(`worker: ${m}`) },
  });
  try {
    const out: CspCaseResult[] = [];
    for (const c of opts.cases) out.push(await runCase(opts, c.file, c.select, worker));
    return out;
  } finally {
    worker.dispose();
  }
}
