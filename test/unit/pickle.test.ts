import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../../src/analysis/core/errors';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PySet,
  type PyValue,
  StorageRef,
  TensorRef,
  DEFAULT_VALUE_LIMITS,
  isTuple,
  toValue,
  unpickle,
} from '../../src/analysis/formats/pickle';
import { type Part, bytes, fixture } from '../helpers';
import { countDictWalk } from '../workCounter';

// --- a tiny pickle assembler for hand-made inputs --------------------------------------------

const enc = new TextEncoder();


const u32 = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];
const str = (s: string): Uint8Array => {
  const b = enc.encode(s);
  return bytes('X', u32(b.length), b);
};
const glob = (m: string, n: string): string => `c${m}\n${n}\n`;
const PROTO2 = '\x80\x02';
const STOP = '.';

const LABEL = '/tmp/test.pkl';
const load = (data: Uint8Array, persistentLoad?: (pid: PyValue[]) => PyValue): PyValue =>
  unpickle(data, { label: LABEL, where: 'data.pkl', persistentLoad }).value;

function assertRefused(data: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => load(data, () => new StorageRef('0', 'F32', 4, 'cpu')),
    (e: unknown) => e instanceof CheckpointError && e.message.startsWith(LABEL) && pattern.test(e.message),
  );
}

// --- CPython-written pickles, protocols 0–5 -------------------------------------------------

test('reads the same value pickled by CPython with protocols 0 to 5', () => {
  const expected: unknown = JSON.parse(readFileSync(fixture('torch', 'pickles', 'values.expected.json'), 'utf8'));
  for (let p = 0; p <= 5; p++) {
    const data = new Uint8Array(readFileSync(fixture('torch', 'pickles', `values_p${p}.pkl`)));
    const r = unpickle(data, { label: `values_p${p}.pkl` });
    assert.equal(r.end, data.length, `protocol ${p}: STOP at the end`);
    const got = toValue(r.value, { maxDepth: 32, maxNodes: 100_000 });
    assert.equal(got.truncated, false);
    assert.deepEqual(JSON.parse(JSON.stringify(got.value)), expected, `protocol ${p}`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('keeps Python types apart: tuples, sets, OrderedDict, big ints', () => {
  const data = new Uint8Array(readFileSync(fixture('torch', 'pickles', 'values_p4.pkl')));
  const v = load(data);
  assert.ok(v instanceof PyDict);
  assert.ok(isTuple(v.get('tuple') as PyValue));
  assert.ok(!isTuple(v.get('list') as PyValue));
  assert.ok(v.get('set') instanceof PySet);
  assert.equal((v.get('frozenset') as PySet).frozen, true);
  assert.equal((v.get('ordered') as PyDict).pyType, 'OrderedDict');
  assert.equal(v.get('big'), 2n ** 70n);
  assert.equal(v.get('i32'), -(2 ** 31));
  assert.deepEqual([...(v.get('int_keys') as PyDict).keys()], [0, -1, 2 ** 40]);
  const shared = v.get('shared') as PyValue[];
  assert.equal(shared[0], shared[1], 'memo sharing keeps identity');
});

// --- tensors ----------------------------------------------------------------------------------

const storagePid = (key: string): Uint8Array =>
  bytes('(', str('storage'), glob('torch', 'FloatStorage'), str(key), str('cpu'), 'K', 12, 't', 'Q');

const tensorV2 = (key: string, offset: number, size: number[], stride: number[]): Uint8Array =>
  bytes(
    glob('torch._utils', '_rebuild_tensor_v2'), '(', storagePid(key), 'K', offset,
    '(', ...size.flatMap((s) => ['K', s]), 't', '(', ...stride.flatMap((s) => ['K', s]), 't',
    '\x89', glob('collections', 'OrderedDict'), ')', 'R', 't', 'R',
  );

test('rebuilds tensors, parameters and _rebuild_from_type_v2 through a persistent-id callback', () => {
  const pids: PyValue[][] = [];
  const s0 = new StorageRef('0', 'F32', 12, 'cpu');
  const data = bytes(
    PROTO2, '}', '(',
    str('w'), tensorV2('0', 2, [2, 3], [1, 2]),
    str('p'), glob('torch._utils', '_rebuild_parameter'), '(', tensorV2('0', 0, [4], [1]), '\x88', glob('collections', 'OrderedDict'), ')', 'R', 't', 'R',
    str('sub'), glob('torch._tensor', '_rebuild_from_type_v2'), '(', glob('torch._utils', '_rebuild_tensor_v2'), glob('torch.nn.parameter', 'Parameter'),
    '(', storagePid('0'), 'K', 0, '(', 'K', 1, 't', '(', 'K', 1, 't', '\x89', '}', 't', '}', 't', 'R',
    'u', STOP,
  );
  const v = load(data, (pid) => (pids.push(pid), s0));
  assert.ok(v instanceof PyDict);
  const w = v.get('w') as TensorRef;
  assert.ok(w instanceof TensorRef);
  assert.deepEqual([w.dtype, w.storageOffset, w.shape, w.stride, w.isParameter], ['F32', 2, [2, 3], [1, 2], false]);
  assert.equal(w.storage, s0);
  const p = v.get('p') as TensorRef;
  assert.deepEqual([p.isParameter, p.requiresGrad, p.shape], [true, true, [4]]);
  assert.equal((v.get('sub') as TensorRef).isParameter, true);
  assert.equal(pids.length, 3);
  assert.ok(pids[0][0] instanceof PyGlobal);
  assert.deepEqual(pids[0].slice(1), ['0', 'cpu', 12]);
});

test('_rebuild_tensor_v3 takes its dtype from a dtype global', () => {
  const data = bytes(
    PROTO2, glob('torch._utils', '_rebuild_tensor_v3'), '(', storagePid('0'), 'K', 0, '(', 'K', 6, 't', '(', 'K', 1, 't',
    '\x89', '}', glob('torch', 'bfloat16'), 't', 'R', STOP,
  );
  const t = load(data, () => new StorageRef('0', 'U8', 12, 'cpu')) as TensorRef;
  assert.equal(t.dtype, 'BF16');
});

// --- refusals ---------------------------------------------------------------------------------

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
const run = (data: Uint8Array): ReturnType<typeof unpickle> => unpickle(data, { label: LABEL, where: 'data.pkl', persistentLoad: () => new StorageRef('0', 'F32', 4, 'cpu') });

test('globals outside the allow-list become inert names: classified, their calls recorded, never refused', () => {
  const reduce = (g: string): Uint8Array => bytes(g, '(', str('echo pwned'), 't', 'R');
  const dangerous = (data: Uint8Array, callable: string, written?: string): void => {
    const r = run(data);
    assert.equal(r.risk.verdict, 'dangerous', callable);
    const call = r.risk.calls.find((c) => c.callable === callable);
    assert.ok(call, `${callable}: ${JSON.stringify(r.risk.calls)}`);
    assert.equal(call.args, "'echo pwned'");
    assert.equal(call.severity, 'dangerous');
    const g = r.risk.globals.find((x) => x.name === callable);
    assert.equal(g?.risk, 'dangerous');
    assert.equal(g?.written, written);
  };
  dangerous(bytes(PROTO2, reduce(glob('os', 'system')), STOP), 'os.system');
  dangerous(bytes(PROTO2, reduce(glob('__builtin__', 'eval')), STOP), 'builtins.eval', '__builtin__.eval');
  dangerous(bytes(PROTO2, reduce(glob('commands', 'Popen')), STOP), 'subprocess.Popen', 'commands.Popen');
  // The inert result: the call's name and arguments, as data.
  const top = run(bytes(PROTO2, reduce(glob('os', 'system')), STOP)).value;
  assert.ok(top instanceof PyObject && top.type === 'os.system' && top.via === 'call');
  assert.deepEqual(plain(toValue(top).value), { $call: 'os.system', args: ['echo pwned'] });
  // Nested deep inside a state dict value, after a real tensor: the tensor is still there.
  const nested = bytes(PROTO2, '}', '(', str('fc.weight'), tensorV2('0', 0, [2], [1]), str('x'), ']', '(', '}', str('hook'), reduce(glob('os', 'system')), 's', 'e', 'u', STOP);
  dangerous(nested, 'os.system');
  assert.ok((run(nested).value as PyDict).get('fc.weight') instanceof TensorRef);
  // STACK_GLOBAL (protocol 4), INST and OBJ (protocol 0/1: these call cls(*args)).
  dangerous(bytes('\x80\x04', '\x8c', 5, 'posix', '\x8c', 6, 'system', '\x93', '(', str('echo pwned'), 't', 'R', STOP), 'posix.system');
  dangerous(bytes('(', str('echo pwned'), 'ios\nsystem\n', STOP), 'os.system');
  dangerous(bytes('(', glob('subprocess', 'Popen'), str('echo pwned'), 'o', STOP), 'subprocess.Popen');
  // importlib / getattr chains: the call of a call's result is dangerous too.
  const chain = run(bytes(PROTO2, glob('builtins', 'getattr'), '(', glob('importlib', 'import_module'), '(', str('os'), 't', 'R', str('system'), 't', 'R', '(', str('id'), 't', 'R', STOP));
  assert.equal(chain.risk.verdict, 'dangerous');
  assert.deepEqual(chain.risk.calls.map((c) => c.callable), ['importlib.import_module', 'builtins.getattr', 'the result of builtins.getattr(…)']);
  // Names that are not even a valid Python identifier are named, escaped.
  const odd = run(bytes(PROTO2, glob('torch', 'load\x01'), STOP));
  assert.equal(odd.risk.globals[0].name, 'torch.load\\x01');
  assert.equal(odd.risk.globals[0].risk, 'unknown');
  // Look-alikes of allowed names are unknown, never allowed; dunders are dangerous.
  for (const [m, n, risk] of [['torch._utils', '_rebuild_tensor_v9', 'unknown'], ['torch', '__proto__', 'dangerous'], ['constructor', 'constructor', 'unknown'], ['torch', 'load', 'dangerous'], ['torch.storage', '_load_from_bytes', 'dangerous']]) {
    const r = run(bytes(PROTO2, glob(m, n), ')', 'R', STOP));
    assert.equal(r.risk.globals[0].risk, risk, `${m}.${n}`);
    assert.notEqual(r.risk.verdict, 'data-only', `${m}.${n}`);
  }
  // An unknown class instantiated with NEWOBJ + BUILD: an inert object holding its state.
  const ns = run(bytes(PROTO2, glob('argparse', 'Namespace'), ')', '\x81', '}', '(', str('lr'), 'K', 3, 'u', 'b', STOP));
  assert.deepEqual(plain(toValue(ns.value).value), { $object: 'argparse.Namespace', state: { lr: 3 } });
  assert.equal(ns.risk.verdict, 'data-only');
  const user = run(bytes(PROTO2, glob('__main__', 'Net'), ')', '\x81', '}', 'b', STOP));
  assert.equal(user.risk.verdict, 'unknown-classes');
  const enumCall = run(bytes(PROTO2, glob('transformers.trainer_utils', 'IntervalStrategy'), '(', str('steps'), 't', 'R', STOP));
  assert.equal(enumCall.risk.verdict, 'calls-unknown');
  assert.equal(enumCall.risk.calls[0].severity, 'unknown');
});

test('refuses dangerous opcodes and misuse of allowed callables', () => {
  assertRefused(bytes(PROTO2, '\x82', 1, STOP), /EXT1\/2\/4/);
  assertRefused(bytes(PROTO2, '\x83', 1, 0, STOP), /EXT1\/2\/4/);
  assertRefused(bytes(PROTO2, '\x84', 1, 0, 0, 0, STOP), /EXT1\/2\/4/);
  assertRefused(bytes('P0\n', STOP), /PERSID/);
  assertRefused(bytes(PROTO2, str('module'), '\x85', 'Q', STOP), /unsupported persistent id \('module', …\)/);
  assertRefused(bytes('\x80\x05', '\x97', STOP), /out-of-band buffer/);
  assertRefused(bytes(PROTO2, glob('builtins', 'bytearray'), 'J', u32(1e9), '\x85', 'R', STOP), /bytearray of a int is refused/);
  assertRefused(
    bytes(PROTO2, glob('torch._tensor', '_rebuild_from_type_v2'), '(', glob('torch._tensor', '_rebuild_from_type_v2'), glob('torch', 'Tensor'), ')', '}', 't', 'R', STOP),
    /inner function torch\._tensor\._rebuild_from_type_v2 is not allowed/,
  );
  assertRefused(bytes(PROTO2, glob('torch', 'float32'), ')', 'R', STOP), /torch\.float32 is not callable/);
  assertRefused(bytes(PROTO2, ')', ')', 'R', STOP), /REDUCE on a tuple/);
  assertRefused(bytes(PROTO2, ')', 'K', 1, 'a', STOP), /APPEND to a tuple/);
  assertRefused(bytes(PROTO2, ']', ']', ']', 's', STOP), /SETITEM on a list/);
  assertRefused(bytes(PROTO2, '}', ']', 'K', 1, 's', STOP), /unhashable list/);
  assertRefused(bytes(PROTO2, ']', 'N', 'b', STOP), /BUILD on a list/);
  assertRefused(bytes(PROTO2, 'h', 7, STOP), /memo has no entry 7/);
  assertRefused(bytes(PROTO2, 'a', STOP), /stack underflow/);
  assertRefused(bytes(PROTO2, '(', 'K', 1, 't', '0', '0', STOP), /stack underflow/);
  assertRefused(bytes('\x80\x06', 'N', STOP), /unsupported pickle protocol 6/);
  assertRefused(bytes(PROTO2, 0xff, STOP), /unknown pickle opcode 0xff/);
  // A tensor whose "storage" is not a persistent id.
  assertRefused(bytes(PROTO2, glob('torch._utils', '_rebuild_tensor'), '(', 'N', 'K', 0, ')', ')', 't', 'R', STOP), /tensor storage must come from a persistent id/);
  assertRefused(bytes(PROTO2, glob('torch._utils', '_rebuild_tensor'), '(', storagePid('0'), 'J', u32(0xffffffff), ')', ')', 't', 'R', STOP), /storage offset must be a non-negative integer, not -1/);
});

test('declared lengths larger than the data are errors, not allocations', () => {
  assertRefused(bytes(PROTO2, 'X', u32(0x7fffffff), 'abc'), /ends in the middle of a pickle/);
  assertRefused(bytes('\x80\x04', '\x8e', [0, 0, 0, 0, 0, 0, 0, 0x40], 'abc'), /too large|ends in the middle/);
  assertRefused(bytes('\x80\x04', '\x8d', [0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0], 'abc'), /ends in the middle/);
  assertRefused(bytes(PROTO2, '\x8b', u32(0x7fffffff), 'abc'), /integer of \d+ bytes is too long/);
  assertRefused(bytes('I', '9'.repeat(5000), '\n', STOP), /integer of 5000 characters is too long/);
  assertRefused(bytes(PROTO2, ']', 'N'), /ends in the middle/); // no STOP
});

test('every truncation and random corruption gives a CheckpointError, never a crash or hang', () => {
  const data = new Uint8Array(readFileSync(fixture('torch', 'pickles', 'values_p2.pkl')));
  for (let n = 0; n < data.length; n++) {
    assert.throws(() => load(data.subarray(0, n)), CheckpointError, `cut at ${n}`);
  }
  let seed = 12345;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 255;
  for (let i = 0; i < 3000; i++) {
    const d = data.slice();
    for (let k = 0; k < 3; k++) d[rand() * d.length >> 8] = rand();
    try {
      load(d, () => null);
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `mutation ${i}: ${(e as Error).stack}`);
    }
  }
  for (let i = 0; i < 2000; i++) {
    const d = Uint8Array.from({ length: 1 + (rand() % 64) }, rand);
    try {
      load(d, () => null);
    } catch (e) {
      assert.ok(e instanceof CheckpointError, `random ${i}: ${(e as Error).stack}`);
    }
  }
});

// --- depth, cycles, sharing, prototype pollution -----------------------------------------------

const DEEP = 100_000;

test('a 100 000-level nested pickle loads without recursion, and converts with a depth cap', () => {
  // ] ] ] … a a a: lists nested DEEP levels.
  const lists = bytes(PROTO2, ']'.repeat(DEEP), 'a'.repeat(DEEP - 1), STOP);
  let v = load(lists);
  let depth = 1;
  while (Array.isArray(v) && v.length) {
    v = v[0];
    depth++;
  }
  assert.equal(depth, DEEP);
  const c = toValue(load(lists));
  assert.equal(c.truncated, true);
  assert.ok(JSON.stringify(c.value).length < 1000);
  // ( ( ( … t t t: tuples nested through DEEP MARKs; and dicts through SETITEM.
  const tuples = bytes(PROTO2, '('.repeat(DEEP), 't'.repeat(DEEP), STOP);
  assert.ok(isTuple(load(tuples)));
  const nested = bytes(PROTO2, '}K\x00'.repeat(DEEP), 'N', 's'.repeat(DEEP), STOP);
  const d = load(nested);
  assert.ok(d instanceof PyDict);
  assert.doesNotThrow(() => toValue(d));
});

/** Values in a converted tree, markers included. */
function valueNodes(v: unknown): number {
  if (v === null || typeof v !== 'object') return 1;
  return 1 + Object.values(v).reduce((a: number, c) => a + valueNodes(c), 0);
}

test('cycles and exponential sharing through the memo stay bounded', async () => {
  // A list that contains itself.
  const cyc = toValue(load(bytes(PROTO2, ']', 'q', 0, 'h', 0, 'a', STOP)));
  assert.deepEqual(cyc.value, ['<cycle>']);
  // d0 = {}; d_i = {a: d_{i-1}, b: d_{i-1}} … d60: 2^60 leaves if expanded naively. The
  // conversion stops at its node budget (plus one "…" per open level); its walk is counted:
  // each opened dict's two entries, for at most the budget's dicts.
  const { maxNodes, maxDepth } = DEFAULT_VALUE_LIMITS;
  const dicts: Part[] = [PROTO2, '}', 'q', 0];
  for (let i = 1; i <= 60; i++) dicts.push('}', str('a'), 'h', i - 1, 's', str('b'), 'h', i - 1, 's', 'q', i, '0');
  dicts.push('h', 60, STOP);
  const root = load(bytes(...dicts));
  const run = await countDictWalk(2 * (maxNodes + 1), async () => toValue(root));
  assert.ok('result' in run, `${(run as { error: Error }).error?.message}`);
  assert.equal(run.result.truncated, true);
  assert.ok(valueNodes(run.result.value) <= maxNodes + maxDepth + 1, `${valueNodes(run.result.value)} values`);
  // The same DAG of lists (plain arrays, not counted).
  const parts: Part[] = [PROTO2, ']', 'q', 0];
  for (let i = 1; i <= 60; i++) parts.push('(', 'h', i - 1, 'h', i - 1, 'l', 'q', i, '0');
  parts.push('h', 60, STOP);
  const c = toValue(load(bytes(...parts)));
  assert.equal(c.truncated, true);
  assert.ok(valueNodes(c.value) <= maxNodes + maxDepth + 1, `${valueNodes(c.value)} values`);
});

test('dict keys such as __proto__ and constructor never pollute prototypes', () => {
  const data = bytes(
    PROTO2, '}', '(',
    str('__proto__'), '}', str('polluted'), '\x88', 's',
    str('constructor'), '}', str('prototype'), '}', str('polluted'), '\x88', 's', 's',
    str('toString'), str('x'),
    'u', STOP,
  );
  const v = load(data);
  assert.ok(v instanceof PyDict);
  assert.deepEqual([...v.keys()], ['__proto__', 'constructor', 'toString']);
  const obj = toValue(v).value as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(obj), null);
  assert.ok(Object.prototype.hasOwnProperty.call(obj, '__proto__'));
  assert.deepEqual(Object.keys(obj), ['__proto__', 'constructor', 'toString']);
  assert.equal(JSON.stringify(obj), '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"toString":"x"}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
  assert.equal(typeof ({}).toString, 'function');
});

test('text opcodes of protocol 0: STRING escapes, UNICODE escapes, PUT/GET, DUP, POP_MARK', () => {
  const data = bytes(
    '(lp0\n', "S'a\\'b\\n\\x41\\101'\n", 'a', 'Vsnow \\u2603 \\U0001F600\n', 'a', 'F-1.25e-3\n', 'a', 'Finf\n', 'a',
    'I01\n', 'a', 'L-12345678901234567890L\n', 'a', 'g0\n', 'p1\n', 'a', 'N', '0', '(', 'N', 'N', '1', '(', 'N', '2', 'e', STOP,
  );
  const v = load(data) as PyValue[];
  assert.deepEqual(v.slice(0, 7), ["a'b\nAA", 'snow ☃ 😀', -0.00125, Infinity, true, -12345678901234567890n, v]);
  assert.deepEqual(v.slice(7), [null, null]);
});
