// Permutation specs derived from the graph IR (Git Re-Basin's PermutationSpec, methods.md §1.2),
// never written by hand per model. A walk over the graph tracks, for every value, which unit
// axis its feature/channel dimension carries:
//   - a linear / conv output (and its bias) creates a unit axis; an embedding creates the
//     residual stream of a transformer;
//   - BatchNorm / LayerNorm parameters and running statistics, element-wise activations and
//     pooling pass it through; flatten turns a conv channel into a block of H·W features;
//   - a residual add (and the position table added to a token embedding) merges the axes of
//     its inputs into one permutation group;
//   - the next linear / conv reads it on its input axis.
// The network's input and its logits are never permuted: a group that reaches either is
// dropped. Attention heads are permuted as whole blocks (q, k and v of head h move together,
// with the rows of c_proj that read head h); the dimensions inside a head are not permuted.
//
// A member acts on a segment of one tensor axis: unit i covers axis indices
// offset + i·repeat … offset + i·repeat + repeat − 1 (repeat = H·W for flattened conv channels,
// head_dim for heads, 1 otherwise).
import { GraphError, INPUT, type ModelGraph, inferShapes, opOf, tensorShapes } from '../model/ir';
import type { Axis, PermuteContext } from '../model/ops/base';

export interface PermutationMember {
  /** State-dict name (without the checkpoint prefix; an aliased tensor appears under its stored name). */
  tensor: string;
  axis: number;
  /** First axis index the group acts on, and the number of consecutive indices per unit. */
  offset: number;
  repeat: number;
  /** Whether the member enters the weight-matching similarity (BatchNorm running statistics do not). */
  cost: boolean;
}

export interface PermutationGroup {
  /** Readable name: the node that creates the unit axis (`fc1`, `layer1.0.conv1`), `stream:<node>` for a residual stream, `<attn>.heads`. */
  name: string;
  kind: 'units' | 'stream' | 'heads';
  /** Number of units being permuted. */
  size: number;
  members: PermutationMember[];
}

export interface PermutationSpec {
  groups: PermutationGroup[];
  /** Alias name → stored name (a tied LM head): permuted together with the stored tensor. */
  aliases: Record<string, string>;
}

const FIXED = 0;

/** Which spec group a node's output value carries on its feature/channel axis, and with what repeat. */
export interface CarriedAxis {
  /** Index into PermutationSpec.groups. */
  group: number;
  /** 1 for a [C, …] or [T, C] value; H·W for a flattened conv channel. */
  repeat: number;
}

/** Builds the permutation groups of `g` (see the file comment). Throws GraphError on a graph it cannot follow. */
export function permutationSpec(g: ModelGraph): PermutationSpec {
  return permutationSpecWithValues(g).spec;
}

/**
 * The permutation spec and, per node id, the group its output value carries (values that carry
 * no permuted axis are absent). Activation matching captures these values.
 */
export function permutationSpecWithValues(g: ModelGraph): { spec: PermutationSpec; values: Map<string, CarriedAxis> } {
  const shapes = inferShapes(g);
  const tshapes = tensorShapes(g);
  const parent: number[] = [FIXED];
  const info: { name: string; kind: PermutationGroup['kind']; size: number; order: number }[] = [{ name: 'fixed', kind: 'units', size: 0, order: -1 }];
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const newGroup = (name: string, kind: PermutationGroup['kind'], size: number): number => {
    const id = parent.length;
    parent.push(id);
    info.push({ name, kind, size, order: id });
    return id;
  };
  const union = (a: number, b: number, stream: string, asStream = true): number => {
    let ra = find(a), rb = find(b);
    if (ra === rb) return ra;
    if (rb === FIXED || (ra !== FIXED && info[rb].order < info[ra].order)) [ra, rb] = [rb, ra];
    // ra survives: FIXED, or the earliest group (whose creator names the stream).
    if (ra !== FIXED && info[ra].size !== info[rb].size) throw new GraphError(`${stream}: cannot merge unit axes of ${info[ra].size} and ${info[rb].size} units`);
    parent[rb] = ra;
    if (ra !== FIXED && asStream) {
      info[ra].kind = info[ra].kind === 'heads' ? 'heads' : 'stream';
      if (!info[ra].name.startsWith('stream:')) info[ra].name = `stream:${info[ra].name}`;
    }
    return ra;
  };
  const raw: (PermutationMember & { id: number })[] = [];
  const alias = (t: string): string => g.aliases[t] ?? t;
  const member = (tensor: string | undefined, axis: number, a: Axis, offset = 0, cost = true): void => {
    if (tensor === undefined) return;
    raw.push({ tensor: alias(tensor), axis, offset, repeat: a.repeat, cost, id: a.id });
  };

  const values = new Map<string, Axis>([[INPUT, { id: FIXED, repeat: 1 }]]);
  const fixed: Axis = { id: FIXED, repeat: 1 };
  for (const n of g.nodes) {
    const axisOf = (i = 0): Axis => {
      const a = values.get(n.inputs[i]);
      if (!a) throw new GraphError(`${n.id}: reads ${n.inputs[i]}, which is not computed before it`);
      return a;
    };
    const ctx: PermuteContext = {
      input: axisOf,
      inputShape: (i = 0) => shapes.get(n.inputs[i])!,
      fixed,
      newAxis: (name, kind, size, repeat = 1) => ({ id: newGroup(name, kind, size), repeat }),
      merge(a, b, stream = true) {
        if (a.repeat === b.repeat) return { id: union(a.id, b.id, n.id, stream), repeat: a.repeat };
        union(a.id, FIXED, n.id);
        union(b.id, FIXED, n.id);
        return fixed;
      },
      pin: (a) => void union(a.id, FIXED, n.id),
      member,
      setValue: (id, a) => void values.set(id, a),
    };
    values.set(n.id, opOf(n).permute(n, ctx));
  }
  const logits = values.get(g.output);
  if (!logits) throw new GraphError(`output ${g.output} is not computed`);
  union(logits.id, FIXED, 'logits');

  // Resolve members to their groups; the same tensor segment claimed twice (a tied tensor read
  // by two nodes) ties the two claims' groups together.
  const bySegment = new Map<string, number>();
  for (const m of raw) {
    const key = `${m.tensor}\u0000${m.axis}\u0000${m.offset}\u0000${m.repeat}`;
    const prev = bySegment.get(key);
    if (prev === undefined) bySegment.set(key, m.id);
    else union(prev, m.id, m.tensor);
  }
  // A group acting on two axes of one tensor (BERT's MLM transform, whose output a tied decoder
  // makes part of the residual stream: W ↦ P·W·Pᵀ) is beyond weight matching's linear
  // assignment: such a group is not permuted.
  for (let conflict = true; conflict; ) {
    conflict = false;
    const axes = new Map<string, number>();
    for (const m of raw) {
      const root = find(m.id);
      if (root === FIXED) continue;
      const key = `${root}\u0000${m.tensor}`;
      const prev = axes.get(key);
      if (prev !== undefined && prev !== m.axis) {
        union(root, FIXED, m.tensor);
        conflict = true;
        break;
      }
      axes.set(key, m.axis);
    }
  }
  const groups = new Map<number, PermutationGroup>();
  const seen = new Set<string>();
  for (const m of raw) {
    const root = find(m.id);
    if (root === FIXED) continue;
    const key = `${m.tensor}\u0000${m.axis}\u0000${m.offset}\u0000${m.repeat}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let grp = groups.get(root);
    if (!grp) groups.set(root, (grp = { name: info[root].name, kind: info[root].kind, size: info[root].size, members: [] }));
    const shape = tshapes.get(m.tensor) ?? tshapes.get(Object.keys(g.aliases).find((k) => g.aliases[k] === m.tensor) ?? '');

    if (!shape || m.axis >= shape.length || m.offset + grp.size * m.repeat > shape[m.axis]) {
      throw new GraphError(`${grp.name}: ${grp.size} units × ${m.repeat} do not fit axis ${m.axis} of ${m.tensor} [${shape ?? '?'}] from ${m.offset}`);
    }
    grp.members.push({ tensor: m.tensor, axis: m.axis, offset: m.offset, repeat: m.repeat, cost: m.cost });
  }
  const out = [...groups.entries()].sort((a, b) => info[a[0]].order - info[b[0]].order).map(([, grp]) => grp);
  // Two axes of one tensor acted on by one group (not a symmetry the walk can express) would be
  // a recognizer bug; refuse rather than write a broken model.
  for (const grp of out) {
    const axes = new Map<string, number>();
    for (const m of grp.members) {
      const prev = axes.get(m.tensor);
      if (prev !== undefined && prev !== m.axis) throw new GraphError(`${grp.name} acts on two axes of ${m.tensor}`);
      axes.set(m.tensor, m.axis);
    }
  }
  const kept = [...groups.entries()].sort((a, b) => info[a[0]].order - info[b[0]].order).filter(([, grp]) => grp.size > 1);
  const indexOf = new Map(kept.map(([root], i) => [root, i]));
  const carried = new Map<string, CarriedAxis>();
  for (const [id, a] of values) {
    const gi = id === INPUT ? undefined : indexOf.get(find(a.id));
    if (gi !== undefined) carried.set(id, { group: gi, repeat: a.repeat });
  }
  return { spec: { groups: kept.map(([, grp]) => grp), aliases: { ...g.aliases } }, values: carried };
}
