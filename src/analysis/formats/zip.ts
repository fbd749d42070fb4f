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
/** Central directories beyond this are refused (≈ a million entries). */
const MAX_CENTRAL_DIR = 256 * 1024 * 1024;
/** Members listed at most (torch.save of a million tensors writes a million and six: refused, as the pickle's tensor cap would). */
const MAX_ENTRIES = 1_000_000;
/** Default cap on an inflated entry, against zip bombs. */
export const DEFAULT_MAX_INFLATED = 512 * 1024 * 1024;
/** Inflated members kept in memory at once per archive (re-inflated on demand when evicted). */
const INFLATED_CACHE_BYTES = 512 * 1024 * 1024;
/** Bytes read per step when checking a stored member's CRC. */
const CRC_CHUNK = 4 * 1024 * 1024;

export class ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();
  /** CRC checks of stored members, by name (run once, shared by every reader of the member). */
  private readonly verified = new Map<string, Promise<void>>();
  private readonly cache: InflatedCache;

  private constructor(
    readonly source: ByteSource,
    readonly entries: ZipEntry[],
  ) {
    for (const e of entries) {
      // Python's zipfile takes the last of two same-named members, other readers the first.
      if (this.byName.has(e.name)) throw new CheckpointError(source.label, `not a readable zip archive: two members are named "${printableName(e.name)}" (readers disagree on which one counts); refusing`);
      this.byName.set(e.name, e);
    }
    this.cache = new InflatedCache(INFLATED_CACHE_BYTES);
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
    if (count > MAX_ENTRIES) fail(`${count} entries is more than this reader accepts`);
    if (cdSize > MAX_CENTRAL_DIR) fail(`central directory of ${cdSize} bytes is too large`);
    if (cdOffset + cdSize > src.size) fail('central directory lies outside the file (truncated?)');

    const cd = await src.read(cdOffset, cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const utf8 = new TextDecoder('utf-8');
    const entries: ZipEntry[] = [];
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
      entries.push({ name, method, compressedSize, uncompressedSize, localHeaderOffset, dataOffset: -1, crc32 });
      p += 46 + nameLen + extraLen + commentLen;
    }
    // Python's zipfile reads central-directory records until the directory's size runs out;
    // a directory holding more records than the end record counts would be read differently.
    if (p + 46 <= cdSize && cv.getUint32(p, true) === CEN_SIG) fail(`the central directory holds more members than its end record counts (${count})`);
    const archive = new ZipArchive(src, entries);
    // Payload offsets come from each local header: 30 bytes each, read in parallel batches.
    for (let i = 0; i < entries.length; i += 64) await Promise.all(entries.slice(i, i + 64).map((e) => archive.locate(e)));
    return archive;
  }

  get(name: string): ZipEntry | undefined {
    return this.byName.get(name);
  }

  /** Resolves the payload offset from the local header (cached on the entry). */
  async locate(e: ZipEntry): Promise<number> {
    if (e.dataOffset >= 0) return e.dataOffset;
    const src = this.source;
    if (e.localHeaderOffset + 30 > src.size) throw new CheckpointError(src.label, `zip entry "${e.name}" lies outside the file (truncated?)`);
    const h = await src.read(e.localHeaderOffset, 30);
    const hv = new DataView(h.buffer);
    if (hv.getUint32(0, true) !== LOC_SIG) throw new CheckpointError(src.label, `zip entry "${e.name}" has a damaged local header`);
    const dataOffset = e.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
    if (dataOffset + e.compressedSize > src.size) {
      throw new CheckpointError(src.label, `zip entry "${e.name}" (${e.compressedSize} bytes at ${dataOffset}) runs past the end of the file (truncated?)`);
    }
    e.dataOffset = dataOffset;
    return dataOffset;
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
    let p = this.verified.get(e.name);
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
      })();
      this.verified.set(e.name, p);
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
