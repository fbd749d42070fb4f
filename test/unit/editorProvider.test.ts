// The custom editor's host logic end to end, against a small stand-in for the `vscode` module
// (a unit test cannot load VS Code) and the real worker (dist/worker.js; build first):
// ready → init with the listing, statistics streamed in batches, selection → stats + slice,
// cancel, malformed webview messages dropped, table export written atomically.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import { existsSync, mkdtempSync, promises as fsp, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isHostToWebview, type HostToWebview, type WebviewToHost } from '../../src/analysis/protocol';
import { tableOf } from '../../src/analysis/core/tensorTable';
import { REPO_ROOT } from '../helpers';

// --- a minimal `vscode` -------------------------------------------------------------------------

/**
 * What VS Code does to a webview message (serializeWebviewMessage, engines ≥ 1.57): a JSON round
 * trip, except typed arrays, which cross as buffers and arrive as typed arrays of the same kind.
 */
function webviewRoundTrip<T>(m: T): T {
  const views: ArrayBufferView[] = [];
  const text = JSON.stringify(m, (_k, v: unknown) => (ArrayBuffer.isView(v) ? { $view: views.push((v as Uint8Array).slice()) - 1 } : v));
  return JSON.parse(text, (_k, v: unknown) => (v && typeof v === 'object' && '$view' in v ? views[(v as { $view: number }).$view] : v)) as T;
}

class Uri {
  private constructor(readonly scheme: string, readonly path: string) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  static joinPath(u: Uri, ...parts: string[]): Uri {
    return new Uri(u.scheme, join(u.path, ...parts));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}
class EventEmitter<T> {
  private listeners: ((e: T) => void)[] = [];
  event = (l: (e: T) => void) => {
    this.listeners.push(l);
    return { dispose: () => (this.listeners = this.listeners.filter((x) => x !== l)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

const shown: string[] = [];
let saveTarget: Uri | undefined;
let config: Record<string, unknown> = {};

const vscodeStub = {
  Uri,
  EventEmitter,
  StatusBarAlignment: { Left: 1, Right: 2 },
  window: {
    createStatusBarItem: () => ({ text: '', tooltip: '', name: '', command: '', show() {}, hide() {}, dispose() {} }),
    registerCustomEditorProvider: () => ({ dispose() {} }),
    showSaveDialog: async () => saveTarget,
    showInformationMessage: async (m: string) => void shown.push(`info: ${m}`),
    showErrorMessage: async (m: string) => void shown.push(`error: ${m}`),
    showQuickPick: async () => undefined,
  },
  workspace: {
    getConfiguration: () => ({ get: <T>(k: string, d: T): T => (k in config ? (config[k] as T) : d) }),
    fs: { writeFile: async () => undefined },
  },
};

type ModuleWithLoad = typeof Module & { _load: (request: string, ...rest: unknown[]) => unknown };
const M = Module as ModuleWithLoad;
const realLoad = M._load;
M._load = function (request: string, ...rest: unknown[]) {
  if (request === 'vscode') return vscodeStub;
  return realLoad.call(this, request, ...rest);
};

// --- a fake webview panel -----------------------------------------------------------------------

class FakePanel {
  received: HostToWebview[] = [];
  private onMessage: ((m: unknown) => void) | undefined;
  private disposeListeners: (() => void)[] = [];
  active = true;
  visible = true;
  webview = {
    options: {} as Record<string, unknown>,
    html: '',
    cspSource: 'vscode-webview://test',
    asWebviewUri: (u: Uri) => u,
    postMessage: async (m: HostToWebview) => {
      this.received.push(webviewRoundTrip(m));
      return true;
    },
    onDidReceiveMessage: (l: (m: unknown) => void) => {
      this.onMessage = l;
      return { dispose() {} };
    },
  };
  onDidChangeViewState = () => ({ dispose() {} });
  onDidDispose = (l: () => void) => {
    this.disposeListeners.push(l);
    return { dispose() {} };
  };
  send(m: WebviewToHost | unknown): void {
    this.onMessage?.(m);
  }
  dispose(): void {
    for (const l of this.disposeListeners) l();
  }
  of<T extends HostToWebview['type']>(type: T): Extract<HostToWebview, { type: T }>[] {
    return this.received.filter((m) => m.type === type) as Extract<HostToWebview, { type: T }>[];
  }
  async until(pred: () => boolean, ms = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!pred()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out; received: ${this.received.map((m) => m.type).join(' ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

// --- fixture ------------------------------------------------------------------------------------

async function writeSafetensors(path: string, tensors: { name: string; shape: number[]; values: number[] }[]): Promise<void> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + 4 * t.values.length] };
    off += 4 * t.values.length;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const data = Buffer.concat(tensors.map((t) => Buffer.from(Float32Array.from(t.values).buffer)));
  await fsp.writeFile(path, Buffer.concat([len, json, data]));
}

let dir: string;
let file: string;
type Provider = import('../../src/extension/checkpointEditorProvider').CheckpointEditorProvider;
type Doc = import('../../src/extension/checkpointEditorProvider').CheckpointDocument;
let provider: Provider;
let worker: import('../../src/extension/workerHost').WorkerHost;

before(async () => {
  const workerPath = join(REPO_ROOT, 'dist', 'worker.js');
  assert.ok(existsSync(workerPath), 'build first: node scripts/build.mjs');
  dir = mkdtempSync(join(tmpdir(), 'ckpt-provider-'));
  file = join(dir, 'tiny.safetensors');
  const tensors = [];
  for (let i = 0; i < 40; i++) tensors.push({ name: `layers.${i}.weight`, shape: [4, 5], values: Array.from({ length: 20 }, (_, k) => (k - 10) * (i + 1)) });
  tensors.push({ name: 'bad', shape: [3], values: [NaN, 1, 2] });
  await writeSafetensors(file, tensors);
  const { CheckpointEditorProvider } = await import('../../src/extension/checkpointEditorProvider');
  const { WorkerHost } = await import('../../src/extension/workerHost');
  worker = new WorkerHost({ workerPath, log: { trace() {}, debug() {}, info() {}, warn() {}, error() {} } });
  const context = { extensionUri: Uri.file(REPO_ROOT), subscriptions: [] as { dispose(): void }[] };
  provider = CheckpointEditorProvider.register(context as never, worker);
});

after(() => {
  provider?.dispose();
  worker?.dispose();
  M._load = realLoad;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };

async function openEditor(path: string): Promise<{ doc: Doc; panel: FakePanel }> {
  const doc = await provider.openCustomDocument(Uri.file(path) as never, {} as never, token as never);
  const panel = new FakePanel();
  await provider.resolveCustomEditor(doc, panel as never);
  return { doc, panel };
}

describe('checkpoint editor provider', () => {
  test('webview gets a strict CSP page, then init and streamed statistics', async () => {
    config = {};
    const { doc, panel } = await openEditor(file);
    assert.match(panel.webview.html, /default-src 'none'|default-src &#39;none&#39;/);
    assert.deepEqual((panel.webview.options.localResourceRoots as Uri[]).map((u) => u.fsPath), [join(REPO_ROOT, 'dist')]);
    assert.equal(panel.webview.html.includes('tiny.safetensors'), false, 'no file-derived text in the HTML');
    panel.send({ type: 'ready' });
    await panel.until(() => panel.of('statsProgress').some((p) => p.state === 'done'));
    const init = panel.of('init')[0];
    assert.ok(isHostToWebview(init), 'the page accepts the init message as it arrives');
    assert.equal(tableOf(init.listing!.tensors).length, 41);
    assert.equal(init.fileName, 'tiny.safetensors');
    const entries = panel.of('statsUpdate').flatMap((u) => u.entries);
    assert.equal(new Set(entries.map((e) => e.name)).size, 41);
    const bad = entries.find((e) => e.name === 'bad')!;
    assert.equal(bad.stats!.nan, 1);
    assert.ok(panel.of('statsUpdate').length < 41, 'statistics are batched');
    doc.dispose();
  });

  test('selection sends the slice; malformed messages are dropped', async () => {
    config = { autoCompute: false };
    const { doc, panel } = await openEditor(file);
    panel.send({ type: 'ready' });
    await panel.until(() => panel.of('statsProgress').length > 0);
    assert.equal(panel.of('statsProgress')[0].state, 'skipped');
    panel.send({ type: 'selectTensor', name: 'layers.3.weight' });
    panel.send({ type: 'selectTensor', name: 42 });
    panel.send({ type: 'exportData', kind: 'file', path: '/etc/passwd' });
    await panel.until(() => panel.of('sliceData').length > 0 && panel.of('statsUpdate').length > 0);
    const slice = panel.of('sliceData')[0];
    assert.equal(slice.name, 'layers.3.weight');
    assert.deepEqual(slice.slice!.sourceShape, [4, 5]);
    assert.equal(slice.slice!.values[0], -40);
    const s = panel.of('statsUpdate')[0].entries[0];
    assert.equal(s.name, 'layers.3.weight');
    assert.equal(s.stats!.min, -40);
    assert.equal(panel.of('statsUpdate').length, 1, 'only the selected tensor was computed');
    doc.dispose();
  });

  test('table export: save dialog target written atomically', async () => {
    config = {};
    const { doc, panel } = await openEditor(file);
    panel.send({ type: 'ready' });
    await panel.until(() => panel.of('statsProgress').some((p) => p.state === 'done'));
    saveTarget = Uri.file(join(dir, 'out.csv'));
    panel.send({ type: 'exportData', kind: 'table', format: 'csv' });
    await panel.until(() => existsSync(join(dir, 'out.csv')));
    const csv = readFileSync(join(dir, 'out.csv'), 'utf8').split('\r\n');
    assert.equal(csv.length, 43);
    assert.ok(csv[1].startsWith('layers.0.weight,F32,4x5,20,80,,'));
    saveTarget = Uri.file(join(dir, 'h.png'));
    panel.send({ type: 'exportData', kind: 'chart', chart: 'histogram', format: 'png', tensor: 'bad', content: 'data:image/png;base64,iVBORw0KGgo=' });
    await panel.until(() => existsSync(join(dir, 'h.png')));
    assert.deepEqual([...readFileSync(join(dir, 'h.png')).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
    doc.dispose();
  });

  test('an unreadable file opens an editor that shows the error', async () => {
    const broken = join(dir, 'broken.safetensors');
    await fsp.writeFile(broken, Buffer.from([1, 2, 3]));
    const { doc, panel } = await openEditor(broken);
    panel.send({ type: 'ready' });
    await panel.until(() => panel.of('init').length > 0);
    const init = panel.of('init')[0];
    assert.equal(init.listing, null);
    assert.match(init.error!.message, /broken\.safetensors/);
    doc.dispose();
  });
});
