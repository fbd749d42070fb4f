// A read-only ZIP reader that works from the central directory and reads entries by byte
// range: what PyTorch archives and .npz files need. ZIP64 and data descriptors are handled;
// local-header sizes are ignored (torch writes zeros there) except the name/extra lengths that
// place the payload (torch's 64-byte alignment padding lives only in the local extra field).
import { inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../core/errors';
import { type ByteSource, MemorySource, SliceSource } from '../io/byteSource';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** Absolute offset of the entry's payload in the archive (resolved from its local header by open()). */
  dataOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_SIG = 0x06064b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;
const MAX_COMMENT = 0xffff;
/** Central directories beyond this are refused (≈ a million entries). */
const MAX_CENTRAL_DIR = 256 * 1024 * 1024;
const MAX_ENTRIES = 1_000_000;
/** Default cap on an inflated entry, against zip bombs. */
export const DEFAULT_MAX_INFLATED = 1 << 30;

export class ZipArchive {
  private readonly byName = new Map<string, ZipEntry>();

  private constructor(
    readonly source: ByteSource,
    readonly entries: ZipEntry[],
  ) {
    for (const e of entries) this.byName.set(e.name, e);
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
      entries.push({ name, method, compressedSize, uncompressedSize, localHeaderOffset, dataOffset: -1 });
      p += 46 + nameLen + extraLen + commentLen;
    }
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

  /** The entry's uncompressed bytes as a ByteSource: lazy range reads for stored entries. */
  async entrySource(e: ZipEntry, opts: { maxInflatedBytes?: number } = {}): Promise<ByteSource> {
    const off = await this.locate(e);
    const label = `${this.source.label}:${e.name}`;
    if (e.method === 0) {
      if (e.compressedSize !== e.uncompressedSize) throw new CheckpointError(this.source.label, `stored zip entry "${e.name}" has inconsistent sizes`);
      return new SliceSource(this.source, off, e.compressedSize, label);
    }
    if (e.method === 8) return new MemorySource(await this.inflate(e, off, opts.maxInflatedBytes ?? DEFAULT_MAX_INFLATED), label);
    throw new CheckpointError(this.source.label, `zip entry "${e.name}" uses compression method ${e.method}, which is not supported (only stored and deflate)`);
  }

  /** Reads a whole entry (for small records such as data.pkl); refuses entries over maxBytes. */
  async readEntry(e: ZipEntry, maxBytes: number): Promise<Uint8Array> {
    if (e.uncompressedSize > maxBytes) {
      throw new CheckpointError(this.source.label, `zip entry "${e.name}" is ${e.uncompressedSize} bytes, more than the ${maxBytes} allowed`);
    }
    const src = await this.entrySource(e, { maxInflatedBytes: maxBytes });
    return src.read(0, src.size);
  }

  private async inflate(e: ZipEntry, off: number, cap: number): Promise<Uint8Array> {
    if (e.uncompressedSize > cap) throw new CheckpointError(this.source.label, `zip entry "${e.name}" inflates to ${e.uncompressedSize} bytes, more than the ${cap} allowed`);
    const raw = await this.source.read(off, e.compressedSize);
    let out: Buffer;
    try {
      // maxOutputLength stops zip bombs that lie about their size.
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.uncompressedSize) });
    } catch (err) {
      throw new CheckpointError(this.source.label, `zip entry "${e.name}" could not be inflated: ${(err as Error).message}`);
    }
    if (out.byteLength !== e.uncompressedSize) {
      throw new CheckpointError(this.source.label, `zip entry "${e.name}" inflated to ${out.byteLength} bytes, the directory says ${e.uncompressedSize}`);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}

function readU64(v: DataView, at: number, fail: (p: string) => never): number {
  const lo = v.getUint32(at, true);
  const hi = v.getUint32(at + 4, true);
  const n = hi * 4294967296 + lo;
  if (!Number.isSafeInteger(n)) fail('a 64-bit size or offset is too large');
  return n;
}
