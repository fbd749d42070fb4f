// The transformer families against the real Hugging Face `transformers` classes: checkpoints
// and reference logits made by test/fixtures/transformers/make_transformer_fixtures.py (small
// random-init configs with each family's quirks). Logits within 1e-4 max-abs; LM loss — the
// mean next-token cross-entropy over all B·(T−1) predictions, HF's labels=input_ids — within
// 1e-5. Recognition reads config.json beside the weights, as save_pretrained writes it.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { ArrayData } from '../../src/analysis/data/arrays';
import { initBackend } from '../../src/analysis/model/backend';
import { evaluate } from '../../src/analysis/model/evaluate';
import { openModel } from '../../src/analysis/model/openModel';
import { fixture } from '../helpers';
import { maxAbsDiff } from '../modelHelpers';
import { TRANSFORMER_FIXTURES, readBatch } from '../transformerFixtures';

const int32 = (a: ArrayData) => tf.tensor(Int32Array.from(a.values, Number), a.shape, 'int32');

before(async () => {
  await initBackend('wasm');
});

for (const [name, family] of Object.entries(TRANSFORMER_FIXTURES)) {
  test(`${name}: recognised as ${family}, logits equal transformers' within 1e-4`, async (t) => {
    const m = await openModel(join(fixture('transformers', name), 'model.safetensors'));
    try {
      assert.equal(m.graph.family, family);
      const batch = await readBatch(name);
      const ref = batch.get('logits')!;
      const input = batch.has('pixel_values') ? tf.tensor(Float32Array.from(batch.get('pixel_values')!.values, Number), batch.get('pixel_values')!.shape) : int32(batch.get('input_ids')!);
      const mask = batch.has('attention_mask') ? int32(batch.get('attention_mask')!) : undefined;
      const types = batch.has('token_type_ids') ? int32(batch.get('token_type_ids')!) : undefined;
      const { output } = m.model.forward(input, { attentionMask: mask, tokenTypes: types });
      assert.deepEqual(output.shape, ref.shape);
      const err = maxAbsDiff(output.dataSync(), ref.values as Float32Array);
      t.diagnostic(`max |Δlogit| vs transformers: ${err.toExponential(2)}`);
      assert.ok(err <= 1e-4, `max |Δlogit| ${err}`);
      tf.dispose([input, output, mask, types]);
      if (batch.has('loss') && m.graph.input.kind === 'tokens' && !batch.has('labels')) {
        const x = batch.get('input_ids')!;
        const r = await evaluate(m.model, { name, n: x.shape[0], x });
        const want = Number(batch.get('loss')!.values[0]);
        t.diagnostic(`LM loss (mean next-token CE) ${r.loss.toFixed(6)} vs transformers' ${want.toFixed(6)}`);
        assert.ok(Math.abs(r.loss - want) <= 1e-5, `LM loss ${r.loss} vs transformers' ${want}`);
      }
    } finally {
      m.model.dispose();
    }
  });
}
