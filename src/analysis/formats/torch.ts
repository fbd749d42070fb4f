// PyTorch `torch.save` files: the zip archive (PyTorch ≥ 1.6) and the legacy pickle stream.
// Only the pickle and the zip directory are read when opening; tensor bytes stay in the file
// and are located by byte range (zip entry payload offsets, or an index of legacy storages).
import { type Checkpoint, type TensorInfo, type Value, linkSharedStorages } from '../core/checkpoint';
import { type DType, dtypeSize } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { type ByteSource, FileSource } from '../io/byteSource';
import {
  PickleTruncatedError,
  PyDict,
  PyGlobal,
  PyObject,
  type PyValue,
  StorageRef,
  TensorRef,
  dtypeOfGlobal,
  isTuple,
  keyString,
  pyTypeName,
  toValue,
  unpickle,
  valueObject,
} from './pickle';
import { ZipArchive, type ZipEntry } from './zip';

/** data.pkl and legacy object pickles larger than this are refused. */
const MAX_PICKLE_BYTES = 512 * 1024 * 1024;
/** Deflated storage records (not written by torch.save) are inflated up to this size. */
const MAX_INFLATED_STORAGE = 256 * 1024 * 1024;
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
  const parsed = isZip(head) ? await parseZip(src, path) : await parseLegacyOrExplain(src, path);
  return buildCheckpoint(parsed, src, path, opts.storageIdPrefix ?? '');
}

// --- what both formats produce -----------------------------------------------------------

interface StorageBytes {
  source: ByteSource;
  /** Offset of the record's first byte in `source`. */
  byteOffset: number;
  /** Size of the record in bytes. */
  bytes: number;
}

interface Parsed {
  format: 'pytorch-zip' | 'pytorch-legacy';
  root: PyValue;
  metadata: Record<string, Value>;
  warnings: string[];
  byteOrder: 'little' | 'big';
  /** Where a storage key's bytes are; throws a CheckpointError naming the key if they are not. */
  locate(key: string): Promise<StorageBytes>;
}

function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/** Checks the (storage class, key, location, numel) fields that both formats' ids start with. */
function storageArgs(items: PyValue[], path: string): { dtype: DType; key: string; device: string; numel: number } {
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
  return { dtype, key, device, numel };
}

// --- zip archives (torch ≥ 1.6) ------------------------------------------------------------

async function parseZip(src: ByteSource, path: string): Promise<Parsed> {
  const zip = await ZipArchive.open(src);
  const first = zip.entries[0];
  const slash = first ? first.name.indexOf('/') : -1;
  if (!first || slash <= 0) throw new CheckpointError(path, 'a zip file, but not a PyTorch archive (its first entry is not inside a folder)');
  // The folder is the saved file's stem or "archive": take it from the first entry, as torch does.
  const folder = first.name.slice(0, slash + 1);
  const record = (name: string): ZipEntry | undefined => zip.get(folder + name);

  if (record('constants.pkl') || zip.entries.some((e) => e.name.startsWith(`${folder}code/`))) {
    throw new CheckpointError(path, 'this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; it is not supported');
  }
  if (zip.entries.some((e) => e.name.endsWith('/archive_format') || e.name.endsWith('/serialized_exported_program.json'))) {
    throw new CheckpointError(path, 'this is a torch.export program archive (.pt2), not a torch.save checkpoint; it is not supported');
  }
  const pklEntry = record('data.pkl');
  if (!pklEntry) {
    const names = zip.entries.slice(0, 5).map((e) => e.name).join(', ');
    throw new CheckpointError(path, `a zip file without ${folder}data.pkl, so not a torch.save checkpoint (entries: ${names}${zip.entries.length > 5 ? ', …' : ''})`);
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

  const pkl = await zip.readEntry(pklEntry, MAX_PICKLE_BYTES);
  const storages = new Map<string, StorageRef>();
  const result = unpickle(pkl, {
    label: path,
    where: pklEntry.name,
    persistentLoad: (items) => {
      const a = storageArgs(items, path);
      // torch reuses the first storage loaded under a key.
      let s = storages.get(a.key);
      if (!s) storages.set(a.key, (s = new StorageRef(a.key, a.dtype, a.numel, a.device)));
      return s;
    },
  });
  metadata.pickleGlobals = result.globals;

  const located = new Map<string, Promise<StorageBytes>>();
  const locate = async (key: string): Promise<StorageBytes> => {
    const e = record(`data/${key}`);
    if (!e) throw new CheckpointError(path, `storage record ${folder}data/${key} is missing from the archive`);
    if (e.method === 0) return { source: src, byteOffset: await zip.locate(e), bytes: e.uncompressedSize };
    const inflated = await zip.entrySource(e, { maxInflatedBytes: MAX_INFLATED_STORAGE });
    return { source: inflated, byteOffset: 0, bytes: inflated.size };
  };
  return {
    format: 'pytorch-zip',
    root: result.value,
    metadata,
    warnings,
    byteOrder: byteorder,
    locate: (key) => {
      let p = located.get(key);
      if (!p) located.set(key, (p = locate(key)));
      return p;
    },
  };
}

// --- legacy pickle stream (torch < 1.6, or _use_new_zipfile_serialization=False) -------------

async function parseLegacyOrExplain(src: ByteSource, path: string): Promise<Parsed> {
  const head = await src.read(0, Math.min(src.size, 512));
  const ascii = (a: number, b: number): string => String.fromCharCode(...head.subarray(a, b));
  if (head.length >= 8 && ascii(0, 8) === 'PYTORCH1') {
    throw new CheckpointError(path, 'a PyTorch preview-release archive ("PYTORCH1"), which PyTorch itself no longer reads');
  }
  if (head.length >= 262 && ascii(257, 262) === 'ustar') {
    throw new CheckpointError(path, 'a tar archive: the PyTorch ≤ 0.3 tar format is not supported (re-save it with a newer PyTorch)');
  }
  if (head.length < 2 || head[0] !== 0x80) {
    const hex = Array.from(head.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new CheckpointError(path, `not a PyTorch checkpoint: neither a zip archive nor a pickle stream (first bytes ${hex})`);
  }
  return parseLegacy(src, path);
}

/** Unpickles the pickle starting at `offset`, reading more of the file only as needed. */
async function pickleAt(
  src: ByteSource,
  path: string,
  offset: number,
  where: string,
  persistentLoad?: (items: PyValue[]) => PyValue,
): Promise<{ value: PyValue; end: number; globals: string[] }> {
  const remaining = src.size - offset;
  let window = Math.min(remaining, 4096);
  for (;;) {
    const bytes = await src.read(offset, window);
    try {
      const r = unpickle(bytes, { label: path, where, persistentLoad });
      return { value: r.value, end: offset + r.end, globals: r.globals };
    } catch (e) {
      if (!(e instanceof PickleTruncatedError) || window === remaining) throw e;
      if (window >= MAX_PICKLE_BYTES) throw new CheckpointError(path, `${where} is larger than ${MAX_PICKLE_BYTES} bytes; refusing`);
      window = Math.min(remaining, window * 8, MAX_PICKLE_BYTES);
    }
  }
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
    if (!root) roots.set(a.key, (root = new StorageRef(a.key, a.dtype, a.numel, a.device)));
    const view = items[4];
    if (view === null) return root;
    if (!isTuple(view) || view.length !== 3) throw new CheckpointError(path, `storage ${a.key}: bad view metadata (${pyTypeName(view)})`);
    const [viewKey, off, size] = view;
    if (typeof viewKey !== 'string' || !isCount(off) || !isCount(size)) throw new CheckpointError(path, `storage ${a.key}: bad view metadata`);
    let v = views.get(viewKey);
    if (!v) views.set(viewKey, (v = new StorageRef(a.key, a.dtype, size, a.device, off)));
    return v;
  };
  const obj = await pickleAt(src, path, sysInfo.end, 'object pickle', persistentLoad);
  metadata.pickleGlobals = obj.globals;
  const keysPickle = await pickleAt(src, path, obj.end, 'storage key list');
  const keys = keysPickle.value;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new CheckpointError(path, 'legacy storage key list is not a list of strings');

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
  const warnings: string[] = [];
  if (at < src.size) warnings.push(`${src.size - at} unexpected bytes after the last storage`);
  return {
    format: 'pytorch-legacy',
    root: obj.value,
    metadata,
    warnings,
    byteOrder: 'little',
    locate: async (key) => {
      const s = index.get(key);
      if (!s) throw new CheckpointError(path, `storage ${key} has no data in the file`);
      return s;
    },
  };
}

function isCount(v: PyValue): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

// --- from the unpickled object to a Checkpoint ------------------------------------------------

type Expandable = PyDict | PyValue[];

function isExpandable(v: PyValue): v is Expandable {
  return v instanceof PyDict || Array.isArray(v);
}

function entriesOf(v: Expandable): Array<[string, PyValue]> {
  return v instanceof PyDict ? [...v].map(([k, x]) => [keyString(k), x]) : v.map((x, i) => [String(i), x]);
}

function childValues(v: Expandable): Iterable<PyValue> {
  return v instanceof PyDict ? v.values() : v;
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
    if (c instanceof TensorRef) holders.add(f.node);
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
  tensors: Array<{ name: string; ref: TensorRef; top: string }>;
  values: Record<string, Value>;
}

const INERT_TENSOR_PREFIX = 'torch._utils._rebuild_';

/** Collects warnings, keeping the first few hundred and counting the rest. */
class Warnings {
  private dropped = 0;
  constructor(readonly list: string[], private readonly max = 200) {}
  add(w: string): void {
    if (this.list.length < this.max) this.list.push(w);
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
  const unique = (name: string): string => {
    if (!used.has(name)) {
      used.add(name);
      return name;
    }
    let i = 2;
    while (used.has(`${name}#${i}`)) i++;
    warn.add(`two entries are both named "${name}"; the second is shown as "${name}#${i}"`);
    used.add(`${name}#${i}`);
    return `${name}#${i}`;
  };
  const leaf = (name: string, v: PyValue, top: string): void => {
    budget(name);
    if (v instanceof TensorRef) {
      flat.tensors.push({ name: unique(name), ref: v, top });
      return;
    }
    if (v instanceof PyObject && v.type.startsWith(INERT_TENSOR_PREFIX)) {
      warn.add(`"${name}" is a tensor kind this reader does not show (${v.type}); skipped`);
    }
    const c = toValue(v);
    if (c.truncated) warn.add(`the value "${name}" is large or deeply nested; it is shown truncated`);
    flat.values[unique(name)] = c.value;
  };

  if (root instanceof TensorRef) leaf('tensor', root, '');
  else if (!isExpandable(root)) leaf('value', root, '');
  else {
    interface Frame { node: Expandable; entries: Array<[string, PyValue]>; next: number; name: string; top: string }
    const onPath = new Set<Expandable>([root]);
    const stack: Frame[] = [{ node: root, entries: entriesOf(root), next: 0, name: '', top: '' }];
    while (stack.length) {
      const f = stack[stack.length - 1];
      if (f.next >= f.entries.length) {
        onPath.delete(f.node);
        stack.pop();
        continue;
      }
      const [key, child] = f.entries[f.next++];
      const name = f.name ? `${f.name}.${key}` : key;
      const top = stack.length === 1 ? key : f.top;
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
      stack.push({ node: child, entries: entriesOf(child), next: 0, name, top });
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
        if (v instanceof PyDict && isHolder(v) && n > best) {
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
  const { root, warnings } = parsed;
  const warn = new Warnings(warnings);
  const holders = tensorHolders(root, path);
  const flat = flatten(root, holders, path, warn);
  const tensorsByTop = new Map<string, number>();
  for (const t of flat.tensors) tensorsByTop.set(t.top, (tensorsByTop.get(t.top) ?? 0) + 1);

  const tensors: TensorInfo[] = [];
  let quantized = 0;
  for (const { name, ref } of flat.tensors) {
    const rec = await parsed.locate(ref.storage.key);
    tensors.push(tensorInfo(name, ref, rec, parsed.byteOrder, idPrefix, path));
    if (ref.quantization !== undefined) quantized++;
  }
  if (quantized) warn.add(`${quantized} quantized tensor(s): values are shown as the stored integers, without scale and zero point`);
  linkSharedStorages(tensors);
  warn.finish();

  return {
    path,
    format: parsed.format,
    metadata: parsed.metadata,
    values: flat.values,
    tensors,
    stateDictPrefix: chooseStateDictPrefix(root, holders, tensorsByTop),
    warnings,
    close: () => src.close(),
  };
}

function tensorInfo(name: string, ref: TensorRef, rec: StorageBytes, byteOrder: 'little' | 'big', idPrefix: string, path: string): TensorInfo {
  const s = ref.storage;
  const storageElem = dtypeSize(s.dtype);
  const storageStart = s.elementOffset * storageElem;
  const storageBytes = s.numel * storageElem;
  if (storageStart + storageBytes > rec.bytes) {
    throw new CheckpointError(path, `tensor "${name}": storage ${s.key} needs ${storageStart + storageBytes} bytes but its record has ${rec.bytes}`);
  }
  const size = dtypeSize(ref.dtype);
  let numel = 1;
  let last = ref.storageOffset;
  for (let i = 0; i < ref.shape.length; i++) {
    numel *= ref.shape[i];
    last += Math.max(0, ref.shape[i] - 1) * ref.stride[i];
  }
  if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) throw new CheckpointError(path, `tensor "${name}": shape [${ref.shape}] is too large`);
  if (numel > 0 && (last + 1) * size > storageBytes) {
    throw new CheckpointError(
      path,
      `tensor "${name}": its view (offset ${ref.storageOffset}, shape [${ref.shape}], strides [${ref.stride}]) reaches outside its storage of ${storageBytes} bytes`,
    );
  }
  return {
    name,
    dtype: ref.dtype,
    shape: ref.shape.slice(),
    numel,
    nbytes: numel * size,
    location: {
      source: rec.source,
      storageByteOffset: rec.byteOffset + storageStart,
      storageBytes,
      elementOffset: ref.storageOffset,
      strides: ref.stride.slice(),
      byteOrder,
    },
    storageId: idPrefix + s.key,
  };
}
