// PyTorch's first torch.save format (torch 0.1.1–0.1.9, still read by torch.load's
// `legacy_load`): a tar archive of pickles and raw storages.
//   storages: pickled count; per storage a pickled (key, location, storage class) then an int64
//             element count and the raw little-endian elements; then a pickled list of storage
//             views (view key, root key, offset, numel), in elements of the root's dtype.
//   tensors:  pickled count; per tensor a pickled (key, storage key, tensor class) then i32 ndim,
//             4 unused bytes, ndim × i64 sizes, ndim × i64 strides, i64 storage offset.
//   pickle:   the saved object; its persistent ids are tensor/storage keys as strings, or
//             (module class, source file, source) for a pickled nn.Module's class.
//   sys_info: a pickled dict (protocol_version 1000, byte order, C type sizes); torch never reads it.
// Members are found as Python's tarfile finds them (the last header of a name wins). Only the
// headers and the pickles are read; storages stay in the file, located by byte range. Every
// pickle goes through our opcode machine: nothing is imported or called.
import type { Value } from '../core/checkpoint';
import { dtypeSize } from '../core/dtype';
import { CheckpointError } from '../core/errors';
import { type ByteSource, SliceSource } from '../io/byteSource';
import {
  PICKLE_LIMITS,
  PyDict,
  PyGlobal,
  type PyValue,
  type RiskReport,
  StorageRef,
  TensorRef,
  dtypeOfGlobal,
  internDims,
  isTuple,
  pyTypeName,
  toValue,
  unpickle,
  valueObject,
} from './pickle';
import { mergeRisk } from './pickleRisk';
import { MAX_PICKLE_BYTES, pickleAt } from './pickleStream';
import { latin1, printable } from './pickleText';
import type { Parsed, StorageBytes } from './torch';

const BLOCK = 512;
/** Tar headers walked at most (torch writes four members). */
const MAX_HEADERS = 10_000;
/** A pax or GNU long-name record larger than this is refused. */
const MAX_EXTENDED_HEADER = 1 << 20;
const MAX_SYS_INFO = 64 * 1024;
/** The members torch.load reads; sys_info is written but never read. */
const NEEDED = ['storages', 'tensors', 'pickle'] as const;

interface Member {
  name: string;
  /** tar type flag ('0' regular file, '5' directory, '2' symlink…). */
  type: string;
  dataOffset: number;
  size: number;
}

/** Python tarfile's `nti`: an octal (space/NUL padded) or base-256 number field; undefined if malformed. */
function nti(b: Uint8Array, off: number, len: number): number | undefined {
  const first = b[off];
  if (first === 0x80 || first === 0xff) {
    let n = 0;
    for (let i = 1; i < len; i++) n = n * 256 + b[off + i];
    if (first === 0xff) n -= 256 ** (len - 1);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  const s = latin1(b.subarray(off, end)).trim();
  if (s === '') return 0;
  return /^[0-7]+$/.test(s) ? parseInt(s, 8) : undefined;
}

/** A NUL-terminated string field. */
function nts(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return new TextDecoder('utf-8').decode(b.subarray(off, end));
}

/** True when `b` starts with a tar header whose checksum is right: what tarfile.open needs to accept it. */
export function isTarHeader(b: Uint8Array): boolean {
  if (b.length < BLOCK) return false;
  const stored = nti(b, 148, 8);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  // An all-zero block (an empty archive's end marker) checks out as 256 only if its field says so.
  return stored === unsigned || stored === signed;
}

/** pax records ("<len> <key>=<value>\n"…): the path and size fields tarfile applies. */
function paxFields(data: Uint8Array, fail: (m: string) => never): Map<string, string> {
  const out = new Map<string, string>();
  let p = 0;
  while (p < data.length && data[p] !== 0) {
    const sp = data.indexOf(0x20, p);
    if (sp < 0) fail('a malformed pax header');
    const len = Number(latin1(data.subarray(p, sp)));
    if (!Number.isSafeInteger(len) || len <= sp - p || p + len > data.length) fail('a malformed pax header');
    const rec = new TextDecoder('utf-8').decode(data.subarray(sp + 1, p + len - 1));
    const eq = rec.indexOf('=');
    if (eq < 0) fail('a malformed pax header');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    p += len;
  }
  return out;
}

/** Walks the tar headers; a name's last header wins, as in tarfile.getmember. */
async function readMembers(src: ByteSource, path: string): Promise<Map<string, Member>> {
  const fail = (m: string): never => {
    throw new CheckpointError(path, `a tar archive with ${m}`);
  };
  const members = new Map<string, Member>();
  const global = new Map<string, string>();
  let local = new Map<string, string>();
  let longName: string | undefined;
  let offset = 0;
  for (let headers = 0; ; headers++) {
    if (headers >= MAX_HEADERS) fail(`more than ${MAX_HEADERS} headers; refusing (torch writes four members)`);
    // tarfile ends the listing at a short, zero or invalid header after the first.
    if (offset + BLOCK > src.size) break;
    const h = await src.read(offset, BLOCK);
    if (!isTarHeader(h)) {
      if (offset === 0) fail('a damaged first header');
      break;
    }
    const type = String.fromCharCode(h[156]);
    const size = nti(h, 124, 12);
    if (size === undefined || size < 0) fail(`a malformed size field in the header at byte ${offset}`);
    const dataOffset = offset + BLOCK;
    const blocks = Math.ceil((size as number) / BLOCK) * BLOCK;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if ((size as number) > MAX_EXTENDED_HEADER) fail(`an extended header of ${size} bytes; refusing`);
      if (dataOffset + (size as number) > src.size) fail(`an extended header at byte ${offset} that runs past the end of the file (truncated?)`);
      const data = await src.read(dataOffset, size as number);
      if (type === 'L') longName = nts(data, 0, data.length);
      else if (type === 'x') local = paxFields(data, fail);
      else for (const [k, v] of paxFields(data, fail)) global.set(k, v);
      offset = dataOffset + blocks;
      continue;
    }
    let name = nts(h, 0, 100);
    const prefix = nts(h, 345, 155);
    if (prefix && type !== 'S') name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    const pax = new Map([...global, ...local]);
    name = pax.get('path') ?? name;
    let memberSize = size as number;
    const paxSize = pax.get('size');
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) fail(`a malformed pax size "${printable(paxSize.slice(0, 40))}"`);
      memberSize = Number(paxSize);
    }
    local = new Map();
    longName = undefined;
    const isDir = type === '5' || (type === '\0' && name.endsWith('/'));
    if (isDir) name = name.replace(/\/+$/, '');
    members.set(name, { name, type: isDir ? '5' : type, dataOffset, size: memberSize });
    // Regular files (and unknown types) are followed by their data; links, directories and devices are not.
    const regular = type === '0' || type === '\0' || type === '7' || type === 'S';
    const known = regular || '123456'.includes(type);
    if (regular || !known) offset = dataOffset + Math.ceil(memberSize / BLOCK) * BLOCK;
    else offset = dataOffset;
  }
  return members;
}

/** A dict key of the storages/tensors tables, as Python compares them (1 == True, 1 != '1'). */
function keyOf(v: PyValue, what: string, path: string): string {
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (typeof v === 'string') return `str:${v}`;
  throw new CheckpointError(path, `${what} is a ${pyTypeName(v)}, not an integer key`);
}

/** A count pickled on its own: a non-negative int no larger than `max`. */
function countOf(v: PyValue, what: string, max: number, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CheckpointError(path, `${what} is ${typeof v === 'number' || typeof v === 'bigint' ? String(v) : `a ${pyTypeName(v)}`}, not a count`);
  if (v > max) throw new CheckpointError(path, `${what} is ${v}, more than the ${max} this reader accepts`);
  return v;
}

/** Reads a ≤ 0.1.9 torch.save tar archive into what buildCheckpoint turns into a Checkpoint. */
export async function parseTorchTar(src: ByteSource, path: string): Promise<Parsed> {
  const members = await readMembers(src, path);
  const missing = NEEDED.filter((n) => !members.has(n));
  if (missing.length) {
    const have = [...members.keys()].slice(0, 6).map((n) => printable(n)).join(', ');
    throw new CheckpointError(path, `a tar archive without the member${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, so not a PyTorch ≤ 0.1.9 torch.save file (members: ${have || 'none'})`);
  }
  const member = (name: string): SliceSource => {
    const m = members.get(name) as Member;
    if (m.type !== '0' && m.type !== '\0' && m.type !== '7') {
      throw new CheckpointError(path, `tar member ${name} is ${m.type === '5' ? 'a directory' : m.type === '2' ? 'a symbolic link' : m.type === '1' ? 'a hard link' : `of tar type '${printable(m.type)}'`}, not a file; refusing`);
    }
    if (m.dataOffset + m.size > src.size) {
      throw new CheckpointError(path, `tar member ${name}: its ${m.size} bytes at byte ${m.dataOffset} run past the end of the ${src.size}-byte file (truncated?)`);
    }
    return new SliceSource(src, m.dataOffset, m.size, `${path}:${name}`);
  };
  // One report per pickle, merged as they come: a file of a million storages has two million pickles.
  const risks: RiskReport[] = [];
  const addRisk = (r: RiskReport): void => {
    risks.push(r);
    if (risks.length >= 1024) risks.splice(0, risks.length, mergeRisk(risks));
  };
  const warnings: string[] = [];
  const metadata: Record<string, Value> = valueObject();
  metadata.legacyFormat = 'tar (torch.save of PyTorch 0.1.1–0.1.9)';
  // torch.load reads storages as little-endian whatever machine wrote them.
  metadata.byteorder = 'little';

  // sys_info: shown, never required (torch.load does not read it, so its pickle adds nothing to the risk).
  const sys = members.get('sys_info');
  if (sys && sys.size <= MAX_SYS_INFO && sys.dataOffset + sys.size <= src.size && (sys.type === '0' || sys.type === '\0')) {
    try {
      const info = unpickle(await src.read(sys.dataOffset, sys.size), { label: path, where: 'sys_info' }).value;
      if (info instanceof PyDict) {
        for (const [k, v] of info) if (k === 'protocol_version' || k === 'little_endian' || k === 'type_sizes') metadata[k] = toValue(v).value;
        if (info.get('little_endian') === false) warnings.push('sys_info says a big-endian machine wrote this file; its storages are read as little-endian, as torch.load reads them');
      }
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      warnings.push(`sys_info is unreadable (torch.load ignores it): ${e.problem}`);
    }
  }
  const extra = [...members.keys()].filter((n) => n !== 'sys_info' && !(NEEDED as readonly string[]).includes(n));
  if (extra.length) warnings.push(`the tar also holds ${extra.length} member(s) torch.load does not read: ${extra.slice(0, 5).map((n) => printable(n)).join(', ')}${extra.length > 5 ? ', …' : ''}`);

  // Storages (roots, then views) and tensors share one table, as torch's deserialized_objects.
  const objects = new Map<string, StorageRef | TensorRef>();
  const records = new Map<string, StorageBytes>();

  const storages = member('storages');
  const sWhere = (what: string): string => `storages member, ${what}`;
  let at = 0;
  const nStoragesP = await pickleAt(storages, path, at, sWhere('storage count'));
  addRisk(nStoragesP.risk);
  const nStorages = countOf(nStoragesP.value, 'the storage count', PICKLE_LIMITS.maxTensors, path);
  at = nStoragesP.end;
  for (let i = 0; i < nStorages; i++) {
    const hp = await pickleAt(storages, path, at, sWhere(`storage #${i}`));
    addRisk(hp.risk);
    const h = hp.value;
    if (!isTuple(h) || h.length !== 3) throw new CheckpointError(path, `storage #${i} is described by a ${pyTypeName(h)}, not (key, location, storage class)`);
    const key = keyOf(h[0], `storage #${i}'s key`, path);
    const [, location, cls] = h;
    const dtype = cls instanceof PyGlobal && cls.role === 'storage' ? dtypeOfGlobal(cls) : undefined;
    if (!(cls instanceof PyGlobal) || !dtype) throw new CheckpointError(path, `storage #${i} names ${pyTypeName(cls)}, not a torch storage class`);
    if (typeof location !== 'string') throw new CheckpointError(path, `storage #${i}: its location is a ${pyTypeName(location)}, not a string`);
    at = hp.end;
    if (at + 8 > storages.size) throw new CheckpointError(path, `storage #${i}: its element count at byte ${at} of the storages member is past its end (truncated?)`);
    const count = new DataView((await storages.read(at, 8)).buffer).getBigInt64(0, true);
    const es = dtypeSize(dtype);
    const left = storages.size - at - 8;
    if (count < 0n || count * BigInt(es) > BigInt(left)) {
      throw new CheckpointError(path, `storage #${i} (${cls.name}) declares ${count} elements (${count * BigInt(es)} bytes) but only ${left} bytes remain in the storages member (truncated or damaged)`);
    }
    const numel = Number(count);
    records.set(key, { source: src, byteOffset: (members.get('storages') as Member).dataOffset + at + 8, bytes: numel * es });
    objects.set(key, new StorageRef(key, dtype, numel, location, 0, cls.name));
    at += 8 + numel * es;
  }
  const viewsP = await pickleAt(storages, path, at, sWhere('storage view list')).catch((e: unknown) => {
    if (!(e instanceof CheckpointError)) throw e;
    throw new CheckpointError(path, `the storage view list after the last storage is unreadable (a storage's declared size differs from its bytes?): ${e.problem}`);
  });
  addRisk(viewsP.risk);
  if (!Array.isArray(viewsP.value)) throw new CheckpointError(path, `the storage view list is a ${pyTypeName(viewsP.value)}, not a list (a storage's declared size differs from its bytes?)`);
  for (const [i, v] of viewsP.value.entries()) {
    if (!Array.isArray(v) || v.length !== 4) throw new CheckpointError(path, `storage view #${i} is not (view key, root key, offset, size)`);
    const target = keyOf(v[0], `storage view #${i}'s key`, path);
    const rootKey = keyOf(v[1], `storage view #${i}'s root`, path);
    const [, , off, n] = v;
    const root = objects.get(rootKey);
    if (!(root instanceof StorageRef) || root.elementOffset !== 0 || !records.has(rootKey)) throw new CheckpointError(path, `storage view #${i} refers to root storage ${printable(rootKey)}, which the file does not hold`);
    if (typeof off !== 'number' || typeof n !== 'number' || !Number.isSafeInteger(off) || !Number.isSafeInteger(n) || off < 0 || n < 0 || off + n > root.numel) {
      throw new CheckpointError(path, `storage view #${i}: elements [${String(off)}, ${String(off)}+${String(n)}) lie outside its root storage of ${root.numel} elements`);
    }
    objects.set(target, new StorageRef(root.key, root.dtype, n, root.device, off, root.typeName));
  }

  const tensorsM = member('tensors');
  const tWhere = (what: string): string => `tensors member, ${what}`;
  const nTensorsP = await pickleAt(tensorsM, path, 0, tWhere('tensor count'));
  addRisk(nTensorsP.risk);
  const nTensors = countOf(nTensorsP.value, 'the tensor count', PICKLE_LIMITS.maxTensors, path);
  at = nTensorsP.end;
  for (let i = 0; i < nTensors; i++) {
    const hp = await pickleAt(tensorsM, path, at, tWhere(`tensor #${i}`));
    addRisk(hp.risk);
    const h = hp.value;
    if (!isTuple(h) || h.length !== 3) throw new CheckpointError(path, `tensor #${i} is described by a ${pyTypeName(h)}, not (key, storage key, tensor class)`);
    const key = keyOf(h[0], `tensor #${i}'s key`, path);
    if (h[1] === null) throw new CheckpointError(path, `tensor #${i} has no storage (an empty tensor of torch ≤ 0.1.9, which torch.load cannot read either)`);
    const storage = objects.get(keyOf(h[1], `tensor #${i}'s storage key`, path));
    if (!(storage instanceof StorageRef)) throw new CheckpointError(path, `tensor #${i} refers to storage ${printable(String(h[1]))}, which the file does not hold`);
    at = hp.end;
    if (at + 8 > tensorsM.size) throw new CheckpointError(path, `tensor #${i}: its dimensions at byte ${at} of the tensors member are past its end (truncated?)`);
    const ndim = new DataView((await tensorsM.read(at, 4)).buffer).getInt32(0, true);
    if (ndim < 0 || ndim > PICKLE_LIMITS.maxDims) throw new CheckpointError(path, `tensor #${i} has ${ndim} dimensions (0–${PICKLE_LIMITS.maxDims} accepted)`);
    const metaBytes = 8 + 16 * ndim + 8;
    if (at + metaBytes > tensorsM.size) throw new CheckpointError(path, `tensor #${i}: its sizes and strides run past the end of the tensors member (truncated?)`);
    const meta = new DataView((await tensorsM.read(at, metaBytes)).buffer);
    const field = (j: number, what: string): number => {
      const v = meta.getBigInt64(8 + 8 * j, true);
      if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(path, `tensor #${i}: ${what} is ${v}; it must be a non-negative integer`);
      return Number(v);
    };
    const shape = Array.from({ length: ndim }, (_, d) => field(d, `size[${d}]`));
    const strides = Array.from({ length: ndim }, (_, d) => field(ndim + d, `stride[${d}]`));
    const offset = field(2 * ndim, 'the storage offset');
    objects.set(key, new TensorRef(storage, storage.dtype, offset, internDims(shape), internDims(strides), false));
    at += metaBytes;
  }

  const pm = members.get('pickle') as Member;
  member('pickle');
  if (pm.size > MAX_PICKLE_BYTES) throw new CheckpointError(path, `the pickle member is larger than ${MAX_PICKLE_BYTES} bytes; refusing`);
  const obj = unpickle(await src.read(pm.dataOffset, pm.size), {
    label: path,
    where: 'pickle member',
    persistentId: (pid) => {
      // (class, source file, source): a pickled nn.Module's class; torch.load returns the class.
      if (isTuple(pid) && pid.length >= 1) return pid[0];
      let k: string | undefined;
      if (typeof pid === 'number' || typeof pid === 'bigint') k = keyOf(pid, 'persistent id', path);
      else if (typeof pid === 'string' || pid instanceof Uint8Array) {
        // torch.load looks the id up as int(saved_id).
        const s = typeof pid === 'string' ? pid : latin1(pid);
        if (/^\s*[+-]?\d+\s*$/.test(s)) k = BigInt(s.trim()).toString();
      }
      if (k === undefined) throw new CheckpointError(path, `the pickle member has a persistent id of type ${pyTypeName(pid)}, not a tensor or storage key`);
      const o = objects.get(k);
      if (!o) throw new CheckpointError(path, `the pickle member refers to object ${printable(k)}, which is neither a tensor nor a storage of the file`);
      return o;
    },
  });
  addRisk(obj.risk);
  metadata.pickleGlobals = obj.globals;
  objects.clear();
  return {
    format: 'pytorch-legacy',
    root: obj.value,
    risk: mergeRisk(risks),
    metadata,
    warnings,
    byteOrder: 'little',
    locate: (ref) => {
      const r = records.get(ref.key);
      if (!r) throw new CheckpointError(path, `storage ${printable(ref.key)} has no data in the file`);
      return r;
    },
  };
}
