// vscode-free parts of the editor host: the webview HTML/CSP, table exports, atomic writes,
// the auto-compute decision; and the webview's module tree model (pure, no DOM).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contentSecurityPolicy, editorHtml, makeNonce } from '../../src/extension/webviewHtml';
import { autoComputeDecision, checkpointStem, csvCell, exportBytes, safeStem, tableCsv, tableJson, writeFileAtomic } from '../../src/extension/tableExport';
import { TensorTree } from '../../src/webviews/editor/treeModel';
import type { Listing, StatsEntry, TensorRow } from '../../src/analysis/protocol';
import { TensorTable, packRows } from '../../src/analysis/core/tensorTable';

describe('webview HTML', () => {
  test('strict CSP: nonce scripts only, no unsafe-*, no network', () => {
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', 'abc123==', 'sty1e');
    assert.match(csp, /style-src https:\/\/x\.vscode-cdn\.net 'nonce-sty1e';/);
    assert.match(csp, /^default-src 'none'; /);
    assert.match(csp, /script-src 'nonce-abc123=='/);
    assert.doesNotMatch(csp, /unsafe-eval|unsafe-inline|connect-src|https:;|\*/);
  });
  test('nonces are random and base64', () => {
    const a = makeNonce();
    const b = makeNonce();
    assert.notEqual(a, b);
    assert.match(a, /^[A-Za-z0-9+/]{24}$/);
  });
  test('the page has one nonce’d script, escapes its URIs and holds no file-derived text', () => {
    const html = editorHtml({ cspSource: 'vscode-resource:', nonce: 'N0nce', styleNonce: 'St7le', scriptUri: 'https://r/editor.js?a="b"', styleUri: 'https://r/editor.css' });
    assert.equal(html.match(/<script/g)!.length, 1);
    assert.match(html, /<script nonce="N0nce" src="https:\/\/r\/editor\.js\?a=&quot;b&quot;">/);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; script-src &#39;nonce-N0nce&#39;;/);
    assert.match(html, /style-src vscode-resource: &#39;nonce-St7le&#39;;/);
    assert.match(html, /<meta property="csp-nonce" content="St7le">/);
    assert.doesNotMatch(html, /csp-nonce" content="N0nce/);
    assert.throws(() => editorHtml({ cspSource: 'x', nonce: '"><script>', styleNonce: 'a', scriptUri: 'a', styleUri: 'b' }));
    assert.throws(() => editorHtml({ cspSource: 'x', nonce: 'same', styleNonce: 'same', scriptUri: 'a', styleUri: 'b' }));
  });
});

const listing: Listing = {
  path: '/models/tiny.safetensors',
  format: 'safetensors',
  metadata: { format: 'pt' },
  values: {},
  tensors: packRows([
    { name: 'enc.w', dtype: 'F32', shape: [2, 2], numel: 4, nbytes: 16 },
    { name: '=cmd|calc', dtype: 'F16', shape: [3], numel: 3, nbytes: 6 },
    { name: 'name, with "quotes"', dtype: 'F32', shape: [], numel: 1, nbytes: 4, storageId: '1', sharesStorageWith: ['enc.w'] },
  ]),
  stateDictPrefix: '',
  warnings: [],
  totals: { params: 8, bytes: 26, tensors: 3, byDtype: [], byPrefix: [] },
};
const stats: StatsEntry[] = [
  { name: 'enc.w', stats: { count: 4, nan: 1, inf: 0, zeros: 1, min: -1, max: 2, mean: 0.5, std: 1.5, l2: 2.4, histogram: { lo: -1, hi: 2, counts: [1, 2] } } },
  { name: '=cmd|calc', stats: null, error: 'truncated' },
];

describe('table export', () => {
  test('CSV: header, one row per tensor, quoting, no formula injection', () => {
    const csv = tableCsv(listing, stats);
    const lines = csv.trimEnd().split('\r\n');
    assert.equal(lines.length, 4);
    assert.ok(lines[0].startsWith('name,dtype,shape,numel,nbytes,shares_storage_with,mean,std,min,max'));
    assert.equal(lines[1], 'enc.w,F32,2x2,4,16,,0.5,1.5,-1,2,2.4,1,25,1,0,');
    assert.ok(lines[2].startsWith("'=cmd|calc,F16,3,3,6,"));
    assert.ok(lines[2].endsWith(',truncated'));
    assert.ok(lines[3].startsWith('"name, with ""quotes""",F32,,1,4,enc.w,'));
  });
  test('csvCell', () => {
    assert.equal(csvCell(-1.5), '-1.5');
    assert.equal(csvCell('-1.5'), "'-1.5");
    assert.equal(csvCell('@SUM(A1)'), "'@SUM(A1)");
    assert.equal(csvCell(NaN), '');
    assert.equal(csvCell(null), '');
    assert.equal(csvCell('a\nb'), '"a\nb"');
  });
  test('JSON: totals, metadata and full statistics', () => {
    const j = JSON.parse(tableJson(listing, stats));
    assert.equal(j.file, 'tiny.safetensors');
    assert.equal(j.tensors.length, 3);
    assert.deepEqual(j.tensors[0].stats.histogram.counts, [1, 2]);
    assert.equal(j.tensors[1].stats, null);
    assert.equal(j.tensors[1].statsError, 'truncated');
    assert.deepEqual(j.metadata, { format: 'pt' });
  });
  test('file names', () => {
    assert.equal(checkpointStem('/a/model.safetensors.index.json'), 'model');
    assert.equal(checkpointStem('/a/ckpt-10.pt'), 'ckpt-10');
    assert.equal(safeStem('../../etc/passwd'), 'etc_passwd');
    assert.equal(safeStem('model.layers.0.weight'), 'model.layers.0.weight');
    assert.equal(safeStem('///'), 'export');
  });
  test('writeFileAtomic writes through a temp file and leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-export-'));
    try {
      const target = join(dir, 'out.csv');
      await writeFileAtomic(target, 'a,b\r\n');
      await writeFileAtomic(target, 'c,d\r\n');
      assert.equal(readFileSync(target, 'utf8'), 'c,d\r\n');
      assert.deepEqual(readdirSync(dir), ['out.csv']);
      await assert.rejects(writeFileAtomic(join(dir, 'missing', 'x.csv'), 'x'));
      assert.deepEqual(readdirSync(dir), ['out.csv']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('exportBytes decodes PNG data URLs', () => {
    assert.deepEqual([...exportBytes('png', 'data:image/png;base64,iVBORw==')], [0x89, 0x50, 0x4e, 0x47]);
    assert.equal(Buffer.from(exportBytes('svg', '<svg/>')).toString(), '<svg/>');
    assert.throws(() => exportBytes('png', 'data:text/plain;base64,AA=='));
  });
  test('auto-compute decision', () => {
    assert.deepEqual(autoComputeDecision({ autoCompute: true, maxAutoBytes: 100 }, 100), { run: true });
    assert.equal(autoComputeDecision({ autoCompute: true, maxAutoBytes: 100 }, 101).run, false);
    assert.match(autoComputeDecision({ autoCompute: false, maxAutoBytes: 100 }, 1).reason!, /autoCompute/);
    // A million small tensors: statistics wait to be asked for (the selected tensor's still come at once).
    assert.deepEqual(autoComputeDecision({ autoCompute: true, maxAutoBytes: 1e9 }, 4e6, 100_000), { run: true });
    assert.match(autoComputeDecision({ autoCompute: true, maxAutoBytes: 1e9 }, 4e6, 1_000_000).reason!, /1,000,000 tensors: statistics are computed for the tensor you select/);
  });
});

function rows(names: string[]): TensorRow[] {
  return names.map((name) => ({ name, dtype: 'F32', shape: [10], numel: 10, nbytes: 40 }));
}

describe('module tree', () => {
  const tree = new TensorTree(new TensorTable(packRows([
    ...rows(['model.embed.weight', 'model.layers.0.attn.q.weight', 'model.layers.0.attn.k.weight', 'model.layers.0.mlp.weight', 'model.layers.1.attn.q.weight', 'lm_head.weight', 'scale']),
    { name: 'lm_head.tied', dtype: 'F32', shape: [10], numel: 10, nbytes: 40, storageId: 's', sharesStorageWith: ['lm_head.weight2'] },
    { name: 'lm_head.weight2', dtype: 'F32', shape: [10], numel: 10, nbytes: 40, storageId: 's', sharesStorageWith: ['lm_head.tied'] },
  ])));
  const labels = (r: ReturnType<TensorTree['visibleRows']>) => r.map((x) => `${'  '.repeat(x.depth - 1)}${x.node.label}`);

  test('groups by dotted prefix with per-group totals; tied storages count once', () => {
    const all = new Set(tree.groups.keys());
    const r = tree.visibleRows(all, null, new Set());
    assert.deepEqual(labels(r), [
      'model',
      '  embed',
      '    weight',
      '  layers',
      '    0',
      '      attn',
      '        q',
      '          weight',
      '        k',
      '          weight',
      '      mlp',
      '        weight',
      '    1.attn.q', // single-child chain merged into one row
      '      weight',
      'lm_head',
      '  weight',
      '  tied',
      '  weight2',
      'scale',
    ]);
    const model = tree.groups.get('g:model')!;
    assert.equal(model.tensors, 5);
    assert.equal(model.params, 50);
    const head = tree.groups.get('g:lm_head')!;
    assert.equal(head.tensors, 3);
    assert.equal(head.params, 20);
    assert.equal(r[0].size, 3);
    assert.equal(r[0].pos, 1);
  });

  test('collapsed groups hide their rows; filter shows matches with their ancestors', () => {
    assert.deepEqual(labels(tree.visibleRows(new Set(), null, new Set())), ['model', 'lm_head', 'scale']);
    const m = tree.match('attn Q');
    assert.equal(m!.size, 2);
    assert.deepEqual(labels(tree.visibleRows(new Set(), m, new Set())), ['model', '  layers', '    0', '      attn', '        q', '          weight', '    1.attn.q', '      weight']);
    assert.deepEqual(labels(tree.visibleRows(new Set(), m, new Set(['g:model.layers.0']))), ['model', '  layers', '    0', '    1.attn.q', '      weight']);
    assert.equal(tree.match('  '), null);
  });

  test('statistics flags propagate to groups', () => {
    tree.noteStats('model.layers.0.mlp.weight', { count: 1, nan: 1, inf: 0, zeros: 0, min: null, max: null, mean: null, std: null, l2: null, histogram: null });
    assert.equal(tree.groups.get('g:model')!.flagged, 1);
    assert.equal(tree.groups.get('g:model.layers.0')!.withStats, 1);
    tree.noteStats('model.layers.0.mlp.weight', { count: 1, nan: 0, inf: 0, zeros: 0, min: 1, max: 1, mean: 1, std: null, l2: 1, histogram: null });
    assert.equal(tree.groups.get('g:model')!.flagged, 0);
    assert.equal(tree.groups.get('g:model.layers.0')!.withStats, 1);
    assert.deepEqual(tree.ancestors('model.layers.1.attn.q.weight'), ['g:model.layers.1.attn.q', 'g:model.layers', 'g:model']);
  });

  // Correctness at scale only: wall-clock bounds in unit tests fail on a loaded machine and prove little.
  test('10 000 tensors: build, filter and flatten', () => {
    const names: string[] = [];
    for (let l = 0; l < 1000; l++) for (const p of ['q', 'k', 'v', 'o', 'up', 'down', 'gate', 'n1', 'n2', 'b']) names.push(`model.layers.${l}.${p}.weight`);
    const big = new TensorTree(new TensorTable(packRows(rows(names))));
    const all = big.visibleRows(new Set(big.groups.keys()), null, new Set());
    const m = big.match('layers.99');
    const filtered = big.visibleRows(new Set(), m, new Set());
    assert.equal(big.size, 10_000);
    assert.equal(all.length, 10_000 + 1000 * 10 + 1000 + 1); // leaves, per-layer groups, layers, `model.layers`
    assert.ok(filtered.length > 0);
  });
});
