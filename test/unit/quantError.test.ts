import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hfName, looksLikeGguf, runQuantError } from '../../src/analysis/compare/quantError';
import { quantErrorView } from '../../src/analysis/views/quantErrorView';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO_ROOT, close, fixture } from '../helpers';
import { buildGguf, str, u32 } from '../ggufBuilder';

const GGUF = fixture('gguf', 'tiny_llama.gguf');
const HF = fixture('gguf', 'tiny_llama.safetensors');
const expected = JSON.parse(readFileSync(fixture('gguf', 'tiny_llama.expected.json'), 'utf8')) as { gguf: string; source: string; type: string; maxAbs: number; rms: number; relRms: number }[];

test('llama.cpp names map to Hugging Face names', () => {
  assert.deepEqual(hfName('blk.3.attn_q.weight'), { name: 'model.layers.3.self_attn.q_proj.weight', layer: 3, part: 'attn_q' });
  assert.deepEqual(hfName('blk.0.ffn_down.weight'), { name: 'model.layers.0.mlp.down_proj.weight', layer: 0, part: 'ffn_down' });
  assert.deepEqual(hfName('output.weight'), { name: 'lm_head.weight', layer: null, part: 'output' });
  assert.equal(hfName('rope_freqs.weight'), undefined);
});

test('quantization error of a gguf-py conversion equals numpy\'s, with Q/K un-permuted (either argument order)', async () => {
  assert.equal(await looksLikeGguf(GGUF), true);
  assert.equal(await looksLikeGguf(HF), false);
  for (const [a, b] of [[GGUF, HF], [HF, GGUF]]) {
    const r = await runQuantError(a, b);
    assert.equal(r.architecture, 'llama');
    assert.deepEqual(r.unmatchedGguf, []);
    assert.deepEqual(r.unmatchedSource, []);
    assert.equal(r.rows.length, expected.length);
    for (const e of expected) {
      const row = r.rows.find((x) => x.gguf === e.gguf)!;
      assert.equal(row.source, e.source);
      assert.equal(row.type, e.type);
      for (const k of ['maxAbs', 'rms', 'relRms'] as const) assert.ok(close(row[k], e[k], 1e-6, 1e-12), `${e.gguf} ${k}: ${row[k]} vs ${e[k]}`);
      // Quantization error is small: a wrong row order would give errors near the weights' own size.
      assert.ok(row.relRms! < 0.2, `${e.gguf} relRms ${row.relRms}`);
    }
    assert.ok(r.rows.find((x) => x.gguf === 'blk.0.attn_k.weight')!.unpermuted);
    const view = quantErrorView(r);
    assert.equal(view.charts.length, 1);
    assert.equal(view.tables[0].rows.length, expected.length);
  }
});

test('quantization error refuses what the mapping does not cover', async () => {
  await assert.rejects(runQuantError(fixture('gguf', 'tiny_llama.safetensors'), fixture('arrays', 'st_aligned.safetensors')), /neither file is GGUF/);
  const dir = mkdtempSync(join(tmpdir(), 'qerr-'));
  try {
    const gpt2 = join(dir, 'gpt2.gguf');
    writeFileSync(gpt2, buildGguf({ kv: [[str('general.architecture'), u32(8), str('gpt2')]], tensors: [] }));
    await assert.rejects(runQuantError(gpt2, HF), /"gpt2"; the llama\.cpp ↔ Hugging Face name mapping covers llama/);
    await assert.rejects(runQuantError(GGUF, GGUF), /both files are GGUF/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ckpt-lens diff model.gguf model.safetensors prints the quantization error per tensor', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'dist', 'cli.js'), 'diff', GGUF, HF, '--json']);
  const r = JSON.parse(stdout) as { kind: string; rows: { gguf: string; relRms: number }[] };
  assert.equal(r.kind, 'quantError');
  assert.equal(r.rows.length, expected.length);
});
