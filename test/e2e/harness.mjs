// Driving a real VS Code (code-server 4.100.3 = VS Code 1.100.3) with playwright-core and
// Debian's Chromium. Knowledge from ../shared/vscode-e2e/NOTES.md: code-server and Chromium get a
// private HOME/XDG/TMPDIR (both write there even with fresh data dirs), --bind-addr :0 for a
// free port, webviews are nested iframes (read them by polling page.frames()), and in the
// command palette Enter is pressed only once the wanted row is the focused one.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO } from './workspace.mjs';

export const E2E = path.join(REPO, '.e2e');
// code-server lives where scripts/e2e-setup.sh put it (E2E_DIR, default .e2e).
export const CS_ENTRY = path.join(process.env.E2E_DIR ? path.resolve(process.env.E2E_DIR) : E2E, 'cs/node_modules/code-server/out/node/entry.js');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const t0 = Date.now();
export const log = (...a) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);

/** A private run folder: HOME/XDG/TMPDIR for code-server and Chromium, user data, extensions. */
export function makeRunDir() {
  fs.mkdirSync(path.join(E2E, 'tmp'), { recursive: true });
  const run = fs.mkdtempSync(path.join(E2E, 'tmp', 'run-'));
  const home = path.join(run, 'home');
  const dirs = { run, home, userData: path.join(run, 'user-data'), extensions: path.join(run, 'extensions'), workspace: path.join(run, 'workspace') };
  for (const d of [home, path.join(run, 'tmp'), path.join(dirs.userData, 'User'), dirs.extensions]) fs.mkdirSync(d, { recursive: true });
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    XDG_RUNTIME_DIR: run,
    TMPDIR: path.join(run, 'tmp'),
  };
  delete env.VSCODE_IPC_HOOK_CLI; // would turn code-server into a CLI of another instance
  return { ...dirs, env };
}

/** Quiet, deterministic user settings (plus `extra`). */
export function writeUserSettings(dirs, extra = {}) {
  fs.writeFileSync(path.join(dirs.userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'update.mode': 'none',
    'security.workspace.trust.enabled': false,
    'git.enabled': false,
    'window.restoreWindows': 'none',
    'files.hotExit': 'off',
    'chat.commandCenter.enabled': false,
    'workbench.editor.enablePreview': false,
    ...extra,
  }, null, 2));
}

function csArgs(dirs) {
  return ['--config', '/dev/null', '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override'];
}

/** `code-server --install-extension x.vsix`; returns the installed extension's folder. */
export function installVsix(dirs, vsix) {
  const r = spawnSync(process.execPath, [CS_ENTRY, ...csArgs(dirs), '--install-extension', vsix, '--force'],
    { env: dirs.env, encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0 || !/successfully installed/i.test(r.stdout)) {
    throw new Error(`--install-extension ${vsix} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const dir = fs.readdirSync(dirs.extensions).find((d) => d.startsWith('checkpoint-lens.checkpoint-lens-'));
  if (!dir) throw new Error(`the .vsix installed, but no checkpoint-lens folder in ${dirs.extensions}`);
  return path.join(dirs.extensions, dir);
}

/** Starts code-server on a free port; resolves { url, stop() }. */
export async function startCodeServer(dirs) {
  const server = spawn(process.execPath, [CS_ENTRY, ...csArgs(dirs), '--auth', 'none', '--bind-addr', '127.0.0.1:0', '--ignore-last-opened'],
    { env: dirs.env, cwd: dirs.run, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = fs.createWriteStream(path.join(dirs.run, 'code-server.log'));
  server.stdout.pipe(out);
  server.stderr.pipe(out);
  const url = await new Promise((resolve, reject) => {
    let buf = '';
    const to = setTimeout(() => reject(new Error(`code-server did not start in 60 s:\n${buf}`)), 60000);
    const onData = (d) => {
      buf += d;
      const m = buf.match(/HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(to); resolve(m[1]); }
    };
    server.stdout.on('data', onData);
    server.stderr.on('data', onData);
    server.once('exit', (c) => { clearTimeout(to); reject(new Error(`code-server exited with ${c}:\n${buf}`)); });
  });
  const stop = async () => {
    if (server.exitCode !== null || server.signalCode) return;
    // detached: its own process group (pgid = its pid); stop the group we created.
    try { process.kill(-server.pid, 'SIGTERM'); } catch {}
    await new Promise((r) => { const t = setTimeout(r, 5000); server.once('exit', () => { clearTimeout(t); r(); }); });
    try { process.kill(-server.pid, 'SIGKILL'); } catch {}
  };
  return { url, pid: server.pid, stop };
}

export async function launchBrowser(env) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: !process.env.E2E_HEADED,
    env,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

// --- the workbench -------------------------------------------------------------------------------

export async function waitForWorkbench(page, fileInExplorer) {
  await page.locator('.monaco-workbench').waitFor({ timeout: 60000 });
  // The explorer lists a file once the remote connection and the file service are up.
  await page.locator('.explorer-folders-view .monaco-list-row', { hasText: fileInExplorer }).first().waitFor({ timeout: 60000 });
}

/**
 * Waits until the keyboard focus has stopped moving (the same element for 400 ms, at most 3 s).
 * VS Code moves the focus asynchronously (into a webview once it has loaded, back to the editor
 * after a quick input closes); a quick input opened before that loses the focus and closes.
 */
async function settleFocus(page) {
  let last = null;
  let since = Date.now();
  const end = Date.now() + 3000;
  while (Date.now() < end) {
    const now = await page.evaluate(() => {
      const a = document.activeElement;
      return a ? `${a.tagName}#${a.id}.${a.className}` : '';
    }).catch(() => '');
    if (now !== last) { last = now; since = Date.now(); }
    else if (Date.now() - since >= 400) return;
    await page.waitForTimeout(100);
  }
}

/** Presses `key` until the quick input shows (a key can be lost while the focus moves). */
async function openQuickInput(page, key) {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 1; ; attempt++) {
    await settleFocus(page);
    await page.keyboard.press(key);
    try {
      await input.waitFor({ state: 'visible', timeout: 3000 });
      return input;
    } catch (e) {
      if (attempt === 4) throw e;
      log(`  (${key} did not open the quick input; again)`);
      await page.keyboard.press('Escape');
    }
  }
}

/** Opens the quick input with `key`, types `text`, waits until `rowText` is the focused row. */
async function quickInputSelect(page, key, text, rowText) {
  for (let attempt = 1; ; attempt++) {
    const input = await openQuickInput(page, key);
    try {
      await input.fill(text, { timeout: 3000 });
      await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: rowText }).first().waitFor({ timeout: 10000 });
      return;
    } catch (e) {
      if (attempt === 3) throw e;
      log(`  (quick input "${text}" closed or did not filter: again)`);
      await page.keyboard.press('Escape');
    }
  }
}

async function pressEnterAndClose(page) {
  await page.keyboard.press('Enter');
  await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10000 }).catch(() => {});
  await settleFocus(page);
}

/** Quick input list now: each row's aria label (focused one starred), and whether it is busy. */
async function quickListState(page) {
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll('.quick-input-list .monaco-list-row')];
    const focused = document.querySelector('.quick-input-list .monaco-list-row.focused .label-name')?.textContent?.trim() ?? '';
    const busy = [...document.querySelectorAll('.quick-input-widget .monaco-progress-container')].some((p) => p.classList.contains('active') || p.classList.contains('infinite'));
    return { focused, busy, sig: rows.slice(0, 8).map((r) => `${r.classList.contains('focused') ? '*' : ''}${r.getAttribute('aria-label')}`).join(' | ') };
  }).catch(() => ({ focused: '', busy: false, sig: '' }));
}

/**
 * Waits until the quick input's focused row is labelled exactly `label` and the list has not
 * changed for 400 ms (and is not busy): Quick Open fills its list in steps (editor history
 * first, file results later), so a row seen focused once may not be the one Enter takes.
 */
async function listSettledOn(page, label, timeoutMs = 8000) {
  const end = Date.now() + timeoutMs;
  let last = null;
  let since = Date.now();
  while (Date.now() < end) {
    const st = await quickListState(page);
    if (!last || st.sig !== last.sig || st.busy !== last.busy) { last = st; since = Date.now(); }
    else if (st.focused === label && !st.busy && Date.now() - since >= 400) return { ok: true, state: st };
    await page.waitForTimeout(100);
  }
  return { ok: false, state: last };
}

export async function quickOpen(page, fileName) {
  for (let attempt = 1; ; attempt++) {
    await quickInputSelect(page, 'Control+P', fileName, fileName);
    const seen = await quickListState(page);
    const settled = await listSettledOn(page, fileName);
    if (settled.ok) {
      if (settled.state.sig !== seen.sig) log(`  (Quick Open's list changed after showing "${fileName}": [${seen.sig}] → [${settled.state.sig}])`);
      break;
    }
    log(`  (Quick Open did not settle on "${fileName}": [${seen.sig}] → [${settled.state?.sig}]${attempt < 3 ? '; again' : ''})`);
    if (attempt === 3) throw new Error(`Quick Open did not settle on ${fileName}`);
    await page.keyboard.press('Escape');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {});
  }
  await pressEnterAndClose(page);
}

/** Command palette: types `title`, waits until it is the focused row. Enter is the caller's. */
export async function paletteSelect(page, title) {
  await quickInputSelect(page, 'F1', `>${title}`, title);
}

export async function runFromPalette(page, title) {
  await paletteSelect(page, title);
  await pressEnterAndClose(page);
}

export async function closeAllEditors(page) {
  // Keys typed while a webview's text field has focus can stay in its frame (seen in CI: the
  // editor of the case before survived): on a retry, focus the workbench first.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (attempt > 0) await focusWorkbench(page);
    try {
      await runFromPalette(page, 'View: Close All Editors');
    } catch { continue; }
    const closed = await page.locator('.tabs-container .tab').first().waitFor({ state: 'detached', timeout: 10000 }).then(() => true, () => false);
    if (closed) return;
  }
  // A case must start with no editor: the commands take the active checkpoint editor as their input.
  const left = await page.locator('.tabs-container .tab .label-name').allInnerTexts().catch(() => []);
  throw new Error(`Close All Editors left ${left.join(', ') || 'editors'} open`);
}

/** What the window shows now, for a failure's log line: tabs, quick input title, value and focused row. */
export async function uiState(page) {
  const tabs = await page.locator('.tabs-container .tab .label-name').allInnerTexts().catch(() => []);
  const q = await page.evaluate(() => {
    const w = document.querySelector('.quick-input-widget');
    if (!w || w.style.display === 'none') return 'no quick input';
    return `quick input "${w.querySelector('.quick-input-title')?.textContent ?? ''}" value "${w.querySelector('input')?.value ?? ''}"`;
  }).catch(() => '?');
  const list = await quickListState(page);
  return `tabs [${tabs.join(', ')}]; active ${await page.locator('.tabs-container .tab.active .label-name').first().innerText({ timeout: 500 }).catch(() => 'none')}; ${q}; rows [${list.sig}]`;
}

/** Moves keyboard focus out of any webview frame into the workbench (the side bar's title). */
export async function focusWorkbench(page) {
  await page.locator('.part.sidebar .composite.title').first().click({ timeout: 5000 }).catch(() => {});
}

/** Quick Open a file and wait until its editor is the active tab (retried once from the workbench). */
export async function openActive(page, fileName) {
  const exact = new RegExp(`^${fileName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  const active = page.locator('.tabs-container .tab.active .label-name', { hasText: exact });
  await quickOpen(page, fileName);
  if (await active.waitFor({ timeout: 10000 }).then(() => true, () => false)) return;
  // Seen in CI once per full run: Quick Open's Enter opened another file (the one a case
  // before had open). Say which, then open the file from the explorer instead.
  const got = await page.locator('.tabs-container .tab.active .label-name').first().innerText().catch(() => 'no editor');
  log(`  (Quick Open "${fileName}" opened ${got}; opening it from the explorer)`);
  await focusWorkbench(page);
  const row = page.locator('.explorer-folders-view .monaco-list-row', { has: page.locator('.label-name', { hasText: exact }) }).first();
  if (await row.isVisible().catch(() => false)) await row.click();
  else await quickOpen(page, fileName);
  await active.waitFor({ timeout: 15000 });
}

/**
 * The frame of the Checkpoint Lens editor webview (the inner frame holding our #app) that
 * contains `selector`; polls page.frames(). Hidden webviews lose their iframe, so after
 * closeAllEditors there is only the visible one.
 */
export async function webviewFrame(page, selector, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const f of page.frames()) {
      if (f === page.mainFrame()) continue;
      try {
        if (await f.$(`#app ${selector}`)) return f;
      } catch { /* frame navigated or detached */ }
    }
    await page.waitForTimeout(200);
  }
  throw new Error(`no webview frame shows "${selector}" after ${timeoutMs} ms; frames:\n  ${page.frames().map((f) => f.url()).join('\n  ')}`);
}

/** Rows of the tensor table in the webview: full name, shape text, exact mean (title). */
export async function tableRows(frame) {
  return frame.locator('.tree-row.tensor').evaluateAll((els) => els.map((r) => ({
    name: r.querySelector('.c-name').title,
    shape: r.querySelector('.c-shape').textContent,
    mean: r.querySelector('.c-mean').title,
    meanText: r.querySelector('.c-mean').textContent,
  })));
}

/** Selects a tensor row and waits for both charts; returns what was drawn. */
export async function selectTensorAndReadCharts(frame, name) {
  await frame.locator(`.tree-row.tensor .c-name[title="${name}"]`).click();
  await frame.locator('.detail .tensor-name', { hasText: name }).waitFor({ timeout: 20000 });
  const bars = frame.locator('.chart-histogram svg .mark-rect path');
  await bars.first().waitFor({ timeout: 30000 });
  await frame.locator('.chart-heatmap canvas').waitFor({ timeout: 30000 });
  // Bar heights from the svg paths ("M x,y h w v h Z": the height is the "v" value).
  const heights = await bars.evaluateAll((ps) => ps.map((p) => {
    const m = /v(-?[\d.e+-]+)/.exec(p.getAttribute('d') || '');
    return m ? Math.abs(Number(m[1])) : 0;
  }));
  const canvas = await frame.locator('.chart-heatmap canvas').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { width: c.width, height: c.height, colours: colours.size };
  });
  const stats = await frame.locator('.detail-stats .stats-table').innerText();
  return { bars: heights.length, heights, canvas, stats };
}
