// safetensors writer. Layout as the reference writer (`prepare` in safetensors/src/tensor.rs):
// tensors sorted by descending dtype alignment then name, packed from offset 0, header padded
// with spaces to a multiple of 8. Data is streamed into a temp file next to the target, which
// is fsynced and renamed into place, so `path` never holds a half-written file.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { TensorInfo } from '../core/checkpoint';
import { isContiguous, numelOf } from '../core/checkpoint';
import { byteSwap, type DType, dtypeSize, isComplex } from '../core/dtype';
import { CancelledError, CheckpointError, isCancelled } from '../core/errors';
import { MAX_SINGLE_READ } from '../io/byteSource';
import { METADATA_KEY, SAFETENSORS_DTYPE_ORDER, isSafetensorsDType } from './safetensors';

/**
 * A tensor's bytes: a typed array (raw bytes as Uint8Array, or the array type matching the
 * dtype, in platform byte order), an async iterable of little-endian C-order byte chunks, or an
 * existing tensor to copy (same dtype and element count).
 */
export type TensorBytes = ArrayBufferView | AsyncIterable<Uint8Array> | TensorInfo;

export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: readonly number[];
  data: TensorBytes;
}

export interface WriteOptions {
  isCancelled?: () => boolean;
  onProgress?: (writtenBytes: number, totalBytes: number) => void;
}

export interface WriteResult {
  /** Size of the written file. */
  bytes: number;
  /** N, the padded JSON header length. */
  headerLength: number;
}

interface PlannedTensor {
  spec: TensorToWrite;
  nbytes: number;
  begin: number;
}

export interface SafetensorsLayout {
  /** The 8-byte length followed by the padded JSON header. */
  preamble: Uint8Array;
  /** Tensors in file order, with their offsets in the data buffer. */
  tensors: PlannedTensor[];
  /** Size of the data buffer. */
  dataBytes: number;
}

const WRITE_BUFFER_BYTES = 4 * 1024 * 1024;
const COPY_CHUNK_BYTES = 16 * 1024 * 1024;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/** Writes a safetensors file atomically (temp file, fsync, rename). */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
  opts: WriteOptions = {},
): Promise<WriteResult> {
  const layout = planSafetensorsLayout(path, tensors, metadata);
  const total = layout.preamble.byteLength + layout.dataBytes;
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(tmp, 'wx');
    const out = new BufferedWriter(handle);
    await out.write(layout.preamble);
    for (const t of layout.tensors) {
      let written = 0;
      for await (const chunk of tensorChunks(path, t.spec)) {
        if (opts.isCancelled?.()) throw new CancelledError();
        written += chunk.byteLength;
        if (written > t.nbytes) break;
        await out.write(chunk);
        opts.onProgress?.(layout.preamble.byteLength + t.begin + written, total);
      }
      if (written !== t.nbytes) {
        throw new CheckpointError(path, `tensor ${JSON.stringify(t.spec.name)}: data ${written > t.nbytes ? 'is longer than' : `ended after ${written} bytes, short of`} the ${t.nbytes} bytes its shape [${t.spec.shape.join(', ')}] of ${t.spec.dtype} needs`);
      }
    }
    await out.flush();
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fsp.rename(tmp, path);
    await syncDirectory(dirname(path));
    return { bytes: total, headerLength: layout.preamble.byteLength - 8 };
  } catch (e) {
    if (handle) await handle.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof CheckpointError || isCancelled(e)) throw e;
    throw new CheckpointError(path, `cannot write: ${(e as Error).message}`);
  }
}

/** Validates the tensors and computes the file layout and header bytes, writing nothing. */
export function planSafetensorsLayout(path: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): SafetensorsLayout {
  const fail = (problem: string): never => {
    throw new CheckpointError(path, problem);
  };
  const names = new Set<string>();
  const sizes = new Map<TensorToWrite, number>();
  for (const t of tensors) {
    const where = `tensor ${JSON.stringify(t.name)}`;
    if (typeof t.name !== 'string') fail('a tensor name is not a string');
    if (t.name === METADATA_KEY) fail(`${where}: the name is reserved for metadata`);
    if (names.has(t.name)) fail(`${where}: name given twice`);
    names.add(t.name);
    if (!isSafetensorsDType(t.dtype)) fail(`${where}: dtype ${JSON.stringify(t.dtype)} cannot be stored in safetensors`);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${where}: shape [${t.shape.join(', ')}] must hold non-negative integers`);
    const nbytes = numelOf(t.shape) * dtypeSize(t.dtype);
    if (!Number.isSafeInteger(nbytes)) fail(`${where}: shape [${t.shape.join(', ')}] is too large`);
    checkDataKind(path, t, nbytes);
    sizes.set(t, nbytes);
  }
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') fail(`metadata value for ${JSON.stringify(k)} is not a string`);
    }
  }

  const rank = (d: DType): number => (SAFETENSORS_DTYPE_ORDER as readonly string[]).indexOf(d);
  const ordered = [...tensors].sort((a, b) => rank(b.dtype) - rank(a.dtype) || compareUtf8(a.name, b.name));
  const planned: PlannedTensor[] = [];
  const parts: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareUtf8);
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`).join(',')}}`);
  }
  let offset = 0;
  for (const t of ordered) {
    const nbytes = sizes.get(t)!;
    planned.push({ spec: t, nbytes, begin: offset });
    parts.push(`${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + nbytes}]}`);
    offset += nbytes;
    if (!Number.isSafeInteger(offset)) fail('total size is too large');
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const preamble = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(preamble.buffer).setBigUint64(0, BigInt(padded), true);
  preamble.set(json, 8);
  return { preamble, tensors: planned, dataBytes: offset };
}

/** Byte-wise UTF-8 order, as Rust's String ordering. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The typed-array kinds each dtype may be given as (Uint8Array is always raw bytes). */
const ARRAY_KINDS: Partial<Record<DType, string[]>> = {
  F32: ['Float32Array'], C64: ['Float32Array'], F64: ['Float64Array'],
  I8: ['Int8Array'], U8: ['Uint8ClampedArray'], BOOL: [],
  I16: ['Int16Array'], U16: ['Uint16Array'], F16: ['Uint16Array'], BF16: ['Uint16Array'],
  I32: ['Int32Array'], U32: ['Uint32Array'], I64: ['BigInt64Array'], U64: ['BigUint64Array'],
};

function isTensorInfo(d: TensorBytes): d is TensorInfo {
  return typeof d === 'object' && d !== null && 'location' in d && 'dtype' in d && 'numel' in d;
}

function checkDataKind(path: string, t: TensorToWrite, nbytes: number): void {
  const where = `tensor ${JSON.stringify(t.name)}`;
  const d = t.data;
  if (ArrayBuffer.isView(d)) {
    const kind = d.constructor.name;
    const raw = d instanceof Uint8Array; // includes Buffer
    if (!raw && !(ARRAY_KINDS[t.dtype] ?? []).includes(kind)) throw new CheckpointError(path, `${where}: data is a ${kind}, which does not match dtype ${t.dtype} (pass raw bytes as a Uint8Array)`);
    if (d.byteLength !== nbytes) throw new CheckpointError(path, `${where}: data has ${d.byteLength} bytes but shape [${t.shape.join(', ')}] of ${t.dtype} needs ${nbytes}`);
  } else if (isTensorInfo(d)) {
    if (d.dtype !== t.dtype) throw new CheckpointError(path, `${where}: source tensor ${JSON.stringify(d.name)} is ${d.dtype}, not ${t.dtype}`);
    if (d.numel * dtypeSize(d.dtype) !== nbytes) throw new CheckpointError(path, `${where}: source tensor ${JSON.stringify(d.name)} has ${d.numel} elements, shape [${t.shape.join(', ')}] needs ${nbytes / dtypeSize(t.dtype)}`);
  } else if (typeof d !== 'object' || d === null || typeof (d as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] !== 'function') {
    throw new CheckpointError(path, `${where}: data is neither a typed array, an async iterable of byte chunks, nor a tensor`);
  }
}

/** The tensor's bytes as little-endian chunks. */
async function* tensorChunks(path: string, t: TensorToWrite): AsyncGenerator<Uint8Array> {
  const d = t.data;
  if (ArrayBuffer.isView(d)) {
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    const swap = !LITTLE_ENDIAN_HOST && !(d instanceof Uint8Array);
    for (let at = 0; at < bytes.byteLength; at += COPY_CHUNK_BYTES) {
      const part = bytes.subarray(at, Math.min(bytes.byteLength, at + COPY_CHUNK_BYTES));
      if (!swap) yield part;
      else {
        const copy = part.slice();
        byteSwap(copy, (d as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
        yield copy;
      }
    }
  } else if (isTensorInfo(d)) {
    yield* tensorInfoBytes(d);
  } else {
    for await (const chunk of d) {
      if (!(chunk instanceof Uint8Array)) throw new CheckpointError(path, `tensor ${JSON.stringify(t.name)}: a data chunk is not a Uint8Array`);
      yield chunk;
    }
  }
}

/**
 * An existing tensor's values as raw little-endian bytes in C order, in chunks of about
 * `chunkBytes`: range reads for contiguous tensors, a gather for strided views.
 */
export async function* tensorInfoBytes(t: TensorInfo, chunkBytes = COPY_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  if (t.numel === 0) return;
  const size = dtypeSize(t.dtype);
  const swapSize = isComplex(t.dtype) ? size / 2 : size;
  const { source, storageByteOffset, elementOffset, strides, storageBytes } = t.location;
  const big = t.location.byteOrder === 'big';
  const label = source.label;

  let first = elementOffset;
  let last = elementOffset;
  for (let i = 0; i < t.shape.length; i++) {
    const reach = (t.shape[i] - 1) * strides[i];
    if (reach >= 0) last += reach;
    else first += reach;
  }
  if (first < 0 || (last + 1) * size > storageBytes) throw new CheckpointError(label, `tensor "${t.name}": its view reaches outside its storage of ${storageBytes} bytes`);

  if (isContiguous(t.shape, strides)) {
    const perChunk = Math.max(1, Math.floor(chunkBytes / size));
    for (let done = 0; done < t.numel; done += perChunk) {
      const n = Math.min(perChunk, t.numel - done);
      const bytes = await source.read(storageByteOffset + (elementOffset + done) * size, n * size);
      if (big) byteSwap(bytes, swapSize);
      yield bytes;
    }
    return;
  }

  const spanBytes = (last - first + 1) * size;
  if (spanBytes > MAX_SINGLE_READ) throw new CheckpointError(label, `tensor "${t.name}" is a non-contiguous view spanning ${spanBytes} bytes; too large to gather`);
  const span = await source.read(storageByteOffset + first * size, spanBytes);
  if (big) byteSwap(span, swapSize);
  const nd = t.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let off = elementOffset - first;
  const perChunk = Math.max(1, Math.floor(chunkBytes / size));
  let out = new Uint8Array(Math.min(perChunk, t.numel) * size);
  let k = 0;
  for (let n = 0; n < t.numel; n++) {
    out.set(span.subarray(off * size, off * size + size), k);
    k += size;
    if (k === out.byteLength) {
      yield out;
      out = new Uint8Array(Math.min(perChunk, t.numel - n - 1) * size);
      k = 0;
    }
    // Odometer step over the shape, moving `off` by the strides.
    for (let dim = nd - 1; dim >= 0; dim--) {
      if (++idx[dim] < t.shape[dim]) {
        off += strides[dim];
        break;
      }
      off -= (t.shape[dim] - 1) * strides[dim];
      idx[dim] = 0;
    }
  }
}

/** Coalesces small writes into large ones. */
class BufferedWriter {
  private readonly buf = new Uint8Array(WRITE_BUFFER_BYTES);
  private used = 0;

  constructor(private readonly handle: fsp.FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (this.used + bytes.byteLength <= this.buf.byteLength) {
      this.buf.set(bytes, this.used);
      this.used += bytes.byteLength;
      return;
    }
    await this.flush();
    if (bytes.byteLength >= this.buf.byteLength) await this.writeAll(bytes);
    else {
      this.buf.set(bytes, 0);
      this.used = bytes.byteLength;
    }
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    await this.writeAll(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.byteLength; ) {
      const { bytesWritten } = await this.handle.write(bytes, at, bytes.byteLength - at);
      at += bytesWritten;
    }
  }
}

/** Makes the rename durable; not possible on every platform (Windows), where it is skipped. */
async function syncDirectory(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch {
    // best effort: the file itself was already fsynced
  } finally {
    await h?.close().catch(() => undefined);
  }
}
