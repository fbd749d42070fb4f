// How one GET reaches a server. Node's fetch ignores the proxy variables researchers set on
// clusters and behind firewalls, so when HTTPS_PROXY / HTTP_PROXY (or ALL_PROXY) name one and
// NO_PROXY does not exempt the host, the request goes through it: https by a CONNECT tunnel with
// TLS inside it, http in absolute form, or either over SOCKS5; connections are kept alive and
// reused (proxyAgents.ts). Loopback hosts never use a proxy (as Go's net/http).
// Redirects are followed here rather than by fetch, so an Authorization header never reaches
// another origin: the Hub sends LFS files to a CDN on a signed URL, and huggingface_hub drops the
// token there too; same-origin redirects (a renamed repo) keep it.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { CheckpointError } from '../core/errors';
import { isSocks, ProxyError, proxyAuthorization, proxyPool } from './proxyAgents';

export interface TransportOptions {
  /** Environment to read proxy settings from (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Extra trusted certificate authority (PEM) for TLS through a proxy, e.g. a private CA. */
  ca?: string;
}

const MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * GET `url`, following up to 10 redirects (`onStart` is called as each request leaves our queue); an Authorization header is dropped at the first hop
 * to a different origin (scheme, host or port) and not restored. Network failures reject with
 * the cause as thrown by the socket; a redirect that cannot be followed is a CheckpointError.
 */
export async function httpGet(url: string, label: string, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions = {}, onStart?: () => void): Promise<Response> {
  let current = new URL(url);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const res = await getOnce(current, label, sent, signal, opts, onStart);
    const location = res.headers.get('location');
    if (!REDIRECT.has(res.status) || !location) return res;
    await res.body?.cancel().catch(() => undefined);
    if (hop >= MAX_REDIRECTS) throw new CheckpointError(label, `more than ${MAX_REDIRECTS} redirects`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new CheckpointError(label, `redirected to an invalid URL (${location.slice(0, 200)})`);
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new CheckpointError(label, `redirected to a ${next.protocol} URL, which is not followed`);
    if (next.origin !== current.origin) sent = withoutAuthorization(sent);
    current = next;
  }
}

function withoutAuthorization(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => k.toLowerCase() !== 'authorization'));
}

function getOnce(url: URL, label: string, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions, onStart?: () => void): Promise<Response> {
  const proxy = proxyFor(url, opts.env ?? process.env);
  if (!proxy) {
    onStart?.();
    return fetch(url, { headers, redirect: 'manual', signal });
  }
  return viaProxy(url, label, proxy, headers, signal, opts, onStart);
}

/** The proxy a request to `url` goes through, from the environment; undefined: direct. */
export function proxyFor(url: URL, env: Record<string, string | undefined> = process.env): URL | undefined {
  const https = url.protocol === 'https:';
  const raw = (https ? env.https_proxy || env.HTTPS_PROXY : env.http_proxy || env.HTTP_PROXY) || env.all_proxy || env.ALL_PROXY;
  if (!raw || isLoopback(url.hostname) || exempt(url, env.no_proxy || env.NO_PROXY || '')) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new CheckpointError('proxy', `the proxy set in the environment is not a URL (${JSON.stringify(raw.replace(/\/\/[^@/]*@/, '//…@'))})`);
  }
  if (proxy.protocol !== 'http:' && !isSocks(proxy)) throw new CheckpointError('proxy', `only http://, socks5:// and socks5h:// proxies are supported (the environment names a ${proxy.protocol} proxy)`);
  return proxy;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** NO_PROXY as curl reads it: `*`, host names matching themselves and their subdomains (a leading dot or `*.` allowed), optional `:port`, IPv4 addresses and CIDR ranges. */
function exempt(url: URL, noProxy: string): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  for (let entry of noProxy.split(/[\s,]+/).filter(Boolean)) {
    entry = entry.toLowerCase();
    if (entry === '*') return true;
    let entryPort: string | undefined;
    const m = /^(.*?)(?::(\d+))?$/.exec(entry.replace(/^\[(.*)\](:\d+)?$/, '$1$2'));
    if (m && m[2] && !m[1].includes(':')) {
      entry = m[1];
      entryPort = m[2];
    }
    if (entryPort && entryPort !== port) continue;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(entry);
    if (cidr) {
      if (isIP(host) === 4 && inCidr(host, cidr[1], Number(cidr[2]))) return true;
      continue;
    }
    const name = entry.replace(/^\*?\./, '');
    if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

function ipv4(a: string): number {
  return a.split('.').reduce((n, x) => (n << 8) | (Number(x) & 255), 0) >>> 0;
}

function inCidr(ip: string, base: string, bits: number): boolean {
  if (bits <= 0) return true;
  const mask = bits >= 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
  return ((ipv4(ip) & mask) >>> 0) === ((ipv4(base) & mask) >>> 0);
}

/**
 * One GET through a proxy, on a pooled connection (proxyAgents.ts): an https target by a tunnel
 * with TLS end to end inside it (the proxy sees no headers, so the token stays between us and the
 * server), an http target in absolute form to an http proxy or over a SOCKS tunnel. The response
 * as a fetch Response, so callers see one API. `onStart` is called once the request has its
 * connection slot (time queued behind other reads is not the server's).
 */
async function viaProxy(url: URL, label: string, proxy: URL, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions, onStart?: () => void): Promise<Response> {
  const { agent, slots } = proxyPool(proxy, url.protocol as 'http:' | 'https:', opts.ca);
  const release = await slots.acquire(signal);
  onStart?.();
  // The message names the proxy, so "cannot connect" says which hop failed.
  const failed = (e: Error): Error =>
    e instanceof ProxyError ? new CheckpointError(label, e.message) : e instanceof CheckpointError || e.name === 'AbortError' ? e : new Error(`via proxy ${proxy.host}: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
  return new Promise<Response>((resolve, reject) => {
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { method: 'GET', headers, signal, agent })
        : isSocks(proxy)
          ? httpRequest(url, { method: 'GET', headers, signal, agent })
          : httpRequest({ host: proxy.hostname, port: Number(proxy.port || 80), method: 'GET', path: url.href, headers: { ...headers, ...proxyAuthorization(proxy), Host: url.host }, signal, agent });
    let answered = false;
    // The slot is held until the body has been read or dropped.
    req.on('response', (res: IncomingMessage) => {
      answered = true;
      res.on('close', release);
      resolve(toResponse(res));
    });
    req.on('close', () => !answered && release());
    req.on('error', (e) => {
      if (!answered) release();
      reject(failed(e));
    });
    req.end();
  });
}

const NULL_BODY = new Set([101, 204, 205, 304]);

function toResponse(res: IncomingMessage): Response {
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  }
  const status = res.statusCode ?? 502;
  if (NULL_BODY.has(status)) res.resume();
  return new Response(NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage ?? '', headers });
}
