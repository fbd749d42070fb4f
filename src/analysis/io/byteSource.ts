// Random access to bytes: a file read by byte range through one fs handle, or a region of
// another source (a zip entry). Nothing here reads a whole file.
import { promises as fsp } from 'node:fs';
import { CheckpointError } from '../core/errors';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** A human-readable name for errors: the file path, or `file.zip:entry`. */
  readonly label: string;
  /**
   * Reads exactly `length` bytes at `offset` into a fresh buffer whose byteOffset is 0
   * (so typed-array views of any element size are aligned). Throws if the range is outside.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A single read larger than this is refused: callers must chunk. */
export const MAX_SINGLE_READ = 1 << 30;

export class FileSource implements ByteSource {
  private constructor(
    private readonly handle: fsp.FileHandle,
    readonly size: number,
    readonly label: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(path, 'r');
    } catch (e) {
      throw new CheckpointError(path, `cannot open: ${(e as Error).message}`);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new CheckpointError(path, 'not a regular file');
      return new FileSource(handle, st.size, path);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new CheckpointError(this.label, `file ended at byte ${offset + done}, expected ${offset + length} (truncated or changed on disk?)`);
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}

/** A window [start, start+size) of another source; closing it does not close the parent. */
export class SliceSource implements ByteSource {
  constructor(
    private readonly parent: ByteSource,
    private readonly start: number,
    readonly size: number,
    readonly label: string,
  ) {
    if (start < 0 || start + size > parent.size) throw new CheckpointError(parent.label, `region ${start}+${size} lies outside the file (${parent.size} bytes)`);
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.parent.read(this.start + offset, length);
  }
  async close(): Promise<void> {}
}

/** Bytes already in memory (inflated zip entries, tests). */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array, readonly label: string) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.slice(offset, offset + length);
  }
  async close(): Promise<void> {}
}

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new CheckpointError(src.label, `read of ${length} bytes at ${offset} is outside the data (${src.size} bytes): truncated file?`);
  }
  if (length > MAX_SINGLE_READ) throw new CheckpointError(src.label, `refusing a single read of ${length} bytes`);
}
