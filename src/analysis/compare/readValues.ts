// All values of a tensor kept in memory (the runs tracker's first/last checkpoints). Float32 and
// float64 tensors stored contiguously little-endian are read straight into their final typed
// array: no chunk buffers and no second copy, which halves the time on large checkpoints
// (measured: 100 MB per checkpoint, see bench/runs-bench.mjs). Other tensors are decoded by readTensor.
import type { TensorInfo } from '../core/checkpoint';
import { isContiguous } from '../core/checkpoint';
import type { Decoded } from '../core/dtype';
import { CancelledError, CheckpointError } from '../core/errors';
import { readTensor } from '../core/tensorData';

const PIECE_BYTES = 64 * 1024 * 1024;

export async function readValues(t: TensorInfo, isCancelled?: () => boolean): Promise<Decoded> {
  const { location: loc } = t;
  const direct = !t.quant && (t.dtype === 'F32' || t.dtype === 'F64') && loc.byteOrder === 'little' && isContiguous(t.shape, loc.strides);
  if (!direct) return readTensor(t, undefined, { isCancelled });
  const size = t.dtype === 'F32' ? 4 : 8;
  const start = loc.storageByteOffset + loc.elementOffset * size;
  if (loc.elementOffset < 0 || (loc.elementOffset + t.numel) * size > loc.storageBytes) {
    throw new CheckpointError(loc.source.label, `tensor "${t.name}" reaches outside its storage of ${loc.storageBytes} bytes`);
  }
  const out = t.dtype === 'F32' ? new Float32Array(t.numel) : new Float64Array(t.numel);
  const bytes = new Uint8Array(out.buffer);
  for (let at = 0; at < bytes.length; at += PIECE_BYTES) {
    if (isCancelled?.()) throw new CancelledError();
    await loc.source.readInto(start + at, bytes.subarray(at, Math.min(bytes.length, at + PIECE_BYTES)));
  }
  return out;
}
