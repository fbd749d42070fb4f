// Every analysis on every transformer family (fixtures from the real transformers classes, see
// transformers.test.ts): permutation specs derived from the IR preserve the function (max
// |Δlogit| ≤ 1e-4 × max |logit|) and weight matching recovers a random permutation exactly
// (alignment); captures at every block boundary; interpolation between a model and its
// permuted copy; dropping and stitching at the IR's droppable blocks and stitch points; and the
// full analysis jobs (drop, interpolate, stitch) on a Llama-family model with token data.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { applyPermutation, invertPermutation, randomPermutations } from '../../src/analysis/align/applyPermutation';
import { permutationSpec } from '../../src/analysis/align/permutationSpec';
import { weightMatching } from '../../src/analysis/align/weightMatching';
import type { ArrayData } from '../../src/analysis/data/arrays';
import { runDrop } from '../../src/analysis/dropping/runDrop';
import { lerpStateDicts } from '../../src/analysis/interpolate/lerp';
import { initBackend } from '../../src/analysis/model/backend';
import { createModel } from '../../src/analysis/model/execute';
import { type ModelGraph, capturePoints, dropBlocks, stitchPoints } from '../../src/analysis/model/ir';
import { openModel } from '../../src/analysis/model/openModel';
import type { StateDict } from '../../src/analysis/model/stateDict';
import { runStitch } from '../../src/analysis/stitch/runStitch';
import { fixture } from '../helpers';
import { maxAbsDiff } from '../modelHelpers';
import { readBatch } from '../transformerFixtures';

const FAMILY_MODELS = ['llama_gqa', 'llama_linear_mqa', 'qwen2', 'neox_parallel', 'neox_sequential', 'gpt2', 'tl_gpt2', 'tl_attn_only', 'bert_mlm', 'bert_cls', 'vit_hf', 'vit_torchvision'];
const PRESERVATION = 1e-4;
const modelPath = (name: string) => join(fixture('transformers', name), 'model.safetensors');

function inputsOf(batch: Map<string, ArrayData>): { x: tf.Tensor; mask?: tf.Tensor; types?: tf.Tensor } {
  const int = (a: ArrayData) => tf.tensor(Int32Array.from(a.values, Number), a.shape, 'int32');
  const px = batch.get('pixel_values');
  return {
    x: px ? tf.tensor(Float32Array.from(px.values, Number), px.shape) : int(batch.get('input_ids')!),
    mask: batch.has('attention_mask') ? int(batch.get('attention_mask')!) : undefined,
    types: batch.has('token_type_ids') ? int(batch.get('token_type_ids')!) : undefined,
  };
}

function run(graph: ModelGraph, sd: StateDict, batch: Map<string, ArrayData>, capture: string[] = []): { logits: Float32Array; features: Record<string, number[]> } {
  const model = createModel(graph, sd);
  const { x, mask, types } = inputsOf(batch);
  try {
    const r = model.forward(x, { attentionMask: mask, tokenTypes: types, capture });
    const features = Object.fromEntries(Object.entries(r.features).map(([k, v]) => [k, v.shape]));
    const logits = r.output.dataSync() as Float32Array;
    tf.dispose([r.output, ...Object.values(r.features)]);
    return { logits, features };
  } finally {
    tf.dispose([x, mask, types].filter((t): t is tf.Tensor => t !== undefined));
    model.dispose();
  }
}

before(async () => {
  await initBackend('wasm');
});

for (const name of FAMILY_MODELS) {
  test(`${name}: alignment preserves the function, weight matching recovers a permutation, captures/drop/stitch points and interpolation run`, async (t) => {
    const m = await openModel(modelPath(name));
    m.model.dispose();
    const { graph, stateDict: sd } = m;
    const batch = await readBatch(name);
    const spec = permutationSpec(graph);
    const kinds = new Set(spec.groups.map((g) => g.kind));
    // Heads move in key/value groups (none to move with multi-query attention's single k/v head).
    assert.ok((kinds.has('heads') || name === 'llama_linear_mqa') && (kinds.has('units') || name === 'tl_attn_only'), `groups: ${[...kinds]}`);
    // The residual stream touches every norm weight and the embeddings — except BERT's MLM
    // model, whose tied decoder would permute both axes of the MLM transform (not permuted).
    const stream = spec.groups.find((g) => g.kind === 'stream');
    if (name !== 'bert_mlm') {
      assert.ok(stream && stream.members.length > 2);
      const norms = graph.nodes.filter((n) => (n.op === 'layernorm' || n.op === 'rmsnorm') && n.weight).map((n) => (n as { weight: string }).weight);
      for (const w of norms) assert.ok(stream.members.some((mm) => mm.tensor === w), `${w} is not in the stream`);
    } else assert.equal(stream, undefined);

    const base = run(graph, sd, batch, capturePoints(graph).map((p) => p.name));
    const perms = randomPermutations(spec, 1234);
    const permuted = applyPermutation(spec, perms, sd);
    const err = maxAbsDiff(base.logits, run(graph, permuted, batch).logits);
    const scale = base.logits.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    t.diagnostic(`${name}: ${spec.groups.length} groups (${spec.groups.map((g) => `${g.kind} ${g.size}`).join(', ')}); max |logit − logit(π)| ${err.toExponential(2)}, relative ${(err / scale).toExponential(2)}`);
    assert.ok(err <= PRESERVATION * Math.max(1, scale), `function not preserved: ${err}`);

    const wm = weightMatching(spec, sd, permuted, { seed: 3 });
    wm.perms.forEach((p, gi) => assert.deepEqual(Array.from(p), Array.from(invertPermutation(perms[gi])), spec.groups[gi].name));

    // Captures at every block boundary, with the shapes the IR infers.
    for (const p of capturePoints(graph)) assert.ok(base.features[p.name], `no capture at ${p.name}`);
    // Interpolating a model with its permuted copy: the midpoint is a different network.
    const mid = run(graph, lerpStateDicts(sd, permuted, 0.5), batch).logits;
    assert.ok(mid.every(Number.isFinite));
    // Dropping each droppable block keeps a well-formed network; stitch points exist.
    const droppable = graph.blocks.filter((b) => b.droppable).map((b) => b.name);
    assert.ok(droppable.length >= 2, 'every transformer layer is droppable');
    const dropped = run(dropBlocks(graph, [droppable[0]]), sd, batch).logits;
    assert.equal(dropped.length, base.logits.length);
    assert.ok(maxAbsDiff(dropped, base.logits) > 0);
    assert.ok(stitchPoints(graph).length >= droppable.length);
  });
}

test('layer dropping and stitching jobs run on a Llama-family model with token data', async () => {
  const data = join(fixture('transformers', 'llama_gqa'), 'batch.npz');
  const drop = await runDrop({ model: modelPath('llama_gqa'), data, strategies: ['single'] });
  assert.equal(drop.results.length, 2);
  assert.ok(Math.abs(drop.baseline.loss - Number((await readBatch('llama_gqa')).get('loss')!.values[0])) < 1e-5, `baseline LM loss ${drop.baseline.loss}`);
  const stitch = await runStitch({ a: modelPath('llama_gqa'), b: modelPath('llama_gqa'), data, epochs: 1, control: false, points: ['model.layers.0'] });
  assert.equal(stitch.points.length, 1);
  assert.ok(Number.isFinite(stitch.points[0].loss));
});
