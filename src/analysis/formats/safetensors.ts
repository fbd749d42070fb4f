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
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(root)) fail('header JSON is not an object');
  const dup = findDuplicateTopLevelKey(text);
  if (dup !== undefined) fail(`header lists key ${JSON.stringify(dup)} more than once (the format forbids duplicate keys)`);

  const warnings: string[] = [];
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; numel: number; begin: number; end: number }[] = [];

  for (const name of Object.keys(root as object)) {
    const value = (root as Record<string, unknown>)[name];
    if (name === METADATA_KEY) {
      if (value === null) continue;
      if (!isPlainObject(value)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const key of Object.keys(value as object)) {
        const v = (value as Record<string, unknown>)[key];
        if (typeof v !== 'string') fail(`${METADATA_KEY} value for ${JSON.stringify(key)} is ${describe(v)}; only strings are allowed`);
        setOwn(metadata, key, v as string);
      }
      continue;
    }
    const where = `tensor ${JSON.stringify(name)}`;
    if (!isPlainObject(value)) fail(`${where}: entry is ${describe(value)}, expected an object with dtype, shape and data_offsets`);
    const info = value as Record<string, unknown>;
    for (const key of Object.keys(info)) {
      if (key !== 'dtype' && key !== 'shape' && key !== 'data_offsets') warnings.push(`${where}: unknown field ${JSON.stringify(key)} ignored`);
    }
    const dtype = info.dtype;
    if (typeof dtype !== 'string') fail(`${where}: dtype is ${describe(dtype)}, expected a string`);
    if (SUB_BYTE_DTYPES.has(dtype as string)) fail(`${where}: dtype ${dtype} (sub-byte packed) is valid safetensors but not supported by this reader`);
    if (!isSafetensorsDType(dtype)) fail(`${where}: unknown dtype ${JSON.stringify(dtype)}`);
    const shape = info.shape;
    if (!Array.isArray(shape)) fail(`${where}: shape is ${describe(shape)}, expected an array`);
    for (const d of shape as unknown[]) {
      if (!isCount(d)) fail(`${where}: shape ${JSON.stringify(shape)} has an entry that is not a non-negative integer (below 2^53)`);
    }
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) || !isCount(offsets[1])) {
      fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end], two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    // In-order product, as the reference's checked fold: overflow is an error even if a later dim is 0.
    let numel = 1;
    for (const d of shape as number[]) {
      numel *= d;
      if (!Number.isSafeInteger(numel)) fail(`${where}: shape ${JSON.stringify(shape)} has too many elements (overflow)`);
    }
    if (!Number.isSafeInteger(numel * dtypeSize(dtype as DType))) fail(`${where}: shape ${JSON.stringify(shape)} of ${dtype} is too large in bytes (overflow)`);
    entries.push({ name, dtype: dtype as DType, shape: (shape as number[]).slice(), numel, begin, end });
  }

  // The reference sorts by (begin, end) and then requires the buffer to be tiled exactly.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: string | undefined;
  for (const e of entries) {
    const where = `tensor ${JSON.stringify(e.name)}`;
    const offs = `data_offsets [${e.begin}, ${e.end}]`;
    if (e.end < e.begin) fail(`${where}: ${offs} end before they begin`);
    if (e.begin !== cursor) {
      if (previous === undefined) fail(`${where}: ${offs} start at ${e.begin}, but the first tensor must start at 0`);
      if (e.begin > cursor) fail(`${where}: ${offs} leave a gap of ${e.begin - cursor} bytes after tensor ${JSON.stringify(previous)}, which ends at ${cursor}`);
      fail(`${where}: ${offs} overlap tensor ${JSON.stringify(previous)}, which ends at ${cursor}`);
    }
    const need = e.numel * dtypeSize(e.dtype);
    if (e.end - e.begin !== need) fail(`${where}: ${offs} hold ${e.end - e.begin} bytes but shape [${e.shape.join(', ')}] of ${e.dtype} needs ${need}`);
    cursor = e.end;
    previous = e.name;
  }
  if (dataStart + cursor > src.size) {
    fail(`tensor data ends at byte ${dataStart + cursor} but the file has only ${src.size} bytes (truncated)`);
  }
  if (dataStart + cursor < src.size) {
    fail(`file has ${src.size - dataStart - cursor} bytes after the last tensor that the header does not account for (the format forbids unindexed data)`);
  }

  const tensors: TensorInfo[] = entries.map((e) => ({
    name: e.name,
    dtype: e.dtype,
    shape: e.shape,
    numel: e.numel,
    nbytes: e.end - e.begin,
    location: {
      source: src,
      storageByteOffset: dataStart + e.begin,
      storageBytes: e.end - e.begin,
      elementOffset: 0,
      strides: contiguousStrides(e.shape),
      byteOrder: 'little',
    },
  }));
  return { headerLength, dataStart, metadata, tensors, warnings };
}

/**
 * The first top-level key that occurs twice in (already valid) JSON text: JSON.parse keeps
 * only the last value, which would silently hide a tensor.
 */
export function findDuplicateTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c) {
          escaped = true;
          j++;
        }
        j++;
      }
      if (depth === 1 && expectKey) {
        const raw = text.slice(i, j + 1);
        const key = escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return undefined;
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
