// Shared, frozen shape and stride arrays.

/** Distinct shapes/strides kept by internDims (beyond it, arrays are frozen but not shared). */
const MAX_INTERNED_DIMS = 1 << 16;
const internedDims = new Map<string, readonly number[]>();

/**
 * One frozen array per distinct list of sizes or strides: a million tensors of a few shapes
 * share a few arrays instead of holding two each. Frozen, so a mutation throws instead of
 * changing every tensor that shares it.
 */
export function internDims(dims: readonly number[]): number[] {
  if (Object.isFrozen(dims)) return dims as number[];
  const key = dims.join(',');
  let a = internedDims.get(key);
  if (!a) {
    a = Object.freeze(dims.slice());
    if (internedDims.size < MAX_INTERNED_DIMS) internedDims.set(key, a);
  }
  return a as number[];
}
