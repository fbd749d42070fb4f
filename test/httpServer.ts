// A local HTTP server for the remote-reading tests: files served with Range, HEAD, ETag and
// redirects, plus faults injected per path. Listens on 127.0.0.1 only.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

export interface Faults {
  /** Ignore Range and send the whole file with 200. */
  noRange?: boolean;
  /** Answer the next N requests with this status. */
  failStatus?: number;
  failTimes?: number;
  /** Cut the connection after this many body bytes, for the next `resetTimes` requests. */
  resetAfter?: number;
  resetTimes?: number;
  /** Send headers, then stall this long before the body. */
  stallMs?: number;
  /** From the Nth request on, serve another ETag (the file "changed"). */
  changeEtagAfter?: number;
}

export interface Served {
  /** In-memory bytes, or a path on disk (read by range, so sparse multi-GB files are fine). */
  data?: Uint8Array;
  file?: string;
  faults?: Faults;
  /** Answer 302 with this Location (absolute, or relative to the request). */
  redirectTo?: string;
}

export interface TestServer {
  url: string;
  files: Map<string, Served>;
  /** Body bytes sent, over all requests. */
  bytesSent: number;
  requests: { method: string; path: string; range?: string; auth?: string }[];
  close(): Promise<void>;
}

/** `tls`: serve https with this key and certificate (test/fixtures/tls). */
export async function startServer(files: Record<string, Served> = {}, opts: { tls?: { key: string; cert: string } } = {}): Promise<TestServer> {
  const state: TestServer = { url: '', files: new Map(Object.entries(files)), bytesSent: 0, requests: [], close: async () => undefined };
  const count = new Map<string, number>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push({ method: req.method ?? '', path, range: req.headers.range, auth: req.headers.authorization });
    if (path.startsWith('/redirect/')) {
      res.writeHead(302, { Location: path.slice('/redirect'.length) });
      res.end();
      return;
    }
    const f = state.files.get(path);
    if (f?.redirectTo) {
      res.writeHead(302, { Location: f.redirectTo });
      res.end();
      return;
    }
    if (!f) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const n = (count.get(path) ?? 0) + 1;
    count.set(path, n);
    const faults = f.faults ?? {};
    if (faults.failStatus && (faults.failTimes ?? Infinity) > 0) {
      if (faults.failTimes !== undefined) faults.failTimes--;
      res.writeHead(faults.failStatus);
      res.end();
      return;
    }
    const size = f.data ? f.data.length : statSync(f.file!).size;
    const etag = faults.changeEtagAfter !== undefined && n >= faults.changeEtagAfter ? '"v2"' : '"v1"';
    let start = 0, end = size - 1, status = 200;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m && !faults.noRange) {
      start = Number(m[1]);
      end = m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
      if (start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = { 'Content-Length': end - start + 1, ETag: etag, 'Accept-Ranges': faults.noRange ? 'none' : 'bytes' };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = f.data ? f.data.subarray(start, end + 1) : readFileRange(f.file!, start, end - start + 1);
    const send = (): void => {
      if (faults.resetAfter !== undefined && (faults.resetTimes ?? Infinity) > 0 && body.length > faults.resetAfter) {
        if (faults.resetTimes !== undefined) faults.resetTimes--;
        res.write(body.subarray(0, faults.resetAfter), () => {
          state.bytesSent += faults.resetAfter!;
          setTimeout(() => res.socket?.destroy(), 10);
        });
        return;
      }
      state.bytesSent += body.length;
      res.end(body);
    };
    if (faults.stallMs) {
      res.flushHeaders();
      setTimeout(send, faults.stallMs);
    } else send();
  };
  const server: Server = opts.tls ? createTlsServer(opts.tls, handler) : createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  state.url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

function readFileRange(path: string, start: number, length: number): Uint8Array {
  // Test ranges are small (headers) or modest (tensor reads); a sparse file's holes read as zeros.
  const fd = openSync(path, 'r');
  try {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, start + done);
      if (n === 0) break;
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
