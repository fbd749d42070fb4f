// Real checkpoints from public repositories (../shared/realworld/github, not copied into the
// repo): every torch file opens. Globals are compared with pickletools' static listing, tensors
// with torch.load(weights_only=True) where torch's restricted loader accepts the file
// (test/fixtures/make_realworld_expectations.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/analysis/open';
import { readTensor } from '../../src/analysis/core/tensorData';
import { REPO_ROOT, fixture } from '../helpers';

const REAL = join(REPO_ROOT, '..', 'shared', 'realworld', 'github');
const REPO_RELATIVE = '../shared/realworld/github';
const present = existsSync(REAL);
const skip = present ? false : `real-world files not found at ${REPO_RELATIVE} (relative to the repo root); skipped`;

interface Expected {
  globals: string[];
  tensors?: Array<[string, number[]]>;
  weightsOnlyRefuses?: string;
}
const expected = JSON.parse(readFileSync(fixture('realworld.expected.json'), 'utf8')) as Record<string, Expected>;

for (const [file, want] of Object.entries(expected)) {
  test(`real file ${file} opens; globals equal pickletools'${want.tensors ? ', tensors equal torch.load(weights_only=True)' : ''}`, { skip }, async () => {
    const c = await openCheckpoint(join(REAL, file));
    try {
      assert.deepEqual([...new Set(c.risk?.globals.map((g) => g.written ?? g.name))].sort(), want.globals);
      if (want.tensors) assert.deepEqual(c.tensors.map((t) => [t.name, t.shape]), want.tensors);
      assert.notEqual(c.risk?.verdict, 'dangerous');
    } finally {
      await c.close();
    }
  });
}

test('real Lightning 1.x checkpoints (callbacks keyed by class) open with the model under state_dict', { skip }, async () => {
  for (const [file, n, first] of [['aegnn_last.ckpt', 149, 'state_dict.model.conv1.weight'], ['molkgnn_last.ckpt', 115, 'state_dict.gnn_model.graph_embedding_linear.weight']] as const) {
    const c = await openCheckpoint(join(REAL, file));
    try {
      assert.equal(c.stateDictPrefix, 'state_dict');
      assert.equal(c.tensors.length, n);
      assert.equal(c.tensors[0].name, first);
      assert.equal(c.risk?.verdict, 'unknown-classes');
      assert.ok(c.risk?.globals.some((g) => /pytorch_lightning\.callbacks/.test(g.name) && g.risk === 'unknown'));
    } finally {
      await c.close();
    }
  }
});

test('a whole pickled DataParallel module (legacy .t7) yields state_dict names; HF rng_state and training_args open', { skip }, async () => {
  const t7 = await openCheckpoint(join(REAL, 'imlchallenge_ckpt.t7'));
  try {
    assert.equal(t7.stateDictPrefix, 'net');
    assert.deepEqual(t7.tensors.slice(0, 2).map((t) => t.name), ['net.module.gru.weight_ih_l0', 'net.module.gru.weight_hh_l0']);
    assert.equal(t7.values['net.module.gru.hidden_size'], 200);
    // torch.nn.backends.thnn._get_thnn_function_backend() is called by the pickle.
    assert.equal(t7.risk?.verdict, 'calls-unknown');
  } finally {
    await t7.close();
  }
  const rng = await openCheckpoint(join(REAL, 'lora-imdb-distilbert_rng_state.pth'));
  try {
    assert.deepEqual(rng.tensors.map((t) => [t.name, t.dtype, t.shape]), [['numpy.1', 'U32', [624]], ['cpu', 'U8', [5056]]]);
    assert.equal(rng.values['numpy.0'], 'MT19937');
  } finally {
    await rng.close();
  }
  const args = await openCheckpoint(join(REAL, 'lora-imdb-distilbert_training_args.bin'));
  try {
    const v = JSON.parse(JSON.stringify(args.values.value)) as { $object: string; state: Record<string, unknown> };
    assert.equal(v.$object, 'transformers.training_args.TrainingArguments');
    assert.equal(typeof v.state.learning_rate, 'number');
    assert.equal(args.risk?.verdict, 'calls-unknown');
  } finally {
    await args.close();
  }
});

test('an npz whose members fail their CRC-32 lists them but refuses their values, as numpy does', { skip }, async () => {
  // numpy: np.load(f).files lists them; np.load(f)['weights'] raises BadZipFile: Bad CRC-32 for file 'weights.npy'
  const c = await openCheckpoint(join(REAL, 'tl_test_out.npz'));
  try {
    assert.deepEqual(c.tensors.map((t) => t.name), ['weights', 'biases']);
    await assert.rejects(readTensor(c.tensors[0]), /"weights\.npy" fails its CRC-32 check/);
  } finally {
    await c.close();
  }
});
