// GGUF reader (v2, v3; little- and big-endian). The header — key/values, then tensor infos — is read
// through a windowed cursor, so a remote file costs only its header bytes; tensor values are
// range-read later and dequantized chunk by chunk. Every count and length is checked against the
// bytes left in the file before anything is allocated, so a crafted header cannot make us
// allocate or loop beyond the file's size. Checks follow ggml's gguf.cpp (gguf_init_from_file).
import type { Checkpoint, TensorInfo, Value } from '../../core/checkpoint';
import { contiguousStrides } from '../../core/checkpoint';
import { CheckpointError } from '../../core/errors';
import { formatBytes } from '../../core/format';
import { type ByteSource, FileSource } from '../../io/byteSource';
import { setOwn } from '../safetensors';
import { BIG_ENDIAN_UNDECODED, bigEndianKernel } from './bigEndian';
import { GGML_TYPES, RETIRED_TYPES, type GgmlType } from './ggmlTypes';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's GGML_MAX_DIMS. */
const MAX_DIMS = 4;
/** Arrays longer than this keep only their first elements (the rest are skipped, not stored). */
export const ARRAY_KEEP = 64;
const MAX_NESTING = 4;
/** The header is read in windows that start small and double: a file on a server costs little
 * more than its header, whether that is 2 KB (no tokenizer) or 10 MB (a 150k-token vocabulary). */
const FIRST_WINDOW = 16 * 1024;
const MAX_WINDOW = 8 << 20;

export const VALUE_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'] as const;
const VALUE_SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8]; // the least bytes one element takes

/** A metadata value as stored: scalars, strings, and arrays (long arrays truncated to `ARRAY_KEEP`). */
export interface GgufValue {
  type: string;
  value: number | bigint | boolean | string | GgufValue[];
  /** Arrays: the full length (`value` holds at most ARRAY_KEEP elements). */
  length?: number;
  /** Arrays: the element type. */
  elementType?: string;
}

export interface GgufTensorInfo {
  name: string;
  /** Dims as stored, fastest-varying first (ne[0] is the row length). */
  ne: number[];
  type: GgmlType;
  /** Relative to the data section. */
  offset: number;
  nbytes: number;
}

export interface GgufHeader {
  version: number;
  /** Every number in the file, header and tensor data, is stored in this order. */
  byteOrder: 'little' | 'big';
  kv: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataStart: number;
  /** Bytes of the file the header takes (magic to the end of the tensor infos). */
  headerBytes: number;
  warnings: string[];
}

/** Reads the header bytes through a window that grows forward; reads past the file fail clearly. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private dv = new DataView(this.buf.buffer);
  private start = 0;
  private window = FIRST_WINDOW;
  pos = 0;
  /** False for a big-endian file: every number of the header is read big-endian. */
  le = true;
  constructor(private readonly src: ByteSource) {}

  get left(): number {
    return this.src.size - this.pos;
  }

  fail(problem: string): never {
    throw new CheckpointError(this.src.label, problem);
  }

  private async need(n: number, what: string): Promise<number> {
    if (n > this.left) this.fail(`${what} at byte ${this.pos} needs ${n} bytes, but the file ends at ${this.src.size} (truncated?)`);
    const end = this.start + this.buf.length;
    if (this.pos + n > end) {
      // The unread tail of the window is kept; only the bytes after it are read.
      const tail = this.pos < end ? this.buf.subarray(this.pos - this.start) : new Uint8Array(0);
      const from = this.pos + tail.length;
      const len = Math.min(this.src.size - from, Math.max(n - tail.length, this.window));
      this.window = Math.min(2 * this.window, MAX_WINDOW);
      const next = await this.src.read(from, len);
      if (tail.length) {
        this.buf = new Uint8Array(tail.length + next.length);
        this.buf.set(tail);
        this.buf.set(next, tail.length);
      } else {
        this.buf = next;
      }
      this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.start = this.pos;
    }
    const at = this.pos - this.start;
    this.pos += n;
    return at;
  }

  async u32(what: string): Promise<number> {
    const at = await this.need(4, what); // before reading this.dv: need() may replace it
    return this.dv.getUint32(at, this.le);
  }

  /** A u64 that must be a safe integer (counts, lengths, offsets, dims). */
  async count(what: string): Promise<number> {
    const at = await this.need(8, what);
    const v = this.dv.getBigUint64(at, this.le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} is ${v}, beyond any file size (corrupted header)`);
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const n = await this.count(`${what} length`);
    if (n > this.left) this.fail(`${what} is ${n} bytes long, but only ${this.left} bytes remain in the file (corrupted header)`);
    const at = await this.need(n, what);
    return new TextDecoder('utf-8').decode(this.buf.subarray(at, at + n));
  }

  async skip(n: number, what: string): Promise<void> {
    if (n > this.left) this.fail(`${what} at byte ${this.pos} needs ${n} bytes, but the file ends at ${this.src.size} (truncated?)`);
    this.pos += n;
    if (this.pos > this.start + this.buf.length) {
      this.buf = new Uint8Array(0);
      this.start = this.pos;
    }
  }

  async scalar(type: number, what: string): Promise<number | bigint | boolean> {
    const size = VALUE_SIZES[type];
    const at = await this.need(size, what);
    const dv = this.dv;
    switch (type) {
      case 0: return dv.getUint8(at);
      case 1: return dv.getInt8(at);
      case 2: return dv.getUint16(at, this.le);
      case 3: return dv.getInt16(at, this.le);
      case 4: return dv.getUint32(at, this.le);
      case 5: return dv.getInt32(at, this.le);
      case 6: return dv.getFloat32(at, this.le);
      case 7: {
        const b = dv.getUint8(at);
        if (b > 1) this.fail(`${what}: bool value ${b} is neither 0 nor 1`);
        return b === 1;
      }
      case 10: { const v = dv.getBigUint64(at, this.le); return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v; }
      case 11: { const v = dv.getBigInt64(at, this.le); return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v; }
      case 12: return dv.getFloat64(at, this.le);
      default: return this.fail(`${what}: unknown value type ${type}`);
    }
  }
}

async function readValue(c: Cursor, type: number, what: string, depth: number): Promise<GgufValue> {
  if (!(type >= 0 && type < VALUE_TYPES.length)) c.fail(`${what}: unknown value type ${type} (GGUF defines 0-12)`);
  if (type === 8) return { type: 'string', value: await c.string(what) };
  if (type !== 9) return { type: VALUE_TYPES[type], value: await c.scalar(type, what) };
  if (depth >= MAX_NESTING) c.fail(`${what}: arrays nested more than ${MAX_NESTING} deep`);
  const et = await c.u32(`${what} element type`);
  if (!(et >= 0 && et < VALUE_TYPES.length)) c.fail(`${what}: unknown array element type ${et} (GGUF defines 0-12)`);
  const n = await c.count(`${what} length`);
  // Each element takes at least VALUE_SIZES[et] bytes: a count the file cannot hold is refused before looping.
  if (n > c.left / VALUE_SIZES[et]) c.fail(`${what}: array of ${n} ${VALUE_TYPES[et]} values cannot fit in the ${c.left} bytes left (corrupted header)`);
  const items: GgufValue[] = [];
  if (et !== 8 && et !== 9) {
    const keep = Math.min(n, ARRAY_KEEP);
    for (let i = 0; i < keep; i++) items.push({ type: VALUE_TYPES[et], value: await c.scalar(et, `${what}[${i}]`) });
    await c.skip((n - keep) * VALUE_SIZES[et], what);
  } else {
    for (let i = 0; i < n; i++) {
      if (et === 8 && i >= ARRAY_KEEP) {
        const len = await c.count(`${what}[${i}] length`);
        await c.skip(len, `${what}[${i}]`);
        continue;
      }
      const v = await readValue(c, et, `${what}[${i}]`, depth + 1);
      if (i < ARRAY_KEEP) items.push(v);
    }
  }
  return { type: 'array', elementType: VALUE_TYPES[et], length: n, value: items };
}

export async function readGgufHeader(src: ByteSource): Promise<GgufHeader> {
  const c = new Cursor(src);
  if (src.size < 24) c.fail(`file is ${src.size} bytes, too short for a GGUF header`);
  const magic = await c.u32('magic');
  if (magic !== GGUF_MAGIC) c.fail('does not start with the GGUF magic');
  let version = await c.u32('version');
  // The magic is the same bytes in both orders; a big-endian file's version reads as
  // 0x0N000000 little-endian (gguf-py's GGUFReader tests the low 16 bits the same way).
  const byteOrder = version !== 0 && (version & 0xffff) === 0 ? 'big' : 'little';
  if (byteOrder === 'big') {
    c.le = false;
    version = ((version >>> 24) | ((version >>> 8) & 0xff00) | ((version & 0xff00) << 8) | ((version & 0xff) << 24)) >>> 0;
  }
  if (version === 1) c.fail(`GGUF version 1 (pre-August 2023, 32-bit counts) is not supported; convert it with a current llama.cpp`);
  if (version !== 2 && version !== 3) c.fail(`unsupported GGUF version ${version} (this reader handles 2 and 3, either byte order)`);
  const nTensors = await c.count('tensor count');
  const nKv = await c.count('metadata key/value count');
  // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor info at least 8 + 4 + 4 + 8.
  if (nKv > c.left / 13) c.fail(`metadata count ${nKv} cannot fit in a ${src.size}-byte file (corrupted header)`);
  if (nTensors > c.left / 24) c.fail(`tensor count ${nTensors} cannot fit in a ${src.size}-byte file (corrupted header)`);

  const warnings: string[] = [];
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = await c.string(`metadata key #${i}`);
    const type = await c.u32(`type of ${JSON.stringify(key)}`);
    const value = await readValue(c, type, `metadata ${JSON.stringify(key)}`, 0);
    if (kv.has(key)) c.fail(`metadata key ${JSON.stringify(key)} appears twice`);
    kv.set(key, value);
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const al = kv.get('general.alignment');
  if (al) {
    if (al.type !== 'u32' || typeof al.value !== 'number' || al.value === 0 || (al.value & (al.value - 1)) !== 0) {
      c.fail(`general.alignment must be a power-of-two u32, got ${describe(al)}`);
    }
    alignment = al.value as number;
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await c.string(`tensor #${i} name`);
    const where = `tensor ${JSON.stringify(name)}`;
    if (names.has(name)) c.fail(`${where} appears twice`);
    names.add(name);
    const nd = await c.u32(`${where} dimension count`);
    if (nd > MAX_DIMS) c.fail(`${where} has ${nd} dimensions; ggml allows at most ${MAX_DIMS}`);
    const ne: number[] = [];
    for (let d = 0; d < nd; d++) ne.push(await c.count(`${where} dim ${d}`));
    const typeId = await c.u32(`${where} type`);
    const type = GGML_TYPES.get(typeId) as GgmlType;
    if (!type) c.fail(`${where} has ${RETIRED_TYPES[typeId] ? `the retired type ${RETIRED_TYPES[typeId]} (${typeId})` : `unknown ggml type id ${typeId}`}`);
    const offset = await c.count(`${where} offset`);
    let numel = 1;
    for (const d of ne) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) c.fail(`${where}: dims [${ne.join(', ')}] have too many elements (overflow)`);
    }
    if (nd > 0 && ne[0] % type.blockElems !== 0) c.fail(`${where}: row length ne[0] = ${ne[0]} is not a multiple of ${type.name}'s block of ${type.blockElems}`);
    const nbytes = (numel / type.blockElems) * type.blockBytes;
    if (!Number.isSafeInteger(nbytes)) c.fail(`${where}: size overflows`);
    if (offset % alignment !== 0) c.fail(`${where}: data offset ${offset} is not a multiple of the alignment ${alignment}`);
    tensors.push({ name, ne, type, offset, nbytes });
  }
  const headerBytes = c.pos;
  const dataStart = Math.ceil(headerBytes / alignment) * alignment;
  for (const t of tensors) {
    if (dataStart + t.offset + t.nbytes > src.size) {
      c.fail(`tensor ${JSON.stringify(t.name)}: data [${dataStart + t.offset}, ${dataStart + t.offset + t.nbytes}) runs past the end of the ${src.size}-byte file (truncated?)`);
    }
  }
  return { version, byteOrder, kv, tensors, alignment, dataStart, headerBytes, warnings };
}

/** PyTorch-order shape of a tensor stored with GGUF's fastest-first dims. */
export function torchShape(ne: readonly number[]): number[] {
  return ne.slice().reverse();
}

export function ggufTensors(h: GgufHeader, src: ByteSource): TensorInfo[] {
  return h.tensors.map((g) => {
    const shape = torchShape(g.ne);
    const numel = g.ne.reduce((a, b) => a * b, 1);
    const plain = g.type.plain;
    // Grid-coded types have no kernel in either byte order; the rest may need their f16 fields swapped.
    const be = h.byteOrder === 'big' && g.type.kernel ? bigEndianKernel(g.type, g.type.kernel) : undefined;
    const quant = plain ? undefined : be === undefined ? { kernel: g.type.kernel ?? null } : 'kernel' in be ? { kernel: be.kernel } : { kernel: null, undecoded: be.reason };
    return {
      name: g.name,
      dtype: plain ?? 'F32',
      shape,
      numel,
      nbytes: g.nbytes,
      location: {
        source: src,
        storageByteOffset: h.dataStart + g.offset,
        storageBytes: g.nbytes,
        elementOffset: 0,
        strides: contiguousStrides(shape),
        byteOrder: h.byteOrder,
      },
      ...(quant ? { quant: { type: g.type.name, blockElems: g.type.blockElems, blockBytes: g.type.blockBytes, ...quant } } : {}),
    };
  });
}

/** One line per metadata value, its type first: long arrays are cut with their length given. */
export function describe(v: GgufValue): string {
  if (v.type === 'array') {
    const items = v.value as GgufValue[];
    const shown = items.slice(0, 8).map((x) => (x.type === 'array' ? describe(x) : show(x)));
    const more = (v.length ?? items.length) > shown.length ? `, … (${(v.length ?? 0) - shown.length} more)` : '';
    return `array<${v.elementType}>[${v.length}]: [${shown.join(', ')}${more}]`;
  }
  return `${v.type}: ${show(v)}`;
}

function show(v: GgufValue): string {
  if (v.type === 'string') {
    const s = v.value as string;
    return JSON.stringify(s.length > 2000 ? s.slice(0, 2000) + '…' : s);
  }
  return String(v.value);
}

export function kvNumber(h: GgufHeader, key: string): number | undefined {
  const v = h.kv.get(key);
  return v && typeof v.value === 'number' ? v.value : undefined;
}

export function kvString(h: GgufHeader, key: string): string | undefined {
  const v = h.kv.get(key);
  return v && typeof v.value === 'string' ? v.value : undefined;
}

/** What the editor's header shows for a GGUF file: family, quantization mix, tokenizer, dims note. */
export function ggufSummary(h: GgufHeader): Record<string, Value> {
  const out: Record<string, Value> = {};
  const arch = kvString(h, 'general.architecture');
  const name = kvString(h, 'general.name');
  out['Model family'] = arch ? `${arch}${name ? ` (${name})` : ''}` : 'not stated (no general.architecture)';
  const bytes = new Map<string, number>();
  let total = 0;
  for (const t of h.tensors) {
    bytes.set(t.type.name, (bytes.get(t.type.name) ?? 0) + t.nbytes);
    total += t.nbytes;
  }
  out['Quantization mix'] = [...bytes.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([k, b]) => `${k} ${formatBytes(b)} (${total ? ((100 * b) / total).toFixed(1) : '0'}%)`)
    .join(' · ') || 'no tensors';
  const undecoded = [...new Set(h.tensors.filter((t) => !t.type.plain && !t.type.kernel).map((t) => t.type.name))];
  if (undecoded.length) out['Values not decoded'] = `${undecoded.join(', ')}: grid-coded types whose values this reader does not decode (listed, no statistics)`;
  if (h.byteOrder === 'big') {
    const refused = [...new Set(h.tensors.filter((t) => !t.type.plain && t.type.kernel && 'reason' in bigEndianKernel(t.type, t.type.kernel)).map((t) => t.type.name))];
    if (refused.length) out['Values not decoded (big-endian)'] = `${refused.join(', ')}: ${BIG_ENDIAN_UNDECODED} (listed, no statistics)`;
  }
  const tokModel = kvString(h, 'tokenizer.ggml.model');
  const tokens = h.kv.get('tokenizer.ggml.tokens');
  if (tokModel || tokens) {
    const parts = [tokModel ?? 'unknown model'];
    if (tokens?.length !== undefined) parts.push(`${tokens.length} tokens`);
    const merges = h.kv.get('tokenizer.ggml.merges');
    if (merges?.length !== undefined) parts.push(`${merges.length} merges`);
    for (const [k, label] of [['bos_token_id', 'bos'], ['eos_token_id', 'eos'], ['padding_token_id', 'pad'], ['unknown_token_id', 'unk']]) {
      const id = kvNumber(h, `tokenizer.ggml.${k}`);
      if (id !== undefined) {
        const tok = tokens && Array.isArray(tokens.value) && id < tokens.value.length ? ` ${show(tokens.value[id])}` : '';
        parts.push(`${label} ${id}${tok}`);
      }
    }
    if (h.kv.has('tokenizer.chat_template')) parts.push('chat template');
    out['Tokenizer'] = parts.join(' · ');
  }
  out['Dimension order'] = 'GGUF stores dims fastest-first (ne[0] is the row length); shapes here are in PyTorch order, ne reversed';
  out['GGUF'] = `version ${h.version}${h.byteOrder === 'big' ? ', big-endian' : ''}, alignment ${h.alignment}, header ${formatBytes(h.headerBytes)}`;
  return out;
}

/** Reads a GGUF header from `src` into a Checkpoint (closing it closes `src`). */
export async function ggufCheckpoint(path: string, src: ByteSource): Promise<Checkpoint & { gguf: GgufHeader }> {
  const h = await readGgufHeader(src);
  const metadata: Record<string, Value> = {};
  for (const [k, v] of h.kv) setOwn(metadata, k, describe(v));
  return {
    path,
    format: 'gguf',
    metadata,
    values: ggufSummary(h),
    tensors: ggufTensors(h, src),
    stateDictPrefix: '',
    warnings: h.warnings,
    gguf: h,
    close: () => src.close(),
  };
}

export async function openGguf(path: string): Promise<Checkpoint> {
  const src = await FileSource.open(path);
  try {
    return await ggufCheckpoint(path, src);
  } catch (e) {
    await src.close();
    throw e;
  }
}
