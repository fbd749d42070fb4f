// The Hub token's reach (the Hub's origin only, dropped at a redirect to the CDN, as
// huggingface_hub does) and proxies from the environment (HTTP_PROXY in absolute form, HTTPS_PROXY
// by a CONNECT tunnel, NO_PROXY), through a proxy and servers the tests start on 127.0.0.1.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Checkpoint } from '../../src/analysis/core/checkpoint';
import { proxyFor } from '../../src/analysis/io/httpTransport';
import { MAX_SOCKETS, closeProxyConnections } from '../../src/analysis/io/proxyAgents';
import { hubToken } from '../../src/analysis/io/hub';
import { openRemoteCheckpoint } from '../../src/analysis/io/remote';
import { openCheckpoint } from '../../src/analysis/open';
import { computeTensorStats } from '../../src/analysis/stats/tensorStats';
import { REPO_ROOT, fixture } from '../helpers';
import { startServer, type TestServer } from '../httpServer';
import { startProxy, type TestProxy } from '../httpProxy';
import { startSocks, type TestSocks } from '../socksProxy';

const GGUF = new Uint8Array(readFileSync(fixture('gguf', 'types.gguf')));
const CERT = readFileSync(fixture('tls', 'cert.pem'), 'utf8');
const KEY = readFileSync(fixture('tls', 'key.pem'), 'utf8');
const FAST = { backoffMs: 5, idleTimeoutMs: 5000 };
const run = promisify(execFile);
const CLI = join(REPO_ROOT, 'dist', 'cli.js');

let hub: TestServer, cdn: TestServer, tlsServer: TestServer, proxy: TestProxy, socks: TestSocks, socksAuth: TestSocks;
before(async () => {
  cdn = await startServer({ '/blob/types.gguf': { data: GGUF } });
  hub = await startServer({
    // The Hub answers resolve/ URLs of LFS files with a redirect to the CDN's signed URL.
    '/org/repo/resolve/main/types.gguf': { redirectTo: `${cdn.url}/blob/types.gguf?X-Amz-Signature=abc` },
    // A renamed repo: a same-origin redirect first.
    '/old/repo/resolve/main/types.gguf': { redirectTo: '/org/repo/resolve/main/types.gguf' },
  });
  tlsServer = await startServer({ '/types.gguf': { data: GGUF } }, { tls: { key: KEY, cert: CERT } });
  const tlsPort = Number(new URL(tlsServer.url).port);
  const hubPort = Number(new URL(hub.url).port);
  // checkpoint.test resolves nowhere but in this proxy.
  const route = (host: string, port: number): { host: string; port: number } | undefined => (host !== 'checkpoint.test' ? undefined : port === 443 ? { host: '127.0.0.1', port: tlsPort } : { host: '127.0.0.1', port: hubPort });
  proxy = await startProxy(route);
  socks = await startSocks(route);
  socksAuth = await startSocks(route, { user: 'u', pass: 'p@ss' });
});
after(async () => {
  closeProxyConnections();
  await Promise.all([hub.close(), cdn.close(), tlsServer.close(), proxy.close(), socks.close(), socksAuth.close()]);
});

async function statsOf(c: Checkpoint): Promise<unknown[]> {
  const out = [];
  for (const t of c.tensors) if (!t.quant || t.quant.kernel) out.push({ name: t.name, stats: await computeTensorStats(t) });
  return out;
}

let local: unknown[];
before(async () => {
  const l = await openCheckpoint(fixture('gguf', 'types.gguf'));
  local = await statsOf(l);
  await l.close();
});

test('the Hub token goes to the Hub origin, survives a same-origin redirect, and is dropped at the redirect to the CDN', async () => {
  hub.requests.length = 0;
  cdn.requests.length = 0;
  const c = await openRemoteCheckpoint('hf://old/repo/types.gguf', { ...FAST, endpoint: hub.url, token: 'hf_secret' });
  try {
    assert.deepEqual(await statsOf(c), local);
  } finally {
    await c.close();
  }
  assert.ok(hub.requests.some((r) => r.path === '/old/repo/resolve/main/types.gguf'));
  assert.ok(hub.requests.length >= 2 && hub.requests.every((r) => r.auth === 'Bearer hf_secret'), 'every Hub request carries the token');
  assert.ok(cdn.requests.length >= 2 && cdn.requests.every((r) => r.auth === undefined), 'no CDN request carries it');
});

test('a token is never restored after leaving the Hub origin, and never sent to a URL on another host', async () => {
  cdn.files.set('/bounce', { redirectTo: `${hub.url}/org/repo/resolve/main/types.gguf` });
  hub.requests.length = 0;
  const c = await openRemoteCheckpoint(`${cdn.url}/bounce`, { ...FAST, endpoint: hub.url, token: 'hf_secret' });
  await c.close();
  assert.ok(hub.requests.length > 0 && hub.requests.every((r) => r.auth === undefined));
  // Redirect loops end with a clear error.
  cdn.files.set('/loop', { redirectTo: '/loop' });
  await assert.rejects(openRemoteCheckpoint(`${cdn.url}/loop`, FAST), /more than 10 redirects/);
});

test('ckpt-lens reads HF_TOKEN (or the huggingface-cli token file) and HF_ENDPOINT; the CDN gets no token', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ckpt-token-'));
  try {
    for (const [env, want] of [
      [{ HF_TOKEN: 'hf_from_env' }, 'Bearer hf_from_env'],
      [{ HF_TOKEN: '', HF_TOKEN_PATH: join(dir, 'token') }, 'Bearer hf_from_file'],
    ] as const) {
      writeFileSync(join(dir, 'token'), 'hf_from_file\n');
      hub.requests.length = 0;
      cdn.requests.length = 0;
      const r = await run(process.execPath, [CLI, 'inspect', 'hf://org/repo/types.gguf', '--json'], { env: { ...process.env, HF_HOME: dir, ...env, HF_ENDPOINT: hub.url } });
      assert.equal(JSON.parse(r.stdout).tensors.length, 24);
      assert.ok(hub.requests.length > 0 && hub.requests.every((q) => q.auth === want), `hub saw ${hub.requests.map((q) => q.auth).join(', ')}`);
      assert.ok(cdn.requests.every((q) => q.auth === undefined));
      assert.doesNotMatch(r.stdout + r.stderr, /hf_from/, 'the token is never printed');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(hubToken({ HF_TOKEN: ' hf_x ' }), 'hf_x');
  assert.equal(hubToken({ HF_TOKEN_PATH: '/nonexistent/token' }), undefined);
});

test('proxy settings: scheme-specific variables, ALL_PROXY, NO_PROXY lists, loopback always direct', () => {
  const u = (s: string): URL => new URL(s);
  assert.equal(proxyFor(u('https://huggingface.co/x'), { HTTPS_PROXY: 'proxy.corp:3128' })?.href, 'http://proxy.corp:3128/');
  assert.equal(proxyFor(u('https://huggingface.co/x'), { HTTP_PROXY: 'http://p:1' }), undefined, 'HTTP_PROXY is for http URLs');
  assert.equal(proxyFor(u('http://example.org/x'), { http_proxy: 'http://a:1', HTTP_PROXY: 'http://b:1' })?.host, 'a:1');
  assert.equal(proxyFor(u('http://example.org/x'), { ALL_PROXY: 'http://all:1' })?.host, 'all:1');
  assert.equal(proxyFor(u('http://127.0.0.1:8080/x'), { HTTP_PROXY: 'http://p:1' }), undefined);
  assert.equal(proxyFor(u('http://localhost/x'), { HTTP_PROXY: 'http://p:1' }), undefined);
  const p = { HTTPS_PROXY: 'http://p:1' };
  for (const [url, noProxy, direct] of [
    ['https://huggingface.co/x', '*', true],
    ['https://cdn-lfs.huggingface.co/x', '.huggingface.co', true],
    ['https://huggingface.co/x', 'huggingface.co', true],
    ['https://nothuggingface.co/x', 'huggingface.co', false],
    ['https://huggingface.co/x', '*.huggingface.co', true],
    ['https://huggingface.co/x', 'example.org, huggingface.co:443', true],
    ['https://huggingface.co:8443/x', 'huggingface.co:443', false],
    ['https://10.1.2.3/x', '10.0.0.0/8', true],
    ['https://11.1.2.3/x', '10.0.0.0/8', false],
  ] as const) {
    assert.equal(proxyFor(u(url), { ...p, NO_PROXY: noProxy }) === undefined, direct, `${url} with NO_PROXY=${noProxy}`);
  }
  assert.equal(proxyFor(u('https://x.org/'), { ALL_PROXY: 'socks5h://p:1080' })?.protocol, 'socks5h:');
  assert.throws(() => proxyFor(u('https://x.org/'), { HTTPS_PROXY: 'socks4://p:1080' }), /only http:\/\/, socks5:\/\/ and socks5h:\/\/ proxies are supported \(the environment names a socks4: proxy\)/);
});

test('http through HTTP_PROXY (absolute form, Proxy-Authorization from the proxy URL): values equal the local file', async () => {
  proxy.seen.length = 0;
  const c = await openRemoteCheckpoint('http://checkpoint.test/blob.gguf', { ...FAST, env: { HTTP_PROXY: `http://user:p%40ss@${new URL(proxy.url).host}` } }).catch((e: Error) => e);
  // The hub server has no /blob.gguf: a 404 through the proxy proves the request went through it.
  assert.ok(c instanceof Error && /HTTP 404/.test(c.message), String(c));
  hub.files.set('/plain/types.gguf', { data: GGUF });
  closeProxyConnections();
  const before = proxy.connections();
  hub.requests.length = 0;
  // No block cache: every tensor is its own range request.
  const r = await openRemoteCheckpoint('http://checkpoint.test/plain/types.gguf', { ...FAST, cacheBytes: 0, env: { HTTP_PROXY: `http://user:p%40ss@${new URL(proxy.url).host}` } });
  try {
    assert.deepEqual(await statsOf(r), local);
  } finally {
    await r.close();
  }
  // Every request of the listing and the reads went over one kept-alive connection to the proxy.
  assert.ok(hub.requests.length >= 3, `${hub.requests.length} requests`);
  assert.equal(proxy.connections() - before, 1, 'connections to the proxy');
  assert.ok(proxy.seen.some((s) => s.method === 'GET' && s.target === 'http://checkpoint.test/plain/types.gguf'));
  assert.ok(proxy.seen.every((s) => s.proxyAuth === `Basic ${Buffer.from('user:p@ss').toString('base64')}`));
});

test('https through HTTPS_PROXY by a CONNECT tunnel: TLS end to end, the token never visible to the proxy, one tunnel reused', async () => {
  closeProxyConnections();
  proxy.seen.length = 0;
  tlsServer.requests.length = 0;
  const before = proxy.connections();
  const opts = { ...FAST, env: { HTTPS_PROXY: proxy.url }, ca: CERT, endpoint: 'https://checkpoint.test', token: 'hf_tunnel' };
  const c = await openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...opts, cacheBytes: 0 });
  try {
    assert.deepEqual(await statsOf(c), local);
  } finally {
    await c.close();
  }
  assert.ok(proxy.seen.every((s) => s.method === 'CONNECT' && s.target === 'checkpoint.test:443' && s.auth === undefined));
  assert.ok(tlsServer.requests.length >= 3 && tlsServer.requests.every((r) => r.auth === 'Bearer hf_tunnel'));
  // The probe, the header and every tensor read shared one tunnel (was one per request).
  assert.equal(proxy.seen.length, 1, 'CONNECT tunnels');
  assert.equal(proxy.connections() - before, 1, 'connections to the proxy');
  // Parallel reads open more tunnels, at most MAX_SOCKETS, and reuse them.
  closeProxyConnections();
  proxy.seen.length = 0;
  const p = await openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...opts, cacheBytes: 0 });
  try {
    for (let round = 0; round < 3; round++) await Promise.all(p.tensors.filter((t) => !t.quant || t.quant.kernel).map((t) => computeTensorStats(t)));
  } finally {
    await p.close();
  }
  assert.ok(proxy.seen.length >= 1 && proxy.seen.length <= MAX_SOCKETS, `${proxy.seen.length} tunnels for parallel reads`);
  // NO_PROXY sends it direct, where checkpoint.test does not resolve.
  await assert.rejects(openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...opts, retries: 0, env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'checkpoint.test' } }), /cannot connect|no response within/);
  // A proxy refusing the tunnel fails at once, cause first.
  await assert.rejects(openRemoteCheckpoint('https://elsewhere.test/types.gguf', opts), /refused a tunnel to elsewhere\.test:443: HTTP 502/);
});

test('ckpt-lens goes through HTTPS_PROXY (the certificate trusted through NODE_EXTRA_CA_CERTS)', async () => {
  const env = { ...process.env, HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: fixture('tls', 'cert.pem') };
  const remote = await run(process.execPath, [CLI, 'inspect', 'https://checkpoint.test/types.gguf', '--stats', '--json', '--threads', '1'], { env });
  const localOut = await run(process.execPath, [CLI, 'inspect', fixture('gguf', 'types.gguf'), '--stats', '--json', '--threads', '1']);
  assert.deepEqual(JSON.parse(remote.stdout).tensors, JSON.parse(localOut.stdout).tensors);
});

test('ALL_PROXY=socks5h:// (the proxy resolves names): https and http through one reused SOCKS tunnel each, values equal the local file', async () => {
  closeProxyConnections();
  const env = { ALL_PROXY: socks.url('socks5h') };
  tlsServer.requests.length = 0;
  const c = await openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...FAST, cacheBytes: 0, env, ca: CERT, endpoint: 'https://checkpoint.test', token: 'hf_socks' });
  try {
    assert.deepEqual(await statsOf(c), local);
  } finally {
    await c.close();
  }
  assert.deepEqual(socks.tunnels, [{ target: 'checkpoint.test:443', user: undefined }]);
  assert.equal(socks.connections(), 1);
  assert.ok(tlsServer.requests.length >= 3 && tlsServer.requests.every((r) => r.auth === 'Bearer hf_socks'));
  hub.files.set('/plain/types.gguf', { data: GGUF });
  const h = await openRemoteCheckpoint('http://checkpoint.test/plain/types.gguf', { ...FAST, env });
  try {
    assert.deepEqual(await statsOf(h), local);
  } finally {
    await h.close();
  }
  assert.deepEqual(socks.tunnels.map((t) => t.target), ['checkpoint.test:443', 'checkpoint.test:80']);
});

test('SOCKS5 with user and password; refusals and failures name the cause', async () => {
  closeProxyConnections();
  const c = await openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...FAST, env: { HTTPS_PROXY: socksAuth.url('socks5h', 'u:p%40ss') }, ca: CERT });
  try {
    assert.deepEqual(await statsOf(c), local);
  } finally {
    await c.close();
  }
  assert.deepEqual(socksAuth.tunnels, [{ target: 'checkpoint.test:443', user: 'u' }]);
  await assert.rejects(openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...FAST, env: { ALL_PROXY: socksAuth.url('socks5h', 'u:wrong') }, ca: CERT }), /SOCKS proxy 127\.0\.0\.1:\d+ rejected the user name and password/);
  await assert.rejects(openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...FAST, env: { ALL_PROXY: socksAuth.url('socks5h') }, ca: CERT }), /accepts none of our authentication methods \(it may want a user name and password/);
  await assert.rejects(openRemoteCheckpoint('https://elsewhere.test/types.gguf', { ...FAST, env: { ALL_PROXY: socks.url('socks5h') }, ca: CERT }), /could not connect to elsewhere\.test:443: host unreachable/);
  // socks5:// resolves locally, where checkpoint.test does not exist.
  await assert.rejects(openRemoteCheckpoint('https://checkpoint.test/types.gguf', { ...FAST, env: { ALL_PROXY: socks.url('socks5') }, ca: CERT }), /cannot resolve checkpoint\.test for the SOCKS proxy .*socks5h:\/\/ lets the proxy resolve them/);
});
