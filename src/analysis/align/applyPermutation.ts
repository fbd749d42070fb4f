// Applying a permutation spec's permutations to weights. Convention (as git-re-basin's
// get_permuted_param): W'[…, i, …] = W[…, perm[i], …], so unit i of A is matched with unit
// perm[i] of B. Permutations are exact: values are moved, never recomputed, so the permuted
// network computes the same function (up to float summation order).
import { GraphError } from '../model/ir';
import type { StateDict, TensorValues } from '../model/stateDict';
import type { PermutationMember, PermutationSpec } from './permutationSpec';
import { mulberry32 } from '../core/random';

/** One permutation per spec group, in spec order: perms[g][i] = the unit of B placed at i. */
export type Permutations = Int32Array[];

/** Per axis of a tensor: the source index of every destination index, or null (unchanged). */
export type AxisMaps = (Int32Array | null)[];

export function identityPermutations(spec: PermutationSpec): Permutations {
  return spec.groups.map((g) => Int32Array.from({ length: g.size }, (_, i) => i));
}

/** A small seedable PRNG (mulberry32) returning floats in [0, 1). */
export const rng = mulberry32;

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function randomPermutation(n: number, random: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

export function randomPermutations(spec: PermutationSpec, seed: number): Permutations {
  const r = rng(seed);
  return spec.groups.map((g) => randomPermutation(g.size, r));
}

export function invertPermutation(p: Int32Array): Int32Array {
  const inv = new Int32Array(p.length);
  for (let i = 0; i < p.length; i++) inv[p[i]] = i;
  return inv;
}

/** Writes unit permutation `perm` of a member into the full-axis map `map` (source index per destination index). */
export function fillMemberMap(map: Int32Array, m: PermutationMember, perm: Int32Array): void {
  const r = m.repeat;
  for (let i = 0; i < perm.length; i++) {
    const dst = m.offset + i * r, src = m.offset + perm[i] * r;
    for (let k = 0; k < r; k++) map[dst + k] = src + k;
  }
}

/**
 * The axis maps of every permuted tensor, keyed by the tensor's name in the spec. `shapeOf`
 * gives each tensor's shape. `skip` leaves out one group (weight matching's "except axis").
 */
export function axisMaps(spec: PermutationSpec, perms: Permutations, shapeOf: (tensor: string) => readonly number[], skip = -1): Map<string, AxisMaps> {
  const out = new Map<string, AxisMaps>();
  spec.groups.forEach((g, gi) => {
    if (gi === skip) return;
    if (perms[gi].length !== g.size) throw new GraphError(`permutation for ${g.name} has ${perms[gi].length} entries, the group has ${g.size} units`);
    for (const m of g.members) {
      const shape = shapeOf(m.tensor);
      let maps = out.get(m.tensor);
      if (!maps) out.set(m.tensor, (maps = shape.map(() => null)));
      let map = maps[m.axis];
      if (!map) maps[m.axis] = map = Int32Array.from({ length: shape[m.axis] }, (_, i) => i);
      fillMemberMap(map, m, perms[gi]);
    }
  });
  return out;
}

interface Indexable {
  length: number;
  [i: number]: number | bigint;
}

/**
 * out[...] = src[gathered index]: the output enumerates axes in `order` (a permutation of
 * 0..rank-1), each over its map (or 0..shape-1 when null); maps may select a subset.
 */
export function gatherAxes<T extends Indexable>(src: T, shape: readonly number[], order: readonly number[], maps: AxisMaps, out: T): T {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = src[0];
    return out;
  }
  const strides = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    strides[a] = s;
    s *= shape[a];
  }
  const offs = order.map((a) => {
    const m = maps[a];
    const len = m ? m.length : shape[a];
    const o = new Float64Array(len);
    for (let i = 0; i < len; i++) o[i] = (m ? m[i] : i) * strides[a];
    return o;
  });
  const lens = offs.map((o) => o.length);
  const inner = offs[rank - 1];
  const nInner = inner.length;
  const total = lens.reduce((x, y) => x * y, 1);
  if (out.length !== total) throw new RangeError(`gatherAxes: output has ${out.length} entries, needs ${total}`);
  if (total === 0) return out;
  const idx = new Array<number>(rank - 1).fill(0);
  let k = 0;
  for (;;) {
    let base = 0;
    for (let d = 0; d < rank - 1; d++) base += offs[d][idx[d]];
    for (let j = 0; j < nInner; j++) out[k++] = src[base + inner[j]];
    let d = rank - 2;
    while (d >= 0) {
      if (++idx[d] < lens[d]) break;
      idx[d] = 0;
      d--;
    }
    if (d < 0) break;
  }
  return out;
}

function identityOrder(rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => i);
}

/** A tensor's values with its axes permuted by `maps`. */
export function permuteValues(t: TensorValues, maps: AxisMaps): TensorValues {
  return { shape: t.shape, values: gatherAxes(t.values, t.shape, identityOrder(t.shape.length), maps, new Float32Array(t.values.length)) };
}

/** Raw little-endian bytes of a C-order tensor (elements of `elementSize` bytes) with its axes permuted. */
export function permuteBytes(bytes: Uint8Array, shape: readonly number[], elementSize: number, maps: AxisMaps): Uint8Array {
  const out = new Uint8Array(bytes.length);
  const order = identityOrder(shape.length);
  const aligned = bytes.byteOffset % elementSize === 0;
  if (aligned && elementSize === 1) gatherAxes(bytes, shape, order, maps, out);
  else if (aligned && elementSize === 2) gatherAxes(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2), shape, order, maps, new Uint16Array(out.buffer));
  else if (aligned && elementSize === 4) gatherAxes(new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), shape, order, maps, new Uint32Array(out.buffer));
  else if (aligned && elementSize === 8) gatherAxes(new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8), shape, order, maps, new BigUint64Array(out.buffer));
  else {
    // Any other element size: gather element indices, then copy bytes.
    const n = bytes.length / elementSize;
    const idx = gatherAxes(Int32Array.from({ length: n }, (_, i) => i), shape, order, maps, new Int32Array(n));
    for (let i = 0; i < n; i++) out.set(bytes.subarray(idx[i] * elementSize, (idx[i] + 1) * elementSize), i * elementSize);
  }
  return out;
}

/** The tensor a spec member names, looked up in a state dict (directly or under an alias). */
export function lookupTensor(spec: PermutationSpec, sd: StateDict, name: string): TensorValues {
  const t = sd.get(name) ?? sd.get(Object.keys(spec.aliases).find((k) => spec.aliases[k] === name) ?? '');
  if (!t) throw new GraphError(`tensor ${name} is not in the state dict`);
  return t;
}

/**
 * A new state dict with every permuted tensor permuted; other tensors are shared, not copied.
 * Aliases (a tied LM head) get their stored tensor's permuted values.
 */
export function applyPermutation(spec: PermutationSpec, perms: Permutations, sd: StateDict): StateDict {
  const maps = axisMaps(spec, perms, (t) => lookupTensor(spec, sd, t).shape);
  const out: StateDict = new Map(sd);
  for (const [name, m] of maps) out.set(name, permuteValues(lookupTensor(spec, sd, name), m));
  for (const [alias, stored] of Object.entries(spec.aliases)) {
    const t = out.get(stored);
    if (sd.has(alias) && t && maps.has(stored)) out.set(alias, t);
  }
  return out;
}
