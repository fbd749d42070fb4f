// A listing's tensor rows packed in columns: every name in one string, numbers in typed arrays.
// This is what crosses worker → extension host → page. A million rows as objects took 4 s to
// structured-clone, ~1 GB in the extension host and a 96 MB JSON message the page never
// received; packed, they are ~50 MB of buffers that cross as they are. Pure: runs in webviews.

/** One tensor as the host and the page show it (TensorInfo without its byte location). */
export interface TensorRow {
  name: string;
  dtype: string;
  shape: number[];
  numel: number;
  nbytes: number;
  storageId?: string;
  sharesStorageWith?: string[];
  /** How the values were obtained when not a plain read (dequantized, sparse, broadcast, a note). */
  stored?: string;
}

/** Strings concatenated: string i is `text.slice(ends[i - 1] ?? 0, ends[i])`. */
export interface PackedStrings {
  text: string;
  ends: Uint32Array;
}

export interface PackedRows {
  names: PackedStrings;
  /** The distinct dtypes; `dtype[i]` indexes it. */
  dtypes: string[];
  dtype: Uint16Array;
  /** Row i's dims are `dims.subarray(shapeEnds[i - 1] ?? 0, shapeEnds[i])`. */
  shapeEnds: Uint32Array;
  dims: Float64Array;
  numel: Float64Array;
  nbytes: Float64Array;
  /** The distinct storage ids; `storage[i]` indexes them, -1 when the row has none. */
  storageIds: PackedStrings;
  storage: Int32Array;
  /** Rows that name the tensors sharing their storage (small groups: tied weights). */
  shares: [number, string[]][];
  /** Rows whose values are not a plain read, with how they were obtained. */
  stored: [number, string][];
}

/** Names kept per storage (16 others for any member). */
const KEPT = 17;

export interface Sharing {
  /** Up to 16 other tensors on the same storage. */
  others: string[];
  /** How many other tensors share it. */
  count: number;
}

/** Appends rows into growing columns; `finish` returns them trimmed. */
export class PackedRowsBuilder {
  private n = 0;
  private readonly names: string[] = [];
  private nameEnds = new Uint32Array(1024);
  private nameLen = 0;
  private readonly dtypeIndex = new Map<string, number>();
  private dtype = new Uint16Array(1024);
  private shapeEnds = new Uint32Array(1024);
  private dims = new Float64Array(2048);
  private ndims = 0;
  private numel = new Float64Array(1024);
  private nbytes = new Float64Array(1024);
  private storage = new Int32Array(1024);
  private readonly storageIndex = new Map<string, number>();
  private readonly storageIds: string[] = [];
  private storageEnds = new Uint32Array(1024);
  private storageLen = 0;
  private readonly shares: [number, string[]][] = [];
  private readonly stored: [number, string][] = [];

  add(r: TensorRow): void {
    const i = this.n++;
    if (i === this.numel.length) this.grow();
    this.names.push(r.name);
    this.nameLen += r.name.length;
    this.nameEnds[i] = this.nameLen;
    let d = this.dtypeIndex.get(r.dtype);
    if (d === undefined) this.dtypeIndex.set(r.dtype, (d = this.dtypeIndex.size));
    this.dtype[i] = d;
    if (this.ndims + r.shape.length > this.dims.length) this.dims = grown(this.dims, this.ndims + r.shape.length);
    for (const x of r.shape) this.dims[this.ndims++] = x;
    this.shapeEnds[i] = this.ndims;
    this.numel[i] = r.numel;
    this.nbytes[i] = r.nbytes;
    this.storage[i] = r.storageId === undefined ? -1 : this.storageOf(r.storageId);
    if (r.sharesStorageWith?.length) this.shares.push([i, r.sharesStorageWith]);
    if (r.stored) this.stored.push([i, r.stored]);
  }

  finish(): PackedRows {
    const n = this.n;
    return {
      names: { text: this.names.join(''), ends: this.nameEnds.slice(0, n) },
      dtypes: [...this.dtypeIndex.keys()],
      dtype: this.dtype.slice(0, n),
      shapeEnds: this.shapeEnds.slice(0, n),
      dims: this.dims.slice(0, this.ndims),
      numel: this.numel.slice(0, n),
      nbytes: this.nbytes.slice(0, n),
      storageIds: { text: this.storageIds.join(''), ends: this.storageEnds.slice(0, this.storageIds.length) },
      storage: this.storage.slice(0, n),
      shares: this.shares,
      stored: this.stored,
    };
  }

  private storageOf(id: string): number {
    let s = this.storageIndex.get(id);
    if (s === undefined) {
      s = this.storageIds.length;
      this.storageIndex.set(id, s);
      this.storageIds.push(id);
      if (s === this.storageEnds.length) this.storageEnds = grown(this.storageEnds, s + 1);
      this.storageLen += id.length;
      this.storageEnds[s] = this.storageLen;
    }
    return s;
  }

  private grow(): void {
    const m = this.numel.length + 1;
    this.nameEnds = grown(this.nameEnds, m);
    this.dtype = grown(this.dtype, m);
    this.shapeEnds = grown(this.shapeEnds, m);
    this.numel = grown(this.numel, m);
    this.nbytes = grown(this.nbytes, m);
    this.storage = grown(this.storage, m);
  }
}

function grown<T extends Uint32Array | Uint16Array | Int32Array | Float64Array>(a: T, atLeast: number): T {
  const b = new (a.constructor as new (n: number) => T)(Math.max(atLeast, a.length * 2));
  b.set(a);
  return b;
}

export function packRows(rows: Iterable<TensorRow>): PackedRows {
  const b = new PackedRowsBuilder();
  for (const r of rows) b.add(r);
  return b.finish();
}

function stringAt(s: PackedStrings, i: number): string {
  return s.text.slice(i === 0 ? 0 : s.ends[i - 1], s.ends[i]);
}

/** Read access to packed rows: fields by index, whole rows made on demand. */
export class TensorTable {
  readonly length: number;
  private byName?: Map<string, number>;
  private sharesOf?: Map<number, string[]>;
  private storedOf?: Map<number, string>;
  private storageCounts?: Uint32Array;
  private storageNames?: Map<number, string[]>;

  constructor(readonly packed: PackedRows) {
    this.length = packed.numel.length;
  }

  name(i: number): string {
    return stringAt(this.packed.names, i);
  }

  dtype(i: number): string {
    return this.packed.dtypes[this.packed.dtype[i]];
  }

  rank(i: number): number {
    return this.packed.shapeEnds[i] - (i === 0 ? 0 : this.packed.shapeEnds[i - 1]);
  }

  shape(i: number): number[] {
    return Array.from(this.packed.dims.subarray(i === 0 ? 0 : this.packed.shapeEnds[i - 1], this.packed.shapeEnds[i]));
  }

  numel(i: number): number {
    return this.packed.numel[i];
  }

  nbytes(i: number): number {
    return this.packed.nbytes[i];
  }

  /** The row's storage as a number (equal for rows on one storage), -1 when it has none. */
  storageKey(i: number): number {
    return this.packed.storage[i];
  }

  storageId(i: number): string | undefined {
    const s = this.packed.storage[i];
    return s < 0 ? undefined : stringAt(this.packed.storageIds, s);
  }

  stored(i: number): string | undefined {
    this.storedOf ??= new Map(this.packed.stored);
    return this.storedOf.get(i);
  }

  /** The names the reader put on the row (small shared groups only); see `sharing`. */
  sharesStorageWith(i: number): string[] | undefined {
    this.sharesOf ??= new Map(this.packed.shares);
    return this.sharesOf.get(i);
  }

  row(i: number): TensorRow {
    const storageId = this.storageId(i);
    const shares = this.sharesStorageWith(i);
    const stored = this.stored(i);
    return {
      name: this.name(i),
      dtype: this.dtype(i),
      shape: this.shape(i),
      numel: this.numel(i),
      nbytes: this.nbytes(i),
      ...(storageId !== undefined ? { storageId } : {}),
      ...(shares ? { sharesStorageWith: shares } : {}),
      ...(stored ? { stored } : {}),
    };
  }

  *rows(): IterableIterator<TensorRow> {
    for (let i = 0; i < this.length; i++) yield this.row(i);
  }

  *names(): IterableIterator<string> {
    for (let i = 0; i < this.length; i++) yield this.name(i);
  }

  /** The row of a tensor name, -1 when there is none (the index is built on first use). */
  indexOf(name: string): number {
    if (!this.byName) {
      this.byName = new Map();
      for (let i = 0; i < this.length; i++) this.byName.set(this.name(i), i);
    }
    return this.byName.get(name) ?? -1;
  }

  /** True when another tensor shares row i's storage. */
  isShared(i: number): boolean {
    const s = this.packed.storage[i];
    return s >= 0 && this.counts()[s] > 1;
  }

  /**
   * The other tensors on row i's storage, or undefined when it has it alone. Rows name them only
   * for small groups: a storage under a million views would repeat its names on every row.
   */
  sharing(i: number): Sharing | undefined {
    const s = this.packed.storage[i];
    const given = this.sharesStorageWith(i);
    const count = s >= 0 ? this.counts()[s] : 0;
    if (given?.length) return { others: given, count: Math.max(given.length, count - 1) };
    if (count < 2) return undefined;
    if (!this.storageNames) {
      this.storageNames = new Map();
      for (let j = 0; j < this.length; j++) {
        const t = this.packed.storage[j];
        if (t < 0 || this.counts()[t] < 2) continue;
        let names = this.storageNames.get(t);
        if (!names) this.storageNames.set(t, (names = []));
        if (names.length < KEPT) names.push(this.name(j));
      }
    }
    const me = this.name(i);
    return { others: (this.storageNames.get(s) ?? []).filter((n) => n !== me).slice(0, KEPT - 1), count: count - 1 };
  }

  private counts(): Uint32Array {
    if (!this.storageCounts) {
      this.storageCounts = new Uint32Array(this.packed.storageIds.ends.length);
      for (const s of this.packed.storage) if (s >= 0) this.storageCounts[s]++;
    }
    return this.storageCounts;
  }
}

// --- validation (messages from another thread or a webview are checked before use) -----------

const tag = (v: unknown): string => Object.prototype.toString.call(v);
const isU32 = (v: unknown): v is Uint32Array => tag(v) === '[object Uint32Array]';

function validStrings(v: unknown, maxCount: number): v is PackedStrings {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as Partial<PackedStrings>;
  if (typeof s.text !== 'string' || !isU32(s.ends) || s.ends.length > maxCount) return false;
  let last = 0;
  for (const e of s.ends) {
    if (e < last) return false;
    last = e;
  }
  return last <= s.text.length;
}

/** Every column present, typed as declared, of one length, with indexes and ends in range. */
export function isPackedRows(v: unknown): v is PackedRows {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Partial<PackedRows>;
  if (tag(p.numel) !== '[object Float64Array]' || tag(p.nbytes) !== '[object Float64Array]' || tag(p.dims) !== '[object Float64Array]') return false;
  if (tag(p.dtype) !== '[object Uint16Array]' || tag(p.storage) !== '[object Int32Array]' || !isU32(p.shapeEnds)) return false;
  const n = p.numel!.length;
  if (p.nbytes!.length !== n || p.dtype!.length !== n || p.storage!.length !== n || p.shapeEnds!.length !== n) return false;
  if (!validStrings(p.names, Infinity) || p.names.ends.length !== n || !validStrings(p.storageIds, n)) return false;
  if (!Array.isArray(p.dtypes) || !p.dtypes.every((d) => typeof d === 'string')) return false;
  const counts = (a: Float64Array): boolean => a.every((x) => Number.isSafeInteger(x) && x >= 0);
  if (!counts(p.numel!) || !counts(p.nbytes!) || !counts(p.dims!)) return false;
  if (p.dtype!.some((d) => d >= p.dtypes!.length)) return false;
  const nStorages = p.storageIds.ends.length;
  if (p.storage!.some((s) => s < -1 || s >= nStorages)) return false;
  let last = 0;
  for (const e of p.shapeEnds!) {
    if (e < last) return false;
    last = e;
  }
  if (last > p.dims!.length) return false;
  const row = (i: unknown): boolean => Number.isSafeInteger(i) && (i as number) >= 0 && (i as number) < n;
  if (!Array.isArray(p.shares) || !p.shares.every((e) => Array.isArray(e) && e.length === 2 && row(e[0]) && Array.isArray(e[1]) && e[1].every((x) => typeof x === 'string'))) return false;
  if (!Array.isArray(p.stored) || !p.stored.every((e) => Array.isArray(e) && e.length === 2 && row(e[0]) && typeof e[1] === 'string')) return false;
  return true;
}

const tables = new WeakMap<PackedRows, TensorTable>();

/** The table of packed rows, made once per packed object (its name index and sharing are kept). */
export function tableOf(p: PackedRows): TensorTable {
  let t = tables.get(p);
  if (!t) tables.set(p, (t = new TensorTable(p)));
  return t;
}
