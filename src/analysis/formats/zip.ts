// A read-only ZIP reader that works from the central directory and reads entries by byte
// range: what PyTorch archives and .npz files need. ZIP64 and data descriptors are handled;
// local-header sizes are ignored (torch writes zeros there) except the name/extra lengths that
// place the payload (torch's 64-byte alignment padding lives only in the local extra field).
// Every member's bytes are checked against its CRC-32 before they are used (stored members on
// their first read, deflated ones as they are inflated), and archives that two readers could
// read differently (duplicate names, a directory that disagrees with its end record) are
// refused: a viewer must never show other numbers than the loader would load.
import * as zlib from 'node:zlib';
import { createInflateRaw } from 'node:zlib';
import { CheckpointError } from '../core/errors';
import type { ByteSource } from '../io/byteSource';

export interface ZipEntry {
  /** Position in the central directory. */
  index: number;
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** Absolute offset of the entry's payload in the archive (resolved from its local header by open()). */
  dataOffset: number;
  /** CRC-32 of the uncompressed bytes, from the central directory. */
  crc32: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const MAX_COMMENT = 0xffff;
/** Central directories beyond this are refused (≈ three million torch members). */
const MAX_CENTRAL_DIR = 256 * 1024 * 1024;
/**
 * Members listed at most. torch.save of a million tensors writes a million and six; a member
 * costs about 130 bytes here (its name, a map slot, typed-array columns), so the cap keeps the
 * directory under 250 MB while the pickle's own tensor cap bounds the rest.
 */
export const MAX_ENTRIES = 1_600_000;
/** Default cap on an inflated entry, against zip bombs. */
export const DEFAULT_MAX_INFLATED = 512 * 1024 * 1024;
/** Inflated members kept in memory at once per archive (re-inflated on demand when evicted). */
const INFLATED_CACHE_BYTES = 512 * 1024 * 1024;
/** Bytes read per step when checking a stored member's CRC. */
const CRC_CHUNK = 4 * 1024 * 1024;
/** Local headers that lie within this span of each other are read in one request. */
const HEADER_WINDOW = 1 << 20;

/**
 * The central directory as columns (one typed array per field, names in one array), not one
 * object per member: an archive of a million storages stays a few tens of MB.
 */
interface Columns {
  names: string[];
  method: Uint8Array;
  compressedSize: Float64Array;
  uncompressedSize: Float64Array;
  localHeaderOffset: Float64Array;
  dataOffset: Float64Array;
  crc32: Uint32Array;
}

export class ZipArchive {
  private readonly byName = new Map<string, number>();
  /** CRC checks of stored members, by index (run once, shared by every reader of the member). */
  private readonly verified = new Map<number, Promise<void>>();
  /** Members whose CRC check passed (kept as bits, not promises: a million storages stay small). */
  private readonly verifiedOk: Uint8Array;
  private readonly cache: InflatedCache;
  private stored: StoredMembersSource | undefined;

  private constructor(
    readonly source: ByteSource,
    private readonly cols: Columns,
  ) {
    const names = cols.names;
    for (let i = 0; i < names.length; i++) {
      // Python's zipfile takes the last of two same-named members, other readers the first.
      if (this.byName.has(names[i])) throw new CheckpointError(source.label, `not a readable zip archive: two members are named "${printableName(names[i])}" (readers disagree on which one counts); refusing`);
      this.byName.set(names[i], i);
    }
    this.verifiedOk = new Uint8Array(names.length);
    this.cache = new InflatedCache(INFLATED_CACHE_BYTES);
  }

  /** Number of members. */
  get size(): number {
    return this.cols.names.length;
  }

  /** Member names in directory order (do not modify). */
  get names(): readonly string[] {
    return this.cols.names;
  }

  /** Every member as an object, built on each call: for small archives (npz, pt2); large ones use names/get. */
  get entries(): ZipEntry[] {
    const out: ZipEntry[] = new Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.entry(i);
    return out;
  }

  /** The member at directory position `i`. */
  entry(i: number): ZipEntry {
    const c = this.cols;
    return {
      index: i,
      name: c.names[i],
      method: c.method[i],
      compressedSize: c.compressedSize[i],
      uncompressedSize: c.uncompressedSize[i],
      localHeaderOffset: c.localHeaderOffset[i],
      dataOffset: c.dataOffset[i],
      crc32: c.crc32[i],
    };
  }

  static async open(src: ByteSource): Promise<ZipArchive> {
    const fail = (problem: string): never => {
      throw new CheckpointError(src.label, `not a readable zip archive: ${problem}`);
    };
    if (src.size < 22) fail('file is shorter than an end-of-central-directory record');

    // The EOCD record is at the end, followed by a comment of up to 64 KiB.
    const tailLen = Math.min(src.size, 22 + MAX_COMMENT + 20);
    const tailStart = src.size - tailLen;
    const tail = await src.read(tailStart, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === EOCD_SIG && i + 22 + tv.getUint16(i + 20, true) <= tailLen) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) fail('end of central directory not found (truncated file?)');

    let count = tv.getUint16(eocd + 10, true);
    if (tv.getUint16(eocd + 8, true) !== count || tv.getUint16(eocd + 4, true) !== 0 || tv.getUint16(eocd + 6, true) !== 0) {
      fail('multi-disk archives (or an end record whose counts disagree) are not supported');
    }
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);

    // ZIP64: a locator sits just before the EOCD and points at the ZIP64 EOCD record.
    if (eocd >= 20 && tv.getUint32(eocd - 20, true) === EOCD64_LOCATOR_SIG) {
      const rec64Offset = readU64(tv, eocd - 20 + 8, fail);
      if (rec64Offset + 56 > src.size) fail('ZIP64 end record lies outside the file');
      const rec = await src.read(rec64Offset, 56);
      const rv = new DataView(rec.buffer);
      if (rv.getUint32(0, true) !== EOCD64_SIG) fail('bad ZIP64 end-of-central-directory signature');
      count = readU64(rv, 32, fail);
      cdSize = readU64(rv, 40, fail);
      cdOffset = readU64(rv, 48, fail);
    }
    if (count > MAX_ENTRIES) fail(`${count} members is more than the ${MAX_ENTRIES} this reader accepts`);
    if (cdSize > MAX_CENTRAL_DIR) fail(`central directory of ${cdSize} bytes is too large`);
    if (cdOffset + cdSize > src.size) fail('central directory lies outside the file (truncated?)');
    // Every record takes at least 46 bytes: a count the directory cannot hold is a lie, refused before allocating for it.
    if (count * 46 > cdSize) fail(`the end record counts ${count} members, more than its ${cdSize}-byte central directory can hold`);

    const cd = await src.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const utf8 = new TextDecoder('utf-8');
    const cols: Columns = {
      names: new Array<string>(count),
      method: new Uint8Array(count),
      compressedSize: new Float64Array(count),
      uncompressedSize: new Float64Array(count),
      localHeaderOffset: new Float64Array(count),
      dataOffset: new Float64Array(count).fill(-1),
      crc32: new Uint32Array(count),
    };
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || cv.getUint32(p, true) !== CEN_SIG) fail(`central directory entry ${i} is damaged`);
      const method = cv.getUint16(p + 10, true);
      const crc32 = cv.getUint32(p + 16, true);
      if (cv.getUint16(p + 8, true) & 0x1) fail(`member ${i} is encrypted`);
      let compressedSize = cv.getUint32(p + 20, true);
      let uncompressedSize = cv.getUint32(p + 24, true);
      const nameLen = cv.getUint16(p + 28, true);
      const extraLen = cv.getUint16(p + 30, true);
      const commentLen = cv.getUint16(p + 32, true);
      let localHeaderOffset = cv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen + commentLen > cdSize) fail(`central directory entry ${i} runs past its end`);
      const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: only the fields whose 32-bit value is 0xFFFFFFFF, in order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = cv.getUint16(x, true);
        const len = cv.getUint16(x + 2, true);
        if (id === 0x0001) {
          let q = x + 4;
          const take = (): number => {
            if (q + 8 > x + 4 + len) fail(`ZIP64 field of "${name}" is too short`);
            const v = readU64(cv, q, fail);
            q += 8;
            return v;
          };
          if (uncompressedSize === 0xffffffff) uncompressedSize = take();
          if (compressedSize === 0xffffffff) compressedSize = take();
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
        }
        x += 4 + len;
      }
      cols.names[i] = name;
      // Methods other than stored/deflate are refused when the member is read, with its name.
      cols.method[i] = method > 255 ? 255 : method;
      cols.compressedSize[i] = compressedSize;
      cols.uncompressedSize[i] = uncompressedSize;
      cols.localHeaderOffset[i] = localHeaderOffset;
      cols.crc32[i] = crc32;
      p += 46 + nameLen + extraLen + commentLen;
    }
    // Python's zipfile reads central-directory records until the directory's size runs out;
    // a directory holding more records than the end record counts would be read differently.
    if (p + 46 <= cdSize && cv.getUint32(p, true) === CEN_SIG) fail(`the central directory holds more members than its end record counts (${count})`);
    const archive = new ZipArchive(src, cols);
    await archive.locateAll();
    return archive;
  }

  /**
   * Payload offsets from every local header (30 bytes each). Headers close together in the file
   * (a million small storages) are read a window at a time, not one request each.
   */
  private async locateAll(): Promise<void> {
    const { localHeaderOffset: lho, dataOffset, compressedSize, names } = this.cols;
    const src = this.source;
    const n = names.length;
    let order = new Uint32Array(n);
    let sorted = true;
    for (let i = 0; i < n; i++) {
      order[i] = i;
      if (i && lho[i] < lho[i - 1]) sorted = false;
    }
    if (!sorted) order = order.sort((a, b) => lho[a] - lho[b]);
    for (let k = 0; k < n; ) {
      const start = lho[order[k]];
      let j = k;
      while (j + 1 < n && lho[order[j + 1]] + 30 - start <= HEADER_WINDOW) j++;
      const end = Math.min(src.size, lho[order[j]] + 30);
      const buf = start < src.size ? await src.read(start, Math.max(0, end - start)) : new Uint8Array(0);
      const hv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      for (; k <= j; k++) {
        const i = order[k];
        const at = lho[i] - start;
        if (at + 30 > buf.length) throw new CheckpointError(src.label, `zip entry "${printableName(names[i])}" lies outside the file (truncated?)`);
        if (hv.getUint32(at, true) !== LOC_SIG) throw new CheckpointError(src.label, `zip entry "${printableName(names[i])}" has a damaged local header`);
        const off = lho[i] + 30 + hv.getUint16(at + 26, true) + hv.getUint16(at + 28, true);
        if (off + compressedSize[i] > src.size) {
          throw new CheckpointError(src.label, `zip entry "${printableName(names[i])}" (${compressedSize[i]} bytes at ${off}) runs past the end of the file (truncated?)`);
        }
        dataOffset[i] = off;
      }
    }
  }

  get(name: string): ZipEntry | undefined {
    const i = this.byName.get(name);
    return i === undefined ? undefined : this.entry(i);
  }

  /** Directory position of the member named `name`, or -1. */
  indexOf(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  /** The payload offset (resolved from every local header when the archive was opened). */
  async locate(e: ZipEntry): Promise<number> {
    return this.cols.dataOffset[e.index];
  }

  /**
   * Stored members read in place, through one source over the whole archive: a read must lie
   * inside one stored member, whose CRC-32 is checked on its first read. Offsets are archive
   * offsets (`storedOffset`). One object for all members, so a million storages cost no more.
   */
  storedMembers(): ByteSource {
    this.stored ??= new StoredMembersSource(this);
    return this.stored;
  }

  /** Archive offset of a stored member's payload, or undefined if it is not stored. */
  storedOffset(i: number): number | undefined {
    const c = this.cols;
    if (c.method[i] !== 0) return undefined;
    if (c.compressedSize[i] !== c.uncompressedSize[i]) throw new CheckpointError(this.source.label, `stored zip entry "${printableName(c.names[i])}" has inconsistent sizes`);
    return c.dataOffset[i];
  }

  /** Stored members by payload offset, for StoredMembersSource's lookups (built on first use). */
  private byOffset: { order: Uint32Array; starts: Float64Array } | undefined;

  /** The stored member whose payload holds [offset, offset + length), or -1. */
  storedMemberAt(offset: number, length: number): number {
    if (!this.byOffset) {
      const c = this.cols;
      const idx: number[] = [];
      for (let i = 0; i < c.names.length; i++) if (c.method[i] === 0) idx.push(i);
      const order = Uint32Array.from(idx).sort((a, b) => c.dataOffset[a] - c.dataOffset[b]);
      this.byOffset = { order, starts: Float64Array.from(order, (i) => c.dataOffset[i]) };
    }
    const { order, starts } = this.byOffset;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    // Zero-length members share their offset with the next member: step back to a member that holds the range.
    for (let k = found; k >= 0 && starts[k] === starts[found]; k--) {
      const i = order[k];
      if (offset + length <= starts[k] + this.cols.uncompressedSize[i]) return i;
    }
    return -1;
  }

  /** Checks member i's CRC once (stored members); resolves when it passed. */
  verifyIndex(i: number): Promise<void> {
    if (this.verifiedOk[i]) return Promise.resolve();
    return this.verify(this.entry(i));
  }

  /**
   * The entry's uncompressed bytes as a ByteSource, read lazily: a stored member by byte range
   * (its CRC checked on the first read), a deflated one inflated on its first read and kept in a
   * bounded per-archive cache. Opening a member never reads its payload.
   */
  async entrySource(e: ZipEntry, opts: { maxInflatedBytes?: number } = {}): Promise<ByteSource> {
    const off = await this.locate(e);
    const label = `${this.source.label}:${e.name}`;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize) throw new CheckpointError(this.source.label, `stored zip entry "${e.name}" has inconsistent sizes`);
      return new MemberSource(e.uncompressedSize, label, async () => {
        await this.verify(e);
        return { source: this.source, offset: off };
      });
    }
    if (e.method === 8) {
      const cap = opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED;
      if (e.uncompressedSize > cap) throw new CheckpointError(this.source.label, `zip entry "${e.name}" inflates to ${e.uncompressedSize} bytes, more than the ${cap} allowed`);
      return new MemberSource(e.uncompressedSize, label, async () => ({ source: await this.cache.get(e, () => this.inflate(e, off, cap)), offset: 0 }));
    }
    throw new CheckpointError(this.source.label, `zip entry "${e.name}" uses compression method ${e.method}, which is not supported (only stored and deflate)`);
  }

  /**
   * Reads a whole entry (for small records such as data.pkl), CRC-checked; refuses entries over
   * maxBytes. With `prefix`, only the first bytes (for previews; a prefix cannot be CRC-checked).
   */
  async readEntry(e: ZipEntry, maxBytes: number, prefix?: number): Promise<Uint8Array> {
    if (prefix !== undefined && prefix < e.uncompressedSize) {
      if (e.method === 8) return this.inflatePrefix(e, prefix);
      return this.source.read(await this.locate(e), prefix);
    }
    if (e.uncompressedSize > maxBytes) {
      throw new CheckpointError(this.source.label, `zip entry "${e.name}" is ${e.uncompressedSize} bytes, more than the ${maxBytes} allowed`);
    }
    const off = await this.locate(e);
    if (e.method === 8) return this.inflate(e, off, maxBytes);
    if (e.method !== 0) throw new CheckpointError(this.source.label, `zip entry "${e.name}" uses compression method ${e.method}, which is not supported (only stored and deflate)`);
    const bytes = await this.source.read(off, e.uncompressedSize);
    this.checkCrc(e, crc32(bytes, 0));
    return bytes;
  }

  /** Checks a stored member's CRC-32 by streaming it once. */
  verify(e: ZipEntry): Promise<void> {
    if (this.verifiedOk[e.index]) return Promise.resolve();
    let p = this.verified.get(e.index);
    if (!p) {
      p = (async () => {
        const off = await this.locate(e);
        let crc = 0;
        const buf = new Uint8Array(Math.min(CRC_CHUNK, Math.max(1, e.uncompressedSize)));
        for (let at = 0; at < e.uncompressedSize; at += buf.length) {
          const n = Math.min(buf.length, e.uncompressedSize - at);
          const view = buf.subarray(0, n);
          await this.source.readInto(off + at, view);
          crc = crc32(view, crc);
        }
        this.checkCrc(e, crc);
        // Passed: a bit, not a kept promise. A failure stays in the map and fails every read.
        this.verifiedOk[e.index] = 1;
        this.verified.delete(e.index);
      })();
      this.verified.set(e.index, p);
    }
    return p;
  }

  private checkCrc(e: ZipEntry, crc: number): void {
    if (crc >>> 0 !== e.crc32 >>> 0) {
      throw new CheckpointError(this.source.label, `zip member "${printableName(e.name)}" fails its CRC-32 check (stored ${hex8(e.crc32)}, computed ${hex8(crc)}): the file is corrupt or was altered; refusing its data`);
    }
  }

  /** The first `want` bytes of a deflated member, inflating no more than that (zip bombs stay small). */
  async inflatePrefix(e: ZipEntry, want: number): Promise<Uint8Array> {
    return this.inflateInto(e, Math.min(want, e.uncompressedSize), false);
  }

  private async inflate(e: ZipEntry, _off: number, cap: number): Promise<Uint8Array> {
    if (e.uncompressedSize > cap) throw new CheckpointError(this.source.label, `zip entry "${e.name}" inflates to ${e.uncompressedSize} bytes, more than the ${cap} allowed`);
    const bytes = await this.inflateInto(e, e.uncompressedSize, true);
    this.checkCrc(e, crc32(bytes, 0));
    return bytes;
  }

  /**
   * Streams a deflated member into one buffer of `goal` bytes (never more memory than that:
   * a bomb that lies about its size stops at the size it declared). `whole`: the member must
   * inflate to exactly `goal` bytes.
   */
  private async inflateInto(e: ZipEntry, goal: number, whole: boolean): Promise<Uint8Array> {
    const off = await this.locate(e);
    const label = this.source.label;
    const name = printableName(e.name);
    const out = new Uint8Array(goal);
    return new Promise<Uint8Array>((resolve, reject) => {
      const inf = createInflateRaw();
      let got = 0;
      let done = false;
      const fail = (msg: string): void => {
        if (done) return;
        done = true;
        inf.destroy();
        reject(new CheckpointError(label, msg));
      };
      const finish = (): void => {
        if (done) return;
        if (whole && got !== goal) return fail(`zip entry "${name}" inflated to ${got} bytes, the directory says ${goal}`);
        done = true;
        inf.destroy();
        resolve(got === goal ? out : out.subarray(0, got));
      };
      inf.on('data', (c: Buffer) => {
        if (done) return;
        const take = Math.min(c.length, goal - got);
        out.set(c.subarray(0, take), got);
        got += take;
        if (take < c.length) {
          if (whole) return fail(`zip entry "${name}" inflates to more than the ${goal} bytes the directory says`);
          return finish();
        }
        if (!whole && got >= goal) finish();
      });
      inf.on('end', finish);
      inf.on('error', (err) => fail(`zip entry "${name}" could not be inflated: ${err.message}`));
      // Feed the compressed bytes a piece at a time, stopping as soon as enough came out.
      void (async () => {
        const step = 1024 * 1024;
        for (let at = 0; at < e.compressedSize && !done; at += step) {
          const piece = await this.source.read(off + at, Math.min(step, e.compressedSize - at));
          if (!inf.write(piece)) await new Promise<void>((r) => inf.once('drain', () => r()));
        }
        if (!done) inf.end();
      })().catch((err: Error) => fail(err.message));
    });
  }

  /** Drops inflated members kept in memory. */
  clearCache(): void {
    this.cache.clear();
  }
}

/** A member's bytes, resolved on the first read (CRC check or inflation happens then). */
class MemberSource implements ByteSource {
  private where: Promise<{ source: ByteSource; offset: number }> | undefined;
  constructor(
    readonly size: number,
    readonly label: string,
    private readonly resolve: () => Promise<{ source: ByteSource; offset: number }>,
  ) {}
  private get(): Promise<{ source: ByteSource; offset: number }> {
    if (!this.where) {
      const p = this.resolve();
      this.where = p;
      // A failed check stays failed; an evicted inflation is redone on the next read.
      p.then((w) => {
        if (w.offset === 0 && w.source.size === this.size && this.where === p) this.where = undefined;
      }, () => undefined);
    }
    return this.where;
  }
  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new CheckpointError(this.label, `read of ${length} bytes at ${offset} is outside the ${this.size}-byte member`);
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.check(offset, length);
    const w = await this.get();
    return w.source.read(w.offset + offset, length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    this.check(offset, target.length);
    const w = await this.get();
    return w.source.readInto(w.offset + offset, target);
  }
  async close(): Promise<void> {}
}

/** Every stored member of an archive, read in place at archive offsets (ZipArchive.storedMembers). */
class StoredMembersSource implements ByteSource {
  readonly size: number;
  readonly label: string;
  constructor(private readonly zip: ZipArchive) {
    this.size = zip.source.size;
    this.label = zip.source.label;
  }
  private async check(offset: number, length: number): Promise<void> {
    const i = this.zip.storedMemberAt(offset, length);
    if (i < 0) throw new CheckpointError(this.label, `read of ${length} bytes at ${offset} is not inside one stored zip member`);
    await this.zip.verifyIndex(i);
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.check(offset, length);
    return this.zip.source.read(offset, length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    await this.check(offset, target.length);
    return this.zip.source.readInto(offset, target);
  }
  async close(): Promise<void> {}
}

/** Inflated members by name, least recently used first, within a byte budget. */
class InflatedCache {
  private readonly entries = new Map<string, Promise<ByteSource>>();
  private readonly sizes = new Map<string, number>();
  private bytes = 0;
  constructor(private readonly budget: number) {}

  get(e: ZipEntry, inflate: () => Promise<Uint8Array>): Promise<ByteSource> {
    let pending = this.entries.get(e.name);
    if (pending) {
      this.entries.delete(e.name);
      this.entries.set(e.name, pending);
      return pending;
    }
    pending = inflate().then((b) => new BytesSource(b, e.name));
    const settled = pending;
    settled.catch(() => {
      if (this.entries.get(e.name) === settled) this.drop(e.name);
    });
    this.entries.set(e.name, pending);
    this.sizes.set(e.name, e.uncompressedSize);
    this.bytes += e.uncompressedSize;
    for (const name of this.entries.keys()) {
      if (this.bytes <= this.budget || name === e.name) break;
      this.drop(name);
    }
    return pending;
  }
  private drop(name: string): void {
    if (!this.entries.delete(name)) return;
    this.bytes -= this.sizes.get(name) ?? 0;
    this.sizes.delete(name);
  }
  clear(): void {
    this.entries.clear();
    this.sizes.clear();
    this.bytes = 0;
  }
}

class BytesSource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly label: string) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.bytes.slice(offset, offset + length);
  }
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    target.set(this.bytes.subarray(offset, offset + target.length));
  }
  async close(): Promise<void> {}
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function printableName(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return clean.length > 200 ? `${clean.slice(0, 200)}…` : clean;
}

// zlib.crc32 is in Node ≥ 20.15; a table-driven fallback keeps older Node 20 working.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array, value: number): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array, v: number) => number }).crc32;
  if (native) return native(data, value) >>> 0;
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function readU64(v: DataView, at: number, fail: (p: string) => never): number {
  const lo = v.getUint32(at, true);
  const hi = v.getUint32(at + 4, true);
  const n = hi * 4294967296 + lo;
  if (!Number.isSafeInteger(n)) fail('a 64-bit size or offset is too large');
  return n;
}
