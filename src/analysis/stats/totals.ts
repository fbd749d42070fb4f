// Parameter and byte totals of a checkpoint, per dtype and per top-level module.
import { type Checkpoint, type TensorInfo, storedType } from '../core/checkpoint';
import type { DType } from '../core/dtype';
import { internDims } from '../core/dims';

export interface TotalRow {
  tensors: number;
  params: number;
  bytes: number;
}

/** `bytes` of the whole checkpoint counts each storage once (views and tied weights included); per-dtype and per-module rows count the bytes of their distinct views. */
export interface CheckpointTotals extends TotalRow {
  /** Per stored type: the dtype, or the quantization type (Q4_K…) of block-quantized tensors. */
  byDtype: (TotalRow & { dtype: DType | string })[];
  /** Per first name component below the state-dict prefix (`encoder`, `lm_head`…), in file order. */
  byPrefix: (TotalRow & { prefix: string })[];
}

export function topPrefix(name: string, stateDictPrefix: string): string {
  const rest = stateDictPrefix && name.startsWith(stateDictPrefix + '.') ? name.slice(stateDictPrefix.length + 1) : name;
  const head = rest.split('.')[0];
  return stateDictPrefix && rest !== name ? `${stateDictPrefix}.${head}` : head;
}

export function checkpointTotals(c: Checkpoint): CheckpointTotals {
  const dups = duplicateViews(c.tensors);
  const byDtype = new Map<string, TotalRow & { dtype: string }>();
  const byPrefix = new Map<string, TotalRow & { prefix: string }>();
  const all: TotalRow = { tensors: 0, params: 0, bytes: 0 };
  for (const t of c.tensors) {
    const dup = dups.has(t);
    const params = dup ? 0 : t.numel;
    const bytes = dup ? 0 : t.nbytes;
    const type = storedType(t);
    const d = byDtype.get(type) ?? { dtype: type, tensors: 0, params: 0, bytes: 0 };
    const p = topPrefix(t.name, c.stateDictPrefix);
    const q = byPrefix.get(p) ?? { prefix: p, tensors: 0, params: 0, bytes: 0 };
    for (const row of [all, d, q]) {
      row.tensors++;
      row.params += params;
      row.bytes += bytes;
    }
    byDtype.set(type, d);
    byPrefix.set(p, q);
  }
  // The file's bytes: each storage once, however many views (overlapping or not) read it.
  let unshared = 0;
  for (const g of byStorage(c.tensors, (t) => (unshared += t.nbytes)).values()) {
    if (!Array.isArray(g)) unshared += g.location.storageBytes;
    else {
      let most = 0;
      for (const t of g) most = Math.max(most, t.location.storageBytes);
      unshared += most;
    }
  }
  all.bytes = unshared;
  return { ...all, byDtype: [...byDtype.values()], byPrefix: [...byPrefix.values()] };
}

/**
 * Tensors by storage id: the tensor itself when it has the storage alone (a million storages
 * make no million lists), else the list. Tensors without an id, and block-quantized ones, go to
 * `alone` instead.
 */
function byStorage(tensors: readonly TensorInfo[], alone?: (t: TensorInfo) => void): Map<string, TensorInfo | TensorInfo[]> {
  const out = new Map<string, TensorInfo | TensorInfo[]>();
  for (const t of tensors) {
    if (t.storageId === undefined || t.quant) {
      alone?.(t);
      continue;
    }
    const g = out.get(t.storageId);
    if (g === undefined) out.set(t.storageId, t);
    else if (Array.isArray(g)) g.push(t);
    else out.set(t.storageId, [g, t]);
  }
  return out;
}

/**
 * Tensors whose values repeat an earlier tensor's: same storage, offset, shape, strides and
 * dtype (tied weights saved twice). Shapes and strides compare as interned arrays, offsets as
 * numbers: no key string per tensor (a million views of one storage stay small).
 */
function duplicateViews(tensors: readonly TensorInfo[]): Set<TensorInfo> {
  const dups = new Set<TensorInfo>();
  for (const g of byStorage(tensors).values()) {
    if (!Array.isArray(g)) continue;
    const seen = new Map<string, Map<readonly number[], Map<readonly number[], Set<number>>>>();
    for (const t of g) {
      let byShape = seen.get(t.dtype);
      if (!byShape) seen.set(t.dtype, (byShape = new Map()));
      const shape = internDims(t.shape);
      let byStrides = byShape.get(shape);
      if (!byStrides) byShape.set(shape, (byStrides = new Map()));
      const strides = internDims(t.location.strides);
      let offsets = byStrides.get(strides);
      if (!offsets) byStrides.set(strides, (offsets = new Set()));
      if (offsets.has(t.location.elementOffset)) dups.add(t);
      else offsets.add(t.location.elementOffset);
    }
  }
  return dups;
}
