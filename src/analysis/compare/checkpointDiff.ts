// `diff`: what changed from checkpoint A to checkpoint B. Tensors are matched by name below each
// file's state-dict prefix; a removed and an added tensor of equal shape and dtype whose values
// or names are similar are reported as a rename. Per shared tensor: relative L2 change, cosine
// similarity and max |b − a|, streamed with float64 sums. With `align`, B's hidden units are
// first permuted onto A's (weight matching; needs a recognised model) and the metrics repeated.
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { CancelledError } from '../core/errors';
import type { BackendChoice } from '../model/backend';
import { openCheckpoint } from '../open';
import type { AnalysisContext } from '../report/analysisView';
import { type PairMetrics, arrayPairMetrics, tensorPairMetrics } from './pairMetrics';
import { alignCheckpointPair } from './stateDictAlign';

export interface DiffOptions {
  a: string;
  b: string;
  /** Permute B onto A (weight matching) before comparing; needs a recognised model. */
  align?: boolean;
  archFile?: string;
  seed?: number;
  maxIter?: number;
  backend?: BackendChoice;
  /** Same-shape removed/added pairs with at least this cosine are renames (default 0.9). */
  renameMinCosine?: number;
  /** …or with at least this name similarity, 1 − Levenshtein / longer length (default 0.6). */
  renameMinNameSimilarity?: number;
}

export interface TensorRef {
  name: string;
  dtype: string;
  shape: number[];
}

export interface SharedTensor {
  name: string;
  dtypeA: string;
  dtypeB: string;
  shape: number[];
  metrics: PairMetrics;
  /** After aligning B to A (only with --align, for tensors the model uses). */
  aligned?: PairMetrics;
}

export interface RenamedTensor {
  from: string;
  to: string;
  dtype: string;
  shape: number[];
  nameSimilarity: number;
  metrics: PairMetrics;
}

export interface Overall {
  distance: number;
  relChange: number | null;
  cosine: number | null;
}

export interface DiffReport {
  kind: 'diff';
  a: string;
  b: string;
  formatA: string;
  formatB: string;
  /** State-dict prefixes removed before matching names. */
  prefixA: string;
  prefixB: string;
  summary: { tensorsA: number; tensorsB: number; shared: number; identical: number; added: number; removed: number; renamed: number; dtypeChanged: number; shapeChanged: number };
  /** Same name and shape (dtype may differ), in A's order. */
  shared: SharedTensor[];
  added: TensorRef[];
  removed: TensorRef[];
  renamed: RenamedTensor[];
  dtypeChanged: { name: string; from: string; to: string }[];
  shapeChanged: { name: string; from: number[]; to: number[]; dtypeA: string; dtypeB: string }[];
  /** Over all shared tensors as one vector. */
  overall: Overall;
  alignment: null | {
    family: string;
    model: string;
    seed: number;
    iterations: number;
    converged: boolean;
    distanceBefore: number;
    distanceAfter: number;
    groups: { name: string; size: number; moved: number; similarityBefore: number; similarityAfter: number }[];
    overall: Overall;
  };
  warnings: string[];
  seconds: number;
  complete: boolean;
}

function localName(t: TensorInfo, prefix: string): string {
  return prefix && t.name.startsWith(prefix + '.') ? t.name.slice(prefix.length + 1) : t.name;
}

/** 1 − Levenshtein distance / the longer length. */
export function nameSimilarity(a: string, b: string): number {
  if (a === b) return 1;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return 1 - row[b.length] / Math.max(a.length, b.length);
}

/** Overall figures from per-tensor metrics: the shared tensors concatenated into one vector. */
export function overallOf(ms: PairMetrics[]): Overall {
  let aa = 0, bb = 0, ab = 0, dd = 0;
  for (const m of ms) {
    aa += m.normA ** 2;
    bb += m.normB ** 2;
    dd += m.distance ** 2;
    ab += (m.cosine ?? 0) * m.normA * m.normB;
  }
  const na = Math.sqrt(aa), nb = Math.sqrt(bb);
  return { distance: Math.sqrt(dd), relChange: na > 0 ? Math.sqrt(dd) / na : null, cosine: na > 0 && nb > 0 ? ab / (na * nb) : null };
}

const ref = (name: string, t: TensorInfo): TensorRef => ({ name, dtype: t.dtype, shape: t.shape });
/** Value comparisons tried per removed tensor when looking for its new name. */
const MAX_RENAME_CANDIDATES = 32;

export async function runDiff(opts: DiffOptions, ctx: AnalysisContext = {}): Promise<DiffReport> {
  const t0 = performance.now();
  const ca = await openCheckpoint(opts.a);
  try {
    const cb = await openCheckpoint(opts.b);
    try {
      return await diffOpen(ca, cb, opts, ctx, t0);
    } finally {
      await cb.close();
    }
  } finally {
    await ca.close();
  }
}

async function diffOpen(ca: Checkpoint, cb: Checkpoint, opts: DiffOptions, ctx: AnalysisContext, t0: number): Promise<DiffReport> {
  const check = (): void => {
    if (ctx.isCancelled?.()) throw new CancelledError();
  };
  const mapA = new Map<string, TensorInfo>();
  for (const t of ca.tensors) if (!mapA.has(localName(t, ca.stateDictPrefix))) mapA.set(localName(t, ca.stateDictPrefix), t);
  const mapB = new Map<string, TensorInfo>();
  for (const t of cb.tensors) if (!mapB.has(localName(t, cb.stateDictPrefix))) mapB.set(localName(t, cb.stateDictPrefix), t);
  const report: DiffReport = {
    kind: 'diff', a: ca.path, b: cb.path, formatA: ca.format, formatB: cb.format, prefixA: ca.stateDictPrefix, prefixB: cb.stateDictPrefix,
    summary: { tensorsA: mapA.size, tensorsB: mapB.size, shared: 0, identical: 0, added: 0, removed: 0, renamed: 0, dtypeChanged: 0, shapeChanged: 0 },
    shared: [], added: [], removed: [], renamed: [], dtypeChanged: [], shapeChanged: [],
    overall: { distance: 0, relChange: null, cosine: null },
    alignment: null,
    warnings: [...ca.warnings.map((w) => `${ca.path}: ${w}`), ...cb.warnings.map((w) => `${cb.path}: ${w}`)],
    seconds: 0,
    complete: false,
  };
  const pairs: [string, TensorInfo, TensorInfo][] = [];
  for (const [name, ta] of mapA) {
    const tb = mapB.get(name);
    if (!tb) continue;
    if (ta.shape.join() !== tb.shape.join()) report.shapeChanged.push({ name, from: ta.shape, to: tb.shape, dtypeA: ta.dtype, dtypeB: tb.dtype });
    else pairs.push([name, ta, tb]);
  }
  const removed = [...mapA].filter(([n]) => !mapB.has(n));
  const added = [...mapB].filter(([n]) => !mapA.has(n));
  const total = pairs.length + removed.length;
  let lastPartial = 0;
  for (const [i, [name, ta, tb]] of pairs.entries()) {
    check();
    ctx.onProgress?.(i / total, name);
    if (ta.dtype !== tb.dtype) report.dtypeChanged.push({ name, from: ta.dtype, to: tb.dtype });
    try {
      report.shared.push({ name, dtypeA: ta.dtype, dtypeB: tb.dtype, shape: ta.shape, metrics: await tensorPairMetrics(ta, tb, { isCancelled: ctx.isCancelled }) });
    } catch (e) {
      if (e instanceof CancelledError) throw e;
      report.warnings.push(`${name}: not compared (${(e as Error).message})`);
    }
    if (ctx.onPartial && performance.now() - lastPartial > 200) {
      lastPartial = performance.now();
      ctx.onPartial(finishSummary(report, removed.length, added.length, t0));
    }
  }
  // Renames: best (cosine + name similarity) first, one to one.
  const candidates: RenamedTensor[] = [];
  for (const [i, [from, ta]] of removed.entries()) {
    check();
    ctx.onProgress?.((pairs.length + i) / total, `looking for ${from}`);
    const same = added.filter(([, tb]) => tb.dtype === ta.dtype && tb.shape.join() === ta.shape.join()).slice(0, MAX_RENAME_CANDIDATES);
    for (const [to, tb] of same) {
      const metrics = await tensorPairMetrics(ta, tb, { isCancelled: ctx.isCancelled });
      const sim = nameSimilarity(from, to);
      if ((metrics.cosine ?? 0) >= (opts.renameMinCosine ?? 0.9) || sim >= (opts.renameMinNameSimilarity ?? 0.6)) candidates.push({ from, to, dtype: ta.dtype, shape: ta.shape, nameSimilarity: sim, metrics });
    }
  }
  candidates.sort((x, y) => (y.metrics.cosine ?? 0) + y.nameSimilarity - ((x.metrics.cosine ?? 0) + x.nameSimilarity));
  const usedFrom = new Set<string>(), usedTo = new Set<string>();
  for (const c of candidates) {
    if (usedFrom.has(c.from) || usedTo.has(c.to)) continue;
    usedFrom.add(c.from);
    usedTo.add(c.to);
    report.renamed.push(c);
  }
  report.removed = removed.filter(([n]) => !usedFrom.has(n)).map(([n, t]) => ref(n, t));
  report.added = added.filter(([n]) => !usedTo.has(n)).map(([n, t]) => ref(n, t));
  if (opts.align) await addAlignment(ca, cb, report, opts, ctx);
  const out = finishSummary(report, report.removed.length, report.added.length, t0);
  out.complete = true;
  ctx.onProgress?.(1);
  return out;
}

function finishSummary(r: DiffReport, removed: number, added: number, t0: number): DiffReport {
  r.summary = {
    ...r.summary,
    shared: r.shared.length,
    identical: r.shared.filter((s) => s.metrics.distance === 0 && s.metrics.nonFinite === 0).length,
    added,
    removed,
    renamed: r.renamed.length,
    dtypeChanged: r.dtypeChanged.length,
    shapeChanged: r.shapeChanged.length,
  };
  r.overall = overallOf(r.shared.map((s) => s.metrics));
  r.seconds = (performance.now() - t0) / 1000;
  return { ...r };
}

async function addAlignment(ca: Checkpoint, cb: Checkpoint, report: DiffReport, opts: DiffOptions, ctx: AnalysisContext): Promise<void> {
  ctx.onProgress?.(0.9, 'aligning B to A (weight matching)');
  const p = await alignCheckpointPair(ca, cb, { seed: opts.seed, maxIter: opts.maxIter, archFile: opts.archFile, backend: opts.backend, wasmDir: ctx.wasmDir, isCancelled: ctx.isCancelled }, ctx.log);
  const byStored = new Map(report.shared.map((s) => [ca.stateDictPrefix ? `${ca.stateDictPrefix}.${s.name}` : s.name, s]));
  const aligned: PairMetrics[] = [];
  for (const [local, va] of p.a) {
    const vb = p.aligned.get(local);
    const row = byStored.get(p.storedA(local));
    if (!vb || !row) continue;
    row.aligned = arrayPairMetrics(va.values, vb.values);
    aligned.push(row.aligned);
  }
  const r = p.result;
  report.alignment = {
    family: r.family,
    model: p.graph.description,
    seed: r.seed,
    iterations: r.iterations,
    converged: r.converged,
    distanceBefore: r.distanceBefore,
    distanceAfter: r.distanceAfter,
    groups: r.groups.map((g) => ({ name: g.name, size: g.size, moved: g.moved, similarityBefore: g.similarityBefore, similarityAfter: g.similarityAfter })),
    overall: overallOf(aligned),
  };
}
