// A restricted pickle machine for PyTorch checkpoints. It interprets pickle opcodes
// (protocols 0–5) into inert JS values and never evaluates anything. Globals on torch's
// allow-list have a fixed, data-only meaning here (a tensor descriptor, an ordered dict…);
// every other global becomes an inert name, and calling or instantiating it an inert object
// (pickleObjects.ts) holding the arguments and state the pickle gives it. Each global is
// classified (pickleGlobals.ts) and every call the file would make under torch.load is
// recorded in a risk report (pickleRisk.ts). The machine is iterative (no JS recursion), and
// every resource it uses is capped.
import { CheckpointError } from '../core/errors';
import type { DType } from '../core/dtype';
import {
  INERT_REBUILDS,
  TENSOR_REBUILDS,
  DICT_CLASSES,
  dtypeOfGlobal,
  normaliseGlobal,
  resolveGlobal,
  riskOf,
} from './pickleGlobals';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PySet,
  type PyValue,
  type Quantization,
  StorageRef,
  TensorRef,
  internDims,
  isTuple,
  pyTypeName,
  tuple,
} from './pickleObjects';

/** A tuple (not a type guard, so the list branch keeps its type). */
const isFrozen = (v: PyValue): boolean => isTuple(v);
import { RiskRecorder, type RiskReport } from './pickleRisk';
import { decodeNumpyArray, decodeNumpyScalar } from './numpyPickle';
import { latin1, printable } from './pickleText';

export * from './pickleObjects';
export * from './pickleValues';
export { resolveGlobal, dtypeOfGlobal, classifyGlobal, type Risk } from './pickleGlobals';
export type { RiskReport, RiskGlobal, RiskCall } from './pickleRisk';

// --- Limits ------------------------------------------------------------------------------

export const PICKLE_LIMITS = {
  maxStack: 1 << 22,
  maxMarks: 1 << 20,
  maxMemo: 1 << 24,
  /** Items in one list/dict/set. */
  maxContainer: 1 << 24,
  /** Bytes in one LONG1/LONG4 or digits in a text int. */
  maxLongBytes: 4096,
  maxDims: 64,
  /** Bytes in one str (checkpoints keep names and hyper-parameters in strings, never bulk data). */
  maxStringBytes: 64 * 1024 * 1024,
  /** Distinct globals in one pickle. */
  maxGlobals: 100_000,
  /**
   * Tensors rebuilt by one pickle. A million must open (a real torch.save of a million small
   * tensors); each costs a few hundred bytes while the pickle is read and its listing built,
   * and this cap keeps an absurd count under 1 GB (bench/memory-bench.mjs measures it).
   */
  maxTensors: 1_600_000,
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
  /** Receives every persistent id as it is (formats whose ids are not `('storage', …)` tuples). */
  persistentId?: (pid: PyValue) => PyValue;
}

export interface UnpickleResult {
  value: PyValue;
  /** Offset just after the STOP opcode. */
  end: number;
  /** Every distinct global the pickle referenced, as Python 3 names it. */
  globals: string[];
  /** Every global classified, and every call torch.load would make. */
  risk: RiskReport;
}

/** The pickle ran past the end of the bytes given (the caller may retry with more). */
export class PickleTruncatedError extends CheckpointError {}

export function unpickle(data: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  return new Machine(data, opts).run();
}

const utf8 = new TextDecoder('utf-8');
const QDTYPES: Record<string, string> = { QInt8Storage: 'qint8', QUInt8Storage: 'quint8', QInt32Storage: 'qint32', QUInt4x2Storage: 'quint4x2', QUInt2x4Storage: 'quint2x4' };
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

class Machine {
  private pos: number;
  private readonly dv: DataView;
  private readonly stack: PyValue[] = [];
  /** Stack heights at each MARK (a flat metastack). */
  private readonly marks: number[] = [];
  /** An array, not a Map: a million-tensor state dict memoizes eight million values (a Map took 300 MB more). */
  private readonly memo: (PyValue | typeof UNREAD | undefined)[] = [];
  /** Memo indices the pickle ever reads back (GET); null: keep every entry (the scan gave up). */
  private readonly reads: Set<number> | null;
  private memoCount = 0;
  private tensorCount = 0;
  private readonly globals = new Map<string, PyGlobal>();
  private readonly risk = new RiskRecorder();
  private opPos = 0;
  private readonly where: string;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.pos = opts.start ?? 0;
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.where = opts.where ?? 'pickle';
    this.reads = memoReads(data, this.pos);
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
    // A JS string takes twice the bytes: a 500 MB pickle string would cost a gigabyte.
    if (n > PICKLE_LIMITS.maxStringBytes) this.fail(`a string of ${n} bytes is longer than the ${PICKLE_LIMITS.maxStringBytes} accepted`);
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
          return { value: this.pop(), end: this.pos, globals: [...this.globals.keys()], risk: this.risk.report() };

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
        case 0x94: this.put(this.memoCount); break; // MEMOIZE
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
          this.push(this.reduce(fn, args, 'REDUCE'));
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
          if (!(kwargs instanceof PyDict)) this.fail(`NEWOBJ_EX keyword arguments must be a dict, not ${pyTypeName(kwargs)}`);
          const obj = this.construct(cls, args);
          if (kwargs.size > 0) {
            if (!(obj instanceof PyObject)) this.fail(`${pyTypeName(cls)} does not take keyword arguments`);
            obj.args.push(kwargs);
          }
          this.push(obj);
          break;
        }
        case 0x69: { // INST: class named inline, arguments since the MARK; Python calls cls(*args)
          const module = this.line();
          const name = this.line();
          const cls = this.global(module, name);
          this.push(this.instantiate(cls, tuple(this.popMark()), 'INST'));
          break;
        }
        case 0x6f: { // OBJ: class is the first item after the MARK; Python calls cls(*args)
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class');
          this.push(this.instantiate(items[0], tuple(items.slice(1)), 'OBJ'));
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
    // One hex parse: linear, where shifting byte by byte is quadratic in the length.
    let hex = '';
    for (let i = n - 1; i >= 0; i--) hex += HEX[b[p + i]];
    let big = BigInt(`0x${hex}`);
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
    if (this.memo[i] === undefined) {
      if (this.memoCount >= PICKLE_LIMITS.maxMemo) this.fail(`pickle memo exceeds ${PICKLE_LIMITS.maxMemo} entries`);
      this.memoCount++;
    }
    // An entry nothing reads back is not kept: torch.save memoizes every tuple, dict and string
    // (eight per tensor), which would otherwise all stay alive to the end of the pickle.
    this.memo[i] = this.reads && !this.reads.has(i) ? UNREAD : this.top();
  }

  private get(i: number): void {
    const v = this.memo[i];
    if (v === undefined) this.fail(`pickle memo has no entry ${i}`);
    if (v === UNREAD) this.fail(`pickle memo entry ${i} is read although the scan found no read of it`);
    this.push(v as PyValue);
  }

  private checkGrowth(have: number, add: number): void {
    if (have + add > PICKLE_LIMITS.maxContainer) this.fail(`a container exceeds ${PICKLE_LIMITS.maxContainer} items`);
  }

  private appendTo(top: PyValue, items: PyValue[]): void {
    // An instance of an unknown class: Python would call its append/extend; kept as its list contents.
    const target = top instanceof PyObject && !top.array ? (top.list ??= []) : top;
    if (!Array.isArray(target) || isFrozen(target)) this.fail(`APPEND to a ${pyTypeName(target)} (only lists accept items)`);
    this.checkGrowth(target.length, items.length);
    for (const it of items) target.push(it);
  }

  private dictOnTop(): PyDict {
    const d = this.top();
    // An instance of an unknown class: Python would call its __setitem__; kept as its items.
    if (d instanceof PyObject && !d.array) return (d.items ??= new PyDict());
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
    const path = normaliseGlobal(module, name).join('.');
    const cached = this.globals.get(path);
    if (cached) return cached;
    if (this.globals.size >= PICKLE_LIMITS.maxGlobals) this.fail(`more than ${PICKLE_LIMITS.maxGlobals} distinct globals`);
    const g = resolveGlobal(module, name);
    this.globals.set(path, g);
    this.risk.global(path, `${module}.${name}`, riskOf(g));
    return g;
  }

  private persistent(pid: PyValue): PyValue {
    if (this.opts.persistentId) return this.opts.persistentId(pid);
    // Legacy whole-module saves: ('module', cls, source_file, source); torch.load returns cls.
    if (isTuple(pid) && pid[0] === 'module' && pid.length === 4 && pid[1] instanceof PyGlobal && this.opts.persistentLoad) return pid[1];
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
      if (target.type === 'numpy.ndarray' && target.via === 'new') {
        target.array = decodeNumpyArray(state, (m) => this.fail(m));
        target.state = undefined;
      }
      return;
    }
    if (target instanceof TensorRef) return; // tensor attributes: nothing we show
    if (target instanceof PyGlobal) {
      // Python would set attributes on a class or function: a way to change library behaviour.
      this.risk.call(`setattr on ${target.path}`, [state], 'dangerous', 'BUILD', this.where);
      return;
    }
    this.fail(`BUILD on a ${pyTypeName(target)} is not allowed`);
  }

  // -- the meaning of callables --

  /** NEWOBJ: `cls.__new__(cls, *args)`. */
  private construct(cls: PyValue, args: PyValue[]): PyValue {
    if (cls instanceof PyObject) return new PyObject(`instance of ${cls.type}`, args, 'new');
    if (!(cls instanceof PyGlobal)) this.fail(`cannot instantiate ${pyTypeName(cls)}`);
    if (cls.role === 'class' || cls.role === 'storage') return this.call(cls, args);
    if (cls.role === 'data' || cls.role === 'unknown' || cls.role === 'dangerous') {
      if (DICT_CLASSES.has(cls.path)) return new PyDict(cls.path);
      return new PyObject(cls.path, args, 'new');
    }
    this.fail(`cannot instantiate ${cls.path}`);
  }

  /** INST / OBJ: Python calls `cls(*args)`. */
  private instantiate(cls: PyValue, args: PyValue[], via: 'INST' | 'OBJ'): PyValue {
    if (cls instanceof PyGlobal && (cls.role === 'class' || cls.role === 'storage')) return this.call(cls, args);
    if (cls instanceof PyGlobal && cls.role === 'data') return this.reduce(cls, args, via);
    return this.reduce(cls, args, via);
  }

  /** REDUCE (and INST/OBJ): a call. Allow-listed callables get their meaning, others stay inert and are recorded. */
  private reduce(fn: PyValue, args: PyValue[], via: 'REDUCE' | 'INST' | 'OBJ'): PyValue {
    if (fn instanceof PyObject) {
      // Calling what a call returned (getattr(x, 'y')(…)): nothing can vouch for it.
      this.risk.call(`the result of ${fn.type}(…)`, args, 'dangerous', via, this.where);
      return new PyObject(`result of ${fn.type}(…)`, args, 'call');
    }
    if (!(fn instanceof PyGlobal)) this.fail(`${via} on a ${pyTypeName(fn)}, which is not callable`);
    switch (fn.role) {
      case 'dangerous':
        this.risk.call(fn.path, args, 'dangerous', via, this.where);
        return new PyObject(fn.path, args, 'call');
      case 'unknown':
        this.risk.call(fn.path, args, 'unknown', via, this.where);
        return new PyObject(fn.path, args, 'call');
      case 'data':
        return this.callData(fn, args);
      default:
        return this.call(fn, args);
    }
  }

  /** Known plain-data callables: numpy arrays/scalars/dtypes decoded, copyreg rebuilds as instantiation. */
  private callData(fn: PyGlobal, args: PyValue[]): PyValue {
    const path = fn.path;
    const n = args.length;
    if (path.endsWith('multiarray._reconstruct')) {
      if (n !== 3) this.fail(`${path} called with ${n} arguments, expected 3`);
      return new PyObject('numpy.ndarray', args, 'new');
    }
    if (path.endsWith('multiarray.scalar')) {
      if (n !== 1 && n !== 2) this.fail(`${path} called with ${n} arguments, expected 1–2`);
      return decodeNumpyScalar(args, (m) => this.fail(m)) ?? new PyObject(path, args, 'call');
    }
    if (path === 'copyreg._reconstructor') {
      // copyreg._reconstructor(cls, base, state): object.__new__(cls), then base.__init__(obj, state).
      if (n !== 3) this.fail(`copyreg._reconstructor called with ${n} arguments, expected 3`);
      const [cls, base, state] = args;
      if (base instanceof PyGlobal && base.path !== 'builtins.object' && base.role !== 'data') {
        this.risk.call(`${base.path}.__init__`, [state], base.role === 'dangerous' ? 'dangerous' : 'unknown', 'REDUCE', this.where);
      }
      const obj = this.construct(cls, []);
      if (obj instanceof PyObject && state !== null) obj.args.push(state);
      return obj;
    }
    if (path === 'copyreg.__newobj__') {
      if (n < 1) this.fail('copyreg.__newobj__ needs a class');
      return this.construct(args[0], tuple(args.slice(1)));
    }
    if (DICT_CLASSES.has(path)) {
      const d = new PyDict(path);
      if (path !== 'collections.defaultdict' && n === 1) this.fillDict(d, args[0]);
      return d;
    }
    return new PyObject(path, args, 'call');
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
        t.quantization = this.quantizer(args[4], t);
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

  /** `_rebuild_qtensor`'s quantizer parameters: (scheme, scale, zero_point) or (scheme, scales, zero_points, axis). */
  private quantizer(q: PyValue, t: TensorRef): Quantization {
    if (!isTuple(q) || q.length < 1 || !(q[0] instanceof PyGlobal)) this.fail('quantized tensor parameters must be a tuple starting with a qscheme');
    const scheme = q[0].name;
    const qdtype = t.storage.typeName ? QDTYPES[t.storage.typeName] ?? t.storage.typeName : t.dtype;
    if (scheme === 'per_tensor_affine' || scheme === 'per_tensor_symmetric') {
      if (q.length !== 3 || typeof q[1] !== 'number' || typeof q[2] !== 'number') this.fail('per-tensor quantizer needs (scheme, scale, zero_point)');
      return { scheme: 'per_tensor_affine', scale: q[1], zeroPoint: q[2], qdtype };
    }
    if (scheme === 'per_channel_affine' || scheme === 'per_channel_symmetric' || scheme === 'per_channel_affine_float_qparams') {
      const [, scales, zps, axis] = q;
      if (q.length !== 4 || !(scales instanceof TensorRef) || !(zps instanceof TensorRef) || typeof axis !== 'number') {
        this.fail('per-channel quantizer needs (scheme, scales, zero_points, axis)');
      }
      if (!Number.isInteger(axis) || axis < 0 || axis >= t.shape.length) this.fail(`per-channel quantizer axis ${axis} is outside the tensor's ${t.shape.length} dimensions`);
      const k = t.shape[axis];
      if (scales.shape.length !== 1 || scales.shape[0] !== k || zps.shape.length !== 1 || zps.shape[0] !== k) {
        this.fail(`per-channel quantizer needs ${k} scales and zero points`);
      }
      // torch saves float-qparams tensors (quantized embeddings) as per_channel_affine with float
      // zero points, and loads them back as per_channel_affine_float_qparams.
      const floatZeros = zps.dtype === 'F32' || zps.dtype === 'F64' || zps.dtype === 'F16' || zps.dtype === 'BF16';
      return { scheme: scheme === 'per_channel_affine_float_qparams' || floatZeros ? 'per_channel_affine_float_qparams' : 'per_channel_affine', scales, zeroPoints: zps, axis, qdtype };
    }
    this.fail(`unknown quantization scheme ${printable(scheme)}`);
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
    const shape = internDims(this.ints(size, 'tensor size'));
    const strides = internDims(this.ints(stride, 'tensor stride'));
    if (shape.length !== strides.length) this.fail(`tensor size [${shape}] and stride [${strides}] differ in length`);
    if (++this.tensorCount > PICKLE_LIMITS.maxTensors) this.fail(`more than ${PICKLE_LIMITS.maxTensors} tensors (a cap that keeps reading under 1 GB of memory; real checkpoints hold tens of thousands)`);
    return new TensorRef(storage, dtype ?? storage.dtype, this.int(offset, 'storage offset'), shape, strides, requiresGrad);
  }
}

// --- small pure helpers --------------------------------------------------------------------

/** Stands in the memo for an entry the pickle never reads back. */
const UNREAD = Symbol('unread memo entry');

/** Bytes of each fixed-size opcode argument (opcodes not listed take none, or are handled below). */
const FIXED_ARG: Record<number, number> = {
  0x80: 1, 0x4b: 1, 0x71: 1, 0x68: 1, 0x82: 1, // PROTO BININT1 BINPUT BINGET EXT1
  0x4d: 2, 0x83: 2, // BININT2 EXT2
  0x4a: 4, 0x72: 4, 0x6a: 4, 0x84: 4, // BININT LONG_BINPUT LONG_BINGET EXT4
  0x47: 8, 0x95: 8, // BINFLOAT FRAME
};
/** Counted arguments: bytes of the count, then that many bytes. */
const COUNTED_ARG: Record<number, number> = {
  0x8a: 1, 0x8c: 1, 0x55: 1, 0x43: 1, // LONG1 SHORT_BINUNICODE SHORT_BINSTRING SHORT_BINBYTES
  0x58: 4, 0x54: 4, 0x42: 4, 0x8b: 4, // BINUNICODE BINSTRING BINBYTES LONG4
  0x8d: 8, 0x8e: 8, 0x96: 8, // BINUNICODE8 BINBYTES8 BYTEARRAY8
};
/** Arguments ending at a newline (GLOBAL and INST take two lines). */
const LINE_ARGS: Record<number, number> = { 0x49: 1, 0x4c: 1, 0x46: 1, 0x53: 1, 0x56: 1, 0x70: 1, 0x67: 1, 0x50: 1, 0x63: 2, 0x69: 2 };
const NO_ARG = new Set([
  0x2e, 0x4e, 0x88, 0x89, 0x28, 0x29, 0x74, 0x85, 0x86, 0x87, 0x5d, 0x6c, 0x7d, 0x64, 0x8f, 0x91, 0x61, 0x65, 0x73, // STOP … SETITEM
  0x75, 0x90, 0x30, 0x31, 0x32, 0x52, 0x81, 0x92, 0x62, 0x51, 0x94, 0x97, 0x98, 0x93, 0x6f, // SETITEMS … OBJ
]);

/**
 * The memo indices a pickle reads back (BINGET, LONG_BINGET, GET), by one walk over its opcodes
 * without building anything; null (keep every entry) if the walk meets anything unexpected —
 * the machine then reports the problem itself.
 */
function memoReads(data: Uint8Array, start: number): Set<number> | null {
  const reads = new Set<number>();
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let p = start;
  const n = data.length;
  while (p < n) {
    const op = data[p++];
    if (op === 0x2e) return reads; // STOP
    const fixed = FIXED_ARG[op];
    if (fixed !== undefined) {
      if (p + fixed > n) return null;
      if (op === 0x68) reads.add(data[p]);
      else if (op === 0x6a) reads.add(dv.getUint32(p, true));
      p += fixed;
      continue;
    }
    const counted = COUNTED_ARG[op];
    if (counted !== undefined) {
      if (p + counted > n) return null;
      let len: number;
      if (counted === 1) len = data[p];
      else if (counted === 4) len = op === 0x54 || op === 0x8b ? dv.getInt32(p, true) : dv.getUint32(p, true);
      else len = dv.getUint32(p + 4, true) * 4294967296 + dv.getUint32(p, true);
      if (len < 0 || p + counted + len > n) return null;
      p += counted + len;
      continue;
    }
    const lines = LINE_ARGS[op];
    if (lines !== undefined) {
      for (let k = 0; k < lines; k++) {
        const nl = data.indexOf(0x0a, p);
        if (nl < 0) return null;
        if (op === 0x67) {
          const idx = Number(latin1(data.subarray(p, nl)));
          if (!Number.isSafeInteger(idx)) return null;
          reads.add(idx);
        }
        p = nl + 1;
      }
      continue;
    }
    if (!NO_ARG.has(op)) return null;
  }
  return null;
}

function narrow(b: bigint): number | bigint {
  return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
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

