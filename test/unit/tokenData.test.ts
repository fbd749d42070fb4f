// Token data: nanoGPT .bin streams cut into blocks, text tokenized with a tokenizer.json, and the
// Hugging Face batch layout (input_ids with attention_mask / token_type_ids / labels) that BERT
// classification is scored on — against transformers' loss.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointError } from '../../src/analysis/core/errors';
import { loadDataset } from '../../src/analysis/data/dataset';
import { loadTokenizer } from '../../src/analysis/data/tokenizer';
import { initBackend } from '../../src/analysis/model/backend';
import { evaluate } from '../../src/analysis/model/evaluate';
import { openModel } from '../../src/analysis/model/openModel';
import { fixture } from '../helpers';
import { readBatch } from '../transformerFixtures';

/** Skips (saying why) where a node_modules predates the dependency; a fresh npm install has it. */
const NO_TOKENIZERS = (() => {
  try {
    require.resolve('@huggingface/tokenizers');
    return false;
  } catch {
    return '@huggingface/tokenizers is not installed here (npm install)';
  }
})();

before(async () => {
  await initBackend('wasm');
});

test('a nanoGPT uint16 .bin is cut into blocks of --block-size tokens; odd byte counts are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckl-bin-'));
  const tokens = Uint16Array.from({ length: 1000 }, (_, i) => (i * 7919) % 50257);
  writeFileSync(join(dir, 'val.bin'), Buffer.from(tokens.buffer));
  const ds = await loadDataset(join(dir, 'val.bin'), { blockSize: 64 });
  assert.deepEqual(ds.x.shape, [15, 64]);
  assert.equal(ds.x.values[64 * 3 + 5], tokens[64 * 3 + 5]);
  assert.equal(ds.x.values[15 * 64 - 1], tokens[15 * 64 - 1]);
  writeFileSync(join(dir, 'bad.bin'), Buffer.alloc(7));
  await assert.rejects(loadDataset(join(dir, 'bad.bin')), CheckpointError);
});

test('text (.txt lines, .jsonl "text") is tokenized with the tokenizer.json beside it', { skip: NO_TOKENIZERS }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckl-text-'));
  copyFileSync(fixture('tokenizers', 'bpe', 'tokenizer.json'), join(dir, 'tokenizer.json'));
  const lines = ['In the beginning God created the heaven and the earth.', 'And the earth was without form, and void.'];
  writeFileSync(join(dir, 'a.txt'), lines.join('\n') + '\n\n');
  writeFileSync(join(dir, 'a.jsonl'), lines.map((text) => JSON.stringify({ text })).join('\n'));
  const tok = await loadTokenizer(join(dir, 'tokenizer.json'));
  const ids = lines.flatMap((l) => tok.encode(l));
  for (const f of ['a.txt', 'a.jsonl']) {
    const ds = await loadDataset(join(dir, f), { blockSize: 8 });
    assert.equal(ds.n, Math.floor(ids.length / 8));
    assert.deepEqual(Array.from(ds.x.values), ids.slice(0, ds.n * 8));
  }
  writeFileSync(join(dir, 'bad.jsonl'), '{"txt": 1}\n');
  await assert.rejects(loadDataset(join(dir, 'bad.jsonl')), /no "text"/);
  await assert.rejects(loadDataset(join(mkdtempSync(join(tmpdir(), 'ckl-notok-')), 'x.txt')), CheckpointError);
});

test('BERT classification data (input_ids, attention_mask, token_type_ids, labels): loss equals transformers\'', async (t) => {
  const data = await loadDataset(fixture('transformers', 'bert_cls', 'batch.npz'));
  assert.ok(data.attentionMask && data.tokenTypes && data.y);
  const m = await openModel(join(fixture('transformers', 'bert_cls'), 'model.safetensors'));
  try {
    const r = await evaluate(m.model, data);
    const want = Number((await readBatch('bert_cls')).get('loss')!.values[0]);
    t.diagnostic(`classification cross-entropy ${r.loss.toFixed(6)} vs transformers' ${want.toFixed(6)}`);
    assert.equal(r.predictions, 3);
    assert.ok(Math.abs(r.loss - want) <= 1e-5);
  } finally {
    m.model.dispose();
  }
});
