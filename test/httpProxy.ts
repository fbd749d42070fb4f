// A tiny forward proxy on 127.0.0.1 for the proxy tests: absolute-form GETs are forwarded, and
// CONNECT opens a TCP tunnel. Host names are mapped by the test (`route`), so a URL on a name
// nothing else resolves (checkpoint.test) can only be reached through this proxy.
import { createServer, request, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestProxy {
  url: string;
  /** What the proxy saw: method, target, and the Proxy-Authorization header if any. */
  seen: { method: string; target: string; proxyAuth?: string; auth?: string }[];
  /** TCP connections accepted from clients (each CONNECT tunnel is one). */
  connections(): number;
  close(): Promise<void>;
}

export async function startProxy(route: (host: string, port: number) => { host: string; port: number } | undefined): Promise<TestProxy> {
  const seen: TestProxy['seen'] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', target: req.url ?? '', proxyAuth: req.headers['proxy-authorization'], auth: req.headers.authorization });
    let u: URL;
    try {
      u = new URL(req.url ?? '');
    } catch {
      res.writeHead(400);
      res.end();
      return;
    }
    const to = route(u.hostname, Number(u.port || 80));
    if (!to) {
      res.writeHead(502);
      res.end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const up = request({ host: to.host, port: to.port, method: req.method, path: u.pathname + u.search, headers }, (r: IncomingMessage) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    seen.push({ method: 'CONNECT', target: req.url ?? '', proxyAuth: req.headers['proxy-authorization'], auth: req.headers.authorization });
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const m = /^(.+):(\d+)$/.exec(req.url ?? '');
    const to = m ? route(m[1], Number(m[2])) : undefined;
    if (!to) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const up = connect(to.port, to.host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    sockets.add(up);
    up.on('close', () => sockets.delete(up));
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  let connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
