// safetensors reader: `u64 LE N` + N bytes of JSON header + one packed byte buffer.
// Only the 8 + N header bytes are read at open; tensor values are range-read later.
// Validation follows the reference reader (huggingface/safetensors `read_metadata`/`validate`).
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { contiguousStrides } from '../core/checkpoint';
import { type DType, dtypeSize, isDType } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource } from '../io/byteSource';

/** The reference reader's cap on the JSON header ("prevents parsing extremely large JSON"). */
export const MAX_HEADER_BYTES = 100_000_000;
export const METADATA_KEY = '__metadata__';
/** Warnings listed one by one; the rest are counted (a header can repeat one a million times). */
const MAX_WARNINGS = 200;

/**
 * The safetensors dtypes in the reference enum's order, which is increasing alignment: the
 * writer sorts by it. F4/F6 are sub-byte types our model cannot represent yet.
 */
export const SAFETENSORS_DTYPE_ORDER = [
  'BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8',
  'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ',
  'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64',
] as const;
const SUB_BYTE_DTYPES = new Set(['F4', 'F6_E2M3', 'F6_E3M2']);

/** A dtype that both the safetensors format and our tensor model know. */
export function isSafetensorsDType(s: unknown): s is DType {
  return isDType(s) && (SAFETENSORS_DTYPE_ORDER as readonly string[]).includes(s);
}

export interface SafetensorsHeader {
  /** N: the JSON header's length in bytes (padding included). */
  headerLength: number;
  /** Absolute offset of the byte buffer (8 + N). */
  dataStart: number;
  /** `__metadata__`, string → string. */
  metadata: Record<string, string>;
  /** Tensors in data-offset order, located in the source they were read from. */
  tensors: TensorInfo[];
  warnings: string[];
}

/** Opens a `.safetensors` file, reading only its header. */
export async function openSafetensors(path: string): Promise<Checkpoint> {
  const src = await FileSource.open(path);
  try {
    const header = await readSafetensorsHeader(src);
    return {
      path,
      format: 'safetensors',
      metadata: header.metadata,
      values: {},
      tensors: header.tensors,
      stateDictPrefix: '',
      warnings: header.warnings,
      close: () => src.close(),
    };
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** Reads and validates the header of the safetensors file in `src` (errors name `src.label`). */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const fail = (problem: string): never => {
    throw new CheckpointError(src.label, problem);
  };
  if (src.size < 8) fail(`file is ${src.size} bytes; a safetensors file starts with an 8-byte header length`);
  const head = await src.read(0, 8);
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file, or corrupted)`);
  const headerLength = Number(n);
  if (8 + headerLength > src.size) fail(`header length ${headerLength} runs past the end of the ${src.size}-byte file (truncated?)`);
  const bytes = await src.read(8, headerLength);
  return parseSafetensorsHeader(bytes, src);
}

/** Validates header bytes (the N bytes after the length) against a file of `src.size` bytes. */
export function parseSafetensorsHeader(bytes: Uint8Array, src: ByteSource): SafetensorsHeader {
  const label = src.label;
  const fail = (problem: string): never => {
    throw new CheckpointError(label, problem);
  };
  const headerLength = bytes.byteLength;
  const dataStart = 8 + headerLength;
  if (headerLength === 0 || bytes[0] !== 0x7b) fail('header does not start with "{" (not a safetensors file, or corrupted)');

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    fail('header is not valid UTF-8');
  }

  const warnings: string[] = [];
  let moreWarnings = 0;
  const metadata: Record<string, string> = {};
  // Built as TensorInfo at once (no intermediate records): a million-tensor header stays lean.
  const tensors: TensorInfo[] = [];

  const onEntry = (name: string, value: unknown): void => {
    if (name === METADATA_KEY) {
      if (value === null) return;
      if (!isPlainObject(value)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const key of Object.keys(value as object)) {
        const v = (value as Record<string, unknown>)[key];
        if (typeof v !== 'string') fail(`${METADATA_KEY} value for ${JSON.stringify(key)} is ${describe(v)}; only strings are allowed`);
        setOwn(metadata, key, v as string);
      }
      return;
    }
    // Built only for messages: a million eager JSON.stringify calls cost seconds.
    const where = (): string => `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(value)) fail(`${where()}: entry is ${describe(value)}, expected an object with dtype, shape and data_offsets`);
    const info = value as Record<string, unknown>;
    for (const key of Object.keys(info)) {
      if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') {
        if (warnings.length < MAX_WARNINGS) warnings.push(`${where()}: unknown field ${JSON.stringify(key)} ignored`);
        else moreWarnings++;
      }
    }
    const dtype = info.dtype;
    if (typeof dtype !== 'string') fail(`${where()}: dtype is ${describe(dtype)}, expected a string`);
    if (SUB_BYTE_DTYPES.has(dtype as string)) fail(`${where()}: dtype ${dtype} (sub-byte packed) is valid safetensors but not supported by this reader`);
    if (!isSafetensorsDType(dtype)) fail(`${where()}: unknown dtype ${JSON.stringify(dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape)) fail(`${where()}: shape is ${describe(shape)}, expected an array`);
    for (const d of shape as unknown[]) {
      if (!isCount(d)) fail(`${where()}: shape ${JSON.stringify(shape)} has an entry that is not a non-negative integer (below 2^53)`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
      fail(`${where()}: data_offsets ${JSON.stringify(offsets)} must be [begin, end], two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    // In-order product, as the reference's checked fold: overflow is an error even if a later dim is 0.
    let numel = 1;
    for (const d of shape as number[]) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(`${where()}: shape ${JSON.stringify(shape)} has too many elements (overflow)`);
    }
    if (!Number.isSafeInteger(numel * dtypeSize(dtype as DType))) fail(`${where()}: shape ${JSON.stringify(shape)} of ${dtype} is too large in bytes (overflow)`);
    if (end < begin) fail(`${where()}: data_offsets [${begin}, ${end}] end before they begin`);
    const dims = (shape as number[]).slice();
    tensors.push({
      name,
      dtype: dtype as DType,
      shape: dims,
      numel,
      nbytes: end - begin,
      location: { source: src, storageByteOffset: dataStart + begin, storageBytes: end - begin, elementOffset: 0, strides: contiguousStrides(dims), byteOrder: 'little' },
    });
  };
  let duplicate: string | undefined;
  try {
    duplicate = parseTopLevelObject(text, onEntry);
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    fail(`header is not valid JSON: ${e.message}`);
  }
  if (duplicate !== undefined) fail(`header lists key ${JSON.stringify(duplicate)} more than once (the format forbids duplicate keys)`);

  // The reference sorts by (begin, end) and then requires the buffer to be tiled exactly.
  tensors.sort((a, b) => a.location.storageByteOffset - b.location.storageByteOffset || a.nbytes - b.nbytes);
  let cursor = 0;
  let previous: string | undefined;
  for (const t of tensors) {
    const e = { begin: t.location.storageByteOffset - dataStart, end: t.location.storageByteOffset - dataStart + t.nbytes };
    const where = (): string => `tensor ${JSON.stringify(t.name)}`;
    const offs = (): string => `data_offsets [${e.begin}, ${e.end}]`;
    if (e.begin !== cursor) {
      if (previous === undefined) fail(`${where()}: ${offs()} start at ${e.begin}, but the first tensor must start at 0`);
      if (e.begin > cursor) fail(`${where()}: ${offs()} leave a gap of ${e.begin - cursor} bytes after tensor ${JSON.stringify(previous)}, which ends at ${cursor}`);
      fail(`${where()}: ${offs()} overlap tensor ${JSON.stringify(previous)}, which ends at ${cursor}`);
    }
    const need = t.numel * dtypeSize(t.dtype);
    if (e.end - e.begin !== need) fail(`${where()}: ${offs()} hold ${e.end - e.begin} bytes but shape [${t.shape.join(', ')}] of ${t.dtype} needs ${need}`);
    cursor = e.end;
    previous = t.name;
  }
  if (dataStart + cursor > src.size) {
    fail(`tensor data ends at byte ${dataStart + cursor} but the file has only ${src.size} bytes (truncated)`);
  }
  if (dataStart + cursor < src.size) {
    fail(`file has ${src.size - dataStart - cursor} bytes after the last tensor that the header does not account for (the format forbids unindexed data)`);
  }

  if (moreWarnings) warnings.push(`…and ${moreWarnings} more unknown fields ignored`);
  return { headerLength, dataStart, metadata, tensors, warnings };
}


const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Parses a JSON object one member at a time, handing each key and parsed value to `onEntry`
 * in text order: JSON.parse of one object with a million keys takes V8 12 s and hundreds of MB
 * (a dictionary rebuilt as it grows, every value kept); a million small parses take about one.
 * Returns the first key that occurs twice (JSON.parse would silently keep only the last value),
 * stopping there. Throws SyntaxError for text that is not one JSON object.
 */
export function parseTopLevelObject(text: string, onEntry: (key: string, value: unknown) => void): string | undefined {
  let i = 0;
  const skip = (): void => {
    while (WS.has(text.charCodeAt(i))) i++;
  };
  const expected = (what: string): never => {
    throw new SyntaxError(`expected ${what} at position ${i}`);
  };
  // The end (exclusive) of the string starting at `start`, and whether it holds escapes.
  const stringEnd = (start: number): { end: number; escaped: boolean } => {
    let j = start + 1;
    let escaped = false;
    for (;;) {
      const c = text.charCodeAt(j);
      if (c === 0x22) return { end: j + 1, escaped };
      if (Number.isNaN(c)) throw new SyntaxError(`unterminated string at position ${start}`);
      if (c === 0x5c) {
        escaped = true;
        j++;
      }
      j++;
    }
  };
  // The end of the value starting at i (its validity is JSON.parse's to judge).
  const valueEnd = (start: number): number => {
    const c = text.charCodeAt(start);
    if (c === 0x22) return stringEnd(start).end;
    if (c !== 0x7b && c !== 0x5b) {
      let j = start;
      while (j < text.length && !WS.has(text.charCodeAt(j)) && text[j] !== ',' && text[j] !== '}') j++;
      return j;
    }
    let depth = 0;
    for (let j = start; j < text.length; j++) {
      const d = text.charCodeAt(j);
      if (d === 0x22) j = stringEnd(j).end - 1;
      else if (d === 0x7b || d === 0x5b) depth++;
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return j + 1;
    }
    throw new SyntaxError(`unterminated ${c === 0x7b ? 'object' : 'array'} at position ${start}`);
  };
  const seen = new Set<string>();
  skip();
  if (text[i] !== '{') expected('"{"');
  i++;
  skip();
  if (text[i] === '}') i++;
  else {
    for (;;) {
      if (text[i] !== '"') expected('a key');
      const { end, escaped } = stringEnd(i);
      const key = escaped ? (JSON.parse(text.slice(i, end)) as string) : text.slice(i + 1, end - 1);
      i = end;
      skip();
      if (text[i] !== ':') expected('":"');
      i++;
      skip();
      const vEnd = valueEnd(i);
      const value: unknown = JSON.parse(text.slice(i, vEnd));
      i = vEnd;
      if (seen.has(key)) return key;
      seen.add(key);
      onEntry(key, value);
      skip();
      if (text[i] === ',') {
        i++;
        skip();
        continue;
      }
      if (text[i] === '}') {
        i++;
        break;
      }
      expected('"," or "}"');
    }
  }
  skip();
  if (i !== text.length) throw new SyntaxError(`unexpected text after the object at position ${i}`);
  return undefined;
}

/**
 * The first top-level key that occurs twice in (already valid) JSON text: JSON.parse keeps
 * only the last value, which would silently hide a tensor.
 */
export function findDuplicateTopLevelKey(text: string): string | undefined {
  return parseTopLevelObject(text, () => undefined);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Sets an own property even for keys like `__proto__`, which plain assignment would treat specially. */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}
