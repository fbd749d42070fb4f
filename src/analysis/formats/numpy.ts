// NumPy `.npy` (one array) and `.npz` (a zip of `<key>.npy` entries).
// The header is a Python literal dict; it is parsed by a tiny literal parser, never evaluated.
// Spec: numpy/lib/format.py module docstring.
import { basename } from 'node:path';
import { endianness } from 'node:os';
import type { Checkpoint, TensorInfo, Value } from '../core/checkpoint';
import { contiguousStrides } from '../core/checkpoint';
import type { DType } from '../core/dtype';
import { dtypeSize } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource, SliceSource } from '../io/byteSource';
import { longDoubleToF64 } from './numpyPickle';
import { bytesRepr } from './pickleText';
import { DEFAULT_MAX_INFLATED, ZipArchive, type ZipEntry } from './zip';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Header refusals that mean "not a numeric array" (an npz skips such members). */
const NON_NUMERIC = /holds Python objects|holds strings or raw records|datetime\/timedelta|structured dtype|sub-array dtype|unsupported dtype|extended precision/;
/** numpy's own default `max_header_size`: larger headers are refused by `np.load` too. */
export const MAX_NPY_HEADER_BYTES = 10_000;

export interface NpyHeader {
  version: string;
  /** The descr string as written, e.g. `<f4`. */
  descr: string;
  dtype: DType;
  byteOrder: 'little' | 'big';
  fortranOrder: boolean;
  shape: number[];
  numel: number;
  /** Stored bytes of the array data (numel × itemSize). */
  nbytes: number;
  /** Bytes per stored element (16 or 12 for longdouble, whose values are read as float64). */
  itemSize: number;
  /** `longdouble` (x87 extended precision): values are converted to float64 when read. */
  longDouble?: boolean;
  /** Offset of the array data from the start of the .npy stream. */
  dataOffset: number;
}

/** A header whose descr is a string dtype (`<U5`, `|S3`): its elements are shown as values. */
export interface NpyTextHeader {
  version: string;
  kind: 'U' | 'S';
  descr: string;
  /** Bytes per element (4 per character for U). */
  itemSize: number;
  byteOrder: 'little' | 'big';
  fortranOrder: boolean;
  shape: number[];
  numel: number;
  nbytes: number;
  dataOffset: number;
}

// --- .npy -----------------------------------------------------------------------------------

export async function openNpy(path: string): Promise<Checkpoint> {
  return npyFromSource(await FileSource.open(path), path);
}

/** A .npy file on any byte source (local, or remote by range). Closes `src` on failure. */
export async function npyFromSource(src: ByteSource, path: string): Promise<Checkpoint> {
  try {
    const name = basename(path.replace(/[?#].*$/, '')).replace(/\.npy$/i, '');
    const text = parseNpyTextHeader(await src.read(0, Math.min(src.size, 12 + MAX_NPY_HEADER_BYTES)), src.label);
    if (text) {
      // A string array: its elements are the file's one value.
      const big = textTooLarge(text);
      if (big) throw new CheckpointError(path, `${big}; it holds no numeric array`);
      if (text.dataOffset + text.nbytes > src.size) throw new CheckpointError(path, `array data needs ${text.nbytes} bytes after the ${text.dataOffset}-byte header, but the file has only ${Math.max(0, src.size - text.dataOffset)} (truncated)`);
      const value = textValue(text, await src.read(text.dataOffset, text.nbytes));
      await src.close();
      return { path, format: 'npy', metadata: { npy_version: text.version, descr: text.descr, fortran_order: text.fortranOrder }, values: { [name]: value }, tensors: [], stateDictPrefix: '', warnings: [], close: async () => undefined };
    }
    const header = await readNpyHeader(src);
    const warnings = trailingWarning(header, src.size);
    return {
      path,
      format: 'npy',
      metadata: { npy_version: header.version, descr: header.descr, fortran_order: header.fortranOrder },
      values: {},
      tensors: [npyTensor(name, header, src)],
      stateDictPrefix: '',
      warnings,
      close: () => src.close(),
    };
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** Reads and validates the .npy header at the start of `src` (errors name `src.label`). */
export async function readNpyHeader(src: ByteSource): Promise<NpyHeader> {
  const prefix = await src.read(0, Math.min(src.size, 12 + MAX_NPY_HEADER_BYTES));
  const header = parseNpyHeader(prefix, src.label);
  if (header.dataOffset + header.nbytes > src.size) {
    throw new CheckpointError(src.label, `array data needs ${header.nbytes} bytes after the ${header.dataOffset}-byte header, but the file has only ${Math.max(0, src.size - header.dataOffset)} (truncated)`);
  }
  return header;
}

/**
 * Parses a .npy preamble from its first bytes (at least the whole header; extra bytes are
 * ignored). Data-size checks against the file are the caller's.
 */
export function parseNpyHeader(bytes: Uint8Array, label: string): NpyHeader {
  const p = parseNpyPreamble(bytes, label);
  const { dtype, byteOrder, descr, itemSize, longDouble } = parseDescr(p.descr, label);
  const nbytes = p.numel * itemSize;
  if (!Number.isSafeInteger(nbytes)) throw new CheckpointError(label, `shape ${formatPy({ kind: 'tuple', items: p.shape })} of ${descr} is too large in bytes`);
  return { version: p.version, descr, dtype, byteOrder, fortranOrder: p.fortranOrder, shape: p.shape, numel: p.numel, nbytes, itemSize, ...(longDouble ? { longDouble } : {}), dataOffset: p.dataOffset };
}

/** The header of a string array (`<U5`, `|S3`), or undefined for any other dtype. */
export function parseNpyTextHeader(bytes: Uint8Array, label: string): NpyTextHeader | undefined {
  const p = parseNpyPreamble(bytes, label);
  const m = typeof p.descr === 'string' ? /^([<>|=]?)([SU])(\d+)$/.exec(p.descr) : null;
  if (!m) return undefined;
  const kind = m[2] as 'U' | 'S';
  const itemSize = Number(m[3]) * (kind === 'U' ? 4 : 1);
  const nbytes = p.numel * itemSize;
  if (!Number.isSafeInteger(nbytes)) throw new CheckpointError(label, `string array of ${p.numel} elements is too large in bytes`);
  const big = m[1] === '>' || (m[1] === '=' && endianness() === 'BE');
  return { version: p.version, kind, descr: p.descr as string, itemSize, byteOrder: big ? 'big' : 'little', fortranOrder: p.fortranOrder, shape: p.shape, numel: p.numel, nbytes, dataOffset: p.dataOffset };
}

/** Everything in a .npy header but the dtype: version, descr as written, order, shape. */
function parseNpyPreamble(bytes: Uint8Array, label: string): { version: string; descr: PyValue; fortranOrder: boolean; shape: number[]; numel: number; dataOffset: number } {
  const fail = (problem: string): never => {
    throw new CheckpointError(label, problem);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy file (missing the \\x93NUMPY magic)');
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) fail(`unsupported .npy format version ${major}.${minor} (known: 1.0, 2.0, 3.0)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let lengthEnd = 10;
  let headerLength: number;
  if (major === 1) headerLength = dv.getUint16(8, true);
  else {
    if (bytes.length < 12) fail('file ends inside the header length (truncated)');
    headerLength = dv.getUint32(8, true);
    lengthEnd = 12;
  }
  if (headerLength > MAX_NPY_HEADER_BYTES) fail(`header length ${headerLength} exceeds ${MAX_NPY_HEADER_BYTES} bytes (numpy's own limit for safe loading)`);
  if (lengthEnd + headerLength > bytes.length) fail(`header of ${headerLength} bytes runs past the end of the file (truncated)`);
  const raw = bytes.subarray(lengthEnd, lengthEnd + headerLength);
  let text = '';
  if (major === 3) {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      fail('version 3.0 header is not valid UTF-8');
    }
  } else {
    text = String.fromCharCode(...raw); // latin1
  }

  let dict: PyValue;
  try {
    dict = parsePythonLiteral(text, { longSuffix: major < 3 });
  } catch (e) {
    if (e instanceof LiteralError) fail(`header is not a valid Python literal: ${e.message}`);
    throw e;
  }
  if (!isDict(dict)) fail('header is not a dictionary');
  const fields = new Map<string, PyValue>();
  for (const [k, v] of (dict as PyDict).entries) {
    if (typeof k !== 'string') fail('header dictionary has a non-string key');
    fields.set(k as string, v);
  }
  const keys = [...fields.keys()].sort();
  if (keys.join(',') !== 'descr,fortran_order,shape') fail(`header keys are {${keys.join(', ')}}, expected exactly {descr, fortran_order, shape}`);

  const shapeValue = fields.get('shape')!;
  if (!isTuple(shapeValue) || !(shapeValue as PyTuple).items.every((d) => typeof d === 'number')) {
    fail(`shape ${formatPy(shapeValue)} is not a tuple of integers`);
  }
  const shape = (shapeValue as PyTuple).items as number[];
  if (shape.some((d) => d < 0)) fail(`shape ${formatPy(shapeValue)} has a negative dimension`);
  const fortranOrder = fields.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') fail(`fortran_order is ${formatPy(fortranOrder!)}, expected True or False`);

  let numel = 1;
  for (const d of shape) {
    numel *= d;
    if (!Number.isSafeInteger(numel)) fail(`shape ${formatPy(shapeValue)} has too many elements`);
  }
  return { version: `${major}.${minor}`, descr: fields.get('descr')!, fortranOrder: fortranOrder as boolean, shape, numel, dataOffset: lengthEnd + headerLength };
}

const DESCR_KINDS: Record<string, Partial<Record<number, DType>>> = {
  f: { 2: 'F16', 4: 'F32', 8: 'F64' },
  c: { 8: 'C64', 16: 'C128' },
  i: { 1: 'I8', 2: 'I16', 4: 'I32', 8: 'I64' },
  u: { 1: 'U8', 2: 'U16', 4: 'U32', 8: 'U64' },
  b: { 1: 'BOOL' },
};

function parseDescr(value: PyValue, label: string): { dtype: DType; byteOrder: 'little' | 'big'; descr: string; itemSize: number; longDouble?: boolean } {
  const fail = (problem: string): never => {
    throw new CheckpointError(label, problem);
  };
  if (isList(value)) fail('structured dtype (record fields) is not supported; only plain numeric arrays are');
  if (isTuple(value)) fail(`sub-array dtype ${formatPy(value)} is not supported; only plain numeric arrays are`);
  if (typeof value !== 'string') fail(`descr ${formatPy(value)} is not a dtype string`);
  const descr = value as string;
  const m = /^([<>|=]?)([a-zA-Z?])(\d*)(.*)$/.exec(descr);
  if (!m) fail(`unknown dtype ${JSON.stringify(descr)}`);
  const [, order, kind, sizeText, rest] = m!;
  if (kind === 'O') fail(`array holds Python objects (dtype ${JSON.stringify(descr)}): its data is a pickle, which is never executed here`);
  if ('SaUV'.includes(kind)) fail(`dtype ${JSON.stringify(descr)} holds strings or raw records, not numbers; not supported`);
  if (kind === 'M' || kind === 'm') fail(`dtype ${JSON.stringify(descr)} (datetime/timedelta) is not supported`);
  const size = kind === '?' ? 1 : Number(sizeText);
  const big = order === '>' || (order === '=' && endianness() === 'BE');
  // numpy's longdouble on x86 is the x87 80-bit format padded to 16 (or 12) bytes: read as float64.
  if (kind === 'f' && (size === 16 || size === 12) && rest === '') return { dtype: 'F64', byteOrder: big ? 'big' : 'little', descr, itemSize: size, longDouble: true };
  const dtype = rest === '' ? DESCR_KINDS[kind === '?' ? 'b' : kind]?.[size] : undefined;
  if (!dtype) {
    if ((kind === 'f' && size > 8) || (kind === 'c' && size > 16)) fail(`dtype ${JSON.stringify(descr)} (extended precision) is not supported`);
    fail(`unsupported dtype ${JSON.stringify(descr)}`);
  }
  return { dtype: dtype!, byteOrder: big && size > 1 ? 'big' : 'little', descr, itemSize: dtypeSize(dtype!) };
}

function npyTensor(name: string, h: NpyHeader, source: ByteSource): TensorInfo {
  if (h.longDouble) {
    const bytes = h.numel * 8;
    return {
      name,
      dtype: 'F64',
      shape: h.shape,
      numel: h.numel,
      nbytes: bytes,
      location: {
        source: new LongDoubleSource(source, h.dataOffset, h.numel, h.itemSize, h.byteOrder),
        storageByteOffset: 0,
        storageBytes: bytes,
        elementOffset: 0,
        strides: h.fortranOrder ? fortranStrides(h.shape) : contiguousStrides(h.shape),
        byteOrder: 'little',
      },
      note: `numpy ${h.descr} array; longdouble converted to float64`,
    };
  }
  return {
    name,
    dtype: h.dtype,
    shape: h.shape,
    numel: h.numel,
    nbytes: h.nbytes,
    location: {
      source,
      storageByteOffset: h.dataOffset,
      storageBytes: h.nbytes,
      elementOffset: 0,
      strides: h.fortranOrder ? fortranStrides(h.shape) : contiguousStrides(h.shape),
      byteOrder: h.byteOrder,
    },
  };
}

/**
 * A longdouble array seen as little-endian float64 bytes: each read converts the stored
 * elements it covers, so the values stream like any other tensor's.
 */
class LongDoubleSource implements ByteSource {
  readonly size: number;
  readonly label: string;
  constructor(
    private readonly parent: ByteSource,
    private readonly dataOffset: number,
    numel: number,
    private readonly itemSize: number,
    private readonly byteOrder: 'little' | 'big',
  ) {
    this.size = numel * 8;
    this.label = parent.label;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new CheckpointError(this.label, `read of ${length} bytes at ${offset} is outside the ${this.size} float64 bytes of the converted array`);
    const first = Math.floor(offset / 8);
    const end = Math.ceil((offset + length) / 8);
    const raw = await this.parent.read(this.dataOffset + first * this.itemSize, (end - first) * this.itemSize);
    const f64 = longDoubleToF64(raw, this.itemSize, this.byteOrder);
    return f64.subarray(offset - first * 8, offset - first * 8 + length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    target.set(await this.read(offset, target.length));
  }
  async close(): Promise<void> {}
}

/** String arrays shown as values at most this large (elements, bytes); larger ones are skipped. */
const MAX_TEXT_ELEMENTS = 10_000;
const MAX_TEXT_BYTES = 1024 * 1024;

/** Why a string array is not shown as a value, or undefined when it is small enough. */
export function textTooLarge(h: NpyTextHeader): string | undefined {
  if (h.numel <= MAX_TEXT_ELEMENTS && h.nbytes <= MAX_TEXT_BYTES) return undefined;
  return `dtype ${JSON.stringify(h.descr)} array of ${h.numel} strings (${h.nbytes} bytes) is larger than the ${MAX_TEXT_ELEMENTS} strings or ${MAX_TEXT_BYTES} bytes shown as a value`;
}

/**
 * The elements of a string array as numpy gives them: str for `U` (UTF-32, trailing NULs
 * stripped), bytes for `S` shown as Python's repr (b'…'), nested lists by shape (0-d: the scalar).
 */
export function textValue(h: NpyTextHeader, data: Uint8Array): Value {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const element = (i: number): string => {
    const at = i * h.itemSize;
    if (h.kind === 'S') {
      let end = at + h.itemSize;
      while (end > at && data[end - 1] === 0) end--;
      return bytesRepr(data.subarray(at, end));
    }
    let out = '';
    for (let k = 0; k < h.itemSize / 4; k++) {
      const cp = dv.getUint32(at + 4 * k, h.byteOrder === 'little');
      out += cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
    }
    return out.replace(/\0+$/, '');
  };
  if (h.shape.length === 0) return element(0);
  const strides = h.fortranOrder ? fortranStrides(h.shape) : contiguousStrides(h.shape);
  const build = (dim: number, offset: number): Value[] =>
    Array.from({ length: h.shape[dim] }, (_, i) => (dim === h.shape.length - 1 ? element(offset + i * strides[dim]) : build(dim + 1, offset + i * strides[dim])));
  return build(0, 0);
}

/** Column-major strides in elements: the first index varies fastest. */
export function fortranStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = 0; i < shape.length; i++) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function trailingWarning(h: NpyHeader, size: number): string[] {
  const extra = size - h.dataOffset - h.nbytes;
  return extra > 0 ? [`${extra} bytes after the array data are ignored`] : [];
}

// --- .npz -----------------------------------------------------------------------------------

export async function openNpz(path: string, opts: { maxInflatedBytes?: number } = {}): Promise<Checkpoint> {
  return npzFromSource(await FileSource.open(path), path, opts);
}

/**
 * An .npz archive on any byte source (a local file, or a URL read by range: the central
 * directory, then each member's header, then values on demand). Closes `file` on failure.
 */
export async function npzFromSource(file: ByteSource, path: string, opts: { maxInflatedBytes?: number } = {}): Promise<Checkpoint> {
  try {
    const zip = await ZipArchive.open(file);
    const cap = opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED;
    const tensors: TensorInfo[] = [];
    const warnings: string[] = [];
    const values: Record<string, Value> = Object.create(null) as Record<string, Value>;
    for (const entry of zip.entries) {
      if (entry.name.endsWith('/')) continue;
      if (!entry.name.endsWith('.npy')) {
        warnings.push(`entry ${JSON.stringify(entry.name)} is not a .npy array and was skipped`);
        continue;
      }
      const label = `${path}:${entry.name}`;
      let source: ByteSource;
      let header: NpyHeader;
      const member = entry.name.slice(0, -'.npy'.length);
      try {
        if (entry.method === 0) {
          // The header is read in place; the member's CRC is checked when its values are first read.
          header = await readNpyHeader(new SliceSource(zip.source, await zip.locate(entry), entry.uncompressedSize, label));
        } else {
          if (entry.method !== 8) throw new CheckpointError(path, `entry ${JSON.stringify(entry.name)} uses compression method ${entry.method}; only stored and deflate are supported`);
          header = parseNpyHeader(await zip.inflatePrefix(entry, 12 + MAX_NPY_HEADER_BYTES), label);
        }
      } catch (e) {
        // A member that is not a numeric array (object arrays, strings, records: every
        // scipy.sparse.save_npz file has some) is listed as skipped; the others still open.
        if (e instanceof CheckpointError && NON_NUMERIC.test(e.message)) {
          // String and bytes members (a run name, class labels) are shown as values when small.
          const prefix = entry.method === 0 ? await zip.source.read(await zip.locate(entry), Math.min(entry.uncompressedSize, 12 + MAX_NPY_HEADER_BYTES)) : await zip.inflatePrefix(entry, 12 + MAX_NPY_HEADER_BYTES);
          const text = parseNpyTextHeader(prefix, label);
          const big = text && textTooLarge(text);
          if (text && !big) {
            if (text.dataOffset + text.nbytes > entry.uncompressedSize) throw new CheckpointError(label, `array data needs ${text.nbytes} bytes after the ${text.dataOffset}-byte header, but the entry has only ${Math.max(0, entry.uncompressedSize - text.dataOffset)} (truncated)`);
            const data = await zip.readEntry(entry, text.dataOffset + text.nbytes + MAX_NPY_HEADER_BYTES);
            values[member] = textValue(text, data.subarray(text.dataOffset, text.dataOffset + text.nbytes));
            continue;
          }
          warnings.push(`${member}: skipped, ${big ?? e.message.slice(e.message.indexOf(': ') + 2)}`);
          continue;
        }
        throw e;
      }
      if (entry.method === 0) {
        source = await zip.entrySource(entry);
      } else {
        if (header.dataOffset + header.nbytes > entry.uncompressedSize) {
          throw new CheckpointError(label, `array data needs ${header.nbytes} bytes after the ${header.dataOffset}-byte header, but the entry has only ${Math.max(0, entry.uncompressedSize - header.dataOffset)} (truncated)`);
        }
        if (entry.uncompressedSize > cap) {
          warnings.push(`${entry.name}: compressed array inflates to ${entry.uncompressedSize} bytes, more than the ${cap} allowed; its values cannot be read`);
        }
        source = new DeferredEntrySource(zip, entry, cap, label);
      }
      warnings.push(...trailingWarning(header, source.size).map((w) => `${entry.name}: ${w}`));
      tensors.push(npyTensor(member, header, source));
    }
    return {
      path,
      format: 'npz',
      metadata: {},
      values,
      tensors,
      stateDictPrefix: '',
      warnings,
      close: async () => {
        zip.clearCache();
        await file.close();
      },
    };
  } catch (e) {
    await file.close();
    throw e;
  }
}

/**
 * A deflated .npz member, opened through the archive on its first read (not at open, so listing
 * stays cheap and an over-cap member only fails when its values are asked for). The archive keeps
 * the inflated bytes in its own bounded cache.
 */
class DeferredEntrySource implements ByteSource {
  readonly size: number;
  private source?: Promise<ByteSource>;
  constructor(
    private readonly zip: ZipArchive,
    private readonly entry: ZipEntry,
    private readonly maxInflatedBytes: number,
    readonly label: string,
  ) {
    this.size = entry.uncompressedSize;
  }
  private open(): Promise<ByteSource> {
    this.source ??= this.zip.entrySource(this.entry, { maxInflatedBytes: this.maxInflatedBytes });
    return this.source;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return (await this.open()).read(offset, length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    return (await this.open()).readInto(offset, target);
  }
  async close(): Promise<void> {}
}

// --- Python literal parser ------------------------------------------------------------------

export type PyValue = number | string | boolean | null | PyTuple | PyList | PyDict;
export interface PyTuple { kind: 'tuple'; items: PyValue[] }
export interface PyList { kind: 'list'; items: PyValue[] }
export interface PyDict { kind: 'dict'; entries: [PyValue, PyValue][] }

export class LiteralError extends Error {}

const isTuple = (v: PyValue): v is PyTuple => typeof v === 'object' && v !== null && v.kind === 'tuple';
const isList = (v: PyValue): v is PyList => typeof v === 'object' && v !== null && v.kind === 'list';
const isDict = (v: PyValue): v is PyDict => typeof v === 'object' && v !== null && v.kind === 'dict';

const MAX_LITERAL_DEPTH = 32;

/**
 * Parses the Python literals an .npy header uses: dict, tuple (incl. `(5,)` and `()`), list,
 * str (both quotes, optional u prefix, common escapes), int (optionally signed; with `longSuffix`, Python 2's
 * `5L`), True, False, None. Anything else is a LiteralError.
 */
export function parsePythonLiteral(text: string, opts: { longSuffix?: boolean } = {}): PyValue {
  let pos = 0;
  const err = (what: string): never => {
    throw new LiteralError(`${what} at offset ${pos}`);
  };
  const skip = (): void => {
    while (pos < text.length && ' \t\n\r\f\v'.includes(text[pos])) pos++;
  };
  const sequence = (close: string, depth: number): PyValue[] => {
    const items: PyValue[] = [];
    skip();
    while (text[pos] !== close) {
      items.push(value(depth));
      skip();
      if (text[pos] === ',') {
        pos++;
        skip();
      } else if (text[pos] !== close) err(`expected "," or "${close}"`);
    }
    pos++;
    return items;
  };
  const value = (depth: number): PyValue => {
    if (depth > MAX_LITERAL_DEPTH) err('nesting too deep');
    skip();
    const c = text[pos];
    if (c === undefined) return err('unexpected end of header');
    if (c === '{') {
      pos++;
      const entries: [PyValue, PyValue][] = [];
      skip();
      while (text[pos] !== '}') {
        const k = value(depth + 1);
        if (isList(k) || isDict(k)) err('unhashable dictionary key');
        skip();
        if (text[pos] !== ':') err('expected ":"');
        pos++;
        entries.push([k, value(depth + 1)]);
        skip();
        if (text[pos] === ',') {
          pos++;
          skip();
        } else if (text[pos] !== '}') err('expected "," or "}"');
      }
      pos++;
      return { kind: 'dict', entries };
    }
    if (c === '[') {
      pos++;
      return { kind: 'list', items: sequence(']', depth + 1) };
    }
    if (c === '(') {
      pos++;
      skip();
      if (text[pos] === ')') {
        pos++;
        return { kind: 'tuple', items: [] };
      }
      const first = value(depth + 1);
      skip();
      if (text[pos] === ')') {
        pos++;
        return first; // `(x)` is just x in Python; only a comma makes a tuple
      }
      if (text[pos] !== ',') err('expected "," or ")"');
      pos++;
      return { kind: 'tuple', items: [first, ...sequence(')', depth + 1)] };
    }
    if (c === "'" || c === '"') return str();
    if ((c === 'u' || c === 'U') && (text[pos + 1] === "'" || text[pos + 1] === '"')) {
      pos++;
      return str();
    }
    if (/[-+0-9]/.test(c)) return int();
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(pos, pos + 64))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return err(`unsupported literal ${JSON.stringify(text.slice(pos, pos + 12))}`);
  };
  const int = (): number => {
    const m = /^([-+]?)[ \t]*(0|[1-9][0-9]*)/.exec(text.slice(pos, pos + 40));
    if (!m) return err('malformed number');
    pos += m[0].length;
    if (/[.eEjJxXoObB_0-9]/.test(text[pos] ?? '')) err('only decimal integers are supported');
    if (opts.longSuffix && (text[pos] === 'L' || text[pos] === 'l')) pos++;
    const n = Number(m[2]) * (m[1] === '-' ? -1 : 1);
    if (!Number.isSafeInteger(n)) err('integer too large');
    return n;
  };
  const str = (): string => {
    const quote = text[pos++];
    let out = '';
    for (;;) {
      const c = text[pos++];
      if (c === undefined || c === '\n') return err('unterminated string');
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[pos++];
      const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(pos, pos + 2))) {
        out += String.fromCharCode(parseInt(text.slice(pos, pos + 2), 16));
        pos += 2;
      } else err('unsupported string escape');
    }
  };

  const result = value(0);
  skip();
  if (pos !== text.length) err('unexpected text after the literal');
  return result;
}

/** Python-like rendering of a literal, for error messages. */
export function formatPy(v: PyValue): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `'${v}'`;
  if (v.kind === 'tuple') return v.items.length === 1 ? `(${formatPy(v.items[0])},)` : `(${v.items.map(formatPy).join(', ')})`;
  if (v.kind === 'list') return `[${v.items.map(formatPy).join(', ')}]`;
  return `{${v.entries.map(([k, x]) => `${formatPy(k)}: ${formatPy(x)}`).join(', ')}}`;
}
