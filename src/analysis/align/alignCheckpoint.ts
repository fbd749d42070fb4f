// Align checkpoint B to checkpoint A (Git Re-Basin weight matching, or activation matching on a
// dataset): open both, check they hold the same architecture, derive the permutation spec from
// the graph IR, match, and write the permuted B as safetensors (atomically) plus OUT.perm.json
// with the permutations.
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
import { type Dataset, type Split, loadDataset, subset } from '../data/dataset';
import { type TensorToWrite, tensorInfoBytes, writeSafetensors } from '../formats/safetensorsWriter';
import { type ModelGraph, tensorShapes } from '../model/ir';
import { recognizeCheckpoint } from '../model/recognize';
import { type StateDict, loadStateDict } from '../model/stateDict';
import { openCheckpoint } from '../open';
import { type Permutations, applyPermutation, axisMaps, lookupTensor, permuteBytes } from './applyPermutation';
import { activationMatching } from './activationMatching';
import { type PermutationSpec, permutationSpec } from './permutationSpec';
import { type ProductCache, type SweepRecord, groupSimilarities, weightMatching } from './weightMatching';

export type AlignMethod = 'weights' | 'activations';

export interface AlignOptions {
  method?: AlignMethod;
  seed?: number;
  maxIter?: number;
  /** Architecture hints file (--arch), used for both checkpoints. */
  archFile?: string;
  /** Method 'activations': the dataset the activations are taken on (any loadDataset input)… */
  data?: string;
  /** …its separate labels file, if any (labels are not used, but an inputs-only file may name them)… */
  labels?: string;
  /** …which split of an MNIST folder or an x_train/x_test file (default test)… */
  split?: Split;
  /** …and how many of its first examples to use (default all). */
  limit?: number;
  /** Method 'activations': an already loaded dataset, used instead of `data`. */
  dataset?: Dataset;
  /** Method 'activations': examples per forward pass. */
  batchSize?: number;
  isCancelled?: () => boolean;
  /** stage: 'load' | 'capture' (examples) | 'match' | 'write'. */
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface GroupReport {
  name: string;
  kind: 'units' | 'stream' | 'heads';
  size: number;
  /**
   * Before (identity) and after alignment, the mean over A's units of their similarity to the B
   * unit matched to them: weights — cosine of the weight vectors; activations — Pearson
   * correlation of the activations (averaged over the group's capture points).
   */
  similarityBefore: number;
  similarityAfter: number;
  /** Σ_i S[i, perm[i]] before and after: S is the weight-matching similarity (weights) or E_ab (activations). */
  objectiveBefore: number;
  objectiveAfter: number;
  /** Units not left in place. */
  moved: number;
  /** Seconds spent matching this group. */
  seconds: number;
  /** (tensor, axis) pairs the group acts on. */
  members: { tensor: string; axis: number; offset: number; repeat: number }[];
  /** Method 'activations': the values whose activations were matched (node ids, `<attn>:heads`). */
  capturePoints?: string[];
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
  /** Method 'activations': the dataset and the number of examples the activations came from. */
  data?: { name: string; examples: number };
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

/** The dataset of an activation alignment: opts.dataset, or opts.data loaded; cut to opts.limit. */
export async function alignmentDataset(opts: AlignOptions): Promise<Dataset> {
  let ds = opts.dataset;
  if (!ds) {
    if (!opts.data) throw new CheckpointError('--method activations', 'activation matching needs a dataset (--data PATH)');
    ds = await loadDataset(opts.data, { labels: opts.labels, split: opts.split });
  }
  return opts.limit !== undefined && opts.limit < ds.n ? subset(ds, 0, opts.limit) : ds;
}

/**
 * Aligns B's state dict to A's (same graph). Needs a tfjs backend. The analysis entry point for
 * in-memory use (interpolation). Method 'activations' loads its dataset (opts.data or opts.dataset).
 */
export async function alignStateDicts(graph: ModelGraph, a: StateDict, b: StateDict, opts: AlignOptions = {}): Promise<AlignStateDictsResult> {
  const method = opts.method ?? 'weights';
  if (method !== 'weights' && method !== 'activations') throw new Error(`unknown alignment method ${String(method)}`);
  const t0 = performance.now();
  const seed = opts.seed ?? 0;
  let spec: PermutationSpec;
  let perms: Permutations;
  let groups: GroupReport[];
  let iterations = 1, converged = true;
  let sweeps: SweepRecord[] = [];
  let data: AlignResult['data'];
  const members = (g: PermutationSpec['groups'][number]) => g.members.map(({ tensor, axis, offset, repeat }) => ({ tensor, axis, offset, repeat }));
  const moved = (p: Int32Array) => p.reduce((c, v, i) => c + (v !== i ? 1 : 0), 0);
  if (method === 'activations') {
    const ds = await alignmentDataset(opts);
    const am = await activationMatching(graph, a, b, ds, {
      batchSize: opts.batchSize,
      isCancelled: opts.isCancelled,
      onProgress: (stage, done, total) => opts.onProgress?.(stage, done, total),
    });
    ({ spec, perms } = am);
    data = { name: ds.name, examples: am.examples };
    groups = spec.groups.map((g, gi) => ({
      name: g.name, kind: g.kind, size: g.size,
      similarityBefore: am.correlationBefore[gi], similarityAfter: am.correlationAfter[gi],
      objectiveBefore: am.objectiveBefore[gi], objectiveAfter: am.objectiveAfter[gi],
      moved: moved(perms[gi]),
      // Capture is shared by all groups; each group's share is its assignment time plus an even split of it.
      seconds: am.groupSeconds[gi] + am.captureSeconds / spec.groups.length,
      members: members(g),
      capturePoints: am.points[gi],
    }));
  } else {
    spec = permutationSpec(graph);
    // One product cache for the report and the matching: the final report then costs no products.
    const cache: ProductCache = new Map();
    const before = groupSimilarities(spec, a, b, spec.groups.map((g) => Int32Array.from({ length: g.size }, (_, i) => i)), cache);
    const wm = weightMatching(spec, a, b, {
      seed,
      cache,
      maxIter: opts.maxIter,
      isCancelled: opts.isCancelled,
      onProgress: (sweep, done, total) => opts.onProgress?.('match', sweep * total + done, (opts.maxIter ?? 100) * total),
    });
    perms = wm.perms;
    ({ iterations, converged, sweeps } = wm);
    const after = groupSimilarities(spec, a, b, wm.perms, cache);
    groups = spec.groups.map((g, gi) => ({
      name: g.name, kind: g.kind, size: g.size,
      similarityBefore: before[gi].meanCosine, similarityAfter: after[gi].meanCosine,
      objectiveBefore: before[gi].objective, objectiveAfter: after[gi].objective,
      moved: moved(wm.perms[gi]),
      seconds: wm.groupSeconds[gi],
      members: members(g),
    }));
  }
  const aligned = applyPermutation(spec, perms, b);
  return {
    method, family: graph.family, seed,
    iterations, converged,
    seconds: (performance.now() - t0) / 1000,
    groups, sweeps,
    distanceBefore: l2Distance(spec, a, b), distanceAfter: l2Distance(spec, a, aligned),
    ...(data ? { data } : {}),
    spec, perms, aligned,
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
  // Activation matching: the dataset first, so a bad --data fails before any work, and its
  // example shape helps recognise CNN inputs.
  const dataset = opts.method === 'activations' ? await alignmentDataset(opts) : undefined;
  const inputHint = dataset?.x.shape.slice(1);
  const ckptA = await openCheckpoint(aPath);
  try {
    const ckptB = await openCheckpoint(bPath);
    try {
      const { graph: ga } = await recognizeCheckpoint(ckptA, { archFile: opts.archFile, inputHint });
      const { graph: gb } = await recognizeCheckpoint(ckptB, { archFile: opts.archFile, inputHint });
      checkSameArchitecture(ga, gb, aPath, bPath);
      const load = { isCancelled: opts.isCancelled };
      const sdA = await loadStateDict(ckptA, ga, { ...load, onProgress: (d, t) => opts.onProgress?.('load', d, 2 * t) });
      const sdB = await loadStateDict(ckptB, gb, { ...load, onProgress: (d, t) => opts.onProgress?.('load', t + d, 2 * t) });
      const r = await alignStateDicts(gb, sdA, sdB, { ...opts, dataset });
      const tensors = await permutedTensors(ckptB, gb, r.spec, r.perms, opts.isCancelled);
      await writeSafetensors(outPath, tensors, { format: 'pt', 'ckpt-lens.aligned': `${basename(bPath)} aligned to ${basename(aPath)} (${r.method === 'activations' ? `activation matching on ${r.data!.examples} examples of ${basename(r.data!.name)}` : `weight matching, seed ${r.seed}`})` }, {
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
        ...(r.data ? { data: r.data } : {}),
        groups: r.groups.map((g, gi) => ({ name: g.name, kind: g.kind, size: g.size, members: g.members, ...(g.capturePoints ? { capturePoints: g.capturePoints } : {}), perm: Array.from(r.perms[gi]) })),
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
