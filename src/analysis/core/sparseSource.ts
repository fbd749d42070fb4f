// The dense values of a sparse tensor without materialising them: its entries, coalesced
// (sorted by position, duplicates summed, as to_dense() adds them), served as the bytes of the
// dense float tensor on demand. Memory is O(nnz) whatever the dense size; statistics use the
// entries plus a count of implicit zeros (stats/tensorStats.ts).
import type { ByteSource } from '../io/byteSource';
import { CheckpointError } from './errors';

/** Coalesced entries: distinct dense positions in increasing order and their values. */
export interface SparseEntries {
  positions: Float64Array;
  values: Float32Array | Float64Array;
}

export class SparseDenseSource implements ByteSource {
  readonly size: number;
  private entries: Promise<SparseEntries> | undefined;

  constructor(
    /** Elements of the dense tensor. */
    readonly numel: number,
    /** 8: float64 values; 4: float32. */
    readonly elementBytes: 4 | 8,
    readonly label: string,
    private readonly load: () => Promise<SparseEntries>,
  ) {
    this.size = numel * elementBytes;
  }

  /** The coalesced entries, computed on first use. */
  coalesced(): Promise<SparseEntries> {
    this.entries ??= this.load();
    return this.entries;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const w = this.elementBytes;
    if (offset < 0 || offset + target.length > this.size || offset % w !== 0 || target.length % w !== 0) {
      throw new CheckpointError(this.label, `read of ${target.length} bytes at ${offset} does not fit the ${this.size}-byte dense tensor`);
    }
    const { positions, values } = await this.coalesced();
    const first = offset / w;
    const n = target.length / w;
    const dense = w === 8 ? new Float64Array(target.buffer, target.byteOffset, n) : new Float32Array(target.buffer, target.byteOffset, n);
    if (target.byteOffset % w !== 0) {
      // An unaligned target: fill an aligned copy.
      const copy = w === 8 ? new Float64Array(n) : new Float32Array(n);
      fill(copy, first, positions, values);
      target.set(new Uint8Array(copy.buffer));
      return;
    }
    fill(dense, first, positions, values);
  }

  async close(): Promise<void> {
    this.entries = undefined;
  }
}

/** Dense elements [first, first + out.length) from sorted positions. */
function fill(out: Float32Array | Float64Array, first: number, positions: Float64Array, values: Float32Array | Float64Array): void {
  out.fill(0);
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid] < first) lo = mid + 1;
    else hi = mid;
  }
  const end = first + out.length;
  for (let j = lo; j < positions.length && positions[j] < end; j++) out[positions[j] - first] = values[j];
}

/**
 * Sorts (position, value) pairs by position and sums duplicates. Already sorted, distinct input
 * (a coalesced COO tensor, most CSR tensors) is returned as it is.
 */
export function coalesce(positions: Float64Array, values: Float32Array | Float64Array): SparseEntries {
  let sorted = true;
  for (let j = 1; j < positions.length && sorted; j++) sorted = positions[j] > positions[j - 1];
  if (sorted) return { positions, values };
  const order = new Uint32Array(positions.length);
  for (let j = 0; j < order.length; j++) order[j] = j;
  order.sort((a, b) => positions[a] - positions[b] || a - b);
  const outPos = new Float64Array(positions.length);
  // Sums in the value type, in file order (a stable sort), as to_dense() adds duplicates.
  const sums = values instanceof Float64Array ? new Float64Array(positions.length) : new Float32Array(positions.length);
  let k = -1;
  for (const j of order) {
    if (k >= 0 && outPos[k] === positions[j]) sums[k] += values[j];
    else {
      k++;
      outPos[k] = positions[j];
      sums[k] = values[j];
    }
  }
  return { positions: outPos.slice(0, k + 1), values: sums.slice(0, k + 1) };
}
