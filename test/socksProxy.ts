// A minimal SOCKS5 server on 127.0.0.1 for the proxy tests (RFC 1928 CONNECT, no authentication
// or RFC 1929 user/password). Host names are mapped by the test (`route`), as in httpProxy.ts,
// so checkpoint.test is reachable only through it; it records each tunnel's target.
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';

export interface TestSocks {
  url: (scheme?: string, auth?: string) => string;
  /** Targets of the tunnels opened (host:port as the client sent it), and the user name if any. */
  tunnels: { target: string; user?: string }[];
  connections(): number;
  close(): Promise<void>;
}

export async function startSocks(route: (host: string, port: number) => { host: string; port: number } | undefined, credentials?: { user: string; pass: string }): Promise<TestSocks> {
  const tunnels: TestSocks['tunnels'] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let stage: 'hello' | 'auth' | 'request' | 'open' = 'hello';
    let user: string | undefined;
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === 'hello') {
          if (buf.length < 2 || buf.length < 2 + buf[1]) return;
          const methods = [...buf.subarray(2, 2 + buf[1])];
          buf = buf.subarray(2 + buf[1]);
          const want = credentials ? 2 : 0;
          if (!methods.includes(want)) return void client.end(Buffer.from([5, 0xff]));
          client.write(Buffer.from([5, want]));
          stage = credentials ? 'auth' : 'request';
        } else if (stage === 'auth') {
          if (buf.length < 2 || buf.length < 3 + buf[1] || buf.length < 3 + buf[1] + buf[2 + buf[1]]) return;
          const u = buf.subarray(2, 2 + buf[1]).toString();
          const p = buf.subarray(3 + buf[1], 3 + buf[1] + buf[2 + buf[1]]).toString();
          buf = buf.subarray(3 + buf[1] + buf[2 + buf[1]]);
          if (u !== credentials!.user || p !== credentials!.pass) return void client.end(Buffer.from([1, 1]));
          user = u;
          client.write(Buffer.from([1, 0]));
          stage = 'request';
        } else if (stage === 'request') {
          if (buf.length < 5) return;
          const atyp = buf[3];
          const addrLen = atyp === 1 ? 4 : atyp === 4 ? 16 : 1 + buf[4];
          if (buf.length < 4 + addrLen + 2) return;
          const host = atyp === 1 ? [...buf.subarray(4, 8)].join('.') : atyp === 3 ? buf.subarray(5, 5 + buf[4]).toString() : 'ipv6';
          const port = buf.readUInt16BE(4 + addrLen);
          buf = buf.subarray(4 + addrLen + 2);
          tunnels.push({ target: `${host}:${port}`, user });
          const to = route(host, port);
          // Reply 4: host unreachable.
          if (!to) return void client.end(Buffer.from([5, 4, 0, 1, 0, 0, 0, 0, 0, 0]));
          stage = 'open';
          client.off('data', onData);
          const up = connect(to.port, to.host, () => {
            client.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            if (buf.length) up.write(buf);
            up.pipe(client);
            client.pipe(up);
          });
          sockets.add(up);
          up.on('close', () => sockets.delete(up));
          up.on('error', () => client.destroy());
          return;
        } else {
          return;
        }
      }
    };
    client.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (scheme = 'socks5h', auth = '') => `${scheme}://${auth ? `${auth}@` : ''}127.0.0.1:${port}`,
    tunnels,
    connections: () => connections,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
