/**
 * Test helpers of the data plane: loopback backends and bounded client calls. Real
 * sockets on 127.0.0.0/8 (all loopback on Linux), so each test can take addresses of its
 * own and never clash with another test running at the same time.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A random loopback address in 127.77.0.0/16, so parallel tests rarely share one. */
export function randomLoopback(): string {
  return `127.77.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
}

/** A port free on `host` right now (bind 0, read it, release it). */
export async function freePortOn(host: string): Promise<number> {
  const s = createServer();
  s.listen(0, host);
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A port nothing listens on (taken and released): connecting to it is refused. */
export const deadPort = (host = '127.0.0.1') => freePortOn(host);

export interface TcpBackend {
  readonly port: number;
  /** Everything each connection sent, in order of connection. */
  readonly received: string[];
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP backend on 127.0.0.1 that greets every connection with `name\n`, then echoes
 * what it gets and ends when the client ends.
 */
export async function startTcpBackend(name: string, host = '127.0.0.1'): Promise<TcpBackend> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    const i = received.push('') - 1;
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.write(`${name}\n`);
    s.on('data', (d: Buffer) => {
      received[i] += d.toString('latin1');
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    received,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Connects, sends `payload` (then FIN), and resolves with everything read until the
 * server closes; rejects on error or after `timeoutMs`.
 */
export function tcpRequest(host: string, port: number, payload = '', timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no end from ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    sock.on('connect', () => sock.end(payload));
  });
}
