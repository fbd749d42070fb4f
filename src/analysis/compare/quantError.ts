// Quantization error of a GGUF file against the checkpoint it was converted from: llama.cpp's
// tensor names mapped to Hugging Face names, llama.cpp's Q/K row permutation for RoPE undone, and
// per tensor the max and RMS error of the dequantized values against the source.
//
// The mapping (llama.cpp's gguf-py tensor_mapping.py, MODEL_ARCH.LLAMA):
//   token_embd            ↔ model.embed_tokens          output_norm ↔ model.norm
//   output                ↔ lm_head                     blk.N.attn_norm ↔ model.layers.N.input_layernorm
//   blk.N.attn_q / attn_k ↔ model.layers.N.self_attn.q_proj / k_proj   (rows permuted, see below)
//   blk.N.attn_v / attn_output ↔ …self_attn.v_proj / o_proj
//   blk.N.ffn_norm        ↔ model.layers.N.post_attention_layernorm
//   blk.N.ffn_gate / ffn_up / ffn_down ↔ model.layers.N.mlp.gate_proj / up_proj / down_proj
// with `.weight` / `.bias` kept. convert_hf_to_gguf.py's LlamaModel.permute reorders q_proj's rows
// (k_proj's with head_count_kv) within each head from HF's [two halves] to GGUF's interleaved
// pairs: GGUF row h·d + 2j + i holds HF row h·d + i·d/2 + j (d = head dim, i ∈ {0,1}, j < d/2).
import type { Checkpoint, TensorInfo } from '../core/checkpoint';
import { CancelledError, CheckpointError } from '../core/errors';
import type { Decoded } from '../core/dtype';
import { readTensor } from '../core/tensorData';
import { kvNumber, kvString, type GgufHeader } from '../formats/gguf/gguf';
import { openCheckpoint } from '../open';
import { lockstepValues } from './pairMetrics';

/** Architectures whose names map as above; `permute`: q/k rows were permuted by the converter. */
const FAMILIES: Record<string, { permute: boolean }> = {
  llama: { permute: true },
  mistral: { permute: true },
  qwen2: { permute: false },
  qwen3: { permute: false },
};

const BLOCK_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  attn_q_norm: 'self_attn.q_norm',
  attn_k_norm: 'self_attn.k_norm',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};
const TOP_NAMES: Record<string, string> = { token_embd: 'model.embed_tokens', output_norm: 'model.norm', output: 'lm_head' };

/** The Hugging Face name of a llama.cpp tensor name, or undefined when the mapping has none. */
export function hfName(ggufName: string): { name: string; layer: number | null; part: string } | undefined {
  const m = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (m) {
    const hf = BLOCK_NAMES[m[2]];
    return hf ? { name: `model.layers.${m[1]}.${hf}.${m[3]}`, layer: Number(m[1]), part: m[2] } : undefined;
  }
  const t = /^([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (t && TOP_NAMES[t[1]]) return { name: `${TOP_NAMES[t[1]]}.${t[2]}`, layer: null, part: t[1] };
  return undefined;
}

export interface QuantErrorRow {
  gguf: string;
  source: string;
  /** GGUF storage type (Q4_K, F16…) and the source's dtype. */
  type: string;
  sourceDtype: string;
  shape: number[];
  layer: number | null;
  part: string;
  /** Q/K rows were un-permuted before comparing. */
  unpermuted: boolean;
  maxAbs: number;
  rms: number;
  /** RMS error / RMS of the source values. */
  relRms: number | null;
}

export interface QuantErrorReport {
  kind: 'quantError';
  gguf: string;
  source: string;
  architecture: string;
  rows: QuantErrorRow[];
  /** GGUF tensors with no source counterpart (by mapping or in the source), and the reverse. */
  unmatchedGguf: string[];
  unmatchedSource: string[];
  /** Over all compared values as one vector. */
  overall: { maxAbs: number; rms: number; relRms: number | null; values: number };
  notes: string[];
  seconds: number;
  complete: boolean;
}

export interface QuantErrorOptions {
  isCancelled?: () => boolean;
  onProgress?: (fraction: number, detail?: string) => void;
  /** Partial reports while running (the rows so far). */
  onPartial?: (r: QuantErrorReport) => void;
}

class ErrAcc {
  maxAbs = 0;
  sq = 0;
  ref = 0;
  n = 0;
  add(q: Decoded, s: Decoded, qi = 0, si = 0, len = q.length): void {
    let mx = this.maxAbs, sq = 0, ref = 0;
    for (let k = 0; k < len; k++) {
      const a = q[qi + k], b = s[si + k];
      const d = a - b;
      const ad = d < 0 ? -d : d;
      if (ad > mx) mx = ad;
      sq += d * d;
      ref += b * b;
    }
    this.maxAbs = mx;
    this.sq += sq;
    this.ref += ref;
    this.n += len;
  }
  merge(o: ErrAcc): void {
    this.maxAbs = Math.max(this.maxAbs, o.maxAbs);
    this.sq += o.sq;
    this.ref += o.ref;
    this.n += o.n;
  }
}

/** Rows [r0, r0 + n) of a 2-D (or 1-D, as one column) contiguous tensor, as a tensor of its own. */
function rowsOf(t: TensorInfo, r0: number, n: number): TensorInfo {
  const cols = t.shape.length >= 2 ? t.numel / t.shape[0] : 1;
  const shape = t.shape.length >= 2 ? [n, cols] : [n];
  const strides = t.shape.length >= 2 ? [cols, 1] : [1];
  if (t.quant) {
    const rowBytes = (cols / t.quant.blockElems) * t.quant.blockBytes;
    return { ...t, shape, numel: n * cols, nbytes: n * rowBytes, location: { ...t.location, storageByteOffset: t.location.storageByteOffset + r0 * rowBytes, storageBytes: n * rowBytes, strides } };
  }
  return { ...t, shape, numel: n * cols, location: { ...t.location, elementOffset: t.location.elementOffset + r0 * cols, strides } };
}

/** Error of a permuted Q/K tensor, head by head (each head's rows read once from each file). */
async function permutedError(q: TensorInfo, s: TensorInfo, heads: number, check: () => void): Promise<ErrAcc> {
  const rows = q.shape[0];
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0) throw new CheckpointError(q.location.source.label, `tensor ${q.name}: ${rows} rows do not split into ${heads} heads of an even size`);
  const d = rows / heads, half = d / 2;
  const cols = q.shape.length >= 2 ? q.numel / rows : 1;
  const acc = new ErrAcc();
  for (let h = 0; h < heads; h++) {
    check();
    const a = await readTensor(rowsOf(q, h * d, d));
    const b = await readTensor(rowsOf(s, h * d, d));
    for (let j = 0; j < half; j++) {
      for (let i = 0; i < 2; i++) acc.add(a, b, (2 * j + i) * cols, (i * half + j) * cols, cols);
    }
  }
  return acc;
}

export function isGgufCheckpoint(c: Checkpoint): c is Checkpoint & { gguf: GgufHeader } {
  return c.format === 'gguf' && (c as { gguf?: unknown }).gguf !== undefined;
}

/** Opens both files (either order: the GGUF one is found by format) and compares them. */
export async function runQuantError(aPath: string, bPath: string, opts: QuantErrorOptions = {}): Promise<QuantErrorReport> {
  const a = await openCheckpoint(aPath);
  let b: Checkpoint | undefined;
  try {
    b = await openCheckpoint(bPath);
    const [g, s] = isGgufCheckpoint(a) ? [a, b] : [b, a];
    if (!isGgufCheckpoint(g)) throw new CheckpointError(aPath, 'neither file is GGUF: the quantization error compares a GGUF file with its source checkpoint');
    if (isGgufCheckpoint(s)) throw new CheckpointError(bPath, 'both files are GGUF; compare a GGUF file with the safetensors/PyTorch checkpoint it was converted from');
    return await quantError(g, s, opts);
  } finally {
    await a.close();
    await b?.close();
  }
}

export async function quantError(g: Checkpoint & { gguf: GgufHeader }, s: Checkpoint, opts: QuantErrorOptions = {}): Promise<QuantErrorReport> {
  const t0 = performance.now();
  const check = (): void => {
    if (opts.isCancelled?.()) throw new CancelledError();
  };
  const arch = kvString(g.gguf, 'general.architecture') ?? '';
  const family = FAMILIES[arch];
  if (!family) {
    throw new CheckpointError(g.path, `general.architecture is ${arch ? JSON.stringify(arch) : 'missing'}; the llama.cpp ↔ Hugging Face name mapping covers ${Object.keys(FAMILIES).join(', ')}`);
  }
  const nHead = kvNumber(g.gguf, `${arch}.attention.head_count`);
  const nHeadKv = kvNumber(g.gguf, `${arch}.attention.head_count_kv`) ?? nHead;
  if (family.permute && !nHead) throw new CheckpointError(g.path, `${arch}.attention.head_count is missing: needed to undo the Q/K permutation`);

  const prefix = s.stateDictPrefix ? `${s.stateDictPrefix}.` : '';
  const byName = new Map(s.tensors.map((t) => [t.name.startsWith(prefix) ? t.name.slice(prefix.length) : t.name, t]));
  const report: QuantErrorReport = {
    kind: 'quantError', gguf: g.path, source: s.path, architecture: arch, rows: [], unmatchedGguf: [], unmatchedSource: [],
    overall: { maxAbs: 0, rms: 0, relRms: null, values: 0 }, notes: [], seconds: 0, complete: false,
  };
  const used = new Set<string>();
  const pairs: { q: TensorInfo; src: TensorInfo; layer: number | null; part: string; srcName: string }[] = [];
  for (const q of g.tensors) {
    const m = hfName(q.name);
    let src = m ? byName.get(m.name) : undefined;
    // Tied embeddings: no lm_head in the source, the GGUF's output is the embedding.
    if (!src && q.name === 'output.weight') src = byName.get('model.embed_tokens.weight');
    if (!m || !src) {
      report.unmatchedGguf.push(q.name);
      continue;
    }
    used.add(src.name);
    if (src.numel !== q.numel || src.shape.join() !== q.shape.join()) {
      report.notes.push(`${q.name} [${q.shape}] and ${src.name} [${src.shape}] differ in shape; not compared`);
      continue;
    }
    if (q.quant && !q.quant.kernel) {
      report.notes.push(`${q.name} is ${q.quant.type}, whose values are not decoded; not compared`);
      continue;
    }
    pairs.push({ q, src, layer: m.layer, part: m.part, srcName: src.name });
  }
  report.unmatchedSource = s.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);

  const total = pairs.reduce((n, p) => n + p.q.numel, 0);
  let done = 0;
  const all = new ErrAcc();
  for (const p of pairs) {
    check();
    opts.onProgress?.(total ? done / total : 0, p.q.name);
    const unpermute = family.permute && (p.part === 'attn_q' || p.part === 'attn_k');
    let acc: ErrAcc;
    if (unpermute) {
      acc = await permutedError(p.q, p.src, p.part === 'attn_q' ? nHead! : nHeadKv!, check);
    } else {
      acc = new ErrAcc();
      for await (const [x, y] of lockstepValues(p.q, p.src, { isCancelled: opts.isCancelled })) acc.add(x, y);
    }
    all.merge(acc);
    done += p.q.numel;
    report.rows.push({
      gguf: p.q.name, source: p.srcName, type: p.q.quant?.type ?? p.q.dtype, sourceDtype: p.src.dtype, shape: p.q.shape, layer: p.layer, part: p.part,
      unpermuted: unpermute, maxAbs: acc.maxAbs, rms: Math.sqrt(acc.sq / Math.max(1, acc.n)), relRms: acc.ref > 0 ? Math.sqrt(acc.sq / acc.ref) : null,
    });
    opts.onPartial?.({ ...report, rows: report.rows.slice() });
  }
  report.overall = { maxAbs: all.maxAbs, rms: Math.sqrt(all.sq / Math.max(1, all.n)), relRms: all.ref > 0 ? Math.sqrt(all.sq / all.ref) : null, values: all.n };
  if (family.permute) report.notes.push(`Q/K rows un-permuted (llama.cpp's RoPE interleaving) with ${nHead} query heads and ${nHeadKv} key/value heads before comparing.`);
  report.seconds = (performance.now() - t0) / 1000;
  report.complete = true;
  return report;
}



/** Whether a path names a GGUF file: by its magic for local files, by its name for URLs. */
export async function looksLikeGguf(path: string): Promise<boolean> {
  if (/^(https?|hf):\/\//i.test(path)) return /\.gguf$/i.test(path.split('?')[0]);
  const { open } = await import('node:fs/promises');
  try {
    const fh = await open(path, 'r');
    try {
      const head = new Uint8Array(4);
      const { bytesRead } = await fh.read(head, 0, 4, 0);
      return bytesRead === 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46;
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}
