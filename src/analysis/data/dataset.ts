// Datasets for evaluation: inputs x ([N, …]) and optional integer labels y ([N]), from
// - an IDX images file (labels from --labels, or the sibling *-labels-idx1-ubyte file),
// - an .npy file of inputs (labels from --labels),
// - an .npz / safetensors / torch.save file holding x and y (or x_train/x_test… for a split,
//   or images/labels, data/target, inputs/targets),
// - a folder in the MNIST layout: train-/t10k- images and labels, .gz or not, one split.
import { existsSync, promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../core/errors';
import { type ArrayData, isIntegerDType, listArrays } from './arrays';
import { isGzip, looksLikeIdx, readIdx } from './idx';
import { loadTextTokens, loadTokenBin } from './tokenData';

export type Split = 'train' | 'test';

/** Where Debian's dataset-fashion-mnist package installs Fashion-MNIST (MNIST layout, gzipped). */
export const DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist';

/** The Fashion-MNIST folder when Debian's dataset-fashion-mnist is installed. */
export function findFashionMnist(): string | undefined {
  return existsSync(join(DEBIAN_FASHION_MNIST, 't10k-images-idx3-ubyte.gz')) ? DEBIAN_FASHION_MNIST : undefined;
}

export interface Dataset {
  /** What was loaded, for messages ("…/fashion-mnist (test split)"). */
  name: string;
  n: number;
  x: ArrayData;
  /** Class labels (or target tokens); absent for language-model data that predicts x itself. */
  y?: Int32Array;
  /** Token models with padded batches (BERT): [N·T] attention mask (1 real, 0 padding) and segment ids. */
  attentionMask?: Int32Array;
  tokenTypes?: Int32Array;
}

export interface DatasetOptions {
  /** A separate labels file (IDX, .npy, or an .npz/safetensors holding y). */
  labels?: string;
  /** For a folder in the MNIST layout, or a file with x_train/x_test: which split (default test). */
  split?: Split;
  /** Token streams (nanoGPT .bin, tokenized text): tokens per example (default 128). */
  blockSize?: number;
  /** Raw text: the tokenizer.json to use (default: tokenizer.json beside the text file). */
  tokenizer?: string;
}

const PAIRS: [string, string][] = [['input_ids', 'labels'], ['pixel_values', 'labels'], ['x', 'y'], ['images', 'labels'], ['data', 'target'], ['data', 'targets'], ['inputs', 'targets'], ['inputs', 'labels'], ['features', 'labels']];

/** MNIST-layout file stems per split: the canonical names and the dotted variant. */
const MNIST_STEMS: Record<Split, string[]> = { train: ['train'], test: ['t10k', 'test'] };

export async function loadDataset(path: string, opts: DatasetOptions = {}): Promise<Dataset> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw new CheckpointError(path, `cannot open the dataset: ${(e as Error).message}`);
  }
  const ds = st.isDirectory() ? await loadMnistFolder(path, opts.split ?? 'test') : await loadFile(path, opts);
  if (opts.labels) {
    if (ds.y) throw new CheckpointError(opts.labels, `${path} already holds labels; --labels is for inputs-only files`);
    ds.y = await loadLabels(opts.labels);
  }
  return checkDataset(ds);
}

async function loadFile(path: string, opts: DatasetOptions): Promise<Dataset> {
  const lower = path.toLowerCase();
  if (lower.endsWith('.bin')) return loadTokenBin(path, opts.blockSize);
  if (lower.endsWith('.txt') || lower.endsWith('.jsonl')) return loadTextTokens(path, opts.tokenizer, opts.blockSize);
  const head = new Uint8Array(4);
  const fh = await fsp.open(path, 'r');
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (isGzip(head) || looksLikeIdx(head)) {
    const x = await readIdx(path);
    const sibling = idxLabelsSibling(path);
    const y = !opts.labels && sibling ? await loadLabels(sibling) : undefined;
    return { name: path, n: x.shape[0], x, y };
  }
  const file = await listArrays(path);
  try {
    const key = (want: string): string | undefined => [...file.names.keys()].find((k) => k.toLowerCase() === want.toLowerCase());
    const splitPair = opts.split ?? 'test';
    const splitX = key(`x_${splitPair}`);
    if (splitX) {
      const yKey = key(`y_${splitPair}`);
      return { name: `${path} (${splitPair} split)`, n: file.names.get(splitX)![0], x: await file.read(splitX), y: yKey ? toLabels(await file.read(yKey)) : undefined };
    }
    if ([...file.names.keys()].some((k) => /^x_(train|test)$/i.test(k))) {
      throw new CheckpointError(path, `no ${splitPair} split in this file (it has ${[...file.names.keys()].join(', ')})`);
    }
    for (const [xn, yn] of PAIRS) {
      const xk = key(xn);
      if (!xk) continue;
      const yk = key(yn);
      const ds: Dataset = { name: path, n: file.names.get(xk)![0], x: await file.read(xk), y: yk ? toLabels(await file.read(yk)) : undefined };
      // Hugging Face tokenizer outputs beside input_ids: BERT's padding mask and segment ids.
      const extra = async (k: string) => (key(k) ? Int32Array.from((await file.read(key(k)!)).values, Number) : undefined);
      if (xn === 'input_ids') [ds.attentionMask, ds.tokenTypes] = [await extra('attention_mask'), await extra('token_type_ids')];
      return ds;
    }
    if (file.names.size === 1) {
      const [only] = file.names.keys();
      return { name: path, n: file.names.get(only)![0], x: await file.read(only) };
    }
    throw new CheckpointError(path, `which arrays are the inputs? Expected x (and y), x_train/x_test, images/labels or data/target; found ${[...file.names.keys()].join(', ')}`);
  } finally {
    await file.close();
  }
}

/** `…/t10k-images-idx3-ubyte.gz` → `…/t10k-labels-idx1-ubyte.gz`, if that file exists. */
function idxLabelsSibling(path: string): string | undefined {
  const name = basename(path);
  if (!/images[-.]idx3/.test(name)) return undefined;
  const sibling = join(dirname(path), name.replace(/images([-.])idx3/, 'labels$1idx1'));
  return existsSync(sibling) ? sibling : undefined;
}

async function loadMnistFolder(dir: string, split: Split): Promise<Dataset> {
  const names = await fsp.readdir(dir);
  const find = (kind: 'images' | 'labels'): string | undefined => {
    const rank = kind === 'images' ? 3 : 1;
    for (const stem of MNIST_STEMS[split]) {
      const re = new RegExp(`^${stem}-${kind}[-.]idx${rank}-ubyte(\\.gz)?$`);
      const hit = names.find((n) => re.test(n));
      if (hit) return join(dir, hit);
    }
    return undefined;
  };
  const images = find('images');
  const labels = find('labels');
  if (!images || !labels) {
    throw new CheckpointError(dir, `not a dataset folder in the MNIST layout: no ${MNIST_STEMS[split][0]}-images-idx3-ubyte[.gz] and ${MNIST_STEMS[split][0]}-labels-idx1-ubyte[.gz] for the ${split} split`);
  }
  const x = await readIdx(images);
  return { name: `${dir} (${split} split)`, n: x.shape[0], x, y: await loadLabels(labels) };
}

async function loadLabels(path: string): Promise<Int32Array> {
  const head = new Uint8Array(4);
  let fh;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    throw new CheckpointError(path, `cannot open the labels: ${(e as Error).message}`);
  }
  try {
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  if (isGzip(head) || looksLikeIdx(head)) return toLabels(await readIdx(path));
  const file = await listArrays(path);
  try {
    const k = [...file.names.keys()].find((n) => ['y', 'labels', 'target', 'targets'].includes(n.toLowerCase())) ?? (file.names.size === 1 ? [...file.names.keys()][0] : undefined);
    if (!k) throw new CheckpointError(path, `which array holds the labels? Expected y or labels; found ${[...file.names.keys()].join(', ')}`);
    return toLabels(await file.read(k));
  } finally {
    await file.close();
  }
}

/** Labels as int32 class indices: integral values only, one per example. */
function toLabels(a: ArrayData): Int32Array {
  if (a.shape.length !== 1 && !(a.shape.length === 2 && a.shape[1] === 1)) throw new CheckpointError(a.source, `labels must be one per example ([N]); got shape [${a.shape}]`);
  const out = new Int32Array(a.values.length);
  for (let i = 0; i < out.length; i++) {
    const v = a.values[i];
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new CheckpointError(a.source, `label ${i} is ${v}; labels must be whole numbers ≥ 0`);
    out[i] = v;
  }
  return out;
}

function checkDataset(ds: Dataset): Dataset {
  if (ds.x.shape.length < 1 || ds.n === 0) throw new CheckpointError(ds.x.source, 'the dataset has no examples');
  if (ds.y && ds.y.length !== ds.n) throw new CheckpointError(ds.name, `${ds.n} inputs but ${ds.y.length} labels`);
  for (const [what, a] of [['attention_mask', ds.attentionMask], ['token_type_ids', ds.tokenTypes]] as const) {
    if (a && a.length !== ds.x.values.length) throw new CheckpointError(ds.name, `${what} has ${a.length} values, input_ids ${ds.x.values.length}`);
  }
  if (!isIntegerDType(ds.x.dtype) && ds.x.dtype !== 'F32' && ds.x.dtype !== 'F64' && ds.x.dtype !== 'F16' && ds.x.dtype !== 'BF16') {
    throw new CheckpointError(ds.x.source, `inputs of type ${ds.x.dtype} are not supported`);
  }
  return ds;
}

/** The first `count` examples (or those from `start`), sharing the arrays' memory. */
export function subset(ds: Dataset, start: number, count: number): Dataset {
  const end = Math.min(ds.n, start + count);
  const per = ds.x.shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    name: `${ds.name} [${start}:${end}]`,
    n: end - start,
    x: { ...ds.x, values: ds.x.values.subarray(start * per, end * per) as ArrayData['values'], shape: [end - start, ...ds.x.shape.slice(1)] },
    y: ds.y?.subarray(start, end),
    attentionMask: ds.attentionMask?.subarray(start * per, end * per),
    tokenTypes: ds.tokenTypes?.subarray(start * per, end * per),
  };
}
