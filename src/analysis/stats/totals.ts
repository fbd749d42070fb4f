// Parameter and byte totals of a checkpoint, per dtype and per top-level module.
import { type Checkpoint, type TensorInfo, storedType } from '../core/checkpoint';
import type { DType } from '../core/dtype';

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

/** Identity of a tensor's values: tied tensors (same storage, offset, shape, strides) count once. */
function viewKey(t: TensorInfo): string | undefined {
  if (t.storageId === undefined) return undefined;
  return `${t.storageId}|${t.location.elementOffset}|${t.shape}|${t.location.strides}|${t.dtype}`;
}

export function topPrefix(name: string, stateDictPrefix: string): string {
  const rest = stateDictPrefix && name.startsWith(stateDictPrefix + '.') ? name.slice(stateDictPrefix.length + 1) : name;
  const head = rest.split('.')[0];
  return stateDictPrefix && rest !== name ? `${stateDictPrefix}.${head}` : head;
}

export function checkpointTotals(c: Checkpoint): CheckpointTotals {
  const seen = new Set<string>();
  const byDtype = new Map<string, TotalRow & { dtype: string }>();
  const byPrefix = new Map<string, TotalRow & { prefix: string }>();
  const all: TotalRow = { tensors: 0, params: 0, bytes: 0 };
  for (const t of c.tensors) {
    const key = viewKey(t);
    const dup = key !== undefined && seen.has(key);
    if (key !== undefined) seen.add(key);
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
  const storages = new Map<string, number>();
  let unshared = 0;
  for (const t of c.tensors) {
    if (t.storageId === undefined || t.quant) unshared += t.nbytes;
    else storages.set(t.storageId, Math.max(storages.get(t.storageId) ?? 0, t.location.storageBytes));
  }
  for (const b of storages.values()) unshared += b;
  all.bytes = unshared;
  return { ...all, byDtype: [...byDtype.values()], byPrefix: [...byPrefix.values()] };
}
