// A file on an HTTP(S) server read by byte range, so a checkpoint's header costs kilobytes
// however large the file. Small reads go through an in-memory block cache (bounded); large ones
// stream straight into the caller's buffer. Transient failures (resets, timeouts, 5xx, 429) are
// retried with bounded backoff, resuming after the bytes already received; a file that changes
// between requests (ETag or size) is an error, never a mix of two versions. Nothing is written
// to disk.
import { CheckpointError } from '../core/errors';
import type { ByteSource } from './byteSource';
import { httpGet, type TransportOptions } from './httpTransport';

export interface HttpOptions extends TransportOptions {
  /** Extra request headers (Authorization for gated Hub repos). */
  headers?: Record<string, string>;
  /** A request that receives no bytes for this long is aborted and retried (default 30 s). */
  idleTimeoutMs?: number;
  /** Retries of one request after transient failures (default 4). */
  retries?: number;
  /** First backoff delay, doubled per retry (default 250 ms). */
  backoffMs?: number;
  /** Upper bound of the block cache in bytes (default 64 MiB). */
  cacheBytes?: number;
  /**
   * When the server ignores Range, download the whole file into memory instead of refusing
   * (only with the user's consent; refused above `maxFullDownload` bytes anyway).
   */
  allowFullDownload?: boolean;
  maxFullDownload?: number;
  /** Running count of body bytes received, for a byte counter. */
  onBytes?: (total: number) => void;
}

/** Reads up to this size share cached blocks; header parsing stays within a few requests. */
const BLOCK = 64 * 1024;
const CACHED_READ_MAX = 1024 * 1024;

export class NoRangeSupportError extends CheckpointError {}

/** Whether a string names a remote file (http(s) URL or Hub shorthand). */
export function isRemotePath(p: string): boolean {
  return /^https?:\/\//i.test(p) || /^hf:\/\//i.test(p);
}

/** A URL without credentials or a signed query string, for messages. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = u.search ? '?…' : '';
    return u.toString();
  } catch {
    return url;
  }
}

export class HttpSource implements ByteSource {
  /** Body bytes received so far by this source (headers not counted). */
  bytesFetched = 0;
  requests = 0;
  private readonly cache = new Map<number, Uint8Array>();
  private cached = 0;
  private full: Uint8Array | undefined;
  private closed = false;

  private constructor(
    readonly url: string,
    readonly size: number,
    readonly label: string,
    private readonly etag: string | undefined,
    private readonly opts: HttpOptions,
  ) {}

  /** Probes the file (size, ETag, Range support) with one small ranged GET. */
  static async open(url: string, opts: HttpOptions = {}): Promise<HttpSource> {
    const label = displayUrl(url);
    // A 1-byte ranged GET answers size (Content-Range), ETag and Range support at once; HEAD
    // would not tell whether Range is honoured.
    const probe = await request(url, label, opts, { Range: 'bytes=0-0' });
    try {
      const etag = probe.headers.get('etag') ?? undefined;
      if (probe.status === 206) {
        const total = totalFromContentRange(probe.headers.get('content-range'));
        if (total === undefined) throw new CheckpointError(label, `server answered a Range request without a usable Content-Range (${probe.headers.get('content-range') ?? 'none'})`);
        const src = new HttpSource(url, total, label, etag, opts);
        src.count((await drain(probe, label, 1)).length);
        src.requests++;
        return src;
      }
      // 200: the server ignores Range and is sending the whole file.
      const length = Number(probe.headers.get('content-length') ?? NaN);
      if (!opts.allowFullDownload) {
        await probe.body?.cancel().catch(() => undefined);
        throw new NoRangeSupportError(label, `the server does not support Range requests, so reading any part means downloading the whole file${Number.isFinite(length) ? ` (${length} bytes)` : ''}; refused (allow a full download to read it anyway)`);
      }
      const max = opts.maxFullDownload ?? 2 * 1024 ** 3;
      if (Number.isFinite(length) && length > max) {
        await probe.body?.cancel().catch(() => undefined);
        throw new NoRangeSupportError(label, `the server does not support Range requests and the file is ${length} bytes, more than the ${max} a full download may take`);
      }
      const bytes = await drain(probe, label, Number.isFinite(length) ? length : undefined, max);
      const src = new HttpSource(url, bytes.length, label, etag, opts);
      src.full = bytes;
      src.requests++;
      src.count(bytes.length);
      return src;
    } catch (e) {
      await probe.body?.cancel().catch(() => undefined);
      throw e;
    }
  }

  private count(n: number): void {
    this.bytesFetched += n;
    this.opts.onBytes?.(n);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    const length = target.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > this.size) {
      throw new CheckpointError(this.label, `read of ${length} bytes at ${offset} is outside the file (${this.size} bytes): truncated file?`);
    }
    if (this.closed) throw new CheckpointError(this.label, 'the remote checkpoint is closed');
    if (length === 0) return;
    if (this.full) {
      target.set(this.full.subarray(offset, offset + length));
      return;
    }
    if (length > CACHED_READ_MAX) {
      await this.fetchRange(offset, target);
      return;
    }
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    const copy = (blk: Uint8Array, k: number): void => {
      const from = Math.max(offset, k * BLOCK);
      const to = Math.min(offset + length, k * BLOCK + blk.length);
      target.set(blk.subarray(from - k * BLOCK, to - k * BLOCK), from - offset);
    };
    // Cached blocks are copied; missing ones are fetched in runs, one request per run.
    let b = first;
    while (b <= last) {
      const hit = this.cache.get(b);
      if (hit) {
        // Refresh its place in the LRU order.
        this.cache.delete(b);
        this.cache.set(b, hit);
        copy(hit, b++);
        continue;
      }
      let e = b;
      while (e + 1 <= last && !this.cache.has(e + 1)) e++;
      const start = b * BLOCK;
      const buf = new Uint8Array(Math.min(this.size, (e + 1) * BLOCK) - start);
      await this.fetchRange(start, buf);
      for (let k = b; k <= e; k++) {
        const blk = buf.subarray((k - b) * BLOCK, Math.min(buf.length, (k - b + 1) * BLOCK));
        copy(blk, k);
        this.remember(k, blk);
      }
      b = e + 1;
    }
  }

  private remember(k: number, blk: Uint8Array): void {
    const max = this.opts.cacheBytes ?? 64 * 1024 * 1024;
    this.cache.set(k, blk);
    this.cached += blk.length;
    for (const [key, v] of this.cache) {
      if (this.cached <= max) break;
      this.cache.delete(key);
      this.cached -= v.length;
    }
  }

  /** Fills `target` with bytes [offset, offset + target.length), resuming after partial bodies. */
  private async fetchRange(offset: number, target: Uint8Array): Promise<void> {
    const retries = this.opts.retries ?? 4;
    let done = 0;
    let attempt = 0;
    for (;;) {
      const from = offset + done;
      const to = offset + target.length - 1;
      try {
        const res = await request(this.url, this.label, this.opts, { Range: `bytes=${from}-${to}` }, true);
        this.requests++;
        if (res.status !== 206) {
          await res.body?.cancel().catch(() => undefined);
          throw new CheckpointError(this.label, `server answered a Range request with status ${res.status} instead of 206 (it stopped honouring Range)`);
        }
        const etag = res.headers.get('etag') ?? undefined;
        const total = totalFromContentRange(res.headers.get('content-range'));
        if ((this.etag !== undefined && etag !== undefined && etag !== this.etag) || (total !== undefined && total !== this.size)) {
          await res.body?.cancel().catch(() => undefined);
          throw new CheckpointError(this.label, `the file changed on the server while it was being read (${etag !== this.etag ? `ETag ${this.etag} became ${etag}` : `size ${this.size} became ${total}`}); reopen it`);
        }
        const range = /^bytes (\d+)-(\d+)\//.exec(res.headers.get('content-range') ?? '');
        if (!range || Number(range[1]) !== from) {
          await res.body?.cancel().catch(() => undefined);
          throw new CheckpointError(this.label, `server sent range ${res.headers.get('content-range')} for bytes ${from}-${to}`);
        }
        done += await this.streamInto(res, target, done);
        if (done === target.length) return;
        throw new TransientError(`the connection closed after ${done} of ${target.length} bytes`);
      } catch (e) {
        if (!(e instanceof TransientError) || attempt >= retries) {
          if (e instanceof TransientError) throw new CheckpointError(this.label, `reading bytes ${offset}-${offset + target.length - 1} failed after ${attempt + 1} attempts: ${e.message}`);
          throw e;
        }
        await sleep((this.opts.backoffMs ?? 250) * 2 ** attempt);
        attempt++;
      }
    }
  }

  /** Copies the body into target[at…]; returns the bytes copied. Errors mid-body are transient. */
  private async streamInto(res: Response, target: Uint8Array, at: number): Promise<number> {
    const reader = res.body!.getReader();
    const idle = this.opts.idleTimeoutMs ?? 30_000;
    let got = 0;
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TransientError(`no data for ${idle} ms`)), idle);
        });
        let r: ReadResult;
        try {
          r = (await Promise.race([reader.read(), timeout])) as ReadResult;
        } catch (e) {
          if (e instanceof TransientError) throw e;
          throw new TransientError(`connection failed mid-body: ${causeOf(e)}`);
        } finally {
          clearTimeout(timer);
        }
        if (r.done) return got;
        const chunk = r.value;
        const room = target.length - at - got;
        if (chunk.length > room) throw new CheckpointError(this.label, 'server sent more bytes than the range asked for');
        target.set(chunk, at + got);
        got += chunk.length;
        this.count(chunk.length);
      }
    } catch (e) {
      // Keep what arrived: the retry resumes after it.
      if (e instanceof TransientError) {
        reader.cancel().catch(() => undefined);
        if (got > 0) return got;
      }
      throw e;
    } finally {
      reader.releaseLock();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    this.full = undefined;
  }
}

class TransientError extends Error {}

type ReadResult = { done: true; value?: undefined } | { done: false; value: Uint8Array };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function causeOf(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

function totalFromContentRange(h: string | null): number | undefined {
  const m = /^bytes (?:\d+-\d+|\*)\/(\d+)$/.exec(h ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * One GET with redirects followed (the Hub sends LFS files to a CDN; httpTransport.ts keeps the
 * token off other origins and honours the environment's proxy). Transient failures
 * (network errors, timeouts, 5xx, 429) are retried here with backoff; others fail with the
 * cause first. `transient` re-throws the final transient failure as TransientError for callers
 * that retry themselves.
 */
async function request(url: string, label: string, opts: HttpOptions, headers: Record<string, string>, transient = false): Promise<Response> {
  const retries = transient ? 0 : opts.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    const ctl = new AbortController();
    const idle = opts.idleTimeoutMs ?? 30_000;
    // Armed when the request leaves the proxy pool's queue (at once when direct), re-armed per redirect.
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(), idle);
    };
    let problem: string;
    try {
      const res = await httpGet(url, label, { ...opts.headers, ...headers, 'Accept-Encoding': 'identity' }, ctl.signal, opts, arm);
      clearTimeout(timer);
      if (res.status === 200 || res.status === 206) return res;
      await res.body?.cancel().catch(() => undefined);
      problem = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (res.status === 416) throw new CheckpointError(label, `${problem}: the server refused the byte range (${headers.Range})`);
      if (res.status < 500 && res.status !== 429 && res.status !== 408) {
        const hint = res.status === 401 || res.status === 403
          ? ' (a gated or private repository? set HF_TOKEN, or the Hugging Face token in VS Code)'
          : res.status === 404 ? ' (not found: check the repository, revision and file name)' : '';
        throw new CheckpointError(label, `${problem}${hint}`);
      }
    } catch (e) {
      clearTimeout(timer);
      if (e instanceof CheckpointError) throw e;
      problem = ctl.signal.aborted ? `no response within ${idle} ms` : `cannot connect: ${causeOf(e)}`;
    }
    if (attempt >= retries) {
      if (transient) throw new TransientError(problem);
      throw new CheckpointError(label, `${problem}${attempt > 0 ? ` (after ${attempt + 1} attempts)` : ''}`);
    }
    await sleep((opts.backoffMs ?? 250) * 2 ** attempt);
  }
}

/** Reads a whole response body (bounded), for small documents: indexes, listings, probes. */
export async function drain(res: Response, label: string, expected?: number, max = 100 * 1024 * 1024): Promise<Uint8Array> {
  const reader = res.body!.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    let r: ReadResult;
    try {
      r = (await reader.read()) as ReadResult;
    } catch (e) {
      throw new CheckpointError(label, `connection failed mid-body: ${causeOf(e)}`);
    }
    if (r.done) break;
    n += r.value.length;
    if (n > max) {
      await reader.cancel().catch(() => undefined);
      throw new CheckpointError(label, `response is larger than the ${max} bytes accepted`);
    }
    parts.push(r.value);
  }
  if (expected !== undefined && n !== expected) throw new CheckpointError(label, `response ended after ${n} of ${expected} bytes`);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** GET a small document (JSON index or listing) whole, with the same retries and errors. */
export async function fetchSmall(url: string, opts: HttpOptions = {}, max = 100 * 1024 * 1024): Promise<Uint8Array> {
  const label = displayUrl(url);
  const res = await request(url, label, opts, {});
  const bytes = await drain(res, label, undefined, max);
  opts.onBytes?.(bytes.length);
  return bytes;
}
