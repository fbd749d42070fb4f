// Kept-alive connections through a proxy. A remote checkpoint is read by many small Range
// requests; opening a CONNECT tunnel (and a TLS handshake inside it) for each would cost two or
// three round trips per read, so connections are pooled per proxy and target (at most
// MAX_SOCKETS per target, closed after IDLE_MS unused). Two kinds of proxy:
//  - http://   https targets by a CONNECT tunnel, http targets in absolute form;
//  - socks5:// / socks5h://   a SOCKS5 tunnel (RFC 1928, user/password by RFC 1929) for both;
//    socks5 resolves the host name here, socks5h lets the proxy resolve it (curl's convention).
import { lookup } from 'node:dns/promises';
import { Agent as HttpAgent, request as httpRequest, type ClientRequestArgs, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, type RequestOptions } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';

export const MAX_SOCKETS = 4;
const MAX_TOTAL_SOCKETS = 16;
const IDLE_MS = 30_000;
const HANDSHAKE_MS = 30_000;
/** Distinct proxies (with their CA) kept; the oldest agent is closed beyond this. */
const MAX_AGENTS = 8;

/** A proxy's refusal or failure: the message names the proxy and the target. */
export class ProxyError extends Error {}

export function proxyAuthorization(proxy: URL): OutgoingHttpHeaders {
  return proxy.username
    ? { 'Proxy-Authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` }
    : {};
}

export function isSocks(proxy: URL): boolean {
  return proxy.protocol === 'socks5:' || proxy.protocol === 'socks5h:';
}

type Tunnel = (host: string, port: number) => Promise<Socket>;

/** A raw TCP stream to host:port through an http proxy's CONNECT. */
function connectTunnel(proxy: URL): Tunnel {
  return (host, port) =>
    new Promise<Socket>((resolve, reject) => {
      const target = `${host.includes(':') ? `[${host}]` : host}:${port}`;
      const req = httpRequest({ host: proxy.hostname, port: Number(proxy.port || 80), method: 'CONNECT', path: target, headers: { Host: target, ...proxyAuthorization(proxy) }, agent: false });
      req.setTimeout(HANDSHAKE_MS, () => req.destroy(new ProxyError(`the proxy ${proxy.host} did not answer a tunnel request within ${HANDSHAKE_MS} ms`)));
      req.on('connect', (res, socket) => {
        req.setTimeout(0);
        if (res.statusCode !== 200) {
          socket.destroy();
          const why = res.statusCode === 407 ? ' (proxy authentication required: put user:password in the proxy URL)' : '';
          reject(new ProxyError(`the proxy ${proxy.host} refused a tunnel to ${target}: HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}${why}`));
          return;
        }
        resolve(socket);
      });
      req.on('error', reject);
      req.end();
    });
}

const SOCKS_REPLIES = ['succeeded', 'general SOCKS server failure', 'connection not allowed by ruleset', 'network unreachable', 'host unreachable', 'connection refused', 'TTL expired', 'command not supported', 'address type not supported'];

/** A raw TCP stream to host:port through a SOCKS5 proxy. */
function socksTunnel(proxy: URL): Tunnel {
  const remoteDns = proxy.protocol === 'socks5h:';
  return async (host, port) => {
    let address: Buffer;
    let atyp: number;
    let ip = isIP(host) ? host : '';
    if (!ip && !remoteDns) {
      try {
        ip = (await lookup(host)).address;
      } catch (e) {
        throw new ProxyError(`cannot resolve ${host} for the SOCKS proxy ${proxy.host} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); socks5:// resolves names locally, socks5h:// lets the proxy resolve them`);
      }
    }
    if (ip && isIP(ip) === 4) {
      atyp = 1;
      address = Buffer.from(ip.split('.').map(Number));
    } else if (ip) {
      atyp = 4;
      address = ipv6Bytes(ip);
    } else {
      const name = Buffer.from(host, 'utf8');
      if (name.length > 255) throw new ProxyError(`host name ${host.slice(0, 40)}… is too long for SOCKS5`);
      atyp = 3;
      address = Buffer.concat([Buffer.from([name.length]), name]);
    }
    const socket = netConnect(Number(proxy.port || 1080), proxy.hostname);
    const reader = new SocketReader(socket, `the SOCKS proxy ${proxy.host}`);
    try {
      await reader.connected();
      const user = decodeURIComponent(proxy.username), pass = decodeURIComponent(proxy.password);
      socket.write(Buffer.from(user ? [5, 2, 0, 2] : [5, 1, 0]));
      const [ver, method] = await reader.read(2);
      if (ver !== 5) throw new ProxyError(`${proxy.host} is not a SOCKS5 proxy (it answered version ${ver})`);
      if (method === 2) {
        const u = Buffer.from(user), p = Buffer.from(pass);
        socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
        const [, status] = await reader.read(2);
        if (status !== 0) throw new ProxyError(`the SOCKS proxy ${proxy.host} rejected the user name and password`);
      } else if (method !== 0) {
        throw new ProxyError(`the SOCKS proxy ${proxy.host} accepts none of our authentication methods${user ? '' : ' (it may want a user name and password in the proxy URL)'}`);
      }
      socket.write(Buffer.concat([Buffer.from([5, 1, 0, atyp]), address, Buffer.from([port >> 8, port & 255])]));
      const head = await reader.read(4);
      if (head[1] !== 0) throw new ProxyError(`the SOCKS proxy ${proxy.host} could not connect to ${host}:${port}: ${SOCKS_REPLIES[head[1]] ?? `reply ${head[1]}`}`);
      const boundLen = head[3] === 1 ? 4 : head[3] === 4 ? 16 : (await reader.read(1))[0];
      await reader.read(boundLen + 2);
      reader.release();
      return socket;
    } catch (e) {
      socket.destroy();
      throw e;
    }
  };
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const parts = (s: string): number[] => (s ? s.split(':').map((x) => parseInt(x, 16)) : []);
  const h = parts(head), t = parts(tail);
  const words = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, 2 * i));
  return out;
}

/** Reads exact byte counts from a socket during a handshake, then hands the socket on untouched. */
class SocketReader {
  private buf = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly onData = (d: Buffer): void => {
    this.buf = Buffer.concat([this.buf, d]);
    this.waiting?.();
  };
  private readonly onError = (e: Error): void => {
    this.failure = e;
    this.waiting?.();
  };
  private readonly onClose = (): void => this.onError(new ProxyError(`${this.who} closed the connection during the handshake`));
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly socket: Socket, private readonly who: string) {
    socket.on('data', this.onData).on('error', this.onError).on('close', this.onClose);
    this.timer = setTimeout(() => this.onError(new ProxyError(`${who} did not complete the handshake within ${HANDSHAKE_MS} ms`)), HANDSHAKE_MS);
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.socket.once('connect', resolve);
      this.waiting = () => this.failure && reject(this.failure);
    });
  }

  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => (this.waiting = r));
    }
    if (this.failure && this.buf.length < n) throw this.failure;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  release(): void {
    clearTimeout(this.timer);
    // The proxy sends nothing more until we do, so nothing is lost before the next owner listens.
    this.socket.off('data', this.onData).off('error', this.onError).off('close', this.onClose);
    if (this.buf.length) this.socket.unshift(this.buf);
  }
}

/** The raw socket under a pooled TLS socket, so it can be unref'd while idle (the TLS wrapper's unref does not reach it). */
const RAW = new WeakMap<Duplex, Socket>();

class TunnelHttpsAgent extends HttpsAgent {
  constructor(private readonly tunnel: Tunnel, private readonly ca: string | undefined) {
    super({ keepAlive: true, maxSockets: MAX_SOCKETS, maxTotalSockets: MAX_TOTAL_SOCKETS, timeout: IDLE_MS });
  }

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const host = String(options.hostname ?? options.host ?? '').replace(/^\[|\]$/g, '');
    this.tunnel(host, Number(options.port || 443)).then(
      (raw) => {
        const tls: TLSSocket = tlsConnect({ socket: raw, servername: isIP(host) ? undefined : host, ca: this.ca ? [...rootCertificates, this.ca] : undefined, ALPNProtocols: ['http/1.1'] });
        RAW.set(tls, raw);
        callback?.(null, tls);
      },
      (e: Error) => callback?.(e, undefined as unknown as Duplex),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): void {
    RAW.get(socket)?.unref();
    return super.keepSocketAlive(socket);
  }

  override reuseSocket(socket: Duplex, req: Parameters<HttpsAgent['reuseSocket']>[1]): void {
    RAW.get(socket)?.ref();
    super.reuseSocket(socket, req);
  }
}

/** http targets through a SOCKS proxy: plain HTTP over the tunnel. */
class TunnelHttpAgent extends HttpAgent {
  constructor(private readonly tunnel: Tunnel) {
    super({ keepAlive: true, maxSockets: MAX_SOCKETS, maxTotalSockets: MAX_TOTAL_SOCKETS, timeout: IDLE_MS });
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const host = String(options.hostname ?? options.host ?? '').replace(/^\[|\]$/g, '');
    this.tunnel(host, Number(options.port || 80)).then((s) => callback?.(null, s), (e: Error) => callback?.(e, undefined as unknown as Duplex));
    return undefined;
  }
}

/**
 * At most MAX_SOCKETS requests in flight per pool. Node's Agent counts a connection only once
 * its (here asynchronous) tunnel is up, so a burst of reads would open a tunnel each and close
 * the extras afterwards; queueing here keeps it to MAX_SOCKETS tunnels, reused.
 */
class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];

  /** Resolves with the release function once a slot is free. */
  acquire(signal: AbortSignal): Promise<() => void> {
    return new Promise((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.busy++;
        let done = false;
        resolve(() => {
          if (done) return;
          done = true;
          this.busy--;
          this.waiting.shift()?.();
        });
      };
      const onAbort = (): void => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(Object.assign(new Error('aborted while waiting for a connection'), { name: 'AbortError' }));
      };
      if (signal.aborted) return onAbort();
      if (this.busy < MAX_SOCKETS) return grant();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }
}

export interface ProxyPool {
  agent: HttpAgent;
  slots: Slots;
}

const pools = new Map<string, ProxyPool>();

/**
 * The connection pool for requests to `target` (http: or https:) through `proxy`. For an http://
 * proxy and an http target it connects to the proxy itself (requests go in absolute form).
 */
export function proxyPool(proxy: URL, target: 'http:' | 'https:', ca?: string): ProxyPool {
  const key = `${proxy.href}\n${target}\n${ca ?? ''}`;
  let pool = pools.get(key);
  if (pool) return pool;
  const tunnel = isSocks(proxy) ? socksTunnel(proxy) : connectTunnel(proxy);
  const agent =
    target === 'https:' ? new TunnelHttpsAgent(tunnel, ca)
      : isSocks(proxy) ? new TunnelHttpAgent(tunnel)
        : new HttpAgent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxTotalSockets: MAX_TOTAL_SOCKETS, timeout: IDLE_MS });
  pool = { agent, slots: new Slots() };
  pools.set(key, pool);
  for (const [k, p] of pools) {
    if (pools.size <= MAX_AGENTS) break;
    pools.delete(k);
    p.agent.destroy();
  }
  return pool;
}

/** Closes every pooled proxy connection (tests; a worker shutting down). */
export function closeProxyConnections(): void {
  for (const p of pools.values()) p.agent.destroy();
  pools.clear();
}
