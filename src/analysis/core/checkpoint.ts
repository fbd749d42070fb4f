// The format-independent model of an opened checkpoint: what every reader produces and
// everything downstream (statistics, the editor, analyses) consumes.
import type { ByteSource } from '../io/byteSource';
import type { DType } from './dtype';
import type { RiskReport } from './risk';

/** Decodes `nBlocks` quantized blocks from `src[0…]` into `out[0…]` (formats/gguf/dequant.ts). */
export type BlockKernel = (src: Uint8Array, nBlocks: number, out: Float32Array) => void;

/** Block-quantized storage (GGUF): whole blocks of `blockElems` values in `blockBytes` bytes. */
export interface BlockQuant {
  /** The ggml type name (Q4_K, IQ4_XS…), shown in place of the dtype. */
  type: string;
  blockElems: number;
  blockBytes: number;
  /** null: a type whose values this reader does not decode (listed, never guessed). */
  kernel: BlockKernel | null;
  /** Why `kernel` is null, when the reason is not the type itself (a big-endian file's blocks). */
  undecoded?: string;
}

export type CheckpointFormat =
  | 'safetensors'
  | 'safetensors-sharded'
  | 'pytorch-zip'
  | 'pytorch-legacy'
  | 'pytorch-sharded'
  | 'npy'
  | 'npz'
  | 'gguf';

/** Where a tensor's bytes live. Offsets and strides follow PyTorch: in elements of `dtype`. */
export interface TensorLocation {
  source: ByteSource;
  /** Byte offset in `source` at which the storage (element 0 of the storage) starts. */
  storageByteOffset: number;
  /** Size of the whole storage in bytes (bounds every element this tensor may touch). */
  storageBytes: number;
  /** Offset of the tensor's first element inside the storage, in elements. */
  elementOffset: number;
  /** Strides in elements, one per dimension. */
  strides: number[];
  byteOrder: 'little' | 'big';
}

export interface TensorInfo {
  /** Full dotted name, nested containers joined with '.', e.g. `state_dict.encoder.0.weight`. */
  name: string;
  dtype: DType;
  shape: number[];
  numel: number;
  /** numel × element size: the bytes this tensor's values take (not its storage); for sparse tensors, their stored indices and values. */
  nbytes: number;
  location: TensorLocation;
  /** Tensors whose storage is shared with this one get the same id (tied weights, views). */
  storageId?: string;
  /** Names of the other tensors that share this tensor's storage. */
  sharesStorageWith?: string[];
  /**
   * Set for block-quantized tensors: `dtype` is then F32 (what the values decode to), `nbytes`
   * the stored bytes, and the storage is contiguous whole blocks.
   */
  quant?: BlockQuant;
  /** PyTorch quantized tensors: the values are dequantized; this is how they were stored. */
  quantization?: QuantizationInfo;
  /** Sparse tensors: the values are the dense tensor; this is how it was stored. */
  sparse?: { layout: 'sparse_coo' | 'sparse_csr'; nnz: number };
  /** A short note on how the values were obtained (e.g. "longdouble converted to float64"). */
  note?: string;
}

/** False for quantized tensors of a type whose values this reader does not decode. */
export function hasValues(t: TensorInfo): boolean {
  return !t.quant || t.quant.kernel !== null;
}

/** The type name to show for a tensor: the quantization type when it has one. */
export function storedType(t: TensorInfo): string {
  return t.quant?.type ?? t.dtype;
}

/**
 * How a tensor's values were obtained when that is not a plain read, in a line for the editor:
 * dequantized, densified from a sparse layout, a broadcast view, or the reader's note.
 */
export function storedDescription(t: TensorInfo): string | undefined {
  const parts: string[] = [];
  const q = t.quantization;
  if (q) {
    const params = q.scheme === 'per_tensor_affine'
      ? `scale ${String(q.scale)}, zero point ${String(q.zeroPoint)}`
      : `per channel along axis ${String(q.axis)}${q.scales ? ` (scales ${q.scales.slice(0, 3).join(', ')}${q.scales.length > 3 ? ', …' : ''})` : ''}`;
    parts.push(`quantized ${q.qdtype} (${q.scheme.replace(/_/g, ' ')}: ${params}); values dequantized as torch's dequantize()`);
  }
  if (t.sparse) {
    parts.push(`sparse ${t.sparse.layout === 'sparse_coo' ? 'COO' : 'CSR'}: ${t.sparse.nnz.toLocaleString('en-US')} stored values; statistics of the dense tensor`);
  }
  const strides = t.location.strides;
  if (!t.sparse && !t.quant && strides.some((s, i) => s === 0 && t.shape[i] > 1)) {
    let stored = 1;
    for (let i = 0; i < t.shape.length; i++) if (strides[i] !== 0) stored *= t.shape[i];
    parts.push(`broadcast view (stride 0): ${stored.toLocaleString('en-US')} stored values repeat to ${t.numel.toLocaleString('en-US')}; statistics weighted by repeat count`);
  }
  if (t.note) parts.push(t.note);
  return parts.length ? parts.join('; ') : undefined;
}

export interface QuantizationInfo {
  /** torch's quantized dtype (qint8, quint8, qint32). */
  qdtype: string;
  scheme: 'per_tensor_affine' | 'per_channel_affine' | 'per_channel_affine_float_qparams';
  scale?: number;
  zeroPoint?: number;
  axis?: number;
  /** Per-channel parameters (the first few when there are many). */
  scales?: number[];
  zeroPoints?: number[];
}

/** A JSON-compatible value from the checkpoint (hyper-parameters, epoch, step…). */
export type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

export interface Checkpoint {
  /** The path the user opened (a file, or a shard index). */
  path: string;
  format: CheckpointFormat;
  /** Format-level metadata: safetensors `__metadata__`, torch archive version/byteorder, npy header. */
  metadata: Record<string, Value>;
  /** Non-tensor entries of the saved object, keyed by dotted path (epoch, hyper_parameters…). */
  values: Record<string, Value>;
  /** Tensors in file order. */
  tensors: TensorInfo[];
  /**
   * The dotted prefix of the model's state dict inside a nested checkpoint
   * (`state_dict`, `model_state_dict`, `model`), or '' when the tensors are top level.
   */
  stateDictPrefix: string;
  /** Non-fatal findings (non-conformant but readable files, skipped entries). */
  warnings: string[];
  /** Pickle-based formats: every global the file names, classified, and the calls torch.load would make. */
  risk?: RiskReport;
  /** TorchScript archives: the code files (`code/**`), as text, never interpreted. */
  sourceFiles?: SourceFile[];
  close(): Promise<void>;
}

export interface SourceFile {
  /** Path inside the archive, e.g. `code/__torch__/torch/nn/modules/linear.py`. */
  name: string;
  text: string;
  /** The text was cut at the size cap. */
  truncated?: boolean;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** C-order (row-major) strides in elements. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i];
  }
  return true;
}

/** Names listed in `sharesStorageWith` at most. */
const MAX_SHARED_NAMES = 16;

/** Groups tensors that share a storage id and fills `sharesStorageWith` (the first 16 others). */
export function linkSharedStorages(tensors: TensorInfo[]): void {
  // A storage with one tensor (the usual case) keeps the tensor itself, not a list of one: a
  // million storages would otherwise cost a million arrays.
  const byId = new Map<string, TensorInfo | TensorInfo[]>();
  for (const t of tensors) {
    if (t.storageId === undefined) continue;
    const seen = byId.get(t.storageId);
    if (seen === undefined) byId.set(t.storageId, t);
    else if (Array.isArray(seen)) seen.push(t);
    else byId.set(t.storageId, [seen, t]);
  }
  for (const list of byId.values()) {
    if (!Array.isArray(list)) continue;
    // Capped, so ten thousand views of one storage stay linear in time and memory; every
    // tensor past the first 17 gets the same frozen list of the first 16 names (the listing
    // leaves that list out of its rows: TensorTable.sharing derives it).
    const head = list.slice(0, MAX_SHARED_NAMES + 1);
    const common = Object.freeze(head.slice(0, MAX_SHARED_NAMES).map((o) => o.name)) as string[];
    for (const [i, t] of list.entries()) t.sharesStorageWith = i < head.length ? head.filter((o) => o !== t).slice(0, MAX_SHARED_NAMES).map((o) => o.name) : common;
  }
}
