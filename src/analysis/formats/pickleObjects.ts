// The inert object model of our pickle machine: what unpickling produces. Nothing here can
// refer to code; a global is a name, an object of an unknown class is its name plus whatever
// the pickle handed it (arguments, BUILD state, SETITEM/APPEND contents).
import type { DType } from '../core/dtype';

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

const NO_ITEMS: ReadonlyMap<PyValue, PyValue> = new Map();

/**
 * dict / OrderedDict / Counter: a Map keeps insertion order and cannot be prototype-polluted.
 * The Map is made on the first item: every tensor of a state dict pickles an empty
 * OrderedDict (its backward hooks), and a million eager Maps cost 150 MB.
 */
export class PyDict implements Iterable<[PyValue, PyValue]> {
  /** Instance attributes set by BUILD (an OrderedDict's `_metadata`); never mixed into the items. */
  attrs: PyValue = null;
  private map: Map<PyValue, PyValue> | undefined = undefined;
  constructor(readonly pyType: string = 'dict') {}
  private get contents(): ReadonlyMap<PyValue, PyValue> {
    return this.map ?? NO_ITEMS;
  }
  get size(): number {
    return this.map ? this.map.size : 0;
  }
  get(k: PyValue): PyValue | undefined {
    return this.map?.get(k);
  }
  has(k: PyValue): boolean {
    return this.map ? this.map.has(k) : false;
  }
  set(k: PyValue, v: PyValue): this {
    (this.map ??= new Map()).set(k, v);
    return this;
  }
  delete(k: PyValue): boolean {
    return this.map ? this.map.delete(k) : false;
  }
  keys(): IterableIterator<PyValue> {
    return this.contents.keys();
  }
  values(): IterableIterator<PyValue> {
    return this.contents.values();
  }
  entries(): IterableIterator<[PyValue, PyValue]> {
    return this.contents.entries();
  }
  forEach(f: (v: PyValue, k: PyValue) => void): void {
    this.contents.forEach((v, k) => f(v, k));
  }
  [Symbol.iterator](): IterableIterator<[PyValue, PyValue]> {
    return this.contents.entries();
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

/**
 * What a global is to this reader: a torch tensor-rebuild callable or dtype/storage/constant
 * (allow-listed, given a data-only meaning), a known plain-data class, a name we know nothing
 * about, or a callable that runs code under torch.load.
 */
export type GlobalRole = 'function' | 'class' | 'dtype' | 'storage' | 'constant' | 'data' | 'unknown' | 'dangerous';

/** A global named by the pickle. It is a name, never a reference to code. */
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

/**
 * An inert object: the result of calling (REDUCE) or instantiating (NEWOBJ/INST/OBJ) a global
 * that this reader gives no richer meaning. Nothing was called: `type` names what would have
 * been, `args` are the arguments it would have received.
 */
export class PyObject {
  /** BUILD state (what `__setstate__` or `__dict__.update` would receive). */
  state: PyValue | undefined = undefined;
  /** SETITEM(S) on the object (what its `__setitem__` would receive), in order. */
  items: PyDict | undefined = undefined;
  /** APPEND(S) on the object (what its `append`/`extend` would receive). */
  list: PyValue[] | undefined = undefined;
  /** A numpy array decoded from `_reconstruct` + BUILD state. */
  array: NdArrayRef | undefined = undefined;
  constructor(
    readonly type: string,
    readonly args: PyValue[],
    /** 'call': REDUCE of a callable; 'new': instantiation of a class without calling user code paths we can name. */
    readonly via: 'call' | 'new' = 'call',
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
    /** The storage class named by the persistent id (`QInt8Storage`…), when known. */
    readonly typeName?: string,
    /** The archive folder holding the record (`data`, or `constants` for TorchScript constants). */
    readonly dir = 'data',
  ) {}
}

/** Quantizer parameters of a quantized tensor, as `_rebuild_qtensor` receives them. */
export interface Quantization {
  scheme: 'per_tensor_affine' | 'per_channel_affine' | 'per_channel_affine_float_qparams';
  /** Per-tensor scale and zero point. */
  scale?: number;
  zeroPoint?: number;
  /** Per-channel scales and zero points (tensors), along `axis`. */
  scales?: TensorRef;
  zeroPoints?: TensorRef;
  axis?: number;
  /** The torch quantized dtype name (qint8, quint8, qint32, quint4x2). */
  qdtype: string;
}

export { internDims } from '../core/dims';

/** What torch._utils._rebuild_tensor* describes: a strided view into a storage. */
export class TensorRef {
  isParameter = false;
  /** Quantizer parameters of a quantized tensor (its storage holds the integer representation). */
  quantization: Quantization | undefined = undefined;
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

/** A numpy array whose bytes were inside the pickle (a `_reconstruct` + BUILD pair). */
export interface NdArrayRef {
  dtype: DType;
  /** numpy's dtype string, e.g. `<f8`. */
  descr: string;
  shape: number[];
  strides: number[];
  byteOrder: 'little' | 'big';
  /** The raw element bytes (already converted for longdouble). */
  data: Uint8Array;
  note?: string;
}

/**
 * Tuples are arrays whose prototype is this (an Array.prototype child): a WeakSet of millions of
 * tuples costs the GC seconds, and a symbol-keyed mark gives every tuple a property store of
 * its own (40 bytes each; a state dict pickles four tuples per tensor).
 */
const TUPLE_PROTO: object = Object.create(Array.prototype);

/** Marks an array as a Python tuple (immutable: APPEND refuses it). */
export function tuple(items: PyValue[]): PyValue[] {
  return Object.setPrototypeOf(items, TUPLE_PROTO) as PyValue[];
}

export function isTuple(v: PyValue): v is PyValue[] {
  return Array.isArray(v) && Object.getPrototypeOf(v) === TUPLE_PROTO;
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

/** True for an inert object that is a pickled `torch.nn.Module` (its `__dict__` has the module tables). */
export function isModuleObject(v: PyValue): v is PyObject & { state: PyDict } {
  return v instanceof PyObject && v.state instanceof PyDict && v.state.get('_parameters') instanceof PyDict && v.state.get('_modules') instanceof PyDict;
}
