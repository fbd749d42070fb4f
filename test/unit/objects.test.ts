// Checkpoints that hold Python objects beside their tensors (issue #12): whole pickled modules,
// Lightning checkpoints, argparse Namespaces, numpy arrays and scalars, TorchScript archives,
// quantized and sparse tensors; and malicious pickles in odd places. Expectations come from
// torch.load(weights_only=False) and pickletools in test/fixtures/make_object_fixtures.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../../src/analysis/core/errors';
import { openCheckpoint } from '../../src/analysis/open';
import { riskSummary } from '../../src/analysis/formats/pickleRisk';
import { computeTensorStats, type TensorStats } from '../../src/analysis/stats/tensorStats';
import { readSlice2D, readTensor, storedView, tensorChunks } from '../../src/analysis/core/tensorData';
import { assertStats } from '../expectations';
import { fixture } from '../helpers';

const DIR = fixture('objects');

interface Expected {
  stateDictPrefix: string;
  tensors: Array<{ name: string; dtype: string; shape: number[]; stats: TensorStats; quantized?: string; sparse?: number }>;
  globals: string[];
  code?: string[];
}

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.expected.json'))) {
  const name = file.slice(0, -'.expected.json'.length);
  test(`${name}: tensor names, shapes, dtypes and statistics equal torch.load's; globals equal pickletools'`, async () => {
    const want = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Expected;
    const c = await openCheckpoint(join(DIR, name));
    try {
      assert.deepEqual(c.tensors.map((t) => t.name), want.tensors.map((t) => t.name));
      assert.equal(c.stateDictPrefix, want.stateDictPrefix);
      for (const [i, w] of want.tensors.entries()) {
        const t = c.tensors[i];
        assert.equal(t.dtype, w.dtype, w.name);
        assert.deepEqual(t.shape, w.shape, w.name);
        if (w.quantized) assert.equal(t.quantization?.qdtype, w.quantized, w.name);
        if (w.sparse !== undefined) assert.equal(t.sparse?.nnz, w.sparse, w.name);
        assertStats(await computeTensorStats(t), w.stats, `${name} ${w.name}`);
      }
      assert.ok(c.risk, 'a risk report');
      assert.deepEqual([...new Set(c.risk.globals.map((g) => g.written ?? g.name))].sort(), want.globals);
      assert.notEqual(c.risk.verdict, 'dangerous');
      if (want.code) assert.deepEqual(c.sourceFiles?.map((f) => f.name).sort(), want.code);
    } finally {
      await c.close();
    }
  });
}

test('inert objects are shown as trees: Namespace, numpy scalars, string arrays, module attributes', async () => {
  const c = await openCheckpoint(join(DIR, 'numpy_namespace.pt'));
  try {
    const v = JSON.parse(JSON.stringify(c.values));
    assert.deepEqual(v.args, { $object: 'argparse.Namespace', state: { lr: 0.1, layers: [8, 4], name: 'run-1', seed: 7 } });
    assert.equal(v.best_acc, 0.875);
    assert.equal(v.epoch, 12);
    assert.equal(v.labels.$object, 'numpy.ndarray');
    assert.equal(c.risk?.verdict, 'data-only');
    const ld = c.tensors.find((t) => t.name === 'longdouble');
    assert.match(ld?.note ?? '', /longdouble converted to float64/);
  } finally {
    await c.close();
  }
  const m = await openCheckpoint(join(DIR, 'whole_module.pt'));
  try {
    assert.equal(m.values.note, 'demo');
    assert.equal(m.values['head.in_features'], 4);
    assert.ok(!m.tensors.some((t) => t.name === 'scratch'), 'non-persistent buffers are not in state_dict');
    assert.equal(m.risk?.verdict, 'unknown-classes');
    assert.match(riskSummary(m.risk!) ?? '', /__main__\.Net/);
  } finally {
    await m.close();
  }
});

test('TorchScript archives: code files as text, never interpreted', async () => {
  const c = await openCheckpoint(join(DIR, 'scripted.pt'));
  try {
    const linear = c.sourceFiles?.find((f) => f.name.endsWith('linear.py'));
    assert.match(linear?.text ?? '', /def forward/);
    assert.ok(c.warnings.some((w) => /TorchScript archive/.test(w)));
    assert.equal(c.metadata.torchScript, true);
  } finally {
    await c.close();
  }
});

test('quantized tensors carry their scheme and parameters beside the dequantized values', async () => {
  const c = await openCheckpoint(join(DIR, 'quantized_sparse.pt'));
  try {
    const q = c.tensors.find((t) => t.name === 'per_tensor_qint8')!;
    assert.deepEqual({ ...q.quantization }, { qdtype: 'qint8', scheme: 'per_tensor_affine', scale: 0.05, zeroPoint: 3 });
    const pc = c.tensors.find((t) => t.name === 'per_channel')!;
    assert.equal(pc.quantization?.axis, 0);
    assert.deepEqual(pc.quantization?.zeroPoints, [0, 5, -3, 1]);
    assert.equal(c.tensors.find((t) => t.name === 'csr')?.sparse?.layout, 'sparse_csr');
  } finally {
    await c.close();
  }
});

// --- malicious and odd files -------------------------------------------------------------------

test('malicious pickles in odd places: open with the danger shown, or refused with one clear line', async () => {
  const dir = join(DIR, 'malicious');
  const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as Record<string, { expect: string; why: string }>;
  const reasons: Record<string, RegExp> = {
    'SETITEM on a list': /SETITEM on a list/,
    'SETITEM on a tensor': /SETITEM on a tensor/,
    'negative size': /tensor size\[0\] must be a non-negative integer, not -4/,
    'negative stride': /tensor stride\[0\] must be a non-negative integer, not -1/,
    'view outside its storage': /reaches outside its storage/,
    'absurd logical size': /shape \[1048576,1048576,1048576\] is too large/,
    'record longer than declared': /declared as 8 bytes but its record has 16/,
    'record shorter than declared': /needs 32 bytes but its record has 16/,
    'missing record': /storage record archive\/data\/7 is missing/,
    'OrderedDict of a non-iterable': /expected a sequence, not builtins\.eval/,
  };
  for (const [name, c] of Object.entries(cases)) {
    const path = join(dir, name);
    if (c.expect === 'refuse') {
      await assert.rejects(openCheckpoint(path), (e: unknown) => {
        assert.ok(e instanceof CheckpointError, `${name}: ${String(e)}`);
        assert.ok(!e.message.includes('\n'), `${name}: one line`);
        assert.match(e.message, reasons[c.why], `${name}: ${e.message}`);
        return true;
      });
      continue;
    }
    const ck = await openCheckpoint(path);
    try {
      assert.equal(ck.risk?.verdict, 'dangerous', name);
      if (name !== 'build_on_global.pt') assert.ok(ck.tensors.length >= 1, `${name}: its tensors are still listed`);
      assert.match(riskSummary(ck.risk!) ?? '', /DANGEROUS/);
    } finally {
      await ck.close();
    }
  }
  const nested = await openCheckpoint(join(dir, 'nested_containers.pt'));
  assert.deepEqual(nested.risk?.calls.map((x) => `${x.callable}(${x.args})`), ["os.system('echo pwned')", "subprocess.check_output('id')"]);
  await nested.close();
  const hooks = await openCheckpoint(join(dir, 'parameter_hooks.pt'));
  assert.ok(hooks.risk?.globals.some((g) => g.name === 'builtins.exec' && g.risk === 'dangerous'));
  assert.deepEqual(hooks.tensors.map((t) => t.name), ['w']);
  await hooks.close();
  const ts = await openCheckpoint(join(dir, 'torchscript_constants.pt'));
  assert.equal(ts.risk?.verdict, 'dangerous');
  assert.equal(ts.risk?.calls[0].where, 'm/constants.pkl');
  assert.deepEqual(ts.tensors.map((t) => t.name), ['module.w']);
  await ts.close();
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('sub-byte packed quantized tensors (quint4x2, quint2x4) are unpacked and dequantized', async () => {
  // Values against torch's dequantize() are checked by the expectations loop above; here, the parameters shown.
  const c = await openCheckpoint(join(DIR, 'quint4x2.pt'));
  try {
    assert.equal(c.warnings.length, 0, c.warnings.join('\n'));
    const q2 = c.tensors.find((t) => t.name === 'q2')!;
    assert.deepEqual({ ...q2.quantization }, { qdtype: 'quint2x4', scheme: 'per_tensor_affine', scale: 0.25, zeroPoint: 1 });
    const emb = c.tensors.find((t) => t.name === 'embedding_4bit.0._packed_params._packed_weight')!;
    assert.equal(emb.quantization?.scheme, 'per_channel_affine_float_qparams');
    assert.equal(emb.quantization?.scales?.length, 7);
  } finally {
    await c.close();
  }
});

test('broadcast (stride-0) views: statistics from the stored elements, heatmap rows, a clear error for a walk of 2^40 elements', async () => {
  const c = await openCheckpoint(join(DIR, 'broadcast_huge.pt'));
  try {
    const [t] = c.tensors;
    assert.equal(t.numel, 2 ** 40);
    const { view, weight } = storedView(t);
    assert.deepEqual([view.shape, weight], [[4], 2 ** 38]);
    const slice = await readSlice2D(t, 8, 4);
    assert.deepEqual(Array.from(slice.values.subarray(0, 4)), [1.5, -2, 0, 0.25]);
    await assert.rejects(readTensor(t, Number.MAX_SAFE_INTEGER), /broadcast view of 1099511627776 elements over 4 stored ones/);
  } finally {
    await c.close();
  }
  // Heatmap rows of a broadcast view equal the dense tensor's.
  const b = await openCheckpoint(join(DIR, 'broadcast.pt'));
  try {
    for (const name of ['row', 'col', 'middle', 'slice']) {
      const t = b.tensors.find((x) => x.name === name)!;
      const dense = await readTensor(t);
      const s = await readSlice2D(t, 3, 2);
      const C = t.numel / t.shape[0];
      s.rowIndex.forEach((row, r) => {
        for (let j = 0; j < s.cols; j++) {
          const lo = Math.ceil(j * s.colStep), hi = Math.ceil((j + 1) * s.colStep);
          let sum = 0;
          for (let k = lo; k < hi; k++) sum += dense[row * C + k];
          assert.ok(Math.abs(s.values[r * s.cols + j] - sum / (hi - lo)) < 1e-5, `${name} [${r},${j}]`);
        }
      });
    }
  } finally {
    await b.close();
  }
});

test('sparse tensors beyond 64M dense elements: nnz shown, dense values served from the entries without materialising them', async () => {
  const c = await openCheckpoint(join(DIR, 'sparse_large.pt'));
  try {
    const coo = c.tensors.find((t) => t.name === 'coo')!;
    assert.equal(coo.numel, 8200 * 8200);
    assert.deepEqual(coo.sparse, { layout: 'sparse_coo', nnz: 5000 });
    // Every dense chunk, summed, equals the sum of the coalesced entries (statistics use the entries).
    let sum = 0;
    let nonzero = 0;
    for await (const chunk of tensorChunks(coo, { chunkBytes: 8 << 20, reuseBuffers: true })) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) (sum += chunk[i]), nonzero++;
    }
    const s = await computeTensorStats(coo);
    assert.equal(nonzero, s.count - s.zeros);
    assert.ok(Math.abs(sum - s.mean! * s.count) < 1e-3, `${sum} vs ${s.mean! * s.count}`);
    const heat = await readSlice2D(coo, 16, 16);
    assert.equal(heat.values.length, 256);
  } finally {
    await c.close();
  }
});

test('torch.export archives (.pt2): weights and constants from their JSON-described records, tied weights as one storage, no pickle run', async () => {
  const want = JSON.parse(readFileSync(join(DIR, 'exported.pt2.expected.json'), 'utf8')) as Expected & { tied: string[][] };
  const c = await openCheckpoint(join(DIR, 'exported.pt2'));
  try {
    assert.equal(c.metadata.archiveFormat, 'pt2');
    for (const [a, b] of want.tied) assert.deepEqual(c.tensors.find((t) => t.name === a)?.sharesStorageWith, [b]);
    assert.match(c.tensors.find((t) => t.name === 'offset')?.note ?? '', /constant/);
    assert.ok(c.warnings.some((w) => /torch\.export program archive/.test(w)));
  } finally {
    await c.close();
  }
});

test('Lightning hyper-parameters: OmegaConf DictConfig/ListConfig and AttributeDict shown as their plain values (Lightning 2.6 + OmegaConf files)', async () => {
  // OmegaConf containers are shown as {$object, content}; an AttributeDict as {$object, items} or its state.
  const plain = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(plain);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$object === 'string') return plain(o.content ?? o.items ?? o.state ?? o.args);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, plain(x)]));
    }
    return v;
  };
  for (const name of ['lightning_dictconfig.ckpt', 'lightning_attributedict.ckpt']) {
    const want = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as { hyper_parameters: unknown };
    const c = await openCheckpoint(join(DIR, name));
    try {
      assert.deepEqual(plain(c.values.hyper_parameters), want.hyper_parameters, name);
      // Protocol-2 pickles name the type int `__builtin__ long` (Python 3 loads builtins.int): never "dangerous".
      assert.notEqual(c.risk?.verdict, 'dangerous', name);
    } finally {
      await c.close();
    }
  }
});

test('every other pickle fixture that opens: its risk report lists exactly the globals pickletools finds (test/fixtures/pickle_globals.json)', async () => {
  const all = JSON.parse(readFileSync(fixture('pickle_globals.json'), 'utf8')) as Record<string, string[]>;
  let opened = 0;
  for (const [rel, want] of Object.entries(all)) {
    let c;
    try {
      c = await openCheckpoint(fixture(rel));
    } catch (e) {
      // Refused files are covered, with their reasons, by the bad-input tests.
      assert.ok(e instanceof CheckpointError, `${rel}: ${String(e)}`);
      continue;
    }
    try {
      opened++;
      assert.deepEqual([...new Set(c.risk?.globals.map((g) => g.written ?? g.name))].sort(), want, rel);
    } finally {
      await c.close();
    }
  }
  assert.ok(opened >= 20, `only ${opened} fixtures opened`);
});
