// How one GET reaches a server. Node's fetch ignores the proxy variables researchers set on
// clusters and behind firewalls, so when HTTPS_PROXY / HTTP_PROXY (or ALL_PROXY) name one and
// NO_PROXY does not exempt the host, the request goes through it: https by a CONNECT tunnel with
// TLS inside it, http in absolute form. Loopback hosts never use a proxy (as Go's net/http).
// Redirects are followed here rather than by fetch, so an Authorization header never reaches
// another origin: the Hub sends LFS files to a CDN on a signed URL, and huggingface_hub drops the
// token there too; same-origin redirects (a renamed repo) keep it.
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, rootCertificates } from 'node:tls';
import { CheckpointError } from '../core/errors';

export interface TransportOptions {
  /** Environment to read proxy settings from (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Extra trusted certificate authority (PEM) for TLS through a proxy, e.g. a private CA. */
  ca?: string;
}

const MAX_REDIRECTS = 10;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * GET `url`, following up to 10 redirects; an Authorization header is dropped at the first hop
 * to a different origin (scheme, host or port) and not restored. Network failures reject with
 * the cause as thrown by the socket; a redirect that cannot be followed is a CheckpointError.
 */
export async function httpGet(url: string, label: string, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions = {}): Promise<Response> {
  let current = new URL(url);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const res = await getOnce(current, label, sent, signal, opts);
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

function getOnce(url: URL, label: string, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions): Promise<Response> {
  const proxy = proxyFor(url, opts.env ?? process.env);
  if (!proxy) return fetch(url, { headers, redirect: 'manual', signal });
  return viaProxy(url, label, proxy, headers, signal, opts);
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
  if (proxy.protocol !== 'http:') throw new CheckpointError('proxy', `only http:// proxies are supported (the environment names a ${proxy.protocol} proxy)`);
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

/** One GET through an http:// proxy; the response as a fetch Response, so callers see one API. */
function viaProxy(url: URL, label: string, proxy: URL, headers: Record<string, string>, signal: AbortSignal, opts: TransportOptions): Promise<Response> {
  const proxyAuth: OutgoingHttpHeaders = proxy.username
    ? { 'Proxy-Authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}` }
    : {};
  const proxyPort = Number(proxy.port || 80);
  // The message names the proxy, so "cannot connect" says which hop failed.
  const failed = (e: Error): Error => (e instanceof CheckpointError || e.name === 'AbortError' ? e : new Error(`via proxy ${proxy.host}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
  return new Promise<Response>((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => resolve(toResponse(res));
    if (url.protocol === 'http:') {
      // Plain http: the request in absolute form to the proxy, which forwards it.
      const req = httpRequest({ host: proxy.hostname, port: proxyPort, method: 'GET', path: url.href, headers: { ...headers, ...proxyAuth, Host: url.host }, signal, agent: false }, onResponse);
      req.on('error', (e) => reject(failed(e)));
      req.end();
      return;
    }
    // https: a CONNECT tunnel to host:port, then TLS end to end inside it (the proxy sees no
    // headers, so the token stays between us and the server).
    const target = `${url.hostname}:${url.port || 443}`;
    const connect = httpRequest({ host: proxy.hostname, port: proxyPort, method: 'CONNECT', path: target, headers: { Host: target, ...proxyAuth }, signal, agent: false });
    connect.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        const why = res.statusCode === 407 ? ' (proxy authentication required: put user:password in the proxy URL)' : '';
        reject(new CheckpointError(label, `the proxy ${proxy.host} refused a tunnel to ${target}: HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}${why}`));
        return;
      }
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const tls = tlsConnect({ socket, servername: isIP(host) ? undefined : host, ca: opts.ca ? [...rootCertificates, opts.ca] : undefined, ALPNProtocols: ['http/1.1'] });
      const req = httpsRequest(url, { method: 'GET', headers, signal, createConnection: () => tls }, onResponse);
      req.on('error', (e) => reject(failed(e)));
      req.end();
    });
    connect.on('error', (e) => reject(failed(e)));
    connect.end();
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
