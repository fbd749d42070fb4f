// Integration suite that runs INSIDE a VS Code extension host, against the real `vscode` API:
// the extension activates, checkpoints open in the custom editor, and each command runs with
// arguments (no quick picks or dialogs) and returns a result that is checked against values
// computed independently (test/e2e/reference.mjs).
//
// One file, two runners (bundled to out/vscode/suite.js by scripts/e2e-build.mjs):
//  - @vscode/test-electron (test/vscode/runTests.mjs, `npm run test:vscode`), and
//  - code-server's extensionTestsPath (test/e2e/run.mjs, part of `npm run test:e2e`).
// The workspace must hold the files of test/e2e/workspace.mjs.
//
// EVERY contributed command needs an entry in COMMAND_CASES: the suite fails otherwise.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as vscode from 'vscode';
import { close, readSafetensors, refStats, writeSparseSafetensors } from '../e2e/reference.mjs';

const EXT_ID = 'checkpoint-lens.checkpoint-lens';
const VIEW_TYPE = 'checkpointLens.editor';

interface OpenSummary {
  uri: string;
  format: string | null;
  tensors: number;
  params: number;
  bytes: number;
  error?: string;
}
interface StatsSummary {
  uri: string;
  state: string;
  done: number;
  total: number;
  reason?: string;
}
/** The fields of an AnalysisView the suite reads (src/analysis/report/analysisView.ts). */
interface AnalysisView {
  kind: string;
  complete: boolean;
  charts: { id: string }[];
  report: unknown;
}
interface EvalSummary {
  loss: number;
  accuracy: number;
  n: number;
}
interface TableJson {
  file: string;
  tensors: { name: string; shape: number[]; dtype: string; stats: { mean: number | null; std: number | null; min: number | null; max: number | null; zeros: number } | null }[];
}

// --- helpers -----------------------------------------------------------------------------------

function ws(): string {
  const f = vscode.workspace.workspaceFolders?.[0];
  assert.ok(f, 'the suite needs a workspace folder');
  return f.uri.fsPath;
}
const fileUri = (name: string) => vscode.Uri.file(join(ws(), name));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | undefined | false | PromiseLike<T | undefined | false>, ms = 20000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * The extension's log in this window: the "Checkpoint Lens.log" under CKPT_LENS_SUITE_LOGS (set
 * by the e2e harness) that names this suite's workspace; the other window's log (the UI cases)
 * is written too (idle workers stopping) and holds lines this suite waits for, so it must not be
 * taken by its time. Undefined when the logs are not known.
 */
function extensionLog(): string | undefined {
  const dir = process.env.CKPT_LENS_SUITE_LOGS;
  if (!dir) return undefined;
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === 'Checkpoint Lens.log') found.push(join(d, e.name));
    }
  };
  walk(dir);
  const mine = `${ws()}/`;
  for (const f of found) {
    const text = readFileSync(f, 'utf8');
    if (text.includes(mine)) return text;
  }
  return undefined;
}

/**
 * Waits until the extension logs a line matching `re` after `offset` (extensionLog().length
 * taken before the action). Without the log (test:vscode in Electron), waits `fallbackMs`.
 */
async function logged(offset: number | undefined, re: RegExp, what: string, fallbackMs = 4000): Promise<void> {
  if (offset === undefined) {
    await sleep(fallbackMs);
    return;
  }
  await waitFor(what, () => re.test(extensionLog()!.slice(offset)), 120000);
}

/** The active tab is our custom editor on `uri`. */
async function activeEditorIs(uri: vscode.Uri): Promise<void> {
  await waitFor(`the Checkpoint Lens editor on ${uri.fsPath} to be the active tab`, () => {
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    return input instanceof vscode.TabInputCustom && input.viewType === VIEW_TYPE && input.uri.toString() === uri.toString();
  });
}

const exec = <T>(command: string, ...args: unknown[]) => vscode.commands.executeCommand<T>(command, ...args);

async function openWith(name: string): Promise<OpenSummary> {
  const uri = fileUri(name);
  const r = await exec<OpenSummary | undefined>('checkpointLens.openWith', uri);
  assert.ok(r, `openWith(${name}) returned nothing`);
  await activeEditorIs(uri);
  return r;
}

const reference = () => readSafetensors(join(ws(), 'mlp_seed0.safetensors'));

function assertStatsMatch(json: TableJson, what: string): void {
  const ref = reference();
  assert.deepEqual(json.tensors.map((t) => t.name), ref.tensors.map((t) => t.name), `${what}: tensor names`);
  for (const [i, r] of ref.tensors.entries()) {
    const t = json.tensors[i];
    assert.deepEqual(t.shape, r.shape, `${what}: shape of ${r.name}`);
    assert.ok(t.stats, `${what}: no statistics for ${r.name}`);
    const e = refStats(r.values);
    for (const k of ['mean', 'std', 'min', 'max'] as const) {
      assert.ok(close(t.stats[k], e[k]), `${what}: ${k} of ${r.name} is ${t.stats[k]}, expected ${e[k]}`);
    }
    assert.equal(t.stats.zeros, e.zeros, `${what}: zeros of ${r.name}`);
  }
}

/** Serves `bytes` with Range support (206), as a CDN would. */
function serveRange(bytes: Uint8Array, req: IncomingMessage, res: ServerResponse): void {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
  if (!m) { res.writeHead(200, { 'Content-Length': bytes.length }); res.end(bytes); return; }
  const start = Number(m[1]), end = Math.min(Number(m[2]), bytes.length - 1);
  res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, ETag: '"1"' });
  res.end(bytes.subarray(start, end + 1));
}

/** A Hub on 127.0.0.1 that redirects every request to a "CDN" on another port (another origin); both record the Authorization headers they receive. */
async function hubAndCdn(bytes: Uint8Array): Promise<{ url: string; hubAuth: (string | undefined)[]; cdnAuth: (string | undefined)[]; close(): void }> {
  const hubAuth: (string | undefined)[] = [], cdnAuth: (string | undefined)[] = [];
  const cdn = createServer((req, res) => { cdnAuth.push(req.headers.authorization); serveRange(bytes, req, res); });
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
  const hub = createServer((req, res) => { hubAuth.push(req.headers.authorization); res.writeHead(302, { Location: `${cdnUrl}/blob${req.url}?signed=1` }); res.end(); });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`, hubAuth, cdnAuth,
    close: () => { for (const s of [hub, cdn]) { s.closeAllConnections(); s.close(); } },
  };
}

// --- one case per command ----------------------------------------------------------------------

const COMMAND_CASES: Record<string, () => Promise<void>> = {
  // openWith(uri) → { format, tensors, params, bytes } and the custom editor is the active tab.
  // openRemote(url): a local Range-capable server; the editor opens on the remote URI.
  'checkpointLens.openRemote': async () => {
    const bytes = readFileSync(join(ws(), 'tiny_llama.gguf'));
    const server = createServer((req, res) => {
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
      if (!m) { res.writeHead(200, { 'Content-Length': bytes.length }); res.end(bytes); return; }
      const start = Number(m[1]), end = Math.min(Number(m[2]), bytes.length - 1);
      res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${bytes.length}` });
      res.end(bytes.subarray(start, end + 1));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tiny_llama.gguf`;
      assert.equal(await exec<string>('checkpointLens.openRemote', url), url);
      await waitFor('the Checkpoint Lens editor on the remote URL', () => {
        const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
        return input instanceof vscode.TabInputCustom && input.viewType === VIEW_TYPE && input.uri.scheme === 'checkpoint-lens-remote' && decodeURIComponent(input.uri.query) === url;
      });
    } finally {
      server.close();
    }
  },
  // setHubToken(token): kept in secret storage; the worker sends it to the Hub endpoint
  // (checkpointLens.hub.endpoint, a local server here) and not to the CDN the Hub redirects to.
  'checkpointLens.setHubToken': async () => {
    const hub = await hubAndCdn(readFileSync(join(ws(), 'tiny_llama.gguf')));
    const cfg = vscode.workspace.getConfiguration('checkpointLens.hub');
    await cfg.update('endpoint', hub.url, vscode.ConfigurationTarget.Global);
    try {
      assert.equal(await exec<boolean>('checkpointLens.setHubToken', 'hf_suite_token'), true);
      assert.equal(await exec<string>('checkpointLens.openRemote', 'hf://org/repo/tiny_llama.gguf'), `${hub.url}/org/repo/resolve/main/tiny_llama.gguf`);
      await waitFor('the editor to read the header from the CDN', () => hub.cdnAuth.length > 0);
      assert.ok(hub.hubAuth.length > 0 && hub.hubAuth.every((a) => a === 'Bearer hf_suite_token'), `the Hub saw ${hub.hubAuth.join(', ')}`);
      assert.ok(hub.cdnAuth.every((a) => a === undefined), 'the CDN got the token');
    } finally {
      await exec('workbench.action.closeAllEditors');
      await cfg.update('endpoint', undefined, vscode.ConfigurationTarget.Global);
      await exec('checkpointLens.clearHubToken');
      hub.close();
    }
  },
  // clearHubToken() → whether a token was stored; afterwards the Hub gets none.
  'checkpointLens.clearHubToken': async () => {
    const hub = await hubAndCdn(readFileSync(join(ws(), 'tiny_llama.gguf')));
    const cfg = vscode.workspace.getConfiguration('checkpointLens.hub');
    await cfg.update('endpoint', hub.url, vscode.ConfigurationTarget.Global);
    try {
      await exec('checkpointLens.setHubToken', 'hf_to_clear');
      assert.equal(await exec<boolean>('checkpointLens.clearHubToken'), true);
      assert.equal(await exec<boolean>('checkpointLens.clearHubToken'), false);
      await exec<string>('checkpointLens.openRemote', 'hf://org/repo/tiny_llama.gguf');
      await waitFor('the editor to read the header from the CDN', () => hub.cdnAuth.length > 0);
      assert.ok(hub.hubAuth.length > 0 && hub.hubAuth.every((a) => a !== 'Bearer hf_to_clear'), 'the cleared token was sent');
    } finally {
      await exec('workbench.action.closeAllEditors');
      await cfg.update('endpoint', undefined, vscode.ConfigurationTarget.Global);
      hub.close();
    }
  },
  'checkpointLens.openWith': async () => {
    const ref = reference();
    const params = ref.tensors.reduce((a, t) => a + t.numel, 0);
    const bytes = ref.tensors.reduce((a, t) => a + t.nbytes, 0);
    // *.safetensors and *.pt open with the editor by default; *.bin only on request.
    for (const [name, format] of [['mlp_seed0.safetensors', /safetensors/], ['mlp_seed0.pt', /torch|pt/], ['pytorch_model.bin', /torch|pt/]] as const) {
      const r = await openWith(name);
      assert.equal(r.error, undefined, `${name}: ${r.error}`);
      assert.match(String(r.format), format, `${name}: format`);
      assert.equal(r.tensors, ref.tensors.length, `${name}: tensor count`);
      assert.equal(r.params, params, `${name}: parameters`);
      assert.equal(r.bytes, bytes, `${name}: bytes`);
      assert.equal(r.uri, fileUri(name).toString());
    }
    // A file that is not a checkpoint opens with an error, not a crash.
    writeFileSync(join(ws(), 'broken.safetensors'), 'not a checkpoint at all');
    try {
      const r = await openWith('broken.safetensors');
      assert.ok(r.error, 'a broken file must report an error');
      assert.equal(r.tensors, 0);
    } finally {
      await exec('workbench.action.closeActiveEditor');
      rmSync(join(ws(), 'broken.safetensors'), { force: true });
    }
  },

  // computeStatistics(uri?) → { state: 'done', done, total } once every tensor has statistics.
  'checkpointLens.computeStatistics': async () => {
    for (const name of ['mlp_seed0.pt', 'mlp_seed0.safetensors']) {
      const o = await openWith(name);
      const s = await exec<StatsSummary | undefined>('checkpointLens.computeStatistics', fileUri(name));
      assert.ok(s, `computeStatistics(${name}) returned nothing`);
      assert.deepEqual({ state: s.state, done: s.done, total: s.total }, { state: 'done', done: o.tensors, total: o.tensors }, name);
    }
    // No argument: the active editor's checkpoint (mlp_seed0.safetensors, all done already).
    const s = await exec<StatsSummary | undefined>('checkpointLens.computeStatistics');
    assert.equal(s?.uri, fileUri('mlp_seed0.safetensors').toString());
    assert.equal(s?.state, 'done');
  },

  // exportTable(format, target) → the written file; its statistics match the reference.
  'checkpointLens.exportTable': async () => {
    const out = join(ws(), 'out');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
    for (const name of ['mlp_seed0.safetensors', 'mlp_seed0.pt']) {
      await openWith(name);
      const done = await exec<StatsSummary | undefined>('checkpointLens.computeStatistics');
      assert.equal(done?.state, 'done');
      const jsonTarget = vscode.Uri.file(join(out, `${name}.json`));
      const written = await exec<vscode.Uri | undefined>('checkpointLens.exportTable', 'json', jsonTarget);
      assert.equal(written?.toString(), jsonTarget.toString(), 'exportTable returns the file it wrote');
      assertStatsMatch(JSON.parse(readFileSync(jsonTarget.fsPath, 'utf8')) as TableJson, `${name} JSON export`);

      const csvTarget = vscode.Uri.file(join(out, `${name}.csv`));
      assert.equal((await exec<vscode.Uri | undefined>('checkpointLens.exportTable', 'csv', csvTarget))?.toString(), csvTarget.toString());
      const lines = readFileSync(csvTarget.fsPath, 'utf8').trimEnd().split('\r\n');
      assert.match(lines[0], /^name,dtype,shape,numel,nbytes,/);
      assert.equal(lines.length, 1 + reference().tensors.length);
      assert.match(lines[1], /^0\.weight,F32,128x64,8192,32768,/);
    }
    rmSync(out, { recursive: true, force: true });
  },

  // cancelStatistics(uri?) → true when it stopped a running job; the job ends 'cancelled' and a
  // later computeStatistics resumes where it stopped.
  // showJobs() → the labels of the running and queued jobs (a quick pick when there are some).
  'checkpointLens.showJobs': async () => {
    await exec('workbench.action.closeAllEditors');
    await waitFor('no job left running', async () => (await exec<string[]>('checkpointLens.showJobs')).length === 0, 10000);
  },

  'checkpointLens.cancelStatistics': async () => {
    assert.equal(await exec<boolean>('checkpointLens.cancelStatistics'), false, 'nothing runs: nothing to cancel');
    // 20 x 256 MiB of zeros in a sparse file: 5 GiB, above maxAutoBytes (4 GB), so nothing starts
    // by itself, and its statistics take seconds.
    const name = 'big-sparse.safetensors';
    writeSparseSafetensors(join(ws(), name), 20, 256);
    try {
      const o = await openWith(name);
      assert.equal(o.tensors, 20);
      const uri = fileUri(name);
      let lastDone = -1;
      for (let round = 0; round < 2; round++) {
        const job = exec<StatsSummary | undefined>('checkpointLens.computeStatistics', uri);
        await waitFor('a running statistics job to cancel', () => exec<boolean>('checkpointLens.cancelStatistics', uri), 10000);
        const s = await job;
        assert.equal(s?.state, 'cancelled', `round ${round}: ${JSON.stringify(s)}`);
        assert.ok(s.done < s.total, `round ${round}: cancelled after ${s.done} of ${s.total}`);
        assert.ok(s.done >= lastDone, 'a resumed job keeps the statistics computed before');
        lastDone = s.done;
      }
      assert.equal(await exec<boolean>('checkpointLens.cancelStatistics', uri), false, 'cancelled: nothing left to cancel');
    } finally {
      await exec('workbench.action.closeAllEditors');
      rmSync(join(ws(), name), { force: true });
    }
  },

  // evaluate({ checkpoint, data }) or evaluate(uri, { data }) → { loss, accuracy, n } equal to
  // PyTorch's on the same data (eval.expected.json, from demo/eval_reference.py).
  'checkpointLens.evaluate': async () => {
    const expected = (JSON.parse(readFileSync(join(ws(), 'eval.expected.json'), 'utf8')) as Record<string, EvalSummary>)['mlp_seed0.pt'];
    const data = join(ws(), 'data', 'digits.npz');
    // The .safetensors holds the same weights as the .pt (demo/make_demo_checkpoints.py).
    for (const name of ['mlp_seed0.pt', 'mlp_seed0.safetensors']) {
      const r = await exec<EvalSummary | undefined>('checkpointLens.evaluate', { checkpoint: join(ws(), name), data });
      assert.ok(r, `evaluate ${name} returned nothing`);
      assert.equal(r.n, expected.n, `${name}: n`);
      assert.equal(Math.round(r.accuracy * r.n), Math.round(expected.accuracy * expected.n), `${name}: correct predictions`);
      assert.ok(close(r.loss, expected.loss, 1e-3, 1e-6), `${name}: loss ${r.loss}, PyTorch ${expected.loss}`);
    }
    // As from the explorer's context menu: the checkpoint's uri first.
    const viaUri = await exec<EvalSummary | undefined>('checkpointLens.evaluate', fileUri('pytorch_model.bin'), { data });
    assert.equal(viaUri?.n, expected.n);
    assert.ok(close(viaUri.loss, expected.loss, 1e-3, 1e-6));
    // A dataset that does not exist: an error message, no result.
    assert.equal(await exec('checkpointLens.evaluate', { checkpoint: join(ws(), 'mlp_seed0.pt'), data: join(ws(), 'no-such.npz') }), undefined);
  },

  // align({ a, b, out }) → the view: every group at least as similar after; the aligned B
  // evaluates exactly as B (a permutation is a symmetry), through the evaluate command.
  'checkpointLens.align': async () => {
    const out = join(ws(), 'suite-aligned.safetensors');
    const view = await exec<AnalysisView | undefined>('checkpointLens.align', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), out });
    assert.ok(view && view.complete, 'align returned no final view');
    const groups = (view.report as { groups: { name: string; similarityBefore: number; similarityAfter: number }[] }).groups;
    assert.ok(groups.length >= 2);
    for (const g of groups) assert.ok(g.similarityAfter >= g.similarityBefore - 1e-9, `${g.name}: ${g.similarityBefore} → ${g.similarityAfter}`);
    assert.ok(view.charts.some((c) => c.id === 'align-similarity'));
    const data = join(ws(), 'data', 'digits.npz');
    const before = await exec<EvalSummary | undefined>('checkpointLens.evaluate', { checkpoint: join(ws(), 'mlp_seed1.safetensors'), data });
    const after = await exec<EvalSummary | undefined>('checkpointLens.evaluate', { checkpoint: out, data });
    assert.ok(before && after && close(after.loss, before.loss, 1e-5, 1e-6), `aligned loss ${after?.loss}, B ${before?.loss}`);
    assert.equal(after.accuracy, before.accuracy);
    // Activation matching on the digits: a symmetry too, and the matched units correlate more.
    const outAct = join(ws(), 'suite-aligned-act.safetensors');
    const act = await exec<AnalysisView | undefined>('checkpointLens.align', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), out: outAct, method: 'activations', data });
    const ga = (act?.report as { method: string; groups: { similarityBefore: number; similarityAfter: number }[] });
    assert.equal(ga.method, 'activations');
    for (const g of ga.groups) assert.ok(g.similarityAfter > g.similarityBefore);
    const afterAct = await exec<EvalSummary | undefined>('checkpointLens.evaluate', { checkpoint: outAct, data });
    assert.ok(afterAct && close(afterAct.loss, before.loss, 1e-5, 1e-6));
  },

  // linearModeConnectivity({ a, b, data, align }) → 25 points, naive and aligned; α = 0 is A,
  // whose loss is PyTorch's; weight matching lowers the linear-baseline barrier.
  'checkpointLens.linearModeConnectivity': async () => {
    const expected = (JSON.parse(readFileSync(join(ws(), 'eval.expected.json'), 'utf8')) as Record<string, EvalSummary>)['mlp_seed0.pt'];
    const view = await exec<AnalysisView | undefined>('checkpointLens.linearModeConnectivity', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), data: join(ws(), 'data', 'digits.npz'), align: true });
    assert.ok(view?.complete, 'no final view');
    type Curve = { alphas: number[]; loss: number[]; barrier: { lossLinear: number } };
    const r = view.report as Curve & { aligned: Curve };
    assert.equal(r.alphas.length, 25);
    assert.ok(close(r.loss[0], expected.loss, 1e-3, 1e-6), `L(θ_A) ${r.loss[0]} vs PyTorch ${expected.loss}`);
    assert.ok(r.aligned && r.aligned.barrier.lossLinear < r.barrier.lossLinear, `aligned barrier ${r.aligned?.barrier.lossLinear} vs naive ${r.barrier.lossLinear}`);
  },

  // monotonicInterpolation({ init, final, data }) → MLI flag, Δ and the distance moved.
  'checkpointLens.monotonicInterpolation': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.monotonicInterpolation', { init: join(ws(), 'mlp_seed0_init.pt'), final: join(ws(), 'mlp_seed0.pt'), data: join(ws(), 'data', 'digits.npz') });
    assert.ok(view?.complete, 'no final view');
    const r = view.report as { alphas: number[]; loss: number[]; monotonic: boolean; delta: number; distance: number; relativeDistance: number };
    assert.ok(r.alphas.length >= 50);
    assert.equal(typeof r.monotonic, 'boolean');
    assert.ok(r.delta >= 0 && r.distance > 0 && r.relativeDistance > 0);
    assert.ok(r.loss[r.loss.length - 1] < r.loss[0], 'the trained end has the lower loss');
  },

  // featureConnectivity({ a, b, data, align }) → per layer 1 − |cos|, lower after alignment.
  'checkpointLens.featureConnectivity': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.featureConnectivity', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), data: join(ws(), 'data', 'digits.npz'), align: true });
    assert.ok(view?.complete, 'no final view');
    type Curve = { points: { alpha: number; dist: { mean: number } }[] };
    const r = view.report as { layers: { layer: string; naive: Curve; aligned: Curve }[] };
    assert.ok(r.layers.length >= 2);
    const mid = (c: Curve) => c.points.find((p) => p.alpha === 0.5)!.dist.mean;
    for (const l of r.layers.filter((x) => x.layer !== 'logits')) assert.ok(mid(l.aligned) < mid(l.naive), `${l.layer}: aligned ${mid(l.aligned)} vs naive ${mid(l.naive)}`);
  },

  // lossPlane({ a, b, c, data, grid }) → a grid × grid surface with the three points on it.
  'checkpointLens.lossPlane': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.lossPlane', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), c: join(ws(), 'mlp_seed0_init.pt'), data: join(ws(), 'data', 'digits.npz'), grid: 5 });
    assert.ok(view?.complete, 'no final view');
    const r = view.report as { loss: number[][]; points: { name: string; loss: number }[] };
    assert.equal(r.loss.length, 5);
    assert.ok(r.loss.every((row) => row.length === 5 && row.every(Number.isFinite)));
    assert.deepEqual(r.points.map((p) => p.name), ['A', 'B', 'C']);
  },

  // compareWith({ a, b }): the .pt and the .safetensors hold the same weights (no change); seed 0
  // against seed 1 changes every tensor, and alignment lowers the change of the permuted ones.
  'checkpointLens.compareWith': async () => {
    type Diff = { shared: { name: string; metrics: { relChange: number; cosine: number }; aligned?: { relChange: number } }[]; added: unknown[]; removed: unknown[] };
    const same = await exec<AnalysisView | undefined>('checkpointLens.compareWith', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed0.pt') });
    const r0 = same?.report as Diff;
    assert.equal(r0.shared.length, 6);
    for (const t of r0.shared) assert.equal(t.metrics.relChange, 0, `${t.name} differs between the .pt and the .safetensors`);
    const seeds = await exec<AnalysisView | undefined>('checkpointLens.compareWith', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), align: true });
    const r1 = seeds?.report as Diff;
    assert.ok(r1.shared.every((t) => t.metrics.relChange > 0.1));
    const w0 = r1.shared.find((t) => t.name === '0.weight')!;
    assert.ok(w0.aligned && w0.aligned.relChange < w0.metrics.relChange, `0.weight aligned ${w0.aligned?.relChange} vs ${w0.metrics.relChange}`);
  },

  // compareSelected(clicked, [a, b], { align }), as the explorer calls it with two files selected
  // (the third argument answers the align question the explorer path asks).
  'checkpointLens.compareSelected': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.compareSelected', fileUri('mlp_seed0.safetensors'), [fileUri('mlp_seed0.safetensors'), fileUri('mlp_seed1.safetensors')], { align: false });
    assert.equal((view?.report as { shared: unknown[] }).shared.length, 6);
  },

  // compareRuns({ dirs, watch }): steps ordered from file names and from global_step; live: a
  // checkpoint written while the view watches is in the final report once the panel closes.
  'checkpointLens.compareRuns': async () => {
    type Runs = { runs: { name: string; checkpoints: { file: string; step: number }[] }[]; points: unknown[]; cross: unknown[] };
    const batch = await exec<AnalysisView | undefined>('checkpointLens.compareRuns', { dirs: [join(ws(), 'runs', 'live'), join(ws(), 'runs', 'seed1')], watch: false });
    const r = batch?.report as Runs;
    assert.deepEqual(r.runs[0].checkpoints.map((c) => c.step), [0, 5, 10]);
    const steps1 = r.runs[1].checkpoints.map((c) => c.step);
    assert.deepEqual(steps1, [...steps1].sort((x, y) => x - y), 'seed 1 ordered by global_step');
    assert.ok(r.cross.length > 0, 'runs compared at matching steps');
    const live = join(ws(), 'runs', 'live-suite');
    mkdirSync(live, { recursive: true });
    for (const f of ['step_0000.safetensors', 'step_0005.safetensors']) writeFileSync(join(live, f), readFileSync(join(ws(), 'runs', 'live', f)));
    let logAt = extensionLog()?.length;
    const pending = exec<AnalysisView | undefined>('checkpointLens.compareRuns', { dirs: [live] });
    await logged(logAt, /\[worker\] watching 1 folder: 2 checkpoints read/, 'the watched folder read');
    logAt = extensionLog()?.length;
    writeFileSync(join(live, 'step_0010.safetensors'), readFileSync(join(ws(), 'runs', 'live', 'step_0010.safetensors')));
    await logged(logAt, /\[worker\] watching 1 folder: 3 checkpoints read/, 'the new checkpoint read');
    await exec('workbench.action.closeAllEditors');
    const final = await pending;
    assert.deepEqual((final?.report as Runs).runs[0].checkpoints.map((c) => c.step), [0, 5, 10]);
    // The dynamics follow a watched run: the checkpoint written while watching gets its LLC (the
    // same settings at every step) and conserved quantities.
    type Dyn = { runs: { checkpoints: { step: number; balances?: number[]; llc?: { mean: number } }[] }[] };
    const dyn = join(ws(), 'dynamics', 'sgd');
    logAt = extensionLog()?.length;
    const following = exec<AnalysisView | undefined>('checkpointLens.compareRuns', { dirs: [dyn], align: 'off', data: join(ws(), 'dynamics', 'runs_data.npz'), llc: true, chains: 2, draws: 10, epsilon: 1e-4, gamma: 10, batchSize: 64, seed: 0 });
    await logged(logAt, /\[worker\] watching 1 folder: 3 checkpoints read/, 'the watched run read');
    logAt = extensionLog()?.length;
    writeFileSync(join(dyn, 'step_0200.safetensors'), readFileSync(join(ws(), 'dynamics', 'step_0200.safetensors')));
    // Closing stops watching and any LLC still sampling: wait until the new checkpoint's LLC is
    // done (under load, it was not within the 10 s this once slept).
    await logged(logAt, /\[worker\] sgd: LLC at step 200 = /, 'the LLC of the checkpoint written while watching', 10000);
    await exec('workbench.action.closeAllEditors');
    const followed = (await following)?.report as Dyn;
    assert.deepEqual(followed.runs[0].checkpoints.map((c) => c.step), [0, 50, 100, 200]);
    assert.ok(followed.runs[0].checkpoints.every((c) => c.balances && c.llc && Number.isFinite(c.llc.mean)), JSON.stringify(followed.runs[0].checkpoints.map((c) => c.llc)));
  },

  // spectra({ a }): one row per weight matrix, singular values sorted, stable rank ≤ rank.
  'checkpointLens.spectra': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.spectra', { a: join(ws(), 'mlp_seed0.safetensors') });
    const r = view?.report as { layers: { name: string; singularValues: number[]; stableRank: number; spectralNorm: number }[] };
    assert.equal(r.layers.length, 3);
    for (const l of r.layers) {
      assert.ok(l.singularValues.every((v, i, a) => i === 0 || v <= a[i - 1]), `${l.name}: singular values sorted`);
      assert.ok(Math.abs(l.spectralNorm - l.singularValues[0]) < 1e-9);
      assert.ok(l.stableRank >= 1 && l.stableRank <= l.singularValues.length);
    }
  },

  // stitch({ a, b, data }): A's bottom + a trained stitching layer + B's top at each point; the
  // penalty is B's accuracy minus the stitched model's; the random-bottom control is worse.
  'checkpointLens.stitch': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.stitch', { a: join(ws(), 'mlp_seed0.safetensors'), b: join(ws(), 'mlp_seed1.safetensors'), data: join(ws(), 'data', 'digits.npz'), epochs: 2 });
    type Point = { name: string; accuracy: number; penalty: number };
    const r = view?.report as { points: Point[]; control: { points: Point[] } | null };
    assert.ok(r.points.length >= 2);
    assert.ok(r.control && r.control.points.length === r.points.length);
    const worst = Math.max(...r.points.map((p) => p.penalty));
    const bestControl = Math.min(...r.control.points.map((p) => p.penalty));
    assert.ok(worst < bestControl, `stitching penalties ${r.points.map((p) => p.penalty)} vs control ${r.control.points.map((p) => p.penalty)}`);
  },

  // dropLayers({ a, data }): the demo ResNet without each residual block; baseline = PyTorch's.
  'checkpointLens.dropLayers': async () => {
    const expected = (JSON.parse(readFileSync(join(ws(), 'eval.expected.json'), 'utf8')) as Record<string, EvalSummary>)['resnet_digits.safetensors'];
    const view = await exec<AnalysisView | undefined>('checkpointLens.dropLayers', { a: join(ws(), 'resnet_digits.safetensors'), data: join(ws(), 'data', 'digits_images.npz'), strategy: 'single' });
    const r = view?.report as { baseline: { loss: number }; results: { dropped: string[]; accuracy: number }[] };
    assert.ok(close(r.baseline.loss, expected.loss, 1e-3, 1e-6), `baseline ${r.baseline.loss} vs PyTorch ${expected.loss}`);
    assert.equal(r.results.length, 5, 'five droppable residual blocks');
    assert.ok(r.results.every((x) => x.dropped.length === 1));
  },

  // basins({ paths, data, align }): a 3×3 matrix, symmetric with a zero diagonal, both clusterings.
  'checkpointLens.basins': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.basins', { paths: [join(ws(), 'sets')], data: join(ws(), 'data', 'digits.npz'), align: true });
    const r = view?.report as { names: string[]; loss: number[][]; basins: string[][]; threshold: { basins: string[][] }; aligned: { loss: number[][] } };
    assert.equal(r.names.length, 3);
    r.loss.forEach((row, i) => row.forEach((v, j) => assert.equal(v, r.loss[j][i])));
    assert.equal(r.basins.flat().length, 3);
    assert.equal(r.threshold.basins.flat().length, 3);
    assert.equal(r.aligned.loss.length, 3);
  },

  // cka({ paths: [A, B], data }): A's capture points × B's, values in [0, 1].
  'checkpointLens.cka': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.cka', { paths: [join(ws(), 'mlp_seed0.safetensors'), join(ws(), 'mlp_seed1.safetensors')], data: join(ws(), 'data', 'digits.npz') });
    const r = view?.report as { a: string[]; b: string[]; linear: number[][] };
    assert.equal(r.linear.length, r.a.length);
    assert.ok(r.linear.flat().every((v) => v >= 0 && v <= 1 + 1e-9));
  },

  // layerSwaps({ a, data }): the demo ResNet's same-structure residual blocks.
  'checkpointLens.layerSwaps': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.layerSwaps', { a: join(ws(), 'resnet_digits.safetensors'), data: join(ws(), 'data', 'digits_images.npz') });
    const r = view?.report as { blocks: string[]; loss: number[][] };
    assert.deepEqual(r.blocks, ['layer1.0', 'layer1.1']);
    assert.equal(r.loss[0][1], r.loss[1][0]);
  },

  // estimateLlc({ a, data, chains, draws, seed }): λ̂ per chain, the settings echoed, and the
  // same seed giving the same estimate (each chain has its own seeded generator).
  'checkpointLens.estimateLlc': async () => {
    const args = { a: join(ws(), 'mlp_seed0.safetensors'), data: join(ws(), 'data', 'digits.npz'), chains: 2, draws: 20, batchSize: 64, seed: 3 };
    const first = (await exec<AnalysisView | undefined>('checkpointLens.estimateLlc', args))?.report as { llc: { mean: number; perChain: (number | null)[] }; hyperparameters: { chains: number; draws: number; seed: number }; traces: number[][] } | undefined;
    assert.ok(first, 'estimateLlc returned no view');
    assert.equal(first.llc.perChain.length, 2);
    assert.ok(Number.isFinite(first.llc.mean), `λ̂ ${first.llc.mean}`);
    assert.deepEqual([first.hyperparameters.chains, first.hyperparameters.draws, first.hyperparameters.seed], [2, 20, 3]);
    assert.deepEqual(first.traces.map((t) => t.length), [20, 20]);
    const again = (await exec<AnalysisView | undefined>('checkpointLens.estimateLlc', args))?.report as { llc: { mean: number } } | undefined;
    assert.equal(again?.llc.mean, first.llc.mean);
  },

  // llcSweep({ a, data, epsilons, nbetas, … }): one cell per (ε, nβ) pair.
  'checkpointLens.llcSweep': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.llcSweep', { a: join(ws(), 'mlp_seed0.safetensors'), data: join(ws(), 'data', 'digits.npz'), epsilons: '1e-4,1e-3', nbetas: '5,20', chains: 1, draws: 10, batchSize: 64, seed: 0 });
    const r = view?.report as { epsilons: number[]; nbetas: number[]; cells: { epsilon: number; nbeta: number; llc: number }[] } | undefined;
    assert.ok(r, 'llcSweep returned no view');
    assert.deepEqual(r.epsilons, [1e-4, 1e-3]);
    assert.deepEqual(r.nbetas, [5, 20]);
    assert.equal(r.cells.length, 4);
  },

  // histogramsOverRun({ paths, tensor }): one histogram per checkpoint, ordered by step.
  'checkpointLens.histogramsOverRun': async () => {
    const view = await exec<AnalysisView | undefined>('checkpointLens.histogramsOverRun', { paths: [join(ws(), 'runs', 'live')], tensor: 'layers.0.weight' });
    const r = view?.report as { checkpoints: { step: number; counts: number[] }[] };
    assert.deepEqual(r.checkpoints.map((c) => c.step), [0, 5, 10]);
    assert.ok(r.checkpoints.every((c) => c.counts.reduce((a, b) => a + b, 0) === 48 * 20));
  },
};

// --- the tests ---------------------------------------------------------------------------------

const tests: [string, () => Promise<void>][] = [
  ['the extension activates', async () => {
    const ext = vscode.extensions.getExtension(EXT_ID);
    assert.ok(ext, `${EXT_ID} is not installed`);
    await ext.activate();
    assert.ok(ext.isActive);
  }],
  ['every contributed command is registered and has a case in this suite', async () => {
    const ext = vscode.extensions.getExtension(EXT_ID)!;
    const contributed = ((ext.packageJSON as { contributes: { commands: { command: string }[] } }).contributes.commands).map((c) => c.command).sort();
    const registered = new Set(await vscode.commands.getCommands(true));
    for (const c of contributed) assert.ok(registered.has(c), `${c} is contributed but not registered`);
    assert.deepEqual(Object.keys(COMMAND_CASES).sort(), contributed, 'COMMAND_CASES must list exactly the contributed commands');
  }],
  ...Object.entries(COMMAND_CASES).map(([id, fn]): [string, () => Promise<void>] => [`command ${id}`, async () => {
    try {
      await fn();
    } finally {
      await exec('workbench.action.closeAllEditors');
    }
  }]),
];

export async function run(): Promise<void> {
  const only = process.env.CKPT_SUITE_GREP;
  let passed = 0;
  const failed: string[] = [];
  const t0 = Date.now();
  for (const [name, fn] of tests) {
    if (only && !name.includes(only)) continue;
    const t = Date.now();
    try {
      await fn();
      passed++;
      console.log(`[suite] ok   ${name} (${Date.now() - t} ms)`);
    } catch (e) {
      failed.push(name);
      console.log(`[suite] FAIL ${name}: ${(e as Error)?.stack ?? e}`);
    }
  }
  console.log(`[suite] ${passed} passed, ${failed.length} failed (${Date.now() - t0} ms)`);
  if (failed.length || passed === 0) throw new Error(`${failed.length} of ${passed + failed.length} integration tests failed: ${failed.join('; ')}`);
}
