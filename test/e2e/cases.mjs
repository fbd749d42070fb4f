// The e2e cases, as tables. To cover a new command, add an entry to COMMAND_CASES keyed by its
// id: run.mjs fails when a contributed command has no entry (or an entry names no command).
// Each case gets a fresh editor area (all editors closed) and a context:
//   ctx.page          the VS Code page (playwright-core)
//   ctx.ws            the workspace folder (files: test/e2e/workspace.mjs + big-sparse.safetensors)
//   ctx.shot(name)    a PNG screenshot into .e2e/shots/
//   ctx.log(...)      progress lines
// and the helpers below (checkTable, checkCharts) compare what the webview shows with values
// computed by test/e2e/reference.mjs, without the extension's code.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { checkChartMarks, checkContrast } from './chartChecks.mjs';
import { close, readSafetensors, refHistogram, refStats } from './reference.mjs';
import { NEXT_LIVE_CHECKPOINT } from './workspace.mjs';
import { closeAllEditors, openActive, paletteSelect, quickOpen, runFromPalette, selectTensorAndReadCharts, tableRows, webviewFrame } from './harness.mjs';

/** The user setting the cases rely on: 200 kB, so the 313 kB .ckpt is not computed by itself. */
export const MAX_AUTO_BYTES = 200000;
/**
 * 40 x 256 MiB of zeros in a sparse file (10 GiB, no disk used): above maxAutoBytes, and its
 * statistics take far longer than the few seconds the cancel case needs (about 30 s here).
 */
export const SPARSE = { name: 'big-sparse.safetensors', tensors: 40, mb: 256 };

/** A real 1 GiB checkpoint (8 matrices of 8192 × 4096 F32 noise), written by run.mjs at test time. */
export const BIG_RANDOM = { name: 'big-random.safetensors', tensors: 8, rows: 8192, cols: 4096 };

const reference = (ws, file) => readSafetensors(path.join(ws, file));

/** Table rows = the reference tensors (names with `prefix`), shapes, and (if `stats`) means. */
export async function checkTable(frame, ws, refFile, { prefix = '', stats = true } = {}) {
  const ref = reference(ws, refFile);
  if (stats) await frame.locator('.stats-status', { hasText: 'Statistics of' }).waitFor({ timeout: 60000 });
  const rows = await tableRows(frame);
  for (const t of ref.tensors) {
    const row = rows.find((r) => r.name === prefix + t.name);
    assert.ok(row, `no table row for ${prefix + t.name}; rows: ${rows.map((r) => r.name).join(', ')}`);
    assert.equal(row.shape, `[${t.shape.join(', ')}]`, `shape of ${row.name}`);
    if (stats) {
      const e = refStats(t.values);
      assert.ok(close(Number(row.mean), e.mean), `mean of ${row.name}: table says ${row.mean}, reference ${e.mean}`);
    }
  }
  return rows;
}

/** Selects `rowName`: a 64-bar histogram whose tallest bar is the reference's, and a heatmap. */
export async function checkCharts(frame, ws, refFile, refName, rowName = refName) {
  const c = await selectTensorAndReadCharts(frame, rowName);
  const ref = reference(ws, refFile).tensors.find((t) => t.name === refName);
  const counts = refHistogram(ref.values, 64);
  assert.equal(c.bars, 64, `histogram of ${rowName}: ${c.bars} bars, expected 64`);
  const tallest = c.heights.indexOf(Math.max(...c.heights));
  assert.ok(counts[tallest] >= 0.97 * Math.max(...counts), `histogram of ${rowName}: the tallest bar is bin ${tallest} (${counts[tallest]} values), the reference's largest bin holds ${Math.max(...counts)}`);
  assert.ok(c.canvas.width >= 100 && c.canvas.height >= 50, `heatmap canvas is ${c.canvas.width}x${c.canvas.height}`);
  assert.ok(c.canvas.colours >= 20, `heatmap canvas has only ${c.canvas.colours} colours`);
  assert.match(c.stats, /Mean/);
  return c;
}

const QUICK_TITLE = '.quick-input-widget .quick-input-title';

/** Waits for the quick pick titled `title`; returns its full title text. */
async function quickPickTitled(page, title) {
  const t = page.locator(QUICK_TITLE, { hasText: title });
  await t.waitFor({ timeout: 30000 });
  return (await t.innerText()).trim();
}

/**
 * Enter in the quick pick titled `shown`, then waits until that picker is gone (closed, or the
 * next one shown): the key was taken before the caller looks for what comes next.
 */
async function acceptQuickPick(page, shown) {
  await page.keyboard.press('Enter');
  await page.waitForFunction((t) => {
    const w = document.querySelector('.quick-input-widget');
    return !w || w.style.display === 'none' || w.querySelector('.quick-input-title')?.textContent?.trim() !== t;
  }, shown, { timeout: 15000 }).catch(() => {});
}

/**
 * In the quick pick titled `title`: types `label`, waits until the row labelled exactly so is
 * the focused one (moving down to it if the filter left others above), Enter. The list filters
 * after the input event; on a loaded machine that can take seconds, so this waits for the row
 * rather than counting tries.
 */
async function pickRow(page, title, label) {
  const shown = await quickPickTitled(page, title);
  await page.locator('.quick-input-widget input').fill(label);
  const focusedLabel = () => page.locator('.quick-input-list .monaco-list-row.focused .label-name').first().innerText().then((t) => t.trim(), () => '');
  const wanted = page.locator('.quick-input-list .monaco-list-row .label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) });
  const end = Date.now() + 20000;
  while ((await focusedLabel()) !== label) {
    assert.ok(Date.now() < end, `no row "${label}" became the focused one in the quick pick "${title}" (focused: "${await focusedLabel()}")`);
    if ((await wanted.count()) > 0 && (await focusedLabel()) !== label) await page.keyboard.press('ArrowDown');
    await page.waitForTimeout(200);
  }
  await acceptQuickPick(page, shown);
}

/**
 * In the multi-select quick pick titled `title`: filters to `label`, ticks that row by clicking
 * its label (the whole row is a <label> whose click toggles the checkbox once; a click on the
 * checkbox itself could toggle it and then again through the label), checks that it shows as
 * ticked before clicking again, then accepts from the input (Enter with nothing ticked would
 * accept an empty selection).
 */
async function tickRowAndAccept(page, title, label) {
  const shown = await quickPickTitled(page, title);
  const input = page.locator('.quick-input-widget input');
  await input.fill(label);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  const box = row.locator('.monaco-checkbox, input[type=checkbox]').first();
  const ticked = () => box.evaluate((b) => b.checked === true || b.classList.contains('checked') || b.getAttribute('aria-checked') === 'true').catch(() => false);
  const end = Date.now() + 20000;
  while (!(await ticked())) {
    assert.ok(Date.now() < end, `the row "${label}" of the quick pick "${title}" could not be ticked`);
    await row.locator('.label-name').first().click({ timeout: 5000 }).catch(() => {});
    // Give the list time to show the new state before looking (a second click would untick it).
    for (let i = 0; i < 10 && !(await ticked()); i++) await page.waitForTimeout(100);
  }
  await input.focus();
  await acceptQuickPick(page, shown);
}

/**
 * The analysis panel once its job is done: every chart drawn as SVG (or `chartId`'s), no chart
 * failed to draw, the view final. Returns its frame.
 */
async function analysisPanel(ctx, chartId, timeoutMs = 120000) {
  // .analysis-body: the analysis panel, not a Checkpoint Lens editor that may be open beside it.
  const frame = await webviewFrame(ctx.page, chartId ? `.analysis-body .chart-box[data-chart="${chartId}"] svg` : '.analysis-body .chart-box svg', timeoutMs);
  await frame.waitForFunction(() => document.body.dataset.job === 'done' && document.body.dataset.rendered === 'complete', null, { timeout: timeoutMs }).catch(async (e) => {
    const state = await frame.evaluate(() => ({ ...document.body.dataset, bad: [...document.querySelectorAll('.bad')].map((b) => b.textContent) })).catch(() => ({}));
    throw new Error(`analysis panel not done: ${JSON.stringify(state)} (${e.message})`);
  });
  const boxes = await frame.locator('.chart-box').count();
  assert.ok(boxes >= 1, 'at least one chart');
  assert.equal(await frame.locator('.chart-box .chart svg').count(), boxes, 'every chart drawn');
  assert.equal(await frame.locator('.chart-box .bad').count(), 0, 'no chart failed to draw');
  // Every chart draws marks (a line chart with points: one per row), and its text reads.
  await checkChartMarks(frame, '.analysis-body', { points: ['interpolate-loss', 'interpolate-accuracy', 'mli-loss', 'mli-accuracy'] });
  const lowest = await checkContrast(frame);
  ctx.log(`  charts draw marks; lowest text contrast ${lowest.toFixed(2)}:1`);
  contrastLog.push({ panel: chartId ?? 'panel', lowest });
  return frame;
}

/** The lowest text contrast of each panel checked (the report's figures). */
export const contrastLog = [];

async function openInEditor(ctx, file, selector = '.tree-row.tensor', timeoutMs = 30000) {
  await openActive(ctx.page, file);
  return webviewFrame(ctx.page, selector, timeoutMs);
}

async function statusText(frame) {
  return (await frame.locator('.stats-status').innerText()).trim();
}

// --- opening checkpoints ------------------------------------------------------------------------

/**
 * A safetensors file of a million one-element F32 tensors, `layer{i / 1000}.unit{i % 1000}`
 * holding i (issue #12: a valid file with a million tensors must open). 74 MB, written once.
 */
function writeMillionTensors(file) {
  if (fs.existsSync(file)) return;
  const n = 1_000_000;
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(`"layer${Math.floor(i / 1000)}.unit${i % 1000}":{"dtype":"F32","shape":[1],"data_offsets":[${4 * i},${4 * i + 4}]}`);
  const header = Buffer.from(`{${parts.join(',')}}`);
  const values = new Float32Array(n).map((_, i) => i);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  fs.writeFileSync(`${file}.tmp`, Buffer.concat([len, header, Buffer.from(values.buffer)]));
  fs.renameSync(`${file}.tmp`, file);
}

/** The extension host process of this run (its HOME is the run's), from Linux /proc. */
function extensionHostPid(ctx) {
  const home = `HOME=${path.join(path.dirname(ctx.userData), 'home')}`;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=extensionHost')) continue;
      if (fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(home)) return pid;
    } catch {
      // gone, or not ours
    }
  }
  assert.fail(`no extension host process with ${home} found in /proc`);
}

/** VmRSS or VmHWM (the peak since start, or since the last clear_refs 5) of a process, in MB. */
function processMb(pid, field) {
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  assert.ok(kb > 0, `no ${field} for process ${pid}`);
  return (kb * 1024) / 1e6;
}

export const EDITOR_CASES = [
  {
    name: 'custom editor: .safetensors table (names, shapes, means) and charts',
    run: async (ctx) => {
      const frame = await openInEditor(ctx, 'mlp_seed0.safetensors');
      await checkTable(frame, ctx.ws, 'mlp_seed0.safetensors');
      await checkCharts(frame, ctx.ws, 'mlp_seed0.safetensors', '0.weight');
      await ctx.shot('editor-safetensors');
      await frame.locator('.chart-heatmap').scrollIntoViewIfNeeded();
      await ctx.shot('editor-safetensors-heatmap');
    },
  },
  {
    name: 'custom editor: .gguf opens by default with family, quantization mix and dequantized statistics',
    run: async (ctx) => {
      const frame = await openInEditor(ctx, 'tiny_llama.gguf');
      await frame.locator('.stats-status', { hasText: 'Statistics of 21 tensors' }).waitFor({ timeout: 60000 });
      await frame.locator('.stat', { hasText: 'llama (tiny llama)' }).waitFor();
      for (const type of ['Q8_0', 'Q4_0', 'Q5_1', 'F32']) await frame.locator('.dtype-chip', { hasText: type }).waitFor();
      // tiny_llama.gguf is tiny_llama.safetensors quantized (test/fixtures/gguf/make_quant_error_fixture.py):
      // every dequantized value is within maxAbs of the source, so each mean is too.
      const rows = await tableRows(frame);
      const src = reference(ctx.ws, 'tiny_llama.safetensors');
      const map = JSON.parse(fs.readFileSync(path.join(ctx.ws, 'tiny_llama.expected.json'), 'utf8'));
      // The table renders the rows in view: check those (at least a dozen), and the count in the header.
      await frame.locator('.stat', { hasText: `Tensors${map.length}` }).waitFor();
      assert.ok(rows.length >= 12, `only ${rows.length} rows rendered`);
      for (const row of rows) {
        const e = map.find((x) => x.gguf === row.name);
        const t = e && src.tensors.find((x) => x.name === e.source);
        assert.ok(e && t, `row ${row.name} has no source tensor`);
        assert.equal(row.shape, `[${t.shape.join(', ')}]`, `shape of ${e.gguf}`);
        assert.ok(Math.abs(Number(row.mean) - refStats(t.values).mean) <= e.maxAbs + 1e-7, `mean of ${e.gguf}: ${row.mean} vs source ${refStats(t.values).mean} (max error ${e.maxAbs})`);
      }
      const c = await selectTensorAndReadCharts(frame, 'blk.0.ffn_up.weight');
      assert.equal(c.bars, 64);
      assert.ok(c.canvas.colours >= 20, `heatmap canvas has only ${c.canvas.colours} colours`);
      await ctx.shot('editor-gguf');
    },
  },
  {
    name: 'custom editor: .pt table (names, shapes, means) and charts',
    run: async (ctx) => {
      const frame = await openInEditor(ctx, 'mlp_seed0.pt');
      // torch.save of the same state dict as mlp_seed0.safetensors (demo/make_demo_checkpoints.py).
      await checkTable(frame, ctx.ws, 'mlp_seed0.safetensors');
      await checkCharts(frame, ctx.ws, 'mlp_seed0.safetensors', '2.weight');
      await ctx.shot('editor-pt');
      await frame.locator('.chart-heatmap').scrollIntoViewIfNeeded();
      await ctx.shot('editor-pt-heatmap');
    },
  },
  {
    name: 'custom editor: a million tensors open (count, groups, filter, one tensor\'s statistics)',
    run: async (ctx) => {
      writeMillionTensors(path.join(ctx.ws, 'million.safetensors'));
      // The extension host's peak memory while the file opens and a tensor is selected (its
      // reader thread, the listing it passes on), from its resident size now: under 1 GB (#12).
      const host = extensionHostPid(ctx);
      fs.writeFileSync(`/proc/${host}/clear_refs`, '5'); // resets VmHWM to the current size
      const before = processMb(host, 'VmRSS');
      const t0 = Date.now();
      const frame = await openInEditor(ctx, 'million.safetensors', '.tree-row.tensor', 240000);
      const grewOpening = processMb(host, 'VmHWM') - before;
      ctx.log(`a million tensors: first row after ${Date.now() - t0} ms; the extension host grew by at most ${grewOpening.toFixed(0)} MB (from ${before.toFixed(0)} MB)`);
      assert.match(await frame.locator('.summary').innerText(), /Tensors\s+1,000,000/);
      await frame.locator('.match-count', { hasText: /^1,000,000 tensors$/ }).waitFor();
      // Above 100 000 tensors statistics wait until asked for.
      await frame.locator('.stats-status', { hasText: 'Statistics not computed automatically' }).waitFor({ timeout: 20000 });
      await frame.locator('vscode-text-field.filter').click();
      await ctx.page.keyboard.type('layer765.unit432');
      await frame.locator('.match-count', { hasText: '1 of 1,000,000 tensors' }).waitFor({ timeout: 60000 });
      await frame.locator('.tree-row.tensor .c-name[title="layer765.unit432"]').click();
      await frame.locator('.tree-row.tensor .c-mean[title="765432"]').waitFor({ timeout: 60000 });
      await frame.locator('.detail .tensor-name', { hasText: 'layer765.unit432' }).waitFor();
      // Selecting asks statistics and a heatmap at once: both go to the reader holding the file.
      const grew = processMb(host, 'VmHWM') - before;
      ctx.log(`  and by at most ${grew.toFixed(0)} MB with a tensor selected`);
      assert.ok(grew < 1000, `opening a million tensors and selecting one took the extension host ${grew.toFixed(0)} MB beyond its ${before.toFixed(0)} MB`);
      await ctx.shot('editor-million');
      // Expand all: 1,001,000 rows, 22 M px at 22 px a row. Browsers cap an element's height
      // (Chromium near 33.5 M px, Firefox 17.9 M): the rows' container stays at 15 M px and the
      // scrollbar maps onto the rows, so End still brings the last row into view.
      await frame.locator('vscode-text-field.filter').click();
      await ctx.page.keyboard.press('Control+a');
      await ctx.page.keyboard.press('Backspace');
      await frame.locator('.match-count', { hasText: /^1,000,000 tensors$/ }).waitFor({ timeout: 60000 });
      await frame.locator('vscode-button', { hasText: 'Expand all' }).click();
      await frame.locator('.tree-row.tensor .c-name[title="layer0.unit1"]').waitFor({ timeout: 60000 });
      assert.equal(await frame.locator('.tree-body').evaluate((e) => e.getBoundingClientRect().height), 15_000_000);
      // Focus without clicking a row: a click selects, and the selection's reply scrolls to it.
      await frame.locator('.tree').focus();
      await ctx.page.keyboard.press('End');
      const lastRow = frame.locator('.tree-row.tensor', { has: frame.locator('.c-name[title="layer999.unit999"]') });
      await lastRow.waitFor({ timeout: 60000 });
      const inView = async () => {
        const [row, tree] = await Promise.all([lastRow.boundingBox({ timeout: 5000 }).catch(() => null), frame.locator('.tree').boundingBox()]);
        return { ok: !!(row && tree && row.y >= tree.y && row.y + row.height <= tree.y + tree.height + 1), row, tree };
      };
      let seen = await inView();
      for (let i = 0; i < 20 && !seen.ok; i++) {
        await ctx.page.waitForTimeout(250); // a render in flight
        seen = await inView();
      }
      assert.ok(seen.ok, `the last row is out of view: row ${JSON.stringify(seen.row)}, tree ${JSON.stringify(seen.tree)}`);
      await ctx.page.keyboard.press('Home');
      await frame.locator('.tree-row.tensor .c-name[title="layer0.unit0"]').waitFor({ timeout: 60000 });
      await ctx.shot('editor-million-expanded');
    },
  },
  // A Llama-family model on text: the picker lists text that has a tokenizer.json beside it; the
  // loss (mean next-token cross-entropy) equals transformers' (demo/kjv_llama.expected.json).
  {
    name: 'evaluate a Llama-family model on text (tokenizer.json beside it)',
    run: async (ctx) => {
      const expected = JSON.parse(fs.readFileSync(path.join(ctx.ws, 'kjv', 'expected.json'), 'utf8')).kjv_llama_seed0;
      await paletteSelect(ctx.page, 'Checkpoint Lens: Evaluate Checkpoint');
      await ctx.page.keyboard.press('Enter');
      await pickRow(ctx.page, 'Checkpoint to evaluate', 'kjv/model.safetensors');
      await pickRow(ctx.page, 'Dataset', 'kjv/val.txt');
      await ctx.page.locator('.notifications-toasts', { hasText: `loss ${expected.val_loss.toFixed(4)} (mean cross-entropy, nats)` }).waitFor({ timeout: 120000 });
      await ctx.page.locator('.notifications-toasts', { hasText: `n = ${expected.val_blocks}` }).waitFor({ timeout: 5000 });
      await ctx.shot('cmd-evaluate-llama');
    },
  },
  {
    // The platform .vsix carries onnxruntime in dist/node_modules (scripts/ortRuntime.mjs): the
    // analysis worker must load that copy and run forward passes on it. Evidence: the engine line
    // of the worker in the output channel's log file, the evaluation's numbers (PyTorch's), and
    // the native library mapped into a process from the installed extension's folder.
    name: 'engine: the installed .vsix runs forward passes on its own onnxruntime (worker log, mapped library)',
    run: async (ctx) => {
      await COMMAND_CASES['checkpointLens.evaluate'](ctx);
      const logFile = findFile(path.join(ctx.userData, 'logs'), (f) => path.basename(f) === 'Checkpoint Lens.log');
      assert.ok(logFile, `no "Checkpoint Lens.log" under ${ctx.userData}/logs`);
      const text = fs.readFileSync(logFile, 'utf8');
      const engine = text.split('\n').find((l) => /\[worker\] (forward passes|tfjs backend):/.test(l)) ?? '';
      ctx.log(`  ${engine.replace(/^.*\[worker\] /, 'worker: ')}`);
      if (ctx.target === 'universal' || ctx.target === 'darwin-x64') {
        // No onnxruntime binary for this platform: tfjs, saying why.
        assert.match(engine, /tfjs backend: \w+ \(onnxruntime: cannot load onnxruntime-node/, text);
        return;
      }
      assert.match(engine, /forward passes: onnxruntime 1\.\d+\.\d+, \d+ threads?; tfjs backend: \w+/, `the worker did not run onnxruntime:\n${text}`);
      assert.match(text, /\[worker\] evaluated mlp_seed0\.pt on digits\.npz: .*\(n=1797, onnxruntime, /, text);
      if (process.platform === 'linux') {
        const mapped = mappedLibraries(/libonnxruntime\.so/);
        ctx.log(`  onnxruntime mapped from ${[...mapped].join(', ')}`);
        const own = ctx.mode === 'vsix' ? path.join(ctx.extDir, 'dist', 'node_modules', 'onnxruntime-node') : ctx.extDir;
        assert.ok([...mapped].some((p) => p.startsWith(own)), `libonnxruntime is not mapped from ${own}: ${[...mapped].join(', ') || 'nowhere'}`);
      }
    },
  },
  {
    // checkpointLens.onnxruntimeThreads reaches the worker with the next job, without a reload:
    // set to 1, the evaluation runs on sessions of 1 thread (the notification and the worker's
    // log say so); set back to 0, the next one runs on every core again.
    name: 'engine: checkpointLens.onnxruntimeThreads reaches the worker (1 thread, then every core, no reload)',
    run: async (ctx) => {
      if (ctx.target === 'universal' || ctx.target === 'darwin-x64') return; // tfjs only: no onnxruntime threads
      const evaluateOn = async (threads) => {
        const words = `onnxruntime, ${threads} thread${threads === 1 ? '' : 's'}`;
        const offset = extensionLog(ctx).length;
        await runFromPalette(ctx.page, 'Notifications: Clear All Notifications');
        const text = await startEvaluate(ctx);
        await ctx.page.locator('.notifications-toasts', { hasText: `${text} (${words}, ` }).waitFor({ timeout: 60000 });
        const line = await waitForLog(ctx, offset, /\[worker\] evaluated mlp_seed0\.pt on digits\.npz: /, 'the evaluation');
        assert.ok(line.includes(`(n=1797, ${words}, `), line);
        const engine = await waitForLog(ctx, offset, /\[worker\] forward passes: onnxruntime /, 'the engine line');
        ctx.log(`  ${engine.replace(/^.*\[worker\] /, 'worker: ')}`);
        assert.match(engine, new RegExp(`forward passes: onnxruntime [\\d.]+, (now )?${threads} threads?\\b`));
      };
      const settings = await withWorkspaceSettings(ctx, { 'checkpointLens.onnxruntimeThreads': 1 });
      try {
        await evaluateOn(1);
        await ctx.shot('engine-threads-1');
      } finally {
        await settings.restore();
      }
      // 0: every core, or CKPT_LENS_ORT_THREADS (code-server inherits this process's environment).
      const fromEnv = Number(process.env.CKPT_LENS_ORT_THREADS);
      await evaluateOn(Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : os.availableParallelism());
    },
  },
];

/** The first file under `dir` (depth-first) that `want` accepts. */
function findFile(dir, want) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      const f = findFile(p, want);
      if (f) return f;
    } else if (want(p)) return p;
  }
  return undefined;
}

/** Paths of shared libraries matching `re` mapped into any process of ours (Linux /proc). */
function mappedLibraries(re) {
  const paths = new Set();
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let maps = '';
    try {
      maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    } catch {
      continue; // gone, or not ours
    }
    for (const line of maps.split('\n')) if (re.test(line)) paths.add(line.slice(line.indexOf('/')));
  }
  return paths;
}

EDITOR_CASES.push({
  name: 'custom editor: weight diagnostics of a 1 GiB checkpoint — offered above the size limit, progress and Cancel within a second, closing the editor cancels it',
  run: async (ctx) => {
    const frame = await openInEditor(ctx, BIG_RANDOM.name);
    await frame.locator('details.diagnostics > summary').click();
    const compute = frame.locator('.diagnostics vscode-button.diag-compute');
    await compute.waitFor({ timeout: 10000 });
    assert.match(await frame.locator('.diagnostics-body').innerText(), /above the automatic limit/);
    const t0 = Date.now();
    await compute.click();
    await frame.locator('.diag-status', { hasText: /\d+%/ }).waitFor({ timeout: 1000 });
    const tProgress = Date.now() - t0;
    await frame.locator('.diag-status', { hasText: /of 8\)/ }).waitFor({ timeout: 30000 });
    await ctx.shot('editor-diagnostics-large-running');
    const t1 = Date.now();
    await frame.locator('.diagnostics vscode-button.diag-cancel').click();
    await frame.locator('.diagnostics-body', { hasText: 'Cancelled.' }).waitFor({ timeout: 1000 });
    const tCancel = Date.now() - t1;
    ctx.log(`  1 GiB diagnostics: progress shown ${tProgress} ms after Compute, cancelled ${tCancel} ms after Cancel`);
    // Again, then close the editor while it runs: no job is left.
    await compute.click();
    await frame.locator('.diag-status', { hasText: /of 8\)/ }).waitFor({ timeout: 30000 });
    await closeAllEditors(ctx.page);
    await ctx.page.waitForTimeout(1000);
    await runFromPalette(ctx.page, 'Checkpoint Lens: Running Jobs…');
    await ctx.page.locator('.notifications-toasts', { hasText: 'no jobs are running' }).waitFor({ timeout: 3000 });
  },
});

/** Palette → Evaluate → mlp_seed0.pt on data/digits.npz; returns the result text to expect. */
async function startEvaluate(ctx) {
  const expected = JSON.parse(fs.readFileSync(path.join(ctx.ws, 'eval.expected.json'), 'utf8'))['mlp_seed0.pt'];
  await paletteSelect(ctx.page, 'Checkpoint Lens: Evaluate Checkpoint');
  await ctx.page.keyboard.press('Enter');
  await pickRow(ctx.page, 'Checkpoint to evaluate', 'mlp_seed0.pt');
  await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
  return `loss ${expected.loss.toFixed(4)} (mean cross-entropy, nats), accuracy ${(100 * expected.accuracy).toFixed(2)}%, n = ${expected.n}`;
}

/** Statistics of the 10 GiB sparse checkpoint, started from the palette (about 30 s of work). */
async function startLongStatistics(ctx) {
  const frame = await openInEditor(ctx, SPARSE.name);
  await frame.locator('.stats-status', { hasText: 'Statistics not computed automatically' }).waitFor({ timeout: 20000 });
  await runFromPalette(ctx.page, 'Checkpoint Lens: Compute Statistics of All Tensors');
  await frame.locator('.stats-status', { hasText: new RegExp(`Statistics \\d+/${SPARSE.tensors} \\(\\d+%\\)`) }).waitFor({ timeout: 20000 });
  return frame;
}

/** Serves `bytes` with Range support (206), as a CDN would. */
function serveRange(bytes, req, res) {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (!m) { res.writeHead(200, { 'Content-Length': bytes.length }); res.end(bytes); return; }
  const start = Number(m[1]), end = Math.min(Number(m[2]), bytes.length - 1);
  res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: '"1"' });
  res.end(bytes.subarray(start, end + 1));
}

/** A Hub on 127.0.0.1 redirecting every request to a "CDN" on another port (another origin); both record the Authorization headers they get. */
async function hubAndCdn(bytes) {
  const hubAuth = [], cdnAuth = [];
  const cdn = http.createServer((req, res) => { cdnAuth.push(req.headers.authorization); serveRange(bytes, req, res); });
  await new Promise((r) => cdn.listen(0, '127.0.0.1', r));
  const cdnUrl = `http://127.0.0.1:${cdn.address().port}`;
  const hub = http.createServer((req, res) => { hubAuth.push(req.headers.authorization); res.writeHead(302, { Location: `${cdnUrl}/blob${req.url}?signed=1` }); res.end(); });
  await new Promise((r) => hub.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${hub.address().port}`, hubAuth, cdnAuth,
    close: () => { for (const s of [hub, cdn]) { s.closeAllConnections(); s.close(); } },
  };
}

/** The extension's output channel as VS Code logs it to a file ('' until the channel has written). */
function extensionLog(ctx) {
  const dir = path.join(ctx.userData, 'logs');
  const file = fs.existsSync(dir) ? findFile(dir, (f) => path.basename(f) === 'Checkpoint Lens.log') : undefined;
  return file ? fs.readFileSync(file, 'utf8') : '';
}

/** Waits until the extension's log, after its first `offset` characters, has a line matching `re`; returns that line. */
async function waitForLog(ctx, offset, re, what, timeoutMs = 20000) {
  const t0 = Date.now();
  for (;;) {
    const line = extensionLog(ctx).slice(offset).split('\n').find((l) => re.test(l));
    if (line) return line;
    assert.ok(Date.now() - t0 < timeoutMs, `the extension did not log ${what} within ${timeoutMs} ms:\n${extensionLog(ctx).slice(offset)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Waits until the extension logs the settings `keys` after `offset` in its log (its "settings:"
 * line, written when VS Code tells it of a change): jobs started after that use the new values.
 * VS Code may load a settings file seconds after it was written: it watches a .vscode/ that does
 * not exist yet by polling (fs.watchFile, every 5 s), and its workspace watcher misses a file
 * written into a folder just made (code-server's trace log: parcel saw `.vscode` ADDED, not the
 * settings.json in it). A command run at once then read the old value (Clear Hugging Face
 * Token opened huggingface.co instead of the local Hub).
 */
async function settingsApplied(ctx, offset, keys) {
  const t0 = Date.now();
  for (const k of keys) await waitForLog(ctx, offset, new RegExp(` settings: .*${k.replace(/\./g, '\\.')} = `), `a change of ${k}`);
  ctx.log(`  (the extension saw ${keys.join(', ')} ${Date.now() - t0} ms after the file was written)`);
}

/**
 * Writes .vscode/settings.json in the workspace and waits until the extension has them;
 * restore() puts back what was there, and waits the same way.
 */
async function withWorkspaceSettings(ctx, values) {
  const file = path.join(ctx.ws, '.vscode', 'settings.json');
  const before = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  const keys = Object.keys(values);
  const putBack = () => (before === undefined ? fs.rmSync(file, { force: true }) : fs.writeFileSync(file, before));
  let offset = extensionLog(ctx).length;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ ...(before ? JSON.parse(before) : {}), ...values }, null, 2));
  await settingsApplied(ctx, offset, keys).catch((e) => { putBack(); throw e; });
  return {
    restore: async () => {
      offset = extensionLog(ctx).length;
      putBack();
      await settingsApplied(ctx, offset, keys);
    },
  };
}

/** Open Remote Checkpoint… with `spec` typed into its input box; resolves once the editor's header shows `stat` (tiny_llama.gguf's 21 tensors by default). */
async function openRemoteFromPalette(ctx, spec, stat = 'Tensors21') {
  await paletteSelect(ctx.page, 'Checkpoint Lens: Open Remote Checkpoint');
  await ctx.page.keyboard.press('Enter');
  await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Open Remote Checkpoint' }).waitFor({ timeout: 15000 });
  await ctx.page.locator('.quick-input-widget input').fill(spec);
  await ctx.page.locator('.quick-input-widget input').press('Enter');
  const frame = await webviewFrame(ctx.page, '.tree-row.tensor', 60000);
  await frame.locator('.stat', { hasText: stat }).waitFor();
  return frame;
}

// --- one case per command ------------------------------------------------------------------------

export const COMMAND_CASES = {
  // A local HTTP server with Range support: the URL typed into the input box opens in the editor,
  // which lists the GGUF's tensors and shows how few bytes were fetched.
  'checkpointLens.openRemote': async (ctx) => {
    // Serves the workspace file named by the URL's last segment.
    const server = http.createServer((req, res) => serveRange(fs.readFileSync(path.join(ctx.ws, path.basename(new URL(req.url, 'http://x').pathname))), req, res));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${server.address().port}/repo/tiny_llama.gguf`;
      await paletteSelect(ctx.page, 'Checkpoint Lens: Open Remote Checkpoint');
      await ctx.page.keyboard.press('Enter');
      await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Open Remote Checkpoint' }).waitFor({ timeout: 15000 });
      await ctx.page.locator('.quick-input-widget input').fill(url);
      await ctx.page.locator('.quick-input-widget input').press('Enter');
      const frame = await webviewFrame(ctx.page, '.tree-row.tensor', 60000);
      await frame.locator('.stat', { hasText: 'Fetched' }).waitFor();
      await frame.locator('.stat', { hasText: 'Tensors21' }).waitFor();
      assert.ok((await tableRows(frame)).some((r) => r.name === 'token_embd.weight'));
      await ctx.shot('cmd-openRemote');
      // The byte counter follows what the editor fetches after opening: a 347 kB safetensors
      // (above maxAutoBytes, so no background statistics) fetches one 64 KiB block to open, then
      // the selected tensor's bytes for its statistics and heatmap.
      await closeAllEditors(ctx.page);
      const st = await openRemoteFromPalette(ctx, `http://127.0.0.1:${server.address().port}/repo/tiny_llama.safetensors`, 'Tensors');
      const fetched = async () => Number(/^([\d,]+) bytes/.exec(await st.locator('.stat-fetched').getAttribute('title'))[1].replace(/,/g, ''));
      const atOpen = await fetched();
      await selectTensorAndReadCharts(st, 'model.layers.1.mlp.up_proj.weight');
      const deadline = Date.now() + 15000;
      while ((await fetched()) <= atOpen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      assert.ok((await fetched()) > atOpen, `the byte counter stayed at ${atOpen} after a tensor was read`);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  },

  // Palette → a masked input box → the token is stored; with the Hub endpoint set to a local
  // server, opening hf://org/repo/file sends it to the Hub and not to the CDN it redirects to.
  'checkpointLens.setHubToken': async (ctx) => {
    const hub = await hubAndCdn(fs.readFileSync(path.join(ctx.ws, 'tiny_llama.gguf')));
    let settings;
    try {
      settings = await withWorkspaceSettings(ctx, { 'checkpointLens.hub.endpoint': hub.url });
      await paletteSelect(ctx.page, 'Checkpoint Lens: Set Hugging Face Token');
      await ctx.page.keyboard.press('Enter');
      await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Hugging Face Token' }).waitFor({ timeout: 15000 });
      const input = ctx.page.locator('.quick-input-widget input[type="password"]');
      await input.fill('hf_e2e_token');
      await input.press('Enter');
      await ctx.page.locator('.notifications-toasts', { hasText: 'Hugging Face token saved' }).waitFor({ timeout: 15000 });
      await openRemoteFromPalette(ctx, 'hf://org/repo/tiny_llama.gguf');
      assert.ok(hub.hubAuth.length > 0 && hub.hubAuth.every((a) => a === 'Bearer hf_e2e_token'), `the Hub saw ${hub.hubAuth.join(', ')}`);
      assert.ok(hub.cdnAuth.length > 0 && hub.cdnAuth.every((a) => a === undefined), 'the CDN got the token');
      await ctx.shot('cmd-setHubToken');
    } finally {
      await settings?.restore();
      hub.close();
    }
  },

  // Palette → the stored token is removed (a notification says so), and the Hub gets no token.
  'checkpointLens.clearHubToken': async (ctx) => {
    const hub = await hubAndCdn(fs.readFileSync(path.join(ctx.ws, 'tiny_llama.gguf')));
    let settings;
    try {
      settings = await withWorkspaceSettings(ctx, { 'checkpointLens.hub.endpoint': hub.url });
      await runFromPalette(ctx.page, 'Checkpoint Lens: Clear Hugging Face Token');
      await ctx.page.locator('.notifications-toasts', { hasText: /Hugging Face token removed|no Hugging Face token was stored/ }).waitFor({ timeout: 15000 });
      await openRemoteFromPalette(ctx, 'hf://org/repo/tiny_llama.gguf');
      assert.ok(hub.hubAuth.length > 0 && hub.hubAuth.every((a) => a === undefined), `the Hub saw ${hub.hubAuth.join(', ')}`);
    } finally {
      await settings?.restore();
      hub.close();
    }
  },

  // A *.bin opens as a (binary) text editor; the command reopens it in Checkpoint Lens.
  'checkpointLens.openWith': async (ctx) => {
    await quickOpen(ctx.page, 'pytorch_model.bin');
    await ctx.page.locator('.tabs-container .tab.active', { hasText: 'pytorch_model.bin' }).waitFor();
    assert.equal(await ctx.page.locator('iframe.webview').count(), 0, 'pytorch_model.bin must not open in a webview by default');
    await runFromPalette(ctx.page, 'Checkpoint Lens: Open with Checkpoint Lens');
    const frame = await webviewFrame(ctx.page, '.tree-row.tensor');
    await checkTable(frame, ctx.ws, 'mlp_seed0.safetensors');
    await ctx.shot('cmd-openWith');
  },

  // The analysis command of today: statistics of all tensors, then the charts of one.
  'checkpointLens.computeStatistics': async (ctx) => {
    const frame = await openInEditor(ctx, 'mlp_seed1_lightning.ckpt');
    // 313 kB of tensors > checkpointLens.statistics.maxAutoBytes (MAX_AUTO_BYTES): not started.
    await frame.locator('.stats-status', { hasText: 'Statistics not computed automatically' }).waitFor({ timeout: 20000 });
    const before = await tableRows(frame);
    assert.ok(before.every((r) => r.mean === ''), 'no statistics before the command');
    await runFromPalette(ctx.page, 'Checkpoint Lens: Compute Statistics of All Tensors');
    await frame.locator('.stats-status', { hasText: 'Statistics of 24 tensors' }).waitFor({ timeout: 60000 });
    await frame.locator('vscode-text-field.filter').click();
    await ctx.page.keyboard.type('state_dict.model');
    await frame.locator('.match-count', { hasText: '6 of 24 tensors' }).waitFor();
    // The Lightning checkpoint's model is the seed-1 MLP of mlp_seed1.safetensors.
    await checkTable(frame, ctx.ws, 'mlp_seed1.safetensors', { prefix: 'state_dict.model.' });
    await checkCharts(frame, ctx.ws, 'mlp_seed1.safetensors', '2.weight', 'state_dict.model.2.weight');
    await ctx.shot('cmd-computeStatistics');
  },

  // Palette → quick pick (CSV) → save dialog (default name) → the file on disk.
  'checkpointLens.exportTable': async (ctx) => {
    const frame = await openInEditor(ctx, 'mlp_seed0.safetensors');
    await frame.locator('.stats-status', { hasText: 'Statistics of 6 tensors' }).waitFor({ timeout: 60000 });
    const target = path.join(ctx.ws, 'mlp_seed0-tensors.csv');
    fs.rmSync(target, { force: true });
    await paletteSelect(ctx.page, 'Checkpoint Lens: Export Tensor Table');
    await ctx.page.keyboard.press('Enter');
    await ctx.page.locator('.quick-input-list .monaco-list-row.focused', { hasText: 'CSV' }).waitFor();
    await ctx.page.keyboard.press('Enter');
    // VS Code's own save dialog (a quick input holding the path), prefilled with the default.
    const input = ctx.page.locator('.quick-input-widget input');
    await ctx.page.waitForFunction(() => /mlp_seed0-tensors\.csv$/.test(document.querySelector('.quick-input-widget input')?.value ?? ''), null, { timeout: 15000 });
    await ctx.shot('cmd-exportTable-dialog');
    await input.press('Enter');
    await ctx.page.locator('.notifications-toasts', { hasText: 'Exported mlp_seed0-tensors.csv' }).waitFor({ timeout: 15000 });
    const lines = fs.readFileSync(target, 'utf8').trimEnd().split('\r\n');
    const ref = reference(ctx.ws, 'mlp_seed0.safetensors');
    assert.match(lines[0], /^name,dtype,shape,numel,nbytes,shares_storage_with,mean,/);
    assert.equal(lines.length, 1 + ref.tensors.length);
    for (const t of ref.tensors) {
      const cells = lines.find((l) => l.startsWith(`${t.name},`))?.split(',');
      assert.ok(cells, `no CSV row for ${t.name}`);
      assert.equal(cells[2], t.shape.join('x'));
      assert.ok(close(Number(cells[6]), refStats(t.values).mean), `CSV mean of ${t.name}: ${cells[6]}`);
    }
    await ctx.shot('cmd-exportTable');
  },

  // Palette → pick the checkpoint → pick the dataset → the result notification, equal to
  // PyTorch's loss and accuracy (eval.expected.json, from demo/eval_reference.py).
  'checkpointLens.evaluate': async (ctx) => {
    const expected = JSON.parse(fs.readFileSync(path.join(ctx.ws, 'eval.expected.json'), 'utf8'))['mlp_seed0.pt'];
    await paletteSelect(ctx.page, 'Checkpoint Lens: Evaluate Checkpoint');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Checkpoint to evaluate', 'mlp_seed0.pt');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    const text = `loss ${expected.loss.toFixed(4)} (mean cross-entropy, nats), accuracy ${(100 * expected.accuracy).toFixed(2)}%, n = ${expected.n}`;
    await ctx.page.locator('.notifications-toasts', { hasText: text }).waitFor({ timeout: 60000 });
    await ctx.shot('cmd-evaluate');
  },

  // Palette → B → A → save dialog (default name) → the report panel beside the editor: the
  // similarity chart drawn, every group at least as similar after as before, the files written.
  'checkpointLens.align': async (ctx) => {
    const out = path.join(ctx.ws, 'mlp_seed1.aligned-to-mlp_seed0.safetensors');
    fs.rmSync(out, { force: true });
    await paletteSelect(ctx.page, 'Checkpoint Lens: Align Checkpoint to');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Checkpoint to align', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Align mlp_seed1.safetensors to', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Alignment method', 'Weight matching');
    await ctx.page.waitForFunction(() => /mlp_seed1\.aligned-to-mlp_seed0\.safetensors$/.test(document.querySelector('.quick-input-widget input')?.value ?? ''), null, { timeout: 15000 });
    await ctx.page.locator('.quick-input-widget input').press('Enter');
    const frame = await webviewFrame(ctx.page, '.analysis-body .chart-box[data-chart="align-similarity"] svg', 60000);
    await frame.waitForFunction(() => document.body.dataset.rendered === 'complete' && document.body.dataset.job === 'done', null, { timeout: 60000 });
    await checkChartMarks(frame, '.analysis-body');
    await checkContrast(frame);
    const rows = await frame.locator('.table-box tr').evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.ok(rows.length >= 2, `group table rows: ${JSON.stringify(rows)}`);
    for (const r of rows) assert.ok(Number(r[5]) >= Number(r[4]), `group ${r[0]}: similarity after ${r[5]} < before ${r[4]}`);
    assert.ok(fs.existsSync(out) && fs.existsSync(out.replace(/\.safetensors$/, '.perm.json')), 'aligned checkpoint and permutations written');
    await ctx.shot('cmd-align');
  },

  // Palette → A → B → dataset → "naive and aligned" → the LMC panel: both paths drawn, the
  // barrier facts labelled with their definitions, the chart's data exported as CSV.
  'checkpointLens.linearModeConnectivity': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Linear Mode Connectivity');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Linear mode connectivity: checkpoint A', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Checkpoint B', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await pickRow(ctx.page, 'Also draw the path to B aligned to A', 'Naive and aligned paths');
    const frame = await analysisPanel(ctx, 'interpolate-loss');
    const facts = await frame.locator('.facts').innerText();
    assert.match(facts, /max_α \[L\(θ\(α\)\) − \(\(1−α\)/, 'the linear-baseline barrier is labelled with its definition');
    const paths = await frame.locator('.chart-box[data-chart="interpolate-loss"] svg g.mark-line path').count();
    assert.ok(paths >= 2, `naive and aligned lines drawn (${paths} line marks)`);
    await ctx.shot('cmd-linearModeConnectivity');
  },

  'checkpointLens.monotonicInterpolation': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Monotonic Linear Interpolation');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'initialisation', 'mlp_seed0_init.pt');
    await pickRow(ctx.page, 'The trained checkpoint', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    const frame = await analysisPanel(ctx);
    assert.match(await frame.locator('.facts').innerText(), /‖θ_T − θ₀‖/);
    await ctx.shot('cmd-monotonicInterpolation');
  },

  'checkpointLens.featureConnectivity': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Layerwise Feature Connectivity');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Layerwise linear feature connectivity: checkpoint A', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Checkpoint B', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await pickRow(ctx.page, 'Also measure B aligned to A', 'Naive and aligned');
    await analysisPanel(ctx);
    await ctx.shot('cmd-featureConnectivity');
  },

  'checkpointLens.lossPlane': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Loss Plane');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Loss plane: first checkpoint', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Second checkpoint', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Third checkpoint', 'mlp_seed0_init.pt');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await analysisPanel(ctx);
    await ctx.shot('cmd-lossPlane');
  },

  // From the custom editor's title bar: A is the open checkpoint, B picked; the diff table.
  'checkpointLens.compareWith': async (ctx) => {
    await openInEditor(ctx, 'mlp_seed0.safetensors');
    await paletteSelect(ctx.page, 'Checkpoint Lens: Compare With');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Compare with', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Align B to A first', 'Align B to A first');
    const frame = await analysisPanel(ctx);
    // Aligned: the table gains the aligned change columns, filled for the permuted tensors.
    const aligned = await frame.locator('.table-box[data-table="diff-tensors"] tr').nth(1).locator('td').nth(9).innerText();
    assert.notEqual(aligned.trim(), '—', 'aligned relative change shown');
    const rows = await frame.locator('.table-box[data-table="diff-tensors"] tr').count();
    assert.equal(rows, 1 + 6, 'six shared tensors');
    await ctx.shot('cmd-compareWith');
  },

  // The explorer's "Compare Selected Checkpoints" needs a two-file selection: click, ctrl-click,
  // context menu → Checkpoint Lens → Compare Selected Checkpoints.
  'checkpointLens.compareSelected': async (ctx) => {
    const row = (name) => ctx.page.locator('.explorer-folders-view .monaco-list-row', { hasText: name }).first();
    // VS Code's menus act on the focused item, and a submenu opens on hover only after a delay a
    // loaded machine can miss. So: point at the submenu (which focuses it), open it with
    // ArrowRight (at once, its first item focused), move the focus to the item, Enter.
    const submenu = ctx.page.locator('.context-view .action-label', { hasText: /^Checkpoint Lens$/ });
    const item = ctx.page.locator('.context-view .action-item', { has: ctx.page.locator('.action-label', { hasText: /^Compare Selected Checkpoints$/ }) }).first();
    const itemFocused = () => item.evaluate((li) => li.classList.contains('focused')).catch(() => false);
    for (let attempt = 1; ; attempt++) {
      await row('mlp_seed0.safetensors').click();
      await row('mlp_seed1.safetensors').click({ modifiers: ['Control'] });
      await row('mlp_seed1.safetensors').click({ button: 'right' });
      await submenu.waitFor({ timeout: 10000 });
      await submenu.hover();
      await ctx.page.keyboard.press('ArrowRight');
      let ready = await item.waitFor({ timeout: 5000 }).then(() => true, () => false);
      for (let i = 0; ready && i < 6 && !(await itemFocused()); i++) {
        await ctx.page.keyboard.press('ArrowDown');
        await ctx.page.waitForTimeout(100);
      }
      ready &&= await itemFocused();
      if (ready) break;
      if (attempt === 4) throw new Error('the explorer\'s Checkpoint Lens submenu did not focus "Compare Selected Checkpoints" after 4 tries');
      ctx.log('  (the Checkpoint Lens submenu did not open or focus its item; again)');
      await ctx.page.keyboard.press('Escape');
      await ctx.page.keyboard.press('Escape');
      await ctx.page.locator('.context-view .monaco-menu').waitFor({ state: 'detached', timeout: 5000 }).catch(() => {});
    }
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Align B to A first', 'Compare as stored');
    const frame = await analysisPanel(ctx);
    assert.equal(await frame.locator('.table-box[data-table="diff-tensors"] tr').count(), 1 + 6);
    await ctx.shot('cmd-compareSelected');
  },

  // Palette → pick runs/live → the runs view; a checkpoint written into the folder appears in
  // the view without a reload; closing the panel stops watching.
  'checkpointLens.compareRuns': async (ctx) => {
    const target = path.join(ctx.ws, 'runs', 'live', path.basename(NEXT_LIVE_CHECKPOINT));
    fs.rmSync(target, { force: true });
    await paletteSelect(ctx.page, 'Checkpoint Lens: Compare Training Runs');
    await ctx.page.keyboard.press('Enter');
    await tickRowAndAccept(ctx.page, 'Training runs', 'runs/live');
    await pickRow(ctx.page, 'Training runs: what to compute', 'Weights only');
    const frame = await webviewFrame(ctx.page, '.table-box[data-table="runs-checkpoints"]', 60000);
    const checkpoints = () => frame.locator('.table-box[data-table="runs-checkpoints"] tr').count();
    await frame.waitForFunction(() => document.querySelectorAll('.table-box[data-table="runs-checkpoints"] tr').length === 4, null, { timeout: 60000 });
    fs.copyFileSync(NEXT_LIVE_CHECKPOINT, target);
    await frame.waitForFunction(() => document.querySelectorAll('.table-box[data-table="runs-checkpoints"] tr').length === 5, null, { timeout: 30000 });
    assert.equal(await checkpoints(), 5, 'header + four checkpoints after the new one');
    // Facet headers and every other chart text read on this theme; every facet draws lines.
    await frame.waitForTimeout(500);
    await checkChartMarks(frame, '.analysis-body');
    ctx.log(`  runs view: lowest text contrast ${(await checkContrast(frame)).toFixed(2)}:1`);
    assert.match(await frame.locator('.job').innerText(), /Watching 1 folder/);
    await ctx.shot('cmd-compareRuns');
  },

  'checkpointLens.spectra': async (ctx) => {
    // In the editor: the "Weight diagnostics" section computes and draws the spectra on opening.
    const editor = await openInEditor(ctx, 'mlp_seed0.safetensors');
    await editor.locator('details.diagnostics > summary').click();
    await editor.locator('.diagnostics .chart-box .chart svg').first().waitFor({ timeout: 60000 }).catch(async (e) => {
      throw new Error(`weight diagnostics not drawn; the section says: ${await editor.locator('.diagnostics-body').innerText().catch(() => '?')} (${e.message})`);
    });
    await editor.waitForTimeout(500);
    await checkChartMarks(editor, '.diagnostics');
    await checkContrast(editor, '.diagnostics');
    assert.equal(await editor.locator('.diagnostics .table-box[data-table] tr').first().locator('th').first().innerText(), 'layer');
    await ctx.shot('editor-diagnostics');
    // Then the command from the palette: the same analysis in a panel beside, with exports.
    await runFromPalette(ctx.page, 'Checkpoint Lens: Weight Spectra and Diagnostics');
    await analysisPanel(ctx);
    await ctx.shot('cmd-spectra');
  },

  'checkpointLens.stitch': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Stitch Two Models');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Model stitching: model A', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Model B', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    const frame = await analysisPanel(ctx, undefined, 240000);
    // Facts and charts in one unit: the largest penalty in points, the penalty axis in points.
    const facts = await frame.locator('.facts').innerText();
    const worst = Number(/Largest penalty A→B\s+\+?(-?[\d.]+) points/.exec(facts)?.[1]);
    assert.ok(Number.isFinite(worst), `no penalty in points among the facts: ${facts}`);
    const axis = await frame.locator('.chart-box[data-chart="stitch-penalty"] svg .role-axis-title text').allTextContents();
    assert.ok(axis.some((t) => /accuracy points/.test(t)), `penalty axis titles: ${axis.join(' | ')}`);
    // The training data is set in the panel (Run again with …): a picked file, or the default.
    await frame.locator('details.rerun > summary').click();
    const row = frame.locator('.opt-row', { hasText: 'training data' });
    assert.equal((await row.locator('.opt-file').innerText()).trim(), 'default');
    await row.locator('vscode-button', { hasText: 'Pick…' }).waitFor();
    await ctx.shot('cmd-stitch');
  },

  'checkpointLens.estimateLlc': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Estimate Local Learning Coefficient');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Local learning coefficient: checkpoint', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'LLC settings' }).waitFor({ timeout: 15000 });
    await ctx.page.locator('.quick-input-widget input').fill('epsilon=0.0001 gamma=100 nbeta=auto chains=2 draws=60 burnIn=60 batchSize=64 seed=0');
    await ctx.page.keyboard.press('Enter');
    const frame = await analysisPanel(ctx, 'llc-traces');
    assert.match(await frame.locator('.analysis-body').innerText(), /λ̂/);
    await ctx.shot('cmd-estimateLlc');
  },

  'checkpointLens.llcSweep': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: LLC Calibration Sweep');
    await ctx.page.keyboard.press('Enter');
    // A ResNet (BatchNorm, convolutions): the graph engine, every cell on one pool of threads.
    await pickRow(ctx.page, 'LLC calibration sweep: checkpoint', 'resnet_digits.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits_images.npz');
    await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'step sizes' }).waitFor({ timeout: 15000 });
    await ctx.page.locator('.quick-input-widget input').fill('1e-4,1e-3');
    await ctx.page.keyboard.press('Enter');
    await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'shared settings' }).waitFor({ timeout: 15000 });
    await ctx.page.locator('.quick-input-widget input').fill('nbetas=15 gamma=100 chains=2 draws=10 burnIn=5 batchSize=16 seed=0');
    await ctx.page.keyboard.press('Enter');
    await analysisPanel(ctx, 'llc-sweep-heatmap');
    await ctx.shot('cmd-llcSweep');
  },

  'checkpointLens.dropLayers': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Layer Dropping');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Layer dropping: checkpoint', 'resnet_digits.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits_images.npz');
    const frame = await analysisPanel(ctx);
    await ctx.shot('cmd-dropLayers');
    // One small multiple per strategy, each headed by what it keeps.
    const headers = await frame.locator('.chart-box[data-chart="drop-strategies"] svg text').allTextContents();
    assert.ok(headers.filter((h) => / dropped within 1 point$/.test(h)).length >= 4, `strategy panel headers: ${headers.join(' | ')}`);
    await frame.locator('.chart-box[data-chart="drop-strategies"]').scrollIntoViewIfNeeded();
    await ctx.shot('cmd-dropLayers-strategies');
  },

  // Long jobs never block short ones: an evaluation runs beside 10 GiB of statistics. With the
  // two long jobs the default allows (statistics, then 1 GiB weight diagnostics) it is queued
  // behind both and says so, can be cancelled from "Running Jobs…" while queued, and runs as soon
  // as one of the long jobs is cancelled.
  'checkpointLens.showJobs': async (ctx) => {
    const frame = await startLongStatistics(ctx);
    let text = await startEvaluate(ctx);
    let t = Date.now();
    await ctx.page.locator('.notifications-toasts', { hasText: text }).waitFor({ timeout: 60000 });
    ctx.log(`  evaluation beside running statistics: result ${Date.now() - t} ms after the dataset was picked`);
    await runFromPalette(ctx.page, 'Notifications: Clear All Notifications');
    // The second long job: weight diagnostics of the same 10 GiB checkpoint (40 × 256 MiB to read).
    await frame.locator('details.diagnostics > summary').click();
    await frame.locator('.diagnostics vscode-button.diag-compute').click();
    await frame.locator('.diag-status', { hasText: /\d+%/ }).waitFor({ timeout: 10000 });
    text = await startEvaluate(ctx);
    const queued = ctx.page.locator('.notifications-toasts', { hasText: 'queued behind statistics of big-sparse.safetensors, weight diagnostics of big-sparse.safetensors' });
    await queued.waitFor({ timeout: 10000 });
    await ctx.shot('cmd-showJobs-queued');
    await paletteSelect(ctx.page, 'Checkpoint Lens: Running Jobs…');
    await ctx.page.keyboard.press('Enter');
    await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'statistics of big-sparse.safetensors' }).waitFor({ timeout: 10000 });
    await ctx.shot('cmd-showJobs');
    await pickRow(ctx.page, 'Checkpoint Lens jobs', 'evaluation of mlp_seed0.pt');
    await ctx.page.locator('.notifications-toasts .monaco-button', { hasText: 'Cancel job' }).click();
    await queued.waitFor({ state: 'detached', timeout: 5000 });
    // Queued again; cancelling the diagnostics lets it run, with PyTorch's numbers.
    text = await startEvaluate(ctx);
    await queued.waitFor({ timeout: 10000 });
    t = Date.now();
    await frame.locator('.diagnostics vscode-button.diag-cancel').click();
    await ctx.page.locator('.notifications-toasts', { hasText: text }).waitFor({ timeout: 60000 });
    ctx.log(`  queued evaluation: result ${Date.now() - t} ms after a long job was cancelled`);
  },

  // Palette → the folder "sets" (three MLPs) → data → naive and weight-matched: the matrix panel.
  'checkpointLens.basins': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Barrier Matrix and Basins');
    await ctx.page.keyboard.press('Enter');
    await tickRowAndAccept(ctx.page, 'Barrier matrix', 'sets');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await pickRow(ctx.page, 'weight matching', 'Naive and weight-matched');
    const frame = await analysisPanel(ctx, 'basins-aligned-loss', 240000);
    assert.ok((await frame.locator('.table-box[data-table="basins-basins"] tr').count()) === 4, 'header + three models');
    await ctx.shot('cmd-basins');
  },

  'checkpointLens.cka': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: CKA Between Layers, Models or a Run');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'CKA: model A', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'CKA: model B', 'mlp_seed1.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    await analysisPanel(ctx, 'cka-debiased');
    await ctx.shot('cmd-cka');
  },

  'checkpointLens.layerSwaps': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Layer-Swap Matrix');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Layer swaps: checkpoint', 'resnet_digits.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits_images.npz');
    await analysisPanel(ctx, 'swap-loss');
    await ctx.shot('cmd-layerSwaps');
  },

  // Palette → the run folder runs/seed1 → the tensor typed in: histograms over the run.
  'checkpointLens.histogramsOverRun': async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Distributions Over a Run');
    await ctx.page.keyboard.press('Enter');
    await tickRowAndAccept(ctx.page, 'Distributions over a run', 'runs/seed1');
    await ctx.page.locator('.quick-input-widget .quick-input-title', { hasText: 'Tensor' }).waitFor({ timeout: 15000 });
    await ctx.page.locator('.quick-input-widget input').fill('layers.0.weight');
    await ctx.page.keyboard.press('Enter');
    await analysisPanel(ctx, 'histograms-overlaid');
    await ctx.shot('cmd-histogramsOverRun');
  },

  // Start statistics of a 10 GiB (sparse) checkpoint, cancel them from the palette.
  'checkpointLens.cancelStatistics': async (ctx) => {
    const frame = await openInEditor(ctx, SPARSE.name);
    await frame.locator('.stats-status', { hasText: 'Statistics not computed automatically' }).waitFor({ timeout: 20000 });
    await runFromPalette(ctx.page, 'Checkpoint Lens: Compute Statistics of All Tensors');
    const n = SPARSE.tensors;
    await frame.locator('.stats-status', { hasText: new RegExp(`Statistics \\d+/${n} \\(\\d+%\\)`) }).waitFor({ timeout: 20000 });
    await runFromPalette(ctx.page, 'Checkpoint Lens: Cancel Statistics');
    await frame.locator('.stats-status', { hasText: 'Statistics cancelled' }).waitFor({ timeout: 20000 });
    const m = new RegExp(`Statistics cancelled \\((\\d+)/${n}\\)`).exec(await statusText(frame));
    assert.ok(m && Number(m[1]) < n, `status after cancel: ${await statusText(frame)}`);
    await frame.locator('.stats-status vscode-button', { hasText: 'Resume' }).waitFor();
    await ctx.shot('cmd-cancelStatistics');
  },
};

// The editor's table at 1600 × 1000 beside the open sidebar: no clipped column (header or cell,
// 4-D conv shapes whole), no horizontal scrolling, a detail pane wide enough for its charts, and
// a splitter that moves by keyboard.
EDITOR_CASES.push({
  name: 'custom editor: every table column readable at 1600 px with the sidebar open (4-D shapes whole), detail pane wide, splitter by keyboard',
  run: async (ctx) => {
    const frame = await openInEditor(ctx, 'resnet_digits.safetensors');
    // Above MAX_AUTO_BYTES: statistics from the palette (the columns must hold them too).
    await frame.locator('.stats-status', { hasText: 'Statistics not computed automatically' }).waitFor({ timeout: 20000 });
    await runFromPalette(ctx.page, 'Checkpoint Lens: Compute Statistics of All Tensors');
    await frame.locator('.stats-status', { hasText: /Statistics of \d+ tensors/ }).waitFor({ timeout: 60000 });
    await frame.locator('vscode-button', { hasText: 'Expand all' }).click();
    await frame.waitForTimeout(300);
    const m = await frame.evaluate(() => {
      const clipped = [...document.querySelectorAll('.tree-row .cell')].filter((c) => c.clientWidth > 0 && c.scrollWidth > c.clientWidth + 1 && !c.classList.contains('c-name')).map((c) => `${c.className}: ${c.textContent}`);
      const tree = document.querySelector('.tree');
      const shapes = [...document.querySelectorAll('.tree-body .tensor .c-shape')].map((c) => c.textContent);
      return { clipped, treeScroll: tree.scrollWidth - tree.clientWidth, detail: document.querySelector('.detail').getBoundingClientRect().width, shapes, headers: [...document.querySelectorAll('.tree-header .cell')].filter((c) => c.clientWidth > 0).map((c) => c.textContent) };
    });
    ctx.log(`  table columns ${m.headers.join(', ')}; detail pane ${Math.round(m.detail)} px`);
    assert.deepEqual(m.clipped, [], 'clipped table cells');
    assert.ok(m.treeScroll <= 1, `the table scrolls sideways by ${m.treeScroll} px`);
    assert.ok(m.shapes.some((s) => /^\[\d+, \d+, 3, 3\]$/.test(s)), `no whole 4-D shape among ${m.shapes.slice(0, 8).join(' ')}`);
    assert.ok(m.detail >= 360, `detail pane ${m.detail} px`);
    assert.ok(m.headers.includes('Zeros'));
    const splitter = frame.locator('.splitter');
    const before = Number(await splitter.getAttribute('aria-valuenow'));
    await splitter.focus();
    await ctx.page.keyboard.press('ArrowLeft');
    assert.equal(Number(await splitter.getAttribute('aria-valuenow')), before - 24, 'ArrowLeft narrows the table by 24 px');
    await ctx.page.keyboard.press('Enter');
    assert.equal(Number(await splitter.getAttribute('aria-valuenow')), before, 'Enter resets it');
    await ctx.shot('editor-resnet-columns');
  },
});

// A failed analysis says why first, what to try, and offers the pick that fixes it: layer
// dropping on an MLP (no droppable blocks) → Pick another checkpoint… → the ResNet runs.
EDITOR_CASES.push({
  name: 'failed analysis panel: the cause as its heading, what to try, and Pick another checkpoint… runs it again',
  run: async (ctx) => {
    await paletteSelect(ctx.page, 'Checkpoint Lens: Layer Dropping');
    await ctx.page.keyboard.press('Enter');
    await pickRow(ctx.page, 'Layer dropping: checkpoint', 'mlp_seed0.safetensors');
    await pickRow(ctx.page, 'Dataset', 'data/digits.npz');
    const frame = await webviewFrame(ctx.page, '.analysis-body', 60000);
    await frame.locator('.failure .failure-cause').waitFor({ timeout: 60000 });
    assert.equal(await frame.evaluate(() => document.body.dataset.job), 'failed');
    assert.match(await frame.locator('.failure-cause').innerText(), /^The mlp network has no droppable blocks/);
    assert.match(await frame.locator('.failure-file').innerText(), /mlp_seed0\.safetensors$/);
    assert.match(await frame.locator('.failure-try').innerText(), /^What to try: Pick a checkpoint of a family this analysis supports/);
    const buttons = await frame.locator('.failure vscode-button').allInnerTexts();
    assert.deepEqual(buttons.map((b) => b.trim()), ['Pick another checkpoint…', 'Retry']);
    const lowest = await checkContrast(frame);
    ctx.log(`  failed panel: lowest text contrast ${lowest.toFixed(2)}:1`);
    // The notification puts the cause first too.
    await ctx.page.locator('.notifications-toasts', { hasText: 'The mlp network has no droppable blocks' }).waitFor({ timeout: 5000 });
    await ctx.shot('panel-failed');
    await frame.locator('.failure vscode-button', { hasText: 'Pick another checkpoint' }).click();
    // The picker shows each candidate's recognised model beside it (headers read in the worker).
    await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'resnet_digits.safetensors' }).locator('.label-description', { hasText: /^ResNet · / }).waitFor({ timeout: 20000 });
    await ctx.page.locator('.quick-input-list .monaco-list-row', { hasText: 'mlp_seed1.safetensors' }).locator('.label-description', { hasText: /^MLP 64→128→128→10/ }).waitFor({ timeout: 20000 });
    await ctx.shot('picker-families');
    await pickRow(ctx.page, 'Another checkpoint instead of mlp_seed0.safetensors', 'resnet_digits.safetensors');
    const again = await analysisPanel(ctx, 'drop-strategies');
    assert.match(await again.locator('h1').innerText(), /^Layer dropping: .*resnet_digits\.safetensors$/);
    await runFromPalette(ctx.page, 'Notifications: Clear All Notifications');
  },
});

// Issue #12: pickles that hold Python objects open; danger is shown, nothing is executed.
EDITOR_CASES.push({
  name: 'custom editor: risk banner on a malicious pickle (tensors still listed), inert Python objects as a tree, TorchScript code as text',
  run: async (ctx) => {
    let frame = await openInEditor(ctx, 'risk-nested.pt', '.risk-banner');
    const banner = frame.locator('.risk-banner.risk-danger');
    assert.match(await banner.innerText(), /loading this file with torch\.load would call os\.system\('echo pwned'\)/);
    assert.match(await banner.innerText(), /Nothing was executed here/);
    await frame.locator('.tree-row.tensor').first().waitFor({ timeout: 20000 });
    assert.deepEqual((await tableRows(frame)).map((r) => r.name), ['w']);
    await frame.locator('details.imports > summary').click();
    assert.match(await frame.locator('details.imports').innerText(), /os\.system\s+dangerous/);
    await ctx.shot('editor-risk-banner');
    await closeAllEditors(ctx.page);

    frame = await openInEditor(ctx, 'objects-namespace.pt');
    await frame.locator('details.section > summary', { hasText: 'Values' }).click();
    const ns = frame.locator('.obj-class', { hasText: 'argparse.Namespace' });
    await ns.waitFor({ timeout: 10000 });
    const tree = await frame.locator('.obj-tree').first().innerText();
    assert.match(tree, /lr: 0\.1/);
    assert.match(tree, /name: "run-1"/);
    assert.equal(await frame.locator('.risk-banner').count(), 0, 'no banner on a data-only file');
    await ctx.shot('editor-inert-objects');
    await closeAllEditors(ctx.page);

    frame = await openInEditor(ctx, 'torchscript-scripted.pt');
    await frame.locator('details.source-files > summary').click();
    const linear = frame.locator('details.source-file', { has: frame.locator('summary', { hasText: 'linear.py' }) }).first();
    await linear.locator('summary').click();
    assert.match(await linear.locator('pre.code').innerText(), /def forward/);
    assert.deepEqual((await tableRows(frame)).map((r) => r.name), ['0.weight', '0.bias', '2.weight', '2.bias']);
    await ctx.shot('editor-torchscript-code');
  },
});

// Issue #12's other kinds in the editor, each against what torch/numpy load from the same file
// (the fixture's .expected.json, made by test/fixtures/make_object_fixtures.py and
// make_array_fixtures.py): the table's exact means (title) within 1e-6, and the line that says
// how the values were obtained.
const kindsExpected = (ws, file) => JSON.parse(fs.readFileSync(path.join(ws, 'kinds', `${file}.expected.json`), 'utf8'));

/** Every rendered row is an expected tensor with its shape and mean; returns the rows. */
async function checkKindRows(frame, ws, file) {
  const exp = kindsExpected(ws, file);
  await frame.locator('.stats-status', { hasText: 'Statistics of' }).waitFor({ timeout: 60000 });
  const rows = await tableRows(frame);
  assert.ok(rows.length >= Math.min(exp.tensors.length, 10), `only ${rows.length} rows rendered`);
  for (const row of rows) {
    const want = exp.tensors.find((t) => t.name === row.name);
    assert.ok(want, `row ${row.name} is not in ${file}'s expectations`);
    assert.equal(row.shape, `[${want.shape.join(', ')}]`, `shape of ${row.name}`);
    if (want.stats?.mean != null) assert.ok(close(Number(row.mean), want.stats.mean, 1e-6, 1e-9), `mean of ${row.name}: table ${row.mean}, torch ${want.stats.mean}`);
  }
  return rows;
}

/** Selects a tensor; returns its detail pane's stored-values line and statistics text. */
async function selectDetail(frame, name) {
  await frame.locator(`.tree-row.tensor .c-name[title="${name}"]`).click();
  await frame.locator('.detail .tensor-name', { hasText: name }).waitFor({ timeout: 20000 });
  await frame.locator('.detail-stats .stats-table').waitFor({ timeout: 30000 });
  const stored = await frame.locator('.detail .stored-line').innerText().catch(() => '');
  return { stored, stats: await frame.locator('.detail-stats .stats-table').innerText() };
}

EDITOR_CASES.push({
  name: 'custom editor: a torch.export .pt2 archive opens (weights, tied storage), an .npz shows its string/bytes values and longdouble note',
  run: async (ctx) => {
    // The first file this case opens may start the worker (90 s under load).
    let frame = await openInEditor(ctx, 'exported.pt2', '.tree-row.tensor', 90000);
    const rows = await checkKindRows(frame, ctx.ws, 'exported.pt2');
    assert.deepEqual(rows.map((r) => r.name).sort(), kindsExpected(ctx.ws, 'exported.pt2').tensors.map((t) => t.name).sort());
    assert.match(await frame.locator('.format-badge').innerText(), /PyTorch|pt2|export/i);
    // emb.weight and head.weight are one storage in the archive (tied), as torch.export saved them.
    const tied = await selectDetail(frame, 'head.weight');
    assert.match(await frame.locator('.detail .tied-line').innerText(), /Shares storage with emb\.weight/);
    assert.match(tied.stats, /Mean/);
    await ctx.shot('editor-pt2');
    await closeAllEditors(ctx.page);

    frame = await openInEditor(ctx, 'npz_text_longdouble.npz');
    await checkKindRows(frame, ctx.ws, 'npz_text_longdouble.npz');
    await frame.locator('details.section > summary', { hasText: 'Values' }).click();
    const values = await frame.locator('details.section', { has: frame.locator('summary', { hasText: 'Values' }) }).innerText();
    const exp = kindsExpected(ctx.ws, 'npz_text_longdouble.npz').values;
    assert.match(values, /run_name\s+run-7 été/);
    assert.ok(values.includes(exp.tag), `bytes value ${exp.tag} shown: ${values}`);
    // The string arrays as JSON (long ones collapse after six lines behind "Show all").
    for (const word of ['"cat"', '"dog"']) assert.ok(values.includes(word), `${word} shown: ${values}`);
    const ld = await selectDetail(frame, 'ld');
    assert.match(ld.stored, /longdouble/);
    await ctx.shot('editor-npz-text');
  },
});

EDITOR_CASES.push({
  name: 'custom editor: broadcast (stride-0), sparse COO/CSR, quantized and packed quint4x2 tensors with their statistics and how they were stored',
  run: async (ctx) => {
    let frame = await openInEditor(ctx, 'broadcast.pt');
    await checkKindRows(frame, ctx.ws, 'broadcast.pt');
    const col = await selectDetail(frame, 'col');
    assert.match(col.stored, /broadcast view \(stride 0\): 3 stored values repeat to 3,000/);
    await ctx.shot('editor-broadcast');
    await closeAllEditors(ctx.page);

    frame = await openInEditor(ctx, 'quantized_sparse.pt');
    await checkKindRows(frame, ctx.ws, 'quantized_sparse.pt');
    assert.match((await selectDetail(frame, 'coo')).stored, /sparse COO: 3 stored values; statistics of the dense tensor/);
    assert.match((await selectDetail(frame, 'csr')).stored, /sparse CSR: 3 stored values/);
    assert.match((await selectDetail(frame, 'per_channel')).stored, /quantized qint8 \(per channel affine: per channel along axis 0/);
    await ctx.shot('editor-quantized-sparse');
    await closeAllEditors(ctx.page);

    frame = await openInEditor(ctx, 'quint4x2.pt');
    await checkKindRows(frame, ctx.ws, 'quint4x2.pt');
    const q4 = await selectDetail(frame, 'q4');
    assert.match(q4.stored, /quantized quint4x2/);
    const want = kindsExpected(ctx.ws, 'quint4x2.pt').tensors.find((t) => t.name === 'q4').stats;
    assert.match(q4.stats, new RegExp(`Min\\s+${String(Number(want.min.toPrecision(4))).replace('.', '\\.')}`));
    await ctx.shot('editor-quint4x2');
  },
});

EDITOR_CASES.push({
  name: 'custom editor: a PyTorch ≤ 0.1.9 tar checkpoint named .t7 opens by default with its tensors, views on shared storages and torch.load statistics',
  run: async (ctx) => {
    // The first file this case opens may start the worker (90 s under load).
    const frame = await openInEditor(ctx, 'legacy_tar_views.t7', '.tree-row.tensor', 90000);
    const rows = await checkKindRows(frame, ctx.ws, 'legacy_tar_views.t7');
    assert.deepEqual(rows.map((r) => r.name).sort(), kindsExpected(ctx.ws, 'legacy_tar_views.t7').tensors.map((t) => t.name).sort());
    assert.match(await frame.locator('.format-badge').innerText(), /PyTorch \(legacy\)/);
    // rows and full are views of one storage in the tar, as torch 0.1 saved them.
    await selectDetail(frame, 'rows');
    assert.match(await frame.locator('.detail .tied-line').innerText(), /Shares storage with full/);
    await ctx.shot('editor-legacy-tar');
  },
});
