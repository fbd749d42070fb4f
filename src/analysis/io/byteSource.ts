// Random access to bytes: a file read by byte range through one fs handle, or a region of
// another source (a zip entry). Nothing here reads a whole file.
import { promises as fsp, readSync } from 'node:fs';
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
  /** Reads `target.length` bytes at `offset` into `target` (lets hot loops reuse one buffer). */
  readInto(offset: number, target: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const SYNC_READ_BYTES = 4 * 1024 * 1024;

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
      // Opening a named pipe for reading blocks until a writer appears: check the type first.
      const pre = await fsp.stat(path);
      if (!pre.isFile()) throw new CheckpointError(path, 'not a regular file (a pipe, device or socket); refusing to read it');
      handle = await fsp.open(path, 'r');
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
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
    // Unpooled and not zero-filled (every byte is overwritten); a plain view at byteOffset 0.
    const out = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const length = target.length;
    checkRange(this, offset, length);
    let done = 0;
    while (done < length) {
      // Small reads are done synchronously: this code runs in the worker or the CLI, never on
      // the extension host's thread, and a promise round trip per MiB costs more than the copy.
      const bytesRead = length - done <= SYNC_READ_BYTES
        ? readSync(this.handle.fd, target, done, length - done, offset + done)
        : (await this.handle.read(target, done, length - done, offset + done)).bytesRead;
      if (bytesRead === 0) throw new CheckpointError(this.label, `file ended at byte ${offset + done}, expected ${offset + length} (truncated or changed on disk?)`);
      done += bytesRead;
    }
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
  readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this, offset, target.length);
    return this.parent.readInto(this.start + offset, target);
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
  async readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this, offset, target.length);
    target.set(this.bytes.subarray(offset, offset + target.length));
  }
  async close(): Promise<void> {}
}

function checkRange(src: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new CheckpointError(src.label, `read of ${length} bytes at ${offset} is outside the data (${src.size} bytes): truncated file?`);
  }
  if (length > MAX_SINGLE_READ) throw new CheckpointError(src.label, `refusing a single read of ${length} bytes`);
}
