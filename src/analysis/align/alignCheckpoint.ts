// Align checkpoint B to checkpoint A (Git Re-Basin weight matching): open both, check they
// hold the same architecture, derive the permutation spec from the graph IR, match, and write
// the permuted B as safetensors (atomically) plus OUT.perm.json with the permutations.
//
// The output holds B's whole state dict (the tensors under the checkpoint's state-dict prefix,
// written without it, buffers such as num_batches_tracked included), each permuted tensor in
// its original dtype: permutation moves bytes, it never rounds.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Checkpoint } from '../core/checkpoint';
import { dtypeSize } from '../core/dtype';
import { CancelledError, CheckpointError } from '../core/errors';
import { type TensorToWrite, tensorInfoBytes, writeSafetensors } from '../formats/safetensorsWriter';
import { type ModelGraph, tensorShapes } from '../model/ir';
import { recognizeCheckpoint } from '../model/recognize';
import { type StateDict, loadStateDict } from '../model/stateDict';
import { openCheckpoint } from '../open';
import { type Permutations, applyPermutation, axisMaps, lookupTensor, permuteBytes } from './applyPermutation';
import { type PermutationSpec, permutationSpec } from './permutationSpec';
import { type SweepRecord, groupSimilarities, weightMatching } from './weightMatching';

export type AlignMethod = 'weights' | 'activations';

export interface AlignOptions {
  method?: AlignMethod;
  seed?: number;
  maxIter?: number;
  /** Architecture hints file (--arch), used for both checkpoints. */
  archFile?: string;
  isCancelled?: () => boolean;
  /** stage: 'load' | 'match' | 'write'. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface GroupReport {
  name: string;
  kind: 'units' | 'stream' | 'heads';
  size: number;
  /** Mean cosine similarity between A's units and the B units matched to them, before (identity) and after alignment. */
  similarityBefore: number;
  similarityAfter: number;
  /** Σ_i S[i, perm[i]] (the weight-matching objective) before and after. */
  objectiveBefore: number;
  objectiveAfter: number;
  /** Units not left in place. */
  moved: number;
  /** Seconds spent matching this group. */
  seconds: number;
  /** (tensor, axis) pairs the group acts on. */
  members: { tensor: string; axis: number; offset: number; repeat: number }[];
}

export interface AlignResult {
  method: AlignMethod;
  family: string;
  seed: number;
  iterations: number;
  converged: boolean;
  seconds: number;
  groups: GroupReport[];
  sweeps: SweepRecord[];
  /** ‖Θ_A − Θ_B‖₂ over the permuted tensors' state dict, before and after. */
  distanceBefore: number;
  distanceAfter: number;
}

export interface AlignStateDictsResult extends AlignResult {
  spec: PermutationSpec;
  perms: Permutations;
  /** B permuted onto A (tensors that no group touches are shared with B). */
  aligned: StateDict;
}

export interface AlignCheckpointResult extends AlignResult {
  a: string;
  b: string;
  out: string;
  permutations: string;
}

/** OUT.safetensors → OUT.perm.json */
export function permutationsPath(out: string): string {
  return out.replace(/\.safetensors$/i, '') + '.perm.json';
}

/**
 * Throws CheckpointError naming B and the mismatched tensors when B's graph differs from A's.
 */
export function checkSameArchitecture(ga: ModelGraph, gb: ModelGraph, labelA: string, labelB: string): void {
  const problems: string[] = [];
  if (ga.family !== gb.family) problems.push(`it is a ${gb.family}, ${labelA} is a ${ga.family}`);
  const sa = tensorShapes(ga), sb = tensorShapes(gb);
  for (const [name, shape] of sa) {
    const other = sb.get(name);
    if (!other) problems.push(`tensor ${name} is missing`);
    else if (other.join() !== shape.join()) problems.push(`tensor ${name} is [${other}], in ${labelA} [${shape}]`);
  }
  for (const name of sb.keys()) if (!sa.has(name)) problems.push(`tensor ${name} is not in ${labelA}`);
  if (!problems.length) {
    const ops = (g: ModelGraph) => JSON.stringify(g.nodes.map((n) => ({ ...n, id: undefined })));
    if (ops(ga) !== ops(gb) || JSON.stringify(ga.aliases) !== JSON.stringify(gb.aliases)) problems.push(`its layers are configured differently (${gb.description} vs ${ga.description})`);
  }
  if (problems.length) {
    const shown = problems.slice(0, 6).join('; ') + (problems.length > 6 ? `; and ${problems.length - 6} more` : '');
    throw new CheckpointError(labelB, `does not have the architecture of ${labelA}: ${shown}`);
  }
}

function l2Distance(spec: PermutationSpec, a: StateDict, b: StateDict): number {
  let s = 0;
  const seen = new Set<string>();
  for (const g of spec.groups) {
    for (const m of g.members) {
      if (seen.has(m.tensor)) continue;
      seen.add(m.tensor);
      const x = lookupTensor(spec, a, m.tensor).values, y = lookupTensor(spec, b, m.tensor).values;
      for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) * (x[i] - y[i]);
    }
  }
  return Math.sqrt(s);
}

/** Aligns B's state dict to A's (same graph). Needs a tfjs backend. The analysis entry point for in-memory use (interpolation). */
export function alignStateDicts(graph: ModelGraph, a: StateDict, b: StateDict, opts: AlignOptions = {}): AlignStateDictsResult {
  const method = opts.method ?? 'weights';
  if (method !== 'weights') throw new Error(`--method ${method} is not available yet; use --method weights`);
  const t0 = performance.now();
  const spec = permutationSpec(graph);
  const seed = opts.seed ?? 0;
  const before = groupSimilarities(spec, a, b, spec.groups.map((g) => Int32Array.from({ length: g.size }, (_, i) => i)));
  const wm = weightMatching(spec, a, b, {
    seed,
    maxIter: opts.maxIter,
    isCancelled: opts.isCancelled,
    onProgress: (sweep, done, total) => opts.onProgress?.('match', sweep * total + done, (opts.maxIter ?? 100) * total),
  });
  const after = groupSimilarities(spec, a, b, wm.perms);
  const aligned = applyPermutation(spec, wm.perms, b);
  const groups: GroupReport[] = spec.groups.map((g, gi) => ({
    name: g.name,
    kind: g.kind,
    size: g.size,
    similarityBefore: before[gi].meanCosine,
    similarityAfter: after[gi].meanCosine,
    objectiveBefore: before[gi].objective,
    objectiveAfter: after[gi].objective,
    moved: wm.perms[gi].reduce((c, v, i) => c + (v !== i ? 1 : 0), 0),
    seconds: wm.groupSeconds[gi],
    members: g.members.map(({ tensor, axis, offset, repeat }) => ({ tensor, axis, offset, repeat })),
  }));
  return {
    method, family: graph.family, seed,
    iterations: wm.iterations, converged: wm.converged,
    seconds: (performance.now() - t0) / 1000,
    groups, sweeps: wm.sweeps,
    distanceBefore: l2Distance(spec, a, b), distanceAfter: l2Distance(spec, a, aligned),
    spec, perms: wm.perms, aligned,
  };
}

async function readAllBytes(t: Checkpoint['tensors'][number]): Promise<Uint8Array> {
  const out = new Uint8Array(t.nbytes);
  let at = 0;
  for await (const chunk of tensorInfoBytes(t)) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    const h = await fsp.open(tmp, 'wx');
    try {
      await h.writeFile(text);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new CheckpointError(path, `cannot write: ${(e as Error).message}`);
  }
}

/** B's state dict with the permutations applied, as tensors to write (original dtypes, prefix removed). */
export async function permutedTensors(ckpt: Checkpoint, graph: ModelGraph, spec: PermutationSpec, perms: Permutations, isCancelled?: () => boolean): Promise<TensorToWrite[]> {
  const shapes = tensorShapes(graph);
  const maps = axisMaps(spec, perms, (t) => {
    const s = shapes.get(t) ?? shapes.get(Object.keys(spec.aliases).find((k) => spec.aliases[k] === t) ?? '');
    if (!s) throw new CheckpointError(ckpt.path, `tensor ${t} is not in the graph`);
    return s;
  });
  const out: TensorToWrite[] = [];
  const names = new Set<string>();
  for (const t of ckpt.tensors) {
    if (!t.name.startsWith(graph.prefix)) continue;
    const local = t.name.slice(graph.prefix.length);
    if (names.has(local)) continue;
    names.add(local);
    const m = maps.get(local);
    if (!m) {
      out.push({ name: local, dtype: t.dtype, shape: t.shape, data: t });
      continue;
    }
    if (isCancelled?.()) throw new CancelledError();
    const bytes = await readAllBytes(t);
    out.push({ name: local, dtype: t.dtype, shape: t.shape, data: permuteBytes(bytes, t.shape, dtypeSize(t.dtype), m) });
  }
  return out;
}

/** Aligns checkpoint B to A and writes OUT (safetensors) and OUT.perm.json. Needs a tfjs backend. */
export async function alignCheckpoints(aPath: string, bPath: string, outPath: string, opts: AlignOptions = {}): Promise<AlignCheckpointResult> {
  if ((opts.method ?? 'weights') !== 'weights') throw new Error(`--method ${opts.method} is not available yet; use --method weights`);
  const ckptA = await openCheckpoint(aPath);
  try {
    const ckptB = await openCheckpoint(bPath);
    try {
      const { graph: ga } = await recognizeCheckpoint(ckptA, { archFile: opts.archFile });
      const { graph: gb } = await recognizeCheckpoint(ckptB, { archFile: opts.archFile });
      checkSameArchitecture(ga, gb, aPath, bPath);
      const load = { isCancelled: opts.isCancelled };
      const sdA = await loadStateDict(ckptA, ga, { ...load, onProgress: (d, t) => opts.onProgress?.('load', d, 2 * t) });
      const sdB = await loadStateDict(ckptB, gb, { ...load, onProgress: (d, t) => opts.onProgress?.('load', t + d, 2 * t) });
      const r = alignStateDicts(gb, sdA, sdB, opts);
      const tensors = await permutedTensors(ckptB, gb, r.spec, r.perms, opts.isCancelled);
      await writeSafetensors(outPath, tensors, { format: 'pt', 'ckpt-lens.aligned': `${basename(bPath)} aligned to ${basename(aPath)} (weight matching, seed ${r.seed})` }, {
        isCancelled: opts.isCancelled,
        onProgress: (d, t) => opts.onProgress?.('write', d, t),
      });
      const permutations = permutationsPath(outPath);
      const json = {
        version: 1,
        method: r.method,
        a: aPath,
        b: bPath,
        out: outPath,
        seed: r.seed,
        iterations: r.iterations,
        converged: r.converged,
        convention: 'aligned[..., i, ...] = B[..., perm[i], ...] on every member axis segment (unit i covers offset + i*repeat ... + repeat-1); unit i of A is matched with unit perm[i] of B',
        groups: r.groups.map((g, gi) => ({ name: g.name, kind: g.kind, size: g.size, members: g.members, perm: Array.from(r.perms[gi]) })),
      };
      await writeFileAtomic(permutations, JSON.stringify(json) + '\n');
      const { spec: _s, perms: _p, aligned: _a, ...result } = r;
      return { ...result, a: aPath, b: bPath, out: outPath, permutations };
    } finally {
      await ckptB.close();
    }
  } finally {
    await ckptA.close();
  }
}
