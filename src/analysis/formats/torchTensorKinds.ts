// Tensor kinds whose stored bytes are not their values: quantized tensors (integers plus
// scale/zero point) and sparse tensors (indices plus values). Both become ordinary float
// tensors whose values are what torch's `dequantize()` / `to_dense()` give, computed on first
// read (opening stays cheap), with the stored form described beside them.
import { type QuantizationInfo, type TensorInfo, contiguousStrides, isContiguous } from '../core/checkpoint';
import { decodesToF64 } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { SparseDenseSource, coalesce } from '../core/sparseSource';
import { readTensor } from '../core/tensorData';
import type { ByteSource } from '../io/byteSource';
import type { Quantization } from './pickleObjects';

/** Dense elements of one sparse tensor at most (never materialised: counts stay exact integers). */
const MAX_DENSE_ELEMENTS = 2 ** 50;
/** Per-channel parameters listed in the description. */
const LISTED_CHANNELS = 16;

/** Bytes computed once, on the first read. */
class ComputedSource implements ByteSource {
  private bytes: Promise<Uint8Array> | undefined;
  constructor(
    readonly size: number,
    readonly label: string,
    private readonly compute: () => Promise<Uint8Array>,
  ) {}
  private get(): Promise<Uint8Array> {
    this.bytes ??= this.compute();
    return this.bytes;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    return (await this.get()).slice(offset, offset + length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.check(offset, target.length);
    target.set((await this.get()).subarray(offset, offset + target.length));
  }
  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new CheckpointError(this.label, `read of ${length} bytes at ${offset} is outside the ${this.size}-byte tensor`);
  }
  async close(): Promise<void> {
    this.bytes = undefined;
  }
}

function floatTensor(name: string, shape: number[], wide: boolean, label: string, compute: () => Promise<Float32Array | Float64Array>): TensorInfo {
  let numel = 1;
  for (const d of shape) numel *= d;
  const size = wide ? 8 : 4;
  const source = new ComputedSource(numel * size, label, async () => {
    const v = await compute();
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
  return {
    name,
    dtype: wide ? 'F64' : 'F32',
    shape: shape.slice(),
    numel,
    nbytes: numel * size,
    location: { source, storageByteOffset: 0, storageBytes: numel * size, elementOffset: 0, strides: contiguousStrides(shape), byteOrder: 'little' },
  };
}

/** Bits per element of torch's sub-byte packed quantized dtypes (several elements per byte, low bits first). */
const PACKED_BITS: Record<string, number> = { quint4x2: 4, quint2x4: 2 };

/** The logical view of a sub-byte packed tensor over its storage of bytes. */
export interface PackedView {
  shape: number[];
  strides: number[];
  /** torch's storage offset, which for these dtypes counts bytes (their element size is 1). */
  offset: number;
}

/**
 * A quantized tensor as `dequantize()` gives it (float32), its integer form described in
 * `quantization`. For quint4x2/quint2x4, `raw` is the storage's bytes and `packed` the logical
 * view: element e of the storage sits in byte ⌊e·bits/8⌋ at bit (e mod 8/bits)·bits, and the
 * view starts at element offset·8/bits (torch adds the offset to the byte pointer).
 */
export async function dequantizedTensor(raw: TensorInfo, q: Quantization, scales?: TensorInfo, zeroPoints?: TensorInfo, packed?: PackedView): Promise<TensorInfo> {
  const info: QuantizationInfo = { qdtype: q.qdtype, scheme: q.scheme };
  const label = raw.location.source.label;
  const bits = PACKED_BITS[q.qdtype];
  const shape = packed ? packed.shape : raw.shape;
  let numel = 1;
  for (const d of shape) numel *= d;
  if (bits) {
    if (!packed) throw new CheckpointError(label, `tensor "${raw.name}" is ${q.qdtype} without its packed view`);
    if (numel > 0 && !isContiguous(packed.shape, packed.strides)) throw new CheckpointError(label, `tensor "${raw.name}" is a non-contiguous ${q.qdtype} view (strides [${packed.strides}]), which torch does not write`);
    // torch itself reads past the storage for such a view (a slice of a packed tensor): refuse it.
    if (!(packed.offset >= 0) || packed.offset * 8 + numel * bits > raw.numel * 8) {
      throw new CheckpointError(label, `tensor "${raw.name}": ${numel} ${q.qdtype} elements at offset ${packed.offset} need more than the ${raw.numel} bytes of its storage`);
    }
  }
  // The integer representation in logical order.
  const integers = async (): Promise<Float32Array | Float64Array | Int32Array> => {
    if (!bits) return (await readTensor(raw)) as Float32Array | Float64Array;
    const bytes = await readTensor(raw);
    const per = 8 / bits;
    const mask = (1 << bits) - 1;
    const out = new Int32Array(numel);
    for (let i = 0; i < numel; i++) {
      const e = (packed!.offset * 8) / bits + i;
      out[i] = (bytes[Math.floor(e / per)] >> ((e % per) * bits)) & mask;
    }
    return out;
  };
  let perChannel: { s: Float64Array; z: Float64Array } | undefined;
  if (q.scheme === 'per_tensor_affine') {
    info.scale = q.scale;
    info.zeroPoint = q.zeroPoint;
  } else {
    if (!scales || !zeroPoints) throw new CheckpointError(label, `tensor "${raw.name}": per-channel quantizer without scales`);
    const s = Float64Array.from(await readTensor(scales));
    const z = Float64Array.from(await readTensor(zeroPoints));
    const axis = q.axis as number;
    if (!(axis >= 0 && axis < shape.length) || s.length !== shape[axis] || z.length !== shape[axis]) {
      throw new CheckpointError(label, `tensor "${raw.name}": per-channel quantizer along axis ${axis} has ${s.length} scales and ${z.length} zero points for shape [${shape}]`);
    }
    perChannel = { s, z };
    info.axis = q.axis;
    info.scales = Array.from(s.subarray(0, LISTED_CHANNELS));
    info.zeroPoints = Array.from(z.subarray(0, LISTED_CHANNELS));
  }
  const t = floatTensor(raw.name, shape, false, `${label}:${raw.name}`, async () => {
    const ints = await integers();
    const out = new Float32Array(ints.length);
    if (!perChannel) {
      const scale = q.scale as number;
      const zp = q.zeroPoint as number;
      for (let i = 0; i < ints.length; i++) out[i] = (ints[i] - zp) * scale;
      return out;
    }
    const axis = q.axis as number;
    let inner = 1;
    for (let d = axis + 1; d < shape.length; d++) inner *= shape[d];
    const k = shape[axis];
    for (let i = 0; i < ints.length; i++) {
      const c = Math.floor(i / inner) % k;
      // torch computes in float: (q - zero_point) * scale with a float32 scale.
      out[i] = Math.fround(ints[i] - perChannel.z[c]) * Math.fround(perChannel.s[c]);
    }
    return out;
  });
  t.storageId = raw.storageId;
  t.quantization = info;
  return t;
}

/**
 * A sparse COO or CSR tensor as `to_dense()` gives it, for any dense size: the entries are
 * coalesced on first read and the dense values served from them (memory O(nnz)); statistics
 * count the implicit zeros without walking them.
 */
export async function sparseTensor(name: string, layout: 'sparse_coo' | 'sparse_csr', size: number[], parts: TensorInfo[], label: string): Promise<TensorInfo> {
  let numel = 1;
  for (const d of size) numel *= d;
  if (!Number.isSafeInteger(numel) || numel > MAX_DENSE_ELEMENTS) {
    throw new CheckpointError(label, `its dense form has ${numel} elements, more than the ${MAX_DENSE_ELEMENTS} this reader accepts`);
  }
  const values = parts[parts.length - 1];
  const wide = decodesToF64(values.dtype);
  const nnz = values.shape[0] ?? 0;
  const source = new SparseDenseSource(numel, wide ? 8 : 4, `${label}:${name}`, async () => {
    const vals = await readTensor(values);
    const strides = contiguousStrides(size);
    let positions: Float64Array;
    let entryValues: Float32Array | Float64Array;
    if (layout === 'sparse_coo') {
      const [indices] = parts;
      const idx = await readTensor(indices);
      const sparseDims = indices.shape[0];
      // Hybrid tensors: each index holds a dense block of the trailing dimensions.
      const block = nnz ? vals.length / nnz : 0;
      positions = new Float64Array(nnz * block);
      for (let j = 0; j < nnz; j++) {
        let at = 0;
        for (let d = 0; d < sparseDims; d++) {
          const i = idx[d * nnz + j];
          if (!(i >= 0 && i < size[d])) throw new CheckpointError(label, `sparse tensor "${name}": index ${i} is outside dimension ${d} of size ${size[d]}`);
          at += i * strides[d];
        }
        for (let b = 0; b < block; b++) positions[j * block + b] = at + b;
      }
      entryValues = wide ? Float64Array.from(vals) : Float32Array.from(vals);
    } else {
      const [crow, col] = parts;
      const rows = await readTensor(crow);
      const cols = await readTensor(col);
      if (size.length !== 2 || rows.length !== size[0] + 1) throw new CheckpointError(label, `sparse CSR tensor "${name}" must be 2-D with ${size[0] + 1} row pointers`);
      if (cols.length !== vals.length) throw new CheckpointError(label, `sparse CSR tensor "${name}" has ${cols.length} column indices for ${vals.length} values`);
      positions = new Float64Array(cols.length);
      for (let r = 0; r < size[0]; r++) {
        const lo = rows[r];
        const hi = rows[r + 1];
        if (!(lo >= 0 && hi >= lo && hi <= cols.length)) throw new CheckpointError(label, `sparse CSR tensor "${name}": bad row pointers at row ${r}`);
        for (let j = lo; j < hi; j++) {
          const c = cols[j];
          if (!(c >= 0 && c < size[1])) throw new CheckpointError(label, `sparse CSR tensor "${name}": column ${c} is outside ${size[1]}`);
          positions[j] = r * size[1] + c;
        }
      }
      if (rows[0] !== 0 || rows[size[0]] !== cols.length) throw new CheckpointError(label, `sparse CSR tensor "${name}": row pointers do not cover its ${cols.length} entries`);
      entryValues = wide ? Float64Array.from(vals) : Float32Array.from(vals);
    }
    return coalesce(positions, entryValues);
  });
  const elem = wide ? 8 : 4;
  return {
    name,
    dtype: wide ? 'F64' : 'F32',
    shape: size.slice(),
    numel,
    // What the file holds (indices and values), not the dense size: totals stay honest.
    nbytes: parts.reduce((sum, p) => sum + p.nbytes, 0),
    location: { source, storageByteOffset: 0, storageBytes: numel * elem, elementOffset: 0, strides: contiguousStrides(size), byteOrder: 'little' },
    sparse: { layout, nnz },
  };
}
