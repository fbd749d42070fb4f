// A failed analysis panel: the cause first (not the file), the file apart, a "what to try" line
// matched to real errors the library throws, and the picks that can fix it, the likeliest first.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { causeFirst, checkpointSlots, describeFailure } from '../../src/extension/failureAdvice';
import { errorInfo, isHostToPanel, isPanelToHost } from '../../src/analysis/protocol';
import { planInputs } from '../../src/analysis/data/inputs';
import { recognize } from '../../src/analysis/model/recognize';
import { pairMismatch } from '../../src/extension/pairCheck';
import { packRows } from '../../src/analysis/core/tensorTable';

const MLP = [
  { name: '0.weight', shape: [128, 64] },
  { name: '0.bias', shape: [128] },
  { name: '2.weight', shape: [10, 128] },
  { name: '2.bias', shape: [10] },
];

function thrown(fn: () => unknown): ReturnType<typeof errorInfo> {
  try {
    fn();
  } catch (e) {
    return errorInfo(e);
  }
  throw new Error('expected a throw');
}

test('data that does not fit the model: the cause first, the dataset named apart, pick another dataset first', () => {
  const graph = recognize('/ws/mlp.safetensors', MLP);
  const data = '/ws/data/fashion.npz';
  const e = thrown(() => planInputs({ name: data, n: 2, x: { shape: [2, 784], dtype: 'F32', values: new Float32Array(1568) } } as never, graph));
  assert.equal(e.file, data);
  assert.ok(e.message.startsWith(`${data}: `), e.message);
  const f = describeFailure(e, { a: '/ws/mlp.safetensors', data });
  assert.match(f.cause, /^Examples of shape \[784\] do not fit the mlp model \(input \[64\]\): 784 values per example, the model takes 64$/);
  assert.equal(f.file, data);
  assert.match(f.tryNext, /dataset made for this model/);
  assert.deepEqual(f.actions, ['data', 'checkpoint', 'retry']);
  assert.equal(causeFirst(e), `${f.cause} (fashion.npz)`);
});

test('a checkpoint no recogniser places: pick another checkpoint (or add an arch file), no dataset pick first', () => {
  const ckpt = '/ws/odd.safetensors';
  const e = thrown(() => recognize(ckpt, [{ name: 'encoder.mystery', shape: [3, 5, 7, 9, 11] }]));
  const f = describeFailure(e, { a: ckpt, data: '/ws/data/digits.npz' });
  assert.match(f.cause, /^Not recognised as /);
  assert.equal(f.file, ckpt);
  assert.match(f.tryNext, /arch\.json/);
  assert.equal(f.actions[0], 'checkpoint');
  assert.equal(f.actions.at(-1), 'retry');
});

test('two architectures, a crash, an unknown error: the advice and actions each gets', () => {
  const rows = MLP.map((t) => ({ ...t, dtype: 'F32', numel: t.shape.reduce((a, b) => a * b, 1), nbytes: 0 }));
  const la = { path: '/ws/a.safetensors', stateDictPrefix: '', tensors: packRows(rows) };
  const lb = { ...la, path: '/ws/b.safetensors', tensors: packRows(rows.map((t) => (t.name === '0.weight' ? { ...t, shape: [256, 64] } : t))) };
  const why = pairMismatch(la as never, lb as never)!;
  const pair = describeFailure({ name: 'Error', message: why }, { a: la.path, b: lb.path, data: '/ws/d.npz' });
  assert.match(pair.tryNext, /one architecture/);
  assert.deepEqual(pair.actions, ['checkpoint', 'retry']);
  const crash = describeFailure({ name: 'WorkerCrashedError', message: 'the analysis worker stopped unexpectedly (exit code 134: JavaScript heap out of memory)' }, { a: '/x.pt', data: '/d.npz' });
  assert.match(crash.tryNext, /fewer examples/);
  assert.deepEqual(crash.actions, ['retry']);
  const other = describeFailure({ name: 'Error', message: 'something odd' }, { paths: ['/r/1.pt', '/r/2.pt'] });
  assert.equal(other.cause, 'Something odd');
  assert.deepEqual(other.actions, ['checkpoint', 'retry'], 'no dataset pick without a dataset');
});

test('checkpoint slots cover single paths and lists; the failure travels the panel protocol', () => {
  assert.deepEqual(checkpointSlots({ init: '/i.pt', final: '/f.pt', data: '/d' }).map((s) => s.key), ['init', 'final']);
  assert.deepEqual(checkpointSlots({ paths: ['/1', '/2'] }).map((s) => s.index), [0, 1]);
  const f = describeFailure({ name: 'Error', message: '/ws/m.pt: truncated zip' }, { a: '/ws/m.pt' });
  assert.equal(f.file, '/ws/m.pt', 'a file named only in the message is split off');
  assert.ok(isHostToPanel({ type: 'job', state: 'failed', fraction: 0, message: 'x', failure: { ...f, analysis: 'Layer dropping m.pt' } }));
  assert.ok(!isHostToPanel({ type: 'job', state: 'failed', fraction: 0, failure: { ...f, actions: ['format disk'] } }));
  assert.ok(isPanelToHost({ type: 'failureAction', action: 'data' }));
  assert.ok(!isPanelToHost({ type: 'failureAction', action: 'rm' }));
});
