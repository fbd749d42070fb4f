// IDX files (the MNIST family: train-images-idx3-ubyte…), gzip-compressed or not.
// Format: two zero bytes, a type byte, the number of dimensions, each dimension as a big-endian
// u32, then the values big-endian. http://yann.lecun.com/exdb/mnist/
import { promises as fsp } from 'node:fs';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { DType } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import type { ArrayData } from './arrays';

const gunzipAsync = promisify(gunzip);

const TYPES: Record<number, { dtype: DType; size: number }> = {
  0x08: { dtype: 'U8', size: 1 },
  0x09: { dtype: 'I8', size: 1 },
  0x0b: { dtype: 'I16', size: 2 },
  0x0c: { dtype: 'I32', size: 4 },
  0x0d: { dtype: 'F32', size: 4 },
  0x0e: { dtype: 'F64', size: 8 },
};

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** True when the bytes start like an IDX file (checked after any gunzip). */
export function looksLikeIdx(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0 && b[1] === 0 && b[2] in TYPES && b[3] >= 1 && b[3] <= 8;
}

export async function readIdx(path: string): Promise<ArrayData> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot read: ${(e as Error).message}`);
  }
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new CheckpointError(path, `gzip data is corrupt: ${(e as Error).message}`);
    }
  }
  return parseIdx(bytes, path);
}

export function parseIdx(bytes: Uint8Array, label: string): ArrayData {
  if (!looksLikeIdx(bytes)) throw new CheckpointError(label, 'not an IDX file (expected 00 00 <type> <ndim> at the start)');
  const { dtype, size } = TYPES[bytes[2]];
  const ndim = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndim) throw new CheckpointError(label, 'IDX header is truncated');
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const n = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (bytes.length - start < n * size) throw new CheckpointError(label, `IDX data is truncated: [${shape}] needs ${n * size} bytes, the file has ${bytes.length - start}`);
  let values: ArrayData['values'];
  switch (dtype) {
    case 'U8':
      values = bytes.slice(start, start + n);
      break;
    case 'I8':
      values = new Int8Array(bytes.slice(start, start + n).buffer);
      break;
    default: {
      const out = dtype === 'F64' ? new Float64Array(n) : dtype === 'F32' ? new Float32Array(n) : new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const at = start + i * size;
        out[i] = dtype === 'I16' ? view.getInt16(at, false) : dtype === 'I32' ? view.getInt32(at, false) : dtype === 'F32' ? view.getFloat32(at, false) : view.getFloat64(at, false);
      }
      values = out;
    }
  }
  return { values, shape, dtype, source: label };
}
