// A restricted pickle machine for PyTorch checkpoints. It interprets pickle opcodes
// (protocols 0–5) into inert JS values and never evaluates anything: globals resolve only
// against an allow-list modelled on torch.load(weights_only=True), and each allowed callable
// has a fixed, data-only meaning here (a tensor descriptor, an ordered dict, a tuple…).
// The machine is iterative (no JS recursion), and every resource it uses is capped.
import { CheckpointError } from '../core/errors';
import type { DType } from '../core/dtype';
import type { Value } from '../core/checkpoint';

// --- Python values ---------------------------------------------------------------------

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyDict
  | PySet
  | PyGlobal
  | PyObject
  | StorageRef
  | TensorRef;

/** dict / OrderedDict / Counter: a Map keeps insertion order and cannot be prototype-polluted. */
export class PyDict extends Map<PyValue, PyValue> {
  /** Instance attributes set by BUILD (an OrderedDict's `_metadata`); never mixed into the items. */
  attrs: PyValue = null;
  constructor(readonly pyType: string = 'dict') {
    super();
  }
}

export class PySet {
  readonly items: PyValue[] = [];
  /** Membership by value for primitives, by identity for objects (enough for display). */
  private readonly seen = new Set<PyValue>();
  constructor(
    items: Iterable<PyValue>,
    readonly frozen: boolean,
  ) {
    for (const v of items) this.add(v);
  }
  add(v: PyValue): void {
    if (this.seen.has(v)) return;
    this.seen.add(v);
    this.items.push(v);
  }
}

export type GlobalRole = 'function' | 'class' | 'dtype' | 'storage' | 'constant';

/** A resolved, allow-listed global. It is a name, never a reference to code. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly role: GlobalRole,
  ) {}
  get path(): string {
    return `${this.module}.${this.name}`;
  }
}

/** The inert result of calling an allowed callable this reader gives no richer meaning. */
export class PyObject {
  state: PyValue | undefined = undefined;
  constructor(
    readonly type: string,
    readonly args: PyValue[],
  ) {}
}

/** A storage handed out by the persistent-load callback (torch.ts builds these). */
export class StorageRef {
  constructor(
    /** Record key (zip `data/<key>`) or root key (legacy stream). */
    readonly key: string,
    readonly dtype: DType,
    /** Elements of `dtype` in this storage. */
    readonly numel: number,
    readonly device: string,
    /** Start of this storage inside the key's record, in elements (legacy storage views). */
    readonly elementOffset = 0,
  ) {}
}

/** What torch._utils._rebuild_tensor* describes: a strided view into a storage. */
export class TensorRef {
  isParameter = false;
  /** Quantizer parameters of a quantized tensor (values are then the raw integers). */
  quantization: PyValue | undefined = undefined;
  constructor(
    readonly storage: StorageRef,
    readonly dtype: DType,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}

  withParameter(requiresGrad: boolean): TensorRef {
    const t = new TensorRef(this.storage, this.dtype, this.storageOffset, this.shape, this.stride, requiresGrad);
    t.isParameter = true;
    t.quantization = this.quantization;
    return t;
  }
}

const TUPLES = new WeakSet<PyValue[]>();

/** Marks an array as a Python tuple (immutable: APPEND refuses it). */
export function tuple(items: PyValue[]): PyValue[] {
  TUPLES.add(items);
  return items;
}

export function isTuple(v: PyValue): v is PyValue[] {
  return Array.isArray(v) && TUPLES.has(v);
}

export function isContainer(v: PyValue): v is PyValue[] | PyDict | PySet {
  return Array.isArray(v) || v instanceof PyDict || v instanceof PySet;
}

/** A short human-readable type name for errors. */
export function pyTypeName(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'string') return 'str';
  if (v instanceof Uint8Array) return 'bytes';
  if (Array.isArray(v)) return isTuple(v) ? 'tuple' : 'list';
  if (v instanceof PyDict) return v.pyType;
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof PyGlobal) return v.path;
  if (v instanceof PyObject) return v.type;
  if (v instanceof StorageRef) return 'storage';
  return 'tensor';
}

// --- The allow-list ----------------------------------------------------------------------

/** torch dtype globals → our dtype names (undefined: allowed, but no element decoder). */
const DTYPE_GLOBALS: Record<string, DType | undefined> = {
  float32: 'F32', float: 'F32', float64: 'F64', double: 'F64', float16: 'F16', half: 'F16', bfloat16: 'BF16',
  int64: 'I64', long: 'I64', int32: 'I32', int: 'I32', int16: 'I16', short: 'I16', int8: 'I8', uint8: 'U8',
  uint16: 'U16', uint32: 'U32', uint64: 'U64', bool: 'BOOL',
  complex64: 'C64', cfloat: 'C64', complex128: 'C128', cdouble: 'C128',
  float8_e4m3fn: 'F8_E4M3', float8_e5m2: 'F8_E5M2', float8_e4m3fnuz: 'F8_E4M3FNUZ', float8_e5m2fnuz: 'F8_E5M2FNUZ',
  float8_e8m0fnu: 'F8_E8M0',
  complex32: undefined, chalf: undefined, qint8: undefined, quint8: undefined, qint32: undefined,
  quint4x2: undefined, quint2x4: undefined, bits1x8: undefined, bits2x4: undefined, bits4x2: undefined,
  bits8: undefined, bits16: undefined,
  uint1: undefined, uint2: undefined, uint3: undefined, uint4: undefined, uint5: undefined, uint6: undefined, uint7: undefined,
  int1: undefined, int2: undefined, int3: undefined, int4: undefined, int5: undefined, int6: undefined, int7: undefined,
};

/** Storage classes → element type. Quantized storages hold raw integers of that width. */
const STORAGE_GLOBALS: Record<string, DType> = {
  DoubleStorage: 'F64', FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16',
  LongStorage: 'I64', IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8',
  BoolStorage: 'BOOL', ComplexDoubleStorage: 'C128', ComplexFloatStorage: 'C64',
  QInt8Storage: 'I8', QUInt8Storage: 'U8', QInt32Storage: 'I32', QUInt4x2Storage: 'U8', QUInt2x4Storage: 'U8',
  UntypedStorage: 'U8',
};

const TENSOR_REBUILDS = new Set([
  'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2', 'torch._utils._rebuild_tensor_v3',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state', 'torch._utils._rebuild_qtensor',
]);

/** Allowed by weights_only, kept inert here (sparse, nested, meta and device tensors). */
const INERT_REBUILDS = new Set([
  'torch._utils._rebuild_sparse_tensor', 'torch._utils._rebuild_sparse_csr_tensor', 'torch._utils._rebuild_nested_tensor',
  'torch._utils._rebuild_meta_tensor_no_storage', 'torch._utils._rebuild_wrapper_subclass',
  'torch._utils._rebuild_device_tensor_from_numpy', 'torch._utils._rebuild_device_tensor_from_cpu_tensor',
]);

const CLASSES = new Set([
  'collections.OrderedDict', 'collections.Counter', 'builtins.set', 'builtins.frozenset', 'builtins.bytearray',
  'builtins.complex', 'torch.Size', 'torch.device', 'torch.Tensor', 'torch.nn.parameter.Parameter',
  ...['Double', 'Float', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool'].map((t) => `torch.${t}Tensor`),
]);

const FUNCTIONS = new Set([
  '_codecs.encode', 'torch.serialization._get_layout', 'torch._tensor._rebuild_from_type_v2',
  ...TENSOR_REBUILDS, ...INERT_REBUILDS,
]);

const CONSTANTS = new Set([
  'torch.strided', 'torch.sparse_coo', 'torch.sparse_csr', 'torch.sparse_csc', 'torch.sparse_bsr', 'torch.sparse_bsc',
  'torch._mkldnn', 'torch.jagged',
  'torch.per_tensor_affine', 'torch.per_tensor_symmetric', 'torch.per_channel_affine', 'torch.per_channel_symmetric',
  'torch.per_channel_affine_float_qparams',
]);

/**
 * Python 2 module names that Python 3's unpickler renames (fix_imports, `_compat_pickle`), so a
 * refused global is named as Python would load it: protocol-2 pickles of `subprocess.Popen`
 * say `commands.Popen`.
 */
const PY2_MODULES = new Map([
  ['__builtin__', 'builtins'], ['copy_reg', 'copyreg'], ['commands', 'subprocess'], ['cPickle', 'pickle'],
  ['exceptions', 'builtins'], ['Queue', 'queue'], ['StringIO', 'io'], ['cStringIO', 'io'], ['UserDict', 'collections'],
  ['UserList', 'collections'], ['UserString', 'collections'], ['urllib2', 'urllib.request'], ['thread', '_thread'],
  ['repr', 'reprlib'], ['__main__', '__main__'],
]);

/** Resolves a global against the allow-list; anything else is refused by name. */
export function resolveGlobal(module: string, name: string): PyGlobal | undefined {
  module = PY2_MODULES.get(module) ?? module;
  const path = `${module}.${name}`;
  const own = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
  if (module === 'torch' && own(DTYPE_GLOBALS, name)) return new PyGlobal(module, name, 'dtype');
  if ((module === 'torch' || module === 'torch.cuda' || module === 'torch.storage') && own(STORAGE_GLOBALS, name)) {
    return new PyGlobal(module, name, 'storage');
  }
  if (CLASSES.has(path)) return new PyGlobal(module, name, 'class');
  if (FUNCTIONS.has(path)) return new PyGlobal(module, name, 'function');
  if (CONSTANTS.has(path)) return new PyGlobal(module, name, 'constant');
  return undefined;
}

export function dtypeOfGlobal(g: PyGlobal): DType | undefined {
  if (g.role === 'dtype') return DTYPE_GLOBALS[g.name];
  if (g.role === 'storage') return STORAGE_GLOBALS[g.name];
  return undefined;
}

// --- Limits ------------------------------------------------------------------------------

export const PICKLE_LIMITS = {
  maxStack: 1 << 22,
  maxMarks: 1 << 20,
  maxMemo: 1 << 22,
  /** Items in one list/dict/set. */
  maxContainer: 1 << 24,
  /** Bytes in one LONG1/LONG4 or digits in a text int. */
  maxLongBytes: 4096,
  maxDims: 64,
};

// --- The machine -------------------------------------------------------------------------

export interface UnpickleOptions {
  /** The file named in every error. */
  label: string;
  /** Where in the file this pickle is (e.g. `archive/data.pkl`), for error context. */
  where?: string;
  /** Offset of the pickle's first byte in `data`. */
  start?: number;
  /** Receives the items of a `('storage', …)` persistent id; returns the storage value. */
  persistentLoad?: (pid: PyValue[]) => PyValue;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just after the STOP opcode. */
  end: number;
  /** Every distinct global the pickle referenced (all allow-listed, or we would have thrown). */
  globals: string[];
}

/** The pickle ran past the end of the bytes given (the caller may retry with more). */
export class PickleTruncatedError extends CheckpointError {}

const REFUSED_GLOBAL_REASON = 'only torch tensor-rebuild globals are allowed; this file may run code if loaded with torch.load';

export function unpickle(data: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  return new Machine(data, opts).run();
}

const utf8 = new TextDecoder('utf-8');

class Machine {
  private pos: number;
  private readonly dv: DataView;
  private readonly stack: PyValue[] = [];
  /** Stack heights at each MARK (a flat metastack). */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly globals = new Map<string, PyGlobal>();
  private opPos = 0;
  private readonly where: string;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.pos = opts.start ?? 0;
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.where = opts.where ?? 'pickle';
  }

  private fail(problem: string): never {
    throw new CheckpointError(this.opts.label, `${problem} (${this.where}, byte ${this.opPos})`);
  }

  private truncated(): never {
    throw new PickleTruncatedError(this.opts.label, `${this.where} ends in the middle of a pickle (truncated or not a pickle?)`);
  }

  // -- byte readers --

  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.length) this.truncated();
    const p = this.pos;
    this.pos += n;
    return p;
  }
  private u8(): number { return this.data[this.need(1)]; }
  private u16(): number { return this.dv.getUint16(this.need(2), true); }
  private u32(): number { return this.dv.getUint32(this.need(4), true); }
  private i32(): number { return this.dv.getInt32(this.need(4), true); }
  private u64(): number {
    const p = this.need(8);
    const n = this.dv.getUint32(p + 4, true) * 4294967296 + this.dv.getUint32(p, true);
    if (!Number.isSafeInteger(n)) this.fail('a 64-bit length is too large');
    return n;
  }
  private bytes(n: number): Uint8Array {
    if (n > this.data.length - this.pos) this.truncated();
    const p = this.need(n);
    return this.data.slice(p, p + n);
  }
  private text(n: number): string {
    if (n > this.data.length - this.pos) this.truncated();
    const p = this.need(n);
    return utf8.decode(this.data.subarray(p, p + n));
  }
  /** A `\n`-terminated line (without the newline), as raw bytes. */
  private lineBytes(): Uint8Array {
    const nl = this.data.indexOf(0x0a, this.pos);
    if (nl < 0) this.truncated();
    const out = this.data.subarray(this.pos, nl);
    this.pos = nl + 1;
    return out;
  }
  private line(): string {
    return utf8.decode(this.lineBytes());
  }
  private shortLine(what: string): string {
    const b = this.lineBytes();
    if (b.length > PICKLE_LIMITS.maxLongBytes) this.fail(`${what} of ${b.length} characters is too long`);
    return latin1(b);
  }

  // -- stack --

  private push(v: PyValue): void {
    if (this.stack.length >= PICKLE_LIMITS.maxStack) this.fail(`pickle stack exceeds ${PICKLE_LIMITS.maxStack} entries`);
    this.stack.push(v);
  }
  private base(): number {
    return this.marks.length ? this.marks[this.marks.length - 1] : 0;
  }
  private pop(): PyValue {
    if (this.stack.length <= this.base()) this.fail('pickle stack underflow');
    return this.stack.pop() as PyValue;
  }
  private top(): PyValue {
    if (this.stack.length <= this.base()) this.fail('pickle stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('pickle MARK expected but missing');
    return this.stack.splice(m);
  }

  // -- main loop --

  run(): UnpickleResult {
    const start = this.pos;
    // Every opcode consumes at least one byte, so this bound is never reached by a valid run;
    // it guards against any path that would loop without consuming input.
    const maxOps = this.data.length - start + 1;
    let ops = 0;
    for (;;) {
      if (++ops > maxOps) this.fail('too many pickle opcodes for the input size');
      this.opPos = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: // FRAME: framing is only a read-ahead hint
          this.u64();
          break;
        case 0x2e: // STOP
          return { value: this.pop(), end: this.pos, globals: [...this.globals.keys()] };

        // constants and numbers
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4b: this.push(this.u8()); break; // BININT1
        case 0x4d: this.push(this.u16()); break; // BININT2
        case 0x4a: this.push(this.i32()); break; // BININT
        case 0x8a: this.push(this.long(this.u8())); break; // LONG1
        case 0x8b: { // LONG4
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          this.push(this.long(n));
          break;
        }
        case 0x49: this.push(this.textInt()); break; // INT
        case 0x4c: this.push(this.textLong()); break; // LONG
        case 0x47: this.push(this.dv.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x46: this.push(parseFloatLine(this.shortLine('float'), (m) => this.fail(m))); break; // FLOAT

        // strings and bytes
        case 0x58: this.push(this.text(this.u32())); break; // BINUNICODE
        case 0x8c: this.push(this.text(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: this.push(this.text(this.u64())); break; // BINUNICODE8
        case 0x56: this.push(rawUnicodeEscape(this.lineBytes())); break; // UNICODE
        // Py2 str: torch.load decodes these with encoding='utf-8'
        case 0x55: this.push(utf8.decode(this.bytes(this.u8()))); break; // SHORT_BINSTRING
        case 0x54: { // BINSTRING
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length');
          this.push(utf8.decode(this.bytes(n)));
          break;
        }
        case 0x53: this.push(utf8.decode(stringEscape(this.lineBytes(), (m) => this.fail(m)))); break; // STRING
        case 0x43: this.push(this.bytes(this.u8())); break; // SHORT_BINBYTES
        case 0x42: this.push(this.bytes(this.u32())); break; // BINBYTES
        case 0x8e: this.push(this.bytes(this.u64())); break; // BINBYTES8
        case 0x96: this.push(this.bytes(this.u64())); break; // BYTEARRAY8
        case 0x97: this.fail('pickle asks for an out-of-band buffer (NEXT_BUFFER), which checkpoints do not use'); // NEXT_BUFFER
        case 0x98: this.top(); break; // READONLY_BUFFER: a no-op on our values

        // containers
        case 0x28: // MARK
          if (this.marks.length >= PICKLE_LIMITS.maxMarks) this.fail(`more than ${PICKLE_LIMITS.maxMarks} nested pickle MARKs`);
          this.marks.push(this.stack.length);
          break;
        case 0x29: this.push(tuple([])); break; // EMPTY_TUPLE
        case 0x74: this.push(tuple(this.popMark())); break; // TUPLE
        case 0x85: this.push(tuple([this.pop()])); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.push(tuple([a, b])); break; } // TUPLE2
        case 0x87: { const c = this.pop(); const b = this.pop(); const a = this.pop(); this.push(tuple([a, b, c])); break; } // TUPLE3
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x7d: this.push(new PyDict()); break; // EMPTY_DICT
        case 0x64: { // DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case 0x8f: this.push(new PySet([], false)); break; // EMPTY_SET
        case 0x91: this.push(new PySet(this.popMark(), true)); break; // FROZENSET
        case 0x61: { // APPEND
          const v = this.pop();
          this.appendTo(this.top(), [v]);
          break;
        }
        case 0x65: { // APPENDS
          const items = this.popMark();
          this.appendTo(this.top(), items);
          break;
        }
        case 0x73: { // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.dictOnTop(), [k, v]);
          break;
        }
        case 0x75: { // SETITEMS
          const items = this.popMark();
          this.setItems(this.dictOnTop(), items);
          break;
        }
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet) || s.frozen) this.fail(`ADDITEMS on a ${pyTypeName(s)}`);
          this.checkGrowth(s.items.length, items.length);
          for (const it of items) s.add(it);
          break;
        }

        // stack manipulation
        case 0x30: // POP: with nothing above the last MARK, Python's POP discards that MARK
          if (this.stack.length === this.base() && this.marks.length) this.popMark();
          else this.pop();
          break;
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.push(this.top()); break; // DUP

        // memo
        case 0x71: this.put(this.u8()); break; // BINPUT
        case 0x72: this.put(this.u32()); break; // LONG_BINPUT
        case 0x70: this.put(this.memoIndexLine()); break; // PUT
        case 0x94: this.put(this.memo.size); break; // MEMOIZE
        case 0x68: this.get(this.u8()); break; // BINGET
        case 0x6a: this.get(this.u32()); break; // LONG_BINGET
        case 0x67: this.get(this.memoIndexLine()); break; // GET

        // globals and object construction
        case 0x63: { // GLOBAL
          const module = this.line();
          const name = this.line();
          this.push(this.global(module, name));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings');
          this.push(this.global(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          const fn = this.pop();
          if (!isTuple(args)) this.fail(`REDUCE arguments must be a tuple, not ${pyTypeName(args)}`);
          this.push(this.call(fn, args));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          const cls = this.pop();
          if (!isTuple(args)) this.fail(`NEWOBJ arguments must be a tuple, not ${pyTypeName(args)}`);
          this.push(this.construct(cls, args));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!isTuple(args)) this.fail(`NEWOBJ_EX arguments must be a tuple, not ${pyTypeName(args)}`);
          if (!(kwargs instanceof PyDict) || kwargs.size > 0) this.fail('NEWOBJ_EX with keyword arguments is not supported');
          this.push(this.construct(cls, args));
          break;
        }
        case 0x69: { // INST: class named inline, arguments since the MARK
          const module = this.line();
          const name = this.line();
          const cls = this.global(module, name);
          this.push(this.construct(cls, tuple(this.popMark())));
          break;
        }
        case 0x6f: { // OBJ: class is the first item after the MARK
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.construct(items[0], tuple(items.slice(1))));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x51: { // BINPERSID
          this.push(this.persistent(this.pop()));
          break;
        }
        case 0x50: // PERSID
          this.fail('text persistent ids (PERSID) are not used by torch.save; refusing');
        case 0x82: case 0x83: case 0x84: // EXT1/2/4
          this.fail('pickle extension-registry opcodes (EXT1/2/4) are refused: they name code by number');
        default:
          this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or damaged)`);
      }
    }
  }

  // -- opcode helpers --

  private long(n: number): number | bigint {
    if (n > PICKLE_LIMITS.maxLongBytes) this.fail(`integer of ${n} bytes is too long`);
    if (n === 0) return 0;
    const p = this.need(n);
    const b = this.data;
    if (n <= 6) {
      let v = 0;
      for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i];
      if (b[p + n - 1] & 0x80) v -= 2 ** (8 * n);
      return v;
    }
    let big = 0n;
    for (let i = n - 1; i >= 0; i--) big = (big << 8n) | BigInt(b[p + i]);
    if (b[p + n - 1] & 0x80) big -= 1n << BigInt(8 * n);
    return narrow(big);
  }

  private textInt(): number | boolean | bigint {
    const s = this.shortLine('integer');
    if (s === '00') return false;
    if (s === '01') return true;
    return this.parseIntText(s);
  }

  private textLong(): number | bigint {
    const s = this.shortLine('integer');
    return this.parseIntText(s.endsWith('L') ? s.slice(0, -1) : s);
  }

  private parseIntText(s: string): number | bigint {
    if (!/^[+-]?\d+$/.test(s)) this.fail(`bad integer literal "${s.slice(0, 40)}"`);
    return narrow(BigInt(s));
  }

  private memoIndexLine(): number {
    const s = this.shortLine('memo index');
    if (!/^\d{1,10}$/.test(s)) this.fail(`bad memo index "${s.slice(0, 40)}"`);
    return Number(s);
  }

  private put(i: number): void {
    if (!this.memo.has(i) && this.memo.size >= PICKLE_LIMITS.maxMemo) this.fail(`pickle memo exceeds ${PICKLE_LIMITS.maxMemo} entries`);
    this.memo.set(i, this.top());
  }

  private get(i: number): void {
    if (!this.memo.has(i)) this.fail(`pickle memo has no entry ${i}`);
    this.push(this.memo.get(i) as PyValue);
  }

  private checkGrowth(have: number, add: number): void {
    if (have + add > PICKLE_LIMITS.maxContainer) this.fail(`a container exceeds ${PICKLE_LIMITS.maxContainer} items`);
  }

  private appendTo(target: PyValue, items: PyValue[]): void {
    if (!Array.isArray(target) || TUPLES.has(target)) this.fail(`APPEND to a ${pyTypeName(target)} (only lists accept items)`);
    this.checkGrowth(target.length, items.length);
    for (const it of items) target.push(it);
  }

  private dictOnTop(): PyDict {
    const d = this.top();
    if (!(d instanceof PyDict)) this.fail(`SETITEM on a ${pyTypeName(d)} (only dicts accept items)`);
    return d;
  }

  private setItems(d: PyDict, kv: PyValue[]): void {
    if (kv.length % 2) this.fail('odd number of items for a dict');
    this.checkGrowth(d.size, kv.length / 2);
    for (let i = 0; i < kv.length; i += 2) {
      const k = kv[i];
      if (Array.isArray(k) && !isTuple(k)) this.fail('unhashable list used as a dict key');
      if (k instanceof PyDict) this.fail('unhashable dict used as a dict key');
      d.set(k, kv[i + 1]);
    }
  }

  private global(module: string, name: string): PyGlobal {
    const path = `${PY2_MODULES.get(module) ?? module}.${name}`;
    const cached = this.globals.get(path);
    if (cached) return cached;
    const g = resolveGlobal(module, name);
    if (!g) {
      const written = path === `${module}.${name}` ? '' : `, written as ${module}.${name}`;
      this.fail(`refusing pickle global ${printable(path + written)} (${REFUSED_GLOBAL_REASON})`);
    }
    this.globals.set(path, g);
    return g;
  }

  private persistent(pid: PyValue): PyValue {
    if (!isTuple(pid) || pid[0] !== 'storage') {
      const what = isTuple(pid) && typeof pid[0] === 'string' ? `('${printable(pid[0])}', …)` : `a ${pyTypeName(pid)}`;
      this.fail(`unsupported persistent id ${what}; only ('storage', …) tuples are accepted`);
    }
    if (!this.opts.persistentLoad) this.fail('unexpected persistent id in a pickle that should have none');
    return this.opts.persistentLoad(pid.slice(1));
  }

  private build(target: PyValue, state: PyValue): void {
    if (target instanceof PyDict) {
      // OrderedDict.__reduce__ passes instance attributes (a state dict's _metadata) as state.
      target.attrs = state;
      return;
    }
    if (target instanceof PyObject) {
      target.state = state;
      return;
    }
    if (target instanceof TensorRef) return; // tensor attributes: nothing we show
    this.fail(`BUILD on a ${pyTypeName(target)} is not allowed`);
  }

  // -- the meaning of allowed callables --

  private construct(cls: PyValue, args: PyValue[]): PyValue {
    if (!(cls instanceof PyGlobal) || (cls.role !== 'class' && cls.role !== 'storage')) {
      this.fail(`cannot instantiate ${pyTypeName(cls)}`);
    }
    return this.call(cls, args);
  }

  private call(fn: PyValue, args: PyValue[]): PyValue {
    if (!(fn instanceof PyGlobal)) this.fail(`REDUCE on a ${pyTypeName(fn)}, which is not callable`);
    const path = fn.path;
    const n = args.length;
    const want = (lo: number, hi = lo): void => {
      if (n < lo || n > hi) this.fail(`${path} called with ${n} arguments, expected ${lo === hi ? lo : `${lo}–${hi}`}`);
    };
    switch (path) {
      case 'collections.OrderedDict':
      case 'collections.Counter': {
        want(0, 1);
        const d = new PyDict(fn.name);
        if (n === 1) this.fillDict(d, args[0]);
        return d;
      }
      case 'builtins.set':
      case 'builtins.frozenset':
        want(0, 1);
        return new PySet(n ? this.iterable(args[0]) : [], fn.name === 'frozenset');
      case 'builtins.bytearray':
        want(0, 2);
        if (n === 0) return new Uint8Array(0);
        return this.toBytes(args[0], n === 2 ? args[1] : null, 'bytearray');
      case 'builtins.complex': {
        want(0, 2);
        for (const a of args) if (typeof a !== 'number') this.fail('complex() needs numbers');
        return new PyObject(path, args);
      }
      case '_codecs.encode':
        want(1, 2);
        return this.toBytes(args[0], n === 2 ? args[1] : 'utf-8', '_codecs.encode');
      case 'torch.Size':
        want(0, 1);
        return tuple(n ? this.iterable(args[0]).slice() : []);
      case 'torch.device': {
        want(1, 2);
        const [type, index] = args;
        if (typeof type !== 'string') this.fail('torch.device needs a string');
        if (n === 2 && index !== null && typeof index !== 'number') this.fail('torch.device index must be an int');
        return n === 2 && index !== null ? `${type}:${String(index)}` : type;
      }
      case 'torch.serialization._get_layout': {
        want(1);
        const name = args[0];
        if (typeof name !== 'string' || !name.startsWith('torch.')) this.fail('_get_layout needs a "torch.<layout>" string');
        const g = resolveGlobal('torch', name.slice(6));
        if (!g || g.role !== 'constant') this.fail(`unknown layout ${printable(name)}`);
        return g;
      }
      case 'torch.nn.parameter.Parameter': {
        want(0, 2);
        const data = args[0];
        if (!(data instanceof TensorRef)) this.fail(`Parameter data must be a tensor, not ${n ? pyTypeName(data) : 'missing'}`);
        return data.withParameter(n < 2 ? true : this.bool(args[1], 'requires_grad'));
      }
      case 'torch._tensor._rebuild_from_type_v2': {
        want(4);
        const [func, newType, inner] = args;
        if (!(func instanceof PyGlobal) || !TENSOR_REBUILDS.has(func.path)) {
          this.fail(`_rebuild_from_type_v2 with inner function ${pyTypeName(func)} is not allowed`);
        }
        if (!(newType instanceof PyGlobal) || (newType.path !== 'torch.Tensor' && newType.path !== 'torch.nn.parameter.Parameter')) {
          this.fail(`_rebuild_from_type_v2 to type ${pyTypeName(newType)} is not allowed`);
        }
        if (!isTuple(inner)) this.fail('_rebuild_from_type_v2 arguments must be a tuple');
        const t = this.call(func, inner);
        return newType.name === 'Parameter' && t instanceof TensorRef ? t.withParameter(t.requiresGrad) : t;
      }
      case 'torch._utils._rebuild_tensor':
        want(4);
        return this.tensor(args[0], args[1], args[2], args[3], false, undefined);
      case 'torch._utils._rebuild_tensor_v2':
        want(6, 7);
        return this.tensor(args[0], args[1], args[2], args[3], this.bool(args[4], 'requires_grad'), undefined);
      case 'torch._utils._rebuild_tensor_v3': {
        want(7, 8);
        const dt = args[6];
        if (!(dt instanceof PyGlobal) || dt.role !== 'dtype') this.fail(`_rebuild_tensor_v3 dtype must be a torch dtype, not ${pyTypeName(dt)}`);
        const dtype = dtypeOfGlobal(dt);
        if (!dtype) return new PyObject(path, args); // e.g. complex32: allowed, but no decoder here
        return this.tensor(args[0], args[1], args[2], args[3], this.bool(args[4], 'requires_grad'), dtype);
      }
      case 'torch._utils._rebuild_qtensor': {
        want(7);
        const t = this.tensor(args[0], args[1], args[2], args[3], this.bool(args[5], 'requires_grad'), undefined);
        t.quantization = args[4];
        return t;
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        want(fn.name === '_rebuild_parameter' ? 3 : 4);
        const data = args[0];
        if (!(data instanceof TensorRef)) this.fail(`${path} data must be a tensor, not ${pyTypeName(data)}`);
        return data.withParameter(this.bool(args[1], 'requires_grad'));
      }
      default:
        // Allowed but kept inert: storage/tensor classes, sparse/meta rebuilds, torch.Tensor().
        if (fn.role === 'class' || fn.role === 'storage' || INERT_REBUILDS.has(path)) return new PyObject(path, args);
        this.fail(`${path} is not callable`);
    }
  }

  private fillDict(d: PyDict, src: PyValue): void {
    if (src instanceof PyDict) {
      this.checkGrowth(d.size, src.size);
      for (const [k, v] of src) d.set(k, v);
      return;
    }
    const kv: PyValue[] = [];
    for (const pair of this.iterable(src)) {
      if (!Array.isArray(pair) || pair.length !== 2) this.fail('dict items must be pairs');
      kv.push(pair[0], pair[1]);
    }
    this.setItems(d, kv);
  }

  private iterable(v: PyValue): PyValue[] {
    if (Array.isArray(v)) return v;
    if (v instanceof PySet) return v.items;
    if (v instanceof PyDict) return [...v.keys()];
    this.fail(`expected a sequence, not ${pyTypeName(v)}`);
  }

  private toBytes(v: PyValue, encoding: PyValue, what: string): Uint8Array {
    if (v instanceof Uint8Array) return v.slice();
    if (Array.isArray(v)) {
      const out = new Uint8Array(v.length);
      v.forEach((x, i) => {
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) this.fail(`${what}: byte values must be 0–255`);
        out[i] = x;
      });
      return out;
    }
    if (typeof v !== 'string') this.fail(`${what} of a ${pyTypeName(v)} is refused`);
    const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace(/_/g, '-') : '';
    if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1' || enc === 'l1') {
      const out = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) {
        const c = v.charCodeAt(i);
        if (c > 255) this.fail(`${what}: character outside latin-1`);
        out[i] = c;
      }
      return out;
    }
    if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(v);
    this.fail(`${what} with encoding ${printable(String(encoding))} is not supported`);
  }

  private bool(v: PyValue, what: string): boolean {
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1;
    this.fail(`${what} must be a bool, not ${pyTypeName(v)}`);
  }

  private int(v: PyValue, what: string): number {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
    this.fail(`${what} must be a non-negative integer, not ${typeof v === 'number' || typeof v === 'bigint' ? String(v) : pyTypeName(v)}`);
  }

  private ints(v: PyValue, what: string): number[] {
    if (!Array.isArray(v)) this.fail(`${what} must be a tuple, not ${pyTypeName(v)}`);
    if (v.length > PICKLE_LIMITS.maxDims) this.fail(`${what} has ${v.length} dimensions (more than ${PICKLE_LIMITS.maxDims})`);
    return v.map((x, i) => this.int(x, `${what}[${i}]`));
  }

  private tensor(storage: PyValue, offset: PyValue, size: PyValue, stride: PyValue, requiresGrad: boolean, dtype: DType | undefined): TensorRef {
    if (!(storage instanceof StorageRef)) this.fail(`tensor storage must come from a persistent id, not ${pyTypeName(storage)}`);
    const shape = this.ints(size, 'tensor size');
    const strides = this.ints(stride, 'tensor stride');
    if (shape.length !== strides.length) this.fail(`tensor size [${shape}] and stride [${strides}] differ in length`);
    return new TensorRef(storage, dtype ?? storage.dtype, this.int(offset, 'storage offset'), shape, strides, requiresGrad);
  }
}

// --- small pure helpers --------------------------------------------------------------------

function narrow(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Names in messages: control characters escaped, length capped. */
function printable(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

function parseFloatLine(s: string, fail: (m: string) => never): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan' || t === '-nan' || t === '+nan') return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) fail(`bad float literal "${s.slice(0, 40)}"`);
  return Number(t);
}

/** Python's raw-unicode-escape: `\uXXXX` / `\UXXXXXXXX` escapes, other bytes are latin-1. */
function rawUnicodeEscape(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x5c && i + 1 < b.length && (b[i + 1] === 0x75 || b[i + 1] === 0x55)) {
      const len = b[i + 1] === 0x75 ? 4 : 8;
      const hex = latin1(b.subarray(i + 2, i + 2 + len));
      if (hex.length === len && /^[0-9a-fA-F]+$/.test(hex)) {
        const cp = parseInt(hex, 16);
        if (cp <= 0x10ffff) {
          s += String.fromCodePoint(cp);
          i += 1 + len;
          continue;
        }
      }
    }
    s += String.fromCharCode(b[i]);
  }
  return s;
}

/** Python 2 `repr(str)` as written by the text STRING opcode: quoted, with backslash escapes. */
function stringEscape(line: Uint8Array, fail: (m: string) => never): Uint8Array {
  const q = line[0];
  if (line.length < 2 || (q !== 0x27 && q !== 0x22) || line[line.length - 1] !== q) fail('STRING opcode argument must be quoted');
  const b = line.subarray(1, line.length - 1);
  const out: number[] = [];
  const simple: Record<number, number> = { 0x5c: 0x5c, 0x27: 0x27, 0x22: 0x22, 0x61: 7, 0x62: 8, 0x66: 12, 0x6e: 10, 0x72: 13, 0x74: 9, 0x76: 11 };
  const isHex = (c: number): boolean => (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
  for (let i = 0; i < b.length; i++) {
    if (b[i] !== 0x5c || i + 1 >= b.length) {
      out.push(b[i]);
      continue;
    }
    const c = b[++i];
    if (simple[c] !== undefined) out.push(simple[c]);
    else if (c === 0x78 && i + 2 < b.length && isHex(b[i + 1]) && isHex(b[i + 2])) {
      out.push(parseInt(latin1(b.subarray(i + 1, i + 3)), 16));
      i += 2;
    } else if (c >= 0x30 && c <= 0x37) {
      let v = c - 0x30;
      for (let k = 0; k < 2 && i + 1 < b.length && b[i + 1] >= 0x30 && b[i + 1] <= 0x37; k++) v = v * 8 + (b[++i] - 0x30);
      out.push(v & 0xff);
    } else out.push(0x5c, c);
  }
  return Uint8Array.from(out);
}

// --- Conversion to JSON-compatible values ------------------------------------------------

export interface ValueLimits {
  /** Containers nested deeper than this become a marker string. */
  maxDepth: number;
  /** Total leaves and containers converted; the rest become a marker. */
  maxNodes: number;
}

export const DEFAULT_VALUE_LIMITS: ValueLimits = { maxDepth: 32, maxNodes: 10_000 };

export interface ConvertedValue {
  value: Value;
  /** True when depth or size limits cut something off. */
  truncated: boolean;
}

/** A dict key as it appears in dotted names: str as is, ints in decimal, other keys as Python-ish text. */
export function keyString(k: PyValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (typeof k === 'boolean') return k ? 'True' : 'False';
  if (k === null) return 'None';
  if (isTuple(k)) return `(${k.map((x) => (isContainer(x) ? pyTypeName(x) : keyString(x))).join(', ')})`;
  return scalarText(k);
}

/** Text for a non-container value that JSON cannot hold directly. */
function scalarText(v: PyValue): string {
  if (v instanceof Uint8Array) return v.length > 64 ? `<bytes, ${v.length}>` : bytesRepr(v);
  if (v instanceof PyGlobal) return v.path;
  if (v instanceof PyObject) {
    if (v.type === 'builtins.complex') {
      const [re = 0, im = 0] = v.args as number[];
      return `(${re}${im < 0 || Object.is(im, -0) ? '-' : '+'}${Math.abs(im)}j)`;
    }
    return `<${v.type}>`;
  }
  if (v instanceof StorageRef) return `<storage ${v.key}>`;
  if (v instanceof TensorRef) return `<tensor ${v.dtype} [${v.shape.join(', ')}]>`;
  return pyTypeName(v);
}

/** Python's repr() of bytes. */
function bytesRepr(b: Uint8Array): string {
  const q = b.includes(0x27) && !b.includes(0x22) ? 0x22 : 0x27;
  let s = '';
  for (const c of b) {
    if (c === q || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c === 0x09) s += '\\t';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c < 0x20 || c >= 0x7f) s += `\\x${c.toString(16).padStart(2, '0')}`;
    else s += String.fromCharCode(c);
  }
  const quote = String.fromCharCode(q);
  return `b${quote}${s}${quote}`;
}

type ValueObject = { [key: string]: Value };

/** A null-prototype object: keys such as `__proto__` become plain own properties. */
export function valueObject(): ValueObject {
  return Object.create(null) as ValueObject;
}

/**
 * Converts a Python value into a JSON-compatible Value. Iterative (explicit stack), so depth
 * costs no JS stack; cycles become "<cycle>", and depth/size limits a "…" marker.
 */
export function toValue(root: PyValue, limits: ValueLimits = DEFAULT_VALUE_LIMITS): ConvertedValue {
  let truncated = false;
  let budget = limits.maxNodes;
  const leaf = (v: PyValue): Value => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
    if (typeof v === 'bigint') return v.toString();
    return scalarText(v);
  };
  interface Frame {
    src: object;
    entries: Array<[string, PyValue]>;
    next: number;
    dst: Value[] | ValueObject;
    depth: number;
  }
  const onPath = new Set<object>();
  const open = (v: PyValue[] | PyDict | PySet, depth: number): { frame: Frame; out: Value } => {
    const entries: Array<[string, PyValue]> =
      v instanceof PyDict ? [...v].map(([k, x]) => [keyString(k), x]) : (v instanceof PySet ? v.items : v).map((x, i) => [String(i), x]);
    const dst = v instanceof PyDict ? valueObject() : [];
    onPath.add(v);
    return { frame: { src: v, entries, next: 0, dst, depth }, out: dst };
  };
  const put = (f: Frame, key: string, val: Value): void => {
    if (Array.isArray(f.dst)) f.dst.push(val);
    else f.dst[key] = val;
  };

  if (!isContainer(root)) return { value: leaf(root), truncated };
  const first = open(root, 1);
  const stack: Frame[] = [first.frame];
  while (stack.length) {
    const f = stack[stack.length - 1];
    if (f.next >= f.entries.length) {
      onPath.delete(f.src);
      stack.pop();
      continue;
    }
    const [key, child] = f.entries[f.next++];
    if (--budget < 0) {
      truncated = true;
      put(f, key, '…');
      f.next = f.entries.length;
      continue;
    }
    if (!isContainer(child)) put(f, key, leaf(child));
    else if (onPath.has(child)) put(f, key, '<cycle>');
    else if (f.depth >= limits.maxDepth) {
      truncated = true;
      put(f, key, '…');
    } else {
      const c = open(child, f.depth + 1);
      put(f, key, c.out);
      stack.push(c.frame);
    }
  }
  return { value: first.out, truncated };
}
