// PyTorch `torch.save` files: the zip archive (PyTorch ≥ 1.6) and the legacy pickle stream.
// Only the pickle and the zip directory are read when opening; tensor bytes stay in the file
// and are located by byte range (zip entry payload offsets, or an index of legacy storages).
import { type Checkpoint, type SourceFile, type TensorInfo, type Value, linkSharedStorages } from '../core/checkpoint';
import type { RiskReport } from '../core/risk';
import { type DType, dtypeSize } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource, MemorySource } from '../io/byteSource';
import {
  PyDict,
  PyGlobal,
  PyObject,
  PySet,
  type PyValue,
  StorageRef,
  TensorRef,
  dtypeOfGlobal,
  internDims,
  isModuleObject,
  isTuple,
  keyString,
  pyTypeName,
  toValue,
  unpickle,
  valueObject,
} from './pickle';
import { mergeRisk } from './pickleRisk';
import { dequantizedTensor, sparseTensor } from './torchTensorKinds';
import { isPt2Archive, readPt2 } from './pt2';
import { MAX_PICKLE_BYTES, pickleAt } from './pickleStream';
import { isTarHeader, parseTorchTar } from './torchTar';
import { ZipArchive, type ZipEntry } from './zip';

/** Deflated storage records (not written by torch.save) are inflated up to this size. */
const MAX_INFLATED_STORAGE = 256 * 1024 * 1024;
/** TorchScript code shown as text: total bytes and files. */
const MAX_SOURCE_BYTES = 4 * 1024 * 1024;
const MAX_SOURCE_FILES = 2000;
/**
 * Logical elements of one tensor. A stride-0 view (expand) can claim 2^60 over one stored
 * value; its statistics are weighted sums over the stored elements, exact while counts and
 * byte sizes (numel × 8) stay safe integers.
 */
const MAX_LOGICAL_ELEMENTS = 2 ** 50;
/** OmegaConf value nodes: shown as their value, never expanded. */
const OMEGA_NODE = /^omegaconf\.nodes\.\w+Node$/;
/** Containers holding tensors nested deeper than this are refused (names would be absurd). */
const MAX_NESTING = 1000;
/** Tensors plus values in one checkpoint (shared containers can multiply names). */
const MAX_ENTRIES = 2_000_000;
/** Total characters of all dotted names (deep nesting under long keys multiplies them). */
const MAX_NAME_CHARS = 64 * 1024 * 1024;

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Wrapper keys under which checkpoints keep the model's state dict, in order of preference. */
const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net'];

export interface TorchOptions {
  /** Prefixed to storage ids so shards' storages stay distinct. */
  storageIdPrefix?: string;
}

export async function openTorch(path: string): Promise<Checkpoint> {
  const src = await FileSource.open(path);
  try {
    return await readTorch(src, path);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** Reads a torch.save file from any byte source; close() of the result closes `src`. */
export async function readTorch(src: ByteSource, path: string, opts: TorchOptions = {}): Promise<Checkpoint> {
  const head = await src.read(0, Math.min(src.size, 16));
  if (!isZip(head)) return buildCheckpoint(await parseLegacyOrExplain(src, path), src, path, opts.storageIdPrefix ?? '');
  const zip = await ZipArchive.open(src);
  const first = zip.names[0];
  const slash = first !== undefined ? first.indexOf('/') : -1;
  if (first === undefined || slash <= 0) throw new CheckpointError(path, 'a zip file, but not a PyTorch archive (its first entry is not inside a folder)');
  // The folder is the saved file's stem or "archive": take it from the first entry, as torch does.
  const folder = first.slice(0, slash + 1);
  if (isPt2Archive(zip, folder)) return readPt2(zip, folder, path, readTorch, () => src.close());
  return buildCheckpoint(await parseZip(zip, folder, path), src, path, opts.storageIdPrefix ?? '');
}

// --- what both formats produce -----------------------------------------------------------

export interface StorageBytes {
  source: ByteSource;
  /** Offset of the record's first byte in `source`. */
  byteOffset: number;
  /** Size of the record in bytes. */
  bytes: number;
}

/** What a format's parser hands to buildCheckpoint. */
export interface Parsed {
  format: 'pytorch-zip' | 'pytorch-legacy';
  /** Set to null once the tensor list no longer needs it. */
  root: PyValue;
  risk: RiskReport;
  sourceFiles?: SourceFile[];
  metadata: Record<string, Value>;
  warnings: string[];
  byteOrder: 'little' | 'big';
  /** Where a storage's bytes are; throws a CheckpointError naming the record if they are not. */
  locate(ref: StorageRef): StorageBytes | Promise<StorageBytes>;
}

function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Checks the (storage class, key, location, numel) fields that both formats' ids start with. */
function storageArgs(items: PyValue[], path: string): { dtype: DType; key: string; device: string; numel: number; typeName: string } {
  if (items.length !== 4) throw new CheckpointError(path, `storage persistent id has ${items.length + 1} fields, expected 5`);
  const [type, key, device, numel] = items;
  const dtype = type instanceof PyGlobal ? dtypeOfGlobal(type) : undefined;
  if (!(type instanceof PyGlobal) || type.role !== 'storage' || !dtype) {
    throw new CheckpointError(path, `storage persistent id names ${pyTypeName(type)}, not a torch storage class`);
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > 256) throw new CheckpointError(path, `bad storage key ${pyTypeName(key)}`);
  if (typeof device !== 'string') throw new CheckpointError(path, `storage ${key}: location must be a string, not ${pyTypeName(device)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    throw new CheckpointError(path, `storage ${key}: size must be a non-negative integer, not ${String(numel)}`);
  }
  return { dtype, key, device, numel, typeName: type.name };
}

// --- zip archives (torch ≥ 1.6) ------------------------------------------------------------

async function parseZip(zip: ZipArchive, folder: string, path: string): Promise<Parsed> {
  const record = (name: string): ZipEntry | undefined => zip.get(folder + name);

  const torchScript = record('constants.pkl') !== undefined || zip.names.some((n) => n.startsWith(`${folder}code/`));
  if (zip.names.some((n) => n.endsWith('/serialized_exported_program.json'))) {
    throw new CheckpointError(path, 'an early torch.export archive (serialized_exported_program.json, before the pt2 archive format of torch 2.6); re-save it with a current torch.export.save to open its weights');
  }
  const pklEntry = record('data.pkl');
  if (!pklEntry) {
    const names = zip.names.slice(0, 5).join(', ');
    throw new CheckpointError(path, `a zip file without ${folder}data.pkl, so not a torch.save checkpoint (entries: ${names}${zip.size > 5 ? ', …' : ''})`);
  }

  const text = async (name: string): Promise<string | undefined> => {
    const e = record(name);
    return e ? new TextDecoder().decode(await zip.readEntry(e, 64)).trim() : undefined;
  };
  const warnings: string[] = [];
  const metadata: Record<string, Value> = valueObject();
  const version = (await text('.data/version')) ?? (await text('version'));
  if (version !== undefined) metadata.archiveVersion = /^\d+$/.test(version) ? Number(version) : version;
  const byteorder = (await text('byteorder')) ?? 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new CheckpointError(path, `unknown byteorder record "${byteorder.slice(0, 20)}"`);
  metadata.byteorder = byteorder;
  metadata.archiveFolder = folder.slice(0, -1);

  const storages = new Map<string, StorageRef>();
  const load = async (entry: ZipEntry, dir: string): Promise<ReturnType<typeof unpickle>> =>
    unpickle(await zip.readEntry(entry, MAX_PICKLE_BYTES), {
      label: path,
      where: entry.name,
      persistentLoad: (items) => {
        const a = storageArgs(items, path);
        // torch reuses the first storage loaded under a key.
        const id = `${dir}/${a.key}`;
        let s = storages.get(id);
        if (!s) storages.set(id, (s = new StorageRef(a.key, a.dtype, a.numel, a.device, 0, a.typeName, dir)));
        return s;
      },
    });
  const result = await load(pklEntry, 'data');
  metadata.pickleGlobals = result.globals;
  const risks = [result.risk];
  let root = result.value;
  let sourceFiles: SourceFile[] | undefined;
  if (torchScript) {
    // Data only: the module tree and tensors are in data.pkl, tensor constants in constants.pkl,
    // the code in code/**.py, shown as text and never compiled or run.
    metadata.torchScript = true;
    warnings.push('a TorchScript archive (torch.jit.save): torch.jit.load, and torch.load before PyTorch 2.6 even with weights_only=True, would compile and run its code; here the code is only shown as text');
    const constantsEntry = record('constants.pkl');
    if (constantsEntry) {
      const constants = await load(constantsEntry, 'constants');
      risks.push(constants.risk);
      if (Array.isArray(constants.value) && constants.value.length) {
        const top = new PyDict();
        top.set('module', root);
        top.set('constants', constants.value);
        root = top;
      }
    }
    sourceFiles = await readSourceFiles(zip, folder);
  }
  // The closures below share this scope: drop the storage table so it does not outlive the pickle.
  storages.clear();

  // Deflated records (not written by torch.save) get a source each, inflated on first read.
  const located = new Map<string, Promise<StorageBytes>>();
  const locate = async (ref: StorageRef): Promise<StorageBytes> => {
    const e = record(`${ref.dir}/${ref.key}`);
    if (!e) throw new CheckpointError(path, `storage record ${folder}${ref.dir}/${ref.key} is missing from the archive`);
    const member = await zip.entrySource(e, { maxInflatedBytes: MAX_INFLATED_STORAGE });
    return { source: member, byteOffset: 0, bytes: member.size };
  };
  // Stored records (what torch.save writes) are read in place through one source for the whole
  // archive, their CRC checked on first read: nothing is kept per storage.
  const stored = zip.storedMembers();
  return {
    format: 'pytorch-zip',
    root,
    risk: mergeRisk(risks),
    sourceFiles,
    metadata,
    warnings,
    byteOrder: byteorder,
    locate: (ref) => {
      const id = `${folder}${ref.dir}/${ref.key}`;
      const i = zip.indexOf(id);
      const at = i >= 0 ? zip.storedOffset(i) : undefined;
      if (at !== undefined) return { source: stored, byteOffset: at, bytes: zip.entry(i).uncompressedSize };
      let p = located.get(id);
      if (!p) located.set(id, (p = locate(ref)));
      return p;
    },
  };
}

/** TorchScript code files (`code/**.py`), as text up to a total cap; never interpreted. */
async function readSourceFiles(zip: ZipArchive, folder: string): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  let budget = MAX_SOURCE_BYTES;
  for (const [i, n] of zip.names.entries()) {
    if (!n.startsWith(`${folder}code/`) || !n.endsWith('.py')) continue;
    if (out.length >= MAX_SOURCE_FILES) break;
    const e = zip.entry(i);
    const take = Math.min(e.uncompressedSize, Math.max(0, budget));
    const bytes = take > 0 ? await zip.readEntry(e, MAX_SOURCE_BYTES, take) : new Uint8Array(0);
    budget -= take;
    const file: SourceFile = { name: e.name.slice(folder.length), text: new TextDecoder('utf-8').decode(bytes) };
    if (take < e.uncompressedSize) file.truncated = true;
    out.push(file);
  }
  return out;
}

// --- legacy pickle stream (torch < 1.6, or _use_new_zipfile_serialization=False) -------------

async function parseLegacyOrExplain(src: ByteSource, path: string): Promise<Parsed> {
  const head = await src.read(0, Math.min(src.size, 512));
  const ascii = (a: number, b: number): string => String.fromCharCode(...head.subarray(a, b));
  if (head.length >= 8 && ascii(0, 8) === 'PYTORCH1') {
    throw new CheckpointError(path, 'a PyTorch preview-release archive ("PYTORCH1"), which PyTorch itself no longer reads');
  }
  // torch.load tries the tar format first: a valid first tar header is enough.
  if (isTarHeader(head)) return parseTorchTar(src, path);
  if (head.length < 2 || head[0] !== 0x80) {
    const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new CheckpointError(path, `not a PyTorch checkpoint: neither a zip archive nor a pickle stream (first bytes ${hex})`);
  }
  return parseLegacy(src, path);
}

async function parseLegacy(src: ByteSource, path: string): Promise<Parsed> {
  const magic = await pickleAt(src, path, 0, 'magic number');
  if (magic.value !== LEGACY_MAGIC) {
    throw new CheckpointError(path, 'a pickle file, but not one written by torch.save (no PyTorch magic number); plain pickles are not supported');
  }
  const proto = await pickleAt(src, path, magic.end, 'protocol version');
  if (proto.value !== LEGACY_PROTOCOL) throw new CheckpointError(path, `unsupported legacy PyTorch protocol version ${String(proto.value)}`);
  const sysInfo = await pickleAt(src, path, proto.end, 'sys_info');
  if (!(sysInfo.value instanceof PyDict)) throw new CheckpointError(path, 'legacy sys_info is not a dict');

  const metadata: Record<string, Value> = valueObject();
  metadata.legacyProtocolVersion = LEGACY_PROTOCOL;
  for (const [k, v] of sysInfo.value) if (k === 'little_endian' || k === 'type_sizes') metadata[k] = toValue(v).value;
  // THPStorage_writeFileRaw writes counts and data little-endian whatever the host was.
  metadata.byteorder = 'little';

  // Root storages by key (the first persistent id for a key wins, as in torch), and storage
  // views: windows of a root, in elements of its dtype.
  const roots = new Map<string, StorageRef>();
  const views = new Map<string, StorageRef>();
  const persistentLoad = (items: PyValue[]): PyValue => {
    if (items.length !== 5) throw new CheckpointError(path, `legacy storage persistent id has ${items.length + 1} fields, expected 6`);
    const a = storageArgs(items.slice(0, 4), path);
    let root = roots.get(a.key);
    if (!root) roots.set(a.key, (root = new StorageRef(a.key, a.dtype, a.numel, a.device, 0, a.typeName)));
    const view = items[4];
    if (view === null) return root;
    if (!isTuple(view) || view.length !== 3) throw new CheckpointError(path, `storage ${a.key}: bad view metadata (${pyTypeName(view)})`);
    const [viewKey, off, size] = view;
    if (typeof viewKey !== 'string' || !isCount(off) || !isCount(size)) throw new CheckpointError(path, `storage ${a.key}: bad view metadata`);
    let v = views.get(viewKey);
    if (!v) views.set(viewKey, (v = new StorageRef(a.key, a.dtype, size, a.device, off, a.typeName)));
    return v;
  };
  const obj = await pickleAt(src, path, sysInfo.end, 'object pickle', { persistentLoad });
  metadata.pickleGlobals = obj.globals;
  const keysPickle = await pickleAt(src, path, obj.end, 'storage key list');
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new CheckpointError(path, 'legacy storage key list is not a list of strings');
  views.clear(); // shared with locate's scope: not needed past the pickle

  // Storages follow as [int64 element count][data], in key-list order: index them by reading
  // only the counts.
  const index = new Map<string, StorageBytes>();
  let at = keysPickle.end;
  for (const key of keys as string[]) {
    const root = roots.get(key);
    if (!root) throw new CheckpointError(path, `storage key ${key} is listed but nothing in the pickle refers to it`);
    if (at + 8 > src.size) throw new CheckpointError(path, `storage ${key}: its size field at byte ${at} is past the end of the file (truncated?)`);
    const countBytes = await src.read(at, 8);
    const count = Number(new DataView(countBytes.buffer).getBigInt64(0, true));
    if (!isCount(count)) throw new CheckpointError(path, `storage ${key}: bad element count at byte ${at}`);
    if (count !== root.numel) throw new CheckpointError(path, `storage ${key}: the file holds ${count} elements, the pickle says ${root.numel}`);
    const bytes = count * dtypeSize(root.dtype);
    if (at + 8 + bytes > src.size) {
      throw new CheckpointError(path, `storage ${key}: ${bytes} bytes at byte ${at + 8} run past the end of the file (${src.size} bytes; truncated?)`);
    }
    index.set(key, { source: src, byteOffset: at + 8, bytes });
    at += 8 + bytes;
  }
  roots.clear();
  const warnings: string[] = [];
  if (at < src.size) warnings.push(`${src.size - at} unexpected bytes after the last storage`);
  return {
    format: 'pytorch-legacy',
    root: obj.value,
    risk: mergeRisk([magic.risk, proto.risk, sysInfo.risk, obj.risk, keysPickle.risk]),
    metadata,
    warnings,
    byteOrder: 'little',
    locate: async (ref) => {
      const s = index.get(ref.key);
      if (!s) throw new CheckpointError(path, `storage ${ref.key} has no data in the file`);
      return s;
    },
  };
}

function isCount(v: PyValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// --- from the unpickled object to a Checkpoint ------------------------------------------------

type Expandable = PyDict | PyValue[] | PyObject;

/** A tensor entry: a torch tensor, or a numpy array decoded from the pickle. */
type TensorLike = TensorRef | (PyObject & { array: NonNullable<PyObject['array']> });

function isTensorLike(v: PyValue): v is TensorLike {
  return v instanceof TensorRef || (v instanceof PyObject && v.array !== undefined);
}

function isExpandable(v: PyValue): v is Expandable {
  return v instanceof PyDict || Array.isArray(v) || (v instanceof PyObject && !v.array && v.type !== 'builtins.complex' && !isSparseObject(v));
}

const SPARSE_REBUILDS = new Set(['torch._utils._rebuild_sparse_tensor', 'torch._utils._rebuild_sparse_csr_tensor']);

function isSparseObject(v: PyValue): v is PyObject {
  return v instanceof PyObject && SPARSE_REBUILDS.has(v.type);
}

interface SparseEntry {
  name: string;
  layout: 'sparse_coo' | 'sparse_csr';
  size: number[];
  parts: Array<{ role: string; ref: TensorRef }>;
}

/** The parts of a `_rebuild_sparse_tensor(layout, data)` call, or a reason it is not readable. */
function sparseParts(name: string, v: PyObject): SparseEntry | string {
  const [layout, data] = v.args;
  if (!(layout instanceof PyGlobal) || !isTuple(data as PyValue)) return 'its layout or data is malformed';
  const items = data as PyValue[];
  const ints = (x: PyValue): number[] | undefined => (Array.isArray(x) && x.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) ? (x as number[]) : undefined);
  if (layout.name === 'sparse_coo') {
    const [indices, values, size] = items;
    const dims = ints(size);
    if (!(indices instanceof TensorRef) || !(values instanceof TensorRef) || !dims) return 'its COO data is not (indices, values, size)';
    return { name, layout: 'sparse_coo', size: dims, parts: [{ role: 'indices', ref: indices }, { role: 'values', ref: values }] };
  }
  if (layout.name === 'sparse_csr') {
    const [crow, col, values, size] = items;
    const dims = ints(size);
    if (!(crow instanceof TensorRef) || !(col instanceof TensorRef) || !(values instanceof TensorRef) || !dims) return 'its CSR data is not (crow_indices, col_indices, values, size)';
    return { name, layout: 'sparse_csr', size: dims, parts: [{ role: 'crow_indices', ref: crow }, { role: 'col_indices', ref: col }, { role: 'values', ref: values }] };
  }
  return `layout ${layout.path} is not shown`;
}

/**
 * Named children. An inert nn.Module yields what `state_dict()` would (its parameters, its
 * persistent buffers, then its submodules, None entries left out) plus its public attributes;
 * any other object its BUILD state's keys, SETITEM items, APPEND list and call arguments.
 */
function entriesOf(v: Expandable): Array<[string, PyValue]> {
  if (v instanceof PyDict) return [...v].map(([k, x]) => [keyString(k), x]);
  if (Array.isArray(v)) return v.map((x, i) => [String(i), x]);
  const out: Array<[string, PyValue]> = [];
  const dictEntries = (d: PyValue | undefined, skip?: (k: string, x: PyValue) => boolean): void => {
    if (!(d instanceof PyDict)) return;
    for (const [k, x] of d) {
      const key = keyString(k);
      if (!skip?.(key, x)) out.push([key, x]);
    }
  };
  if (isModuleObject(v)) {
    const st = v.state;
    const nonPersistent = st.get('_non_persistent_buffers_set');
    const skipped = new Set(nonPersistent instanceof PySet ? nonPersistent.items.map(keyString) : []);
    dictEntries(st.get('_parameters'), (_, x) => x === null);
    dictEntries(st.get('_buffers'), (k, x) => x === null || skipped.has(k));
    dictEntries(st.get('_modules'), (_, x) => x === null);
    // Public attributes (in_features, p, eps…); `training` is on every module and says little.
    dictEntries(st, (k) => k.startsWith('_') || k === 'training');
    return out;
  }
  const state = v.state;
  if (state instanceof PyDict) dictEntries(state);
  else if (isTuple(state as PyValue) && (state as PyValue[]).every((x) => x === null || x instanceof PyDict)) {
    for (const d of state as PyValue[]) dictEntries(d); // (__dict__, __slots__ values)
  } else if (state !== undefined) out.push(['state', state]);
  if (v.items) dictEntries(v.items);
  if (v.list) v.list.forEach((x, i) => out.push([String(i), x]));
  v.args.forEach((x, i) => out.push([`args.${i}`, x]));
  return out;
}

/** entriesOf, lazily for dicts: a million-key state dict makes no million pairs at once. */
function entriesIter(v: Expandable): Iterator<[string, PyValue]> {
  if (!(v instanceof PyDict)) return entriesOf(v)[Symbol.iterator]();
  const it = v.entries();
  return {
    next: (): IteratorResult<[string, PyValue]> => {
      const n = it.next();
      return n.done ? { done: true, value: undefined } : { done: false, value: [keyString(n.value[0]), n.value[1]] };
    },
  };
}

function childValues(v: Expandable): Iterable<PyValue> {
  if (v instanceof PyDict) return v.values();
  if (Array.isArray(v)) return v;
  return entriesOf(v).map((e) => e[1]);
}

/**
 * The containers that hold a tensor somewhere below them. Iterative post-order walk; a
 * container met again on the current path (a cycle) contributes nothing.
 */
function tensorHolders(root: PyValue, path: string): Set<Expandable> {
  const holders = new Set<Expandable>();
  if (!isExpandable(root)) return holders;
  const done = new Set<Expandable>();
  const onPath = new Set<Expandable>();
  const stack: Array<{ node: Expandable; children: Iterator<PyValue> }> = [{ node: root, children: childValues(root)[Symbol.iterator]() }];
  onPath.add(root);
  while (stack.length) {
    const f = stack[stack.length - 1];
    const next = f.children.next();
    if (next.done) {
      stack.pop();
      onPath.delete(f.node);
      done.add(f.node);
      if (holders.has(f.node) && stack.length) holders.add(stack[stack.length - 1].node);
      continue;
    }
    const c = next.value;
    if (isTensorLike(c) || isSparseObject(c)) holders.add(f.node);
    else if (isExpandable(c)) {
      if (done.has(c)) {
        if (holders.has(c)) holders.add(f.node);
      } else if (!onPath.has(c)) {
        if (stack.length >= MAX_NESTING) throw new CheckpointError(path, `containers are nested more than ${MAX_NESTING} levels deep; refusing`);
        onPath.add(c);
        stack.push({ node: c, children: childValues(c)[Symbol.iterator]() });
      }
    }
  }
  return holders;
}

interface Flat {
  /** `top`: the root-level key the tensor sits under ('' for a root tensor). */
  /** In file order; sparse tensors keep their place. */
  tensors: Array<{ name: string; ref: TensorLike | SparseEntry; top: string }>;
  values: Record<string, Value>;
}

const INERT_TENSOR_PREFIX = 'torch._utils._rebuild_';
/** Put in place of a flat entry once its tensor is built. */
const RELEASED: Flat['tensors'][number] = { name: '', ref: new TensorRef(new StorageRef('', 'U8', 0, 'cpu'), 'U8', 0, [], [], false), top: '' };

/** Collects warnings, keeping the first few hundred and counting the rest. */
class Warnings {
  private dropped = 0;
  constructor(readonly list: string[], private readonly max = 200) {}
  add(w: string | (() => string)): void {
    if (this.list.length < this.max) this.list.push(typeof w === 'string' ? w : w());
    else this.dropped++;
  }
  finish(): void {
    if (this.dropped) this.list.push(`…and ${this.dropped} more warnings`);
    this.dropped = 0;
  }
}

/**
 * Dotted names for everything in the saved object: containers that hold tensors are expanded
 * (pre-order, insertion order); tensors become tensor entries; anything else is one value.
 * Iterative, with caps on depth, entries, work and name length: memo sharing can make a small
 * pickle describe an exponentially large tree.
 */
function flatten(root: PyValue, holders: Set<Expandable>, path: string, warn: Warnings): Flat {
  const flat: Flat = { tensors: [], values: valueObject() };
  const used = new Set<string>();
  let steps = 0;
  let nameChars = 0;
  const budget = (name: string): void => {
    nameChars += name.length;
    if (++steps > 2 * MAX_ENTRIES) throw new CheckpointError(path, `more than ${MAX_ENTRIES} entries (shared containers repeated?); refusing`);
    if (nameChars > MAX_NAME_CHARS) throw new CheckpointError(path, `entry names add up to more than ${MAX_NAME_CHARS} characters; refusing`);
  };
  const nextSuffix = new Map<string, number>();
  const unique = (name: string): string => {
    if (!used.has(name)) {
      used.add(name);
      return name;
    }
    let i = nextSuffix.get(name) ?? 2;
    while (used.has(`${name}#${i}`)) i++;
    nextSuffix.set(name, i + 1);
    warn.add(`two entries are both named "${name}"; the second is shown as "${name}#${i}"`);
    used.add(`${name}#${i}`);
    return `${name}#${i}`;
  };
  const leaf = (name: string, v: PyValue, top: string): void => {
    budget(name);
    if (isTensorLike(v)) {
      flat.tensors.push({ name: unique(name), ref: v, top });
      return;
    }
    if (isSparseObject(v)) {
      const sp = sparseParts(unique(name), v);
      if (typeof sp !== 'string') {
        flat.tensors.push({ name: sp.name, ref: sp, top });
        return;
      }
      warn.add(() => `"${name}" is a sparse tensor that could not be read: ${sp}`);
    } else if (v instanceof PyObject && v.type.startsWith(INERT_TENSOR_PREFIX)) {
      warn.add(() => `"${name}" is a tensor kind this reader does not show (${v.type}); skipped`);
    }
    const c = toValue(v);
    if (c.truncated) warn.add(() => `the value "${name}" is large or deeply nested; it is shown truncated`);
    flat.values[unique(name)] = c.value;
  };

  if (isTensorLike(root)) leaf('tensor', root, '');
  // A tensor-free object at the root (HF TrainingArguments) stays one tree, its class shown.
  else if (!isExpandable(root) || (root instanceof PyObject && !holders.has(root))) leaf('value', root, '');
  else {
    interface Frame { node: Expandable; entries: Iterator<[string, PyValue]>; name: string; top: string }
    const onPath = new Set<Expandable>([root]);
    const stack: Frame[] = [{ node: root, entries: entriesIter(root), name: '', top: '' }];
    while (stack.length) {
      const f = stack[stack.length - 1];
      const next = f.entries.next();
      if (next.done) {
        onPath.delete(f.node);
        stack.pop();
        continue;
      }
      const [key, child] = next.value;
      const name = f.name ? `${f.name}.${key}` : key;
      const top = stack.length === 1 ? key : f.top;
      if (child instanceof PyObject && OMEGA_NODE.test(child.type)) {
        leaf(name, child, top);
        continue;
      }
      if (!isExpandable(child) || !holders.has(child)) {
        leaf(name, child, top);
        continue;
      }
      if (onPath.has(child)) {
        warn.add(`"${name}" contains itself; not expanded again`);
        continue;
      }
      // A shared container can be reached by a longer path than the one tensorHolders took.
      if (stack.length >= MAX_NESTING) throw new CheckpointError(path, `containers are nested more than ${MAX_NESTING} levels deep; refusing`);
      budget(name);
      onPath.add(child);
      stack.push({ node: child, entries: entriesIter(child), name, top });
    }
  }
  return flat;
}

/** The state dict's dotted prefix: a known wrapper key, else the root sub-dict with most tensors. */
function chooseStateDictPrefix(root: PyValue, holders: Set<Expandable>, tensorsByTop: Map<string, number>): string {
  let node = root;
  let prefix = '';
  for (let level = 0; level < 4 && node instanceof PyDict; level++) {
    const dict: PyDict = node;
    if ([...dict.values()].some((v) => v instanceof TensorRef)) break;
    const isHolder = (v: PyValue | undefined): boolean => v !== undefined && isExpandable(v) && holders.has(v);
    let key = STATE_DICT_KEYS.find((k) => isHolder(dict.get(k)));
    let next = key === undefined ? undefined : dict.get(key);
    if (key === undefined && level === 0) {
      let best = 0;
      for (const [k, v] of dict) {
        const n = tensorsByTop.get(keyString(k)) ?? 0;
        if ((v instanceof PyDict || isModuleObject(v)) && isHolder(v) && n > best) {
          best = n;
          key = keyString(k);
          next = v;
        }
      }
    }
    if (key === undefined || next === undefined) break;
    prefix = prefix ? `${prefix}.${key}` : key;
    node = next;
  }
  return prefix;
}

async function buildCheckpoint(parsed: Parsed, src: ByteSource, path: string, idPrefix: string): Promise<Checkpoint> {
  const { warnings } = parsed;
  const warn = new Warnings(warnings);
  let root: PyValue = parsed.root;
  let holders: Set<Expandable> | null = tensorHolders(root, path);
  const flat = flatten(root, holders, path, warn);
  const tensorsByTop = new Map<string, number>();
  for (const t of flat.tensors) tensorsByTop.set(t.top, (tensorsByTop.get(t.top) ?? 0) + 1);
  const stateDictPrefix = chooseStateDictPrefix(root, holders, tensorsByTop);
  // The unpickled tree is not needed past here: let it go while the tensor list is built (a
  // million tensors' descriptors, storages and containers would otherwise stay alive with it).
  parsed.root = root = null;
  holders = null;

  const tensors: TensorInfo[] = [];
  let arrays = 0;
  for (let k = 0; k < flat.tensors.length; k++) {
    const { name, ref } = flat.tensors[k];
    flat.tensors[k] = RELEASED;
    if (!(ref instanceof TensorRef) && !(ref instanceof PyObject)) {
      const sp = ref;
      try {
        const parts = await Promise.all(sp.parts.map(async (p) => tensorInfo(`${sp.name} ${p.role}`, p.ref, await parsed.locate(p.ref.storage), parsed.byteOrder, idPrefix, path, parsed.format)));
        tensors.push(await sparseTensor(sp.name, sp.layout, sp.size, parts, path));
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw e;
        warn.add(`"${sp.name}" is a sparse tensor that could not be read: ${e.message}`);
      }
      continue;
    }
    if (!(ref instanceof TensorRef)) {
      tensors.push(arrayInfo(name, ref.array, `${idPrefix}ndarray:${arrays++}`, path));
      continue;
    }
    const q = ref.quantization;
    // Sub-byte packed quantization (quint4x2, quint2x4): the storage holds bytes, the view counts packed elements.
    const packed = q?.qdtype === 'quint4x2' || q?.qdtype === 'quint2x4';
    const info = packed
      ? tensorInfo(name, new TensorRef(ref.storage, 'U8', 0, [ref.storage.numel], [1], false), await parsed.locate(ref.storage), parsed.byteOrder, idPrefix, path, parsed.format)
      : tensorInfo(name, ref, await parsed.locate(ref.storage), parsed.byteOrder, idPrefix, path, parsed.format);
    if (q) {
      try {
        const scales = q.scales && tensorInfo(`${name} scales`, q.scales, await parsed.locate(q.scales.storage), parsed.byteOrder, idPrefix, path, parsed.format);
        const zps = q.zeroPoints && tensorInfo(`${name} zero points`, q.zeroPoints, await parsed.locate(q.zeroPoints.storage), parsed.byteOrder, idPrefix, path, parsed.format);
        tensors.push(await dequantizedTensor(info, q, scales, zps, packed ? { shape: ref.shape, strides: ref.stride, offset: ref.storageOffset } : undefined));
      } catch (e) {
        // A quantized tensor whose parameters do not fit skips this tensor, not the file.
        if (!(e instanceof CheckpointError)) throw e;
        warn.add(`"${name}" is skipped: ${e.message.slice(e.message.indexOf(': ') + 2)}`);
      }
    } else tensors.push(info);
  }
  linkSharedStorages(tensors);
  warn.finish();

  return {
    path,
    format: parsed.format,
    metadata: parsed.metadata,
    values: flat.values,
    tensors,
    stateDictPrefix,
    warnings,
    risk: parsed.risk,
    ...(parsed.sourceFiles ? { sourceFiles: parsed.sourceFiles } : {}),
    close: () => src.close(),
  };
}

/** A numpy array whose bytes were inside the pickle. */
function arrayInfo(name: string, a: NonNullable<PyObject['array']>, storageId: string, path: string): TensorInfo {
  let numel = 1;
  for (const d of a.shape) numel *= d;
  const size = dtypeSize(a.dtype);
  return {
    name,
    dtype: a.dtype,
    shape: a.shape.slice(),
    numel,
    nbytes: numel * size,
    location: {
      source: new MemorySource(a.data, `${path}:${name}`),
      storageByteOffset: 0,
      storageBytes: a.data.length,
      elementOffset: 0,
      strides: a.strides.slice(),
      byteOrder: a.byteOrder,
    },
    storageId,
    note: a.note ? `numpy ${a.descr} array; ${a.note}` : `numpy ${a.descr} array`,
  };
}

function tensorInfo(name: string, ref: TensorRef, rec: StorageBytes, byteOrder: 'little' | 'big', idPrefix: string, path: string, format: Parsed['format']): TensorInfo {
  const s = ref.storage;
  const storageElem = dtypeSize(s.dtype);
  const storageStart = s.elementOffset * storageElem;
  const storageBytes = s.numel * storageElem;
  if (storageStart + storageBytes > rec.bytes) {
    throw new CheckpointError(path, `tensor "${name}": storage ${s.key} needs ${storageStart + storageBytes} bytes but its record has ${rec.bytes}`);
  }
  // A record longer than its declared storage is what CVE-2026-24747 used: refuse, as PyTorch now does.
  if (format === 'pytorch-zip' && rec.bytes !== storageBytes) {
    throw new CheckpointError(path, `tensor "${name}": storage ${s.dir}/${s.key} is declared as ${storageBytes} bytes but its record has ${rec.bytes}`);
  }
  const size = dtypeSize(ref.dtype);
  let numel = 1;
  let last = ref.storageOffset;
  for (let i = 0; i < ref.shape.length; i++) {
    numel *= ref.shape[i];
    last += Math.max(0, ref.shape[i] - 1) * ref.stride[i];
  }
  if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) throw new CheckpointError(path, `tensor "${name}": shape [${ref.shape}] is too large`);
  // Broadcast views (stride 0) may claim any logical size over a few stored elements.
  if (numel > MAX_LOGICAL_ELEMENTS) throw new CheckpointError(path, `tensor "${name}": ${numel} elements (shape [${ref.shape}]) is more than the ${MAX_LOGICAL_ELEMENTS} this reader accepts`);
  if (numel > 0 && (last + 1) * size > storageBytes) {
    throw new CheckpointError(
      path,
      `tensor "${name}": its view (offset ${ref.storageOffset}, shape [${ref.shape}], strides [${ref.stride}]) reaches outside its storage of ${storageBytes} bytes`,
    );
  }
  // Shapes and strides are the pickle's interned, frozen arrays: shared, never copied.
  return {
    name,
    dtype: ref.dtype,
    shape: internDims(ref.shape),
    numel,
    nbytes: numel * size,
    location: {
      source: rec.source,
      storageByteOffset: rec.byteOffset + storageStart,
      storageBytes,
      elementOffset: ref.storageOffset,
      strides: internDims(ref.stride),
      byteOrder,
    },
    storageId: idPrefix ? idPrefix + s.key : s.key,
    // Declared here, filled by linkSharedStorages: a property added later would cost every
    // tensor a separate property array (61 MB over 1.6 million views of one storage).
    sharesStorageWith: undefined,
  };
}
