/**
 * Test helpers of the data plane: loopback backends and bounded client calls. Real
 * sockets on 127.0.0.0/8 (all loopback on Linux), so each test can take addresses of its
 * own and never clash with another test running at the same time.
 */
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { AllocId, NodeId } from '../../core/ids.js';
import type { Catalog, CatalogEndpoint, CatalogService } from '../../core/service.js';
import type { Clock } from '../../lib/clock.js';
import { parkQuery, type ParkedQuery } from '../testing.js';
import { DATAPLANE_INTERFACE, type HostNetwork } from './host-network.js';

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

/**
 * In memory, for tests: interfaces and their addresses, every call recorded, and a
 * switch to make everything fail as `ip` does without root.
 */
export class FakeHostNetwork implements HostNetwork {
  readonly interfaces = new Map<string, Set<string>>();
  readonly calls: string[] = [];
  /** When set, every call rejects with it (e.g. "Operation not permitted"). */
  failWith: string | undefined;

  private check(call: string): void {
    this.calls.push(call);
    if (this.failWith) throw new Error(`ip ${call}: ${this.failWith}`);
  }

  async ensureInterface(name: string): Promise<void> {
    this.check(`link add ${name}`);
    if (!this.interfaces.has(name)) this.interfaces.set(name, new Set());
  }

  async addresses(name: string): Promise<string[]> {
    this.check(`addr show ${name}`);
    const set = this.interfaces.get(name);
    if (!set) throw new Error(`ip addr show ${name}: Device "${name}" does not exist.`);
    return [...set];
  }

  async addAddress(name: string, address: string): Promise<void> {
    this.check(`addr add ${address} ${name}`);
    this.interfaces.get(name)?.add(address);
  }

  async removeAddress(name: string, address: string): Promise<void> {
    this.check(`addr del ${address} ${name}`);
    this.interfaces.get(name)?.delete(address);
  }

  /** Addresses of `name`, sorted, for assertions. */
  list(name = DATAPLANE_INTERFACE): string[] {
    return [...(this.interfaces.get(name) ?? [])].sort();
  }
}

/**
 * The server's catalog query in memory: `set()` publishes a new catalog (bumping the
 * index and waking blocked queries), `setReachable(false)` makes queries fail as a
 * network error would. Answers the way the real one does: at once when the caller's
 * index is behind, else when the catalog changes or the wait ends (on `clock`).
 */
export class FakeCatalogSource {
  private catalog: Catalog = { index: 1, services: [] };
  private reachable = true;
  private readonly waiters = new Set<ParkedQuery>();
  /** Queries received, answered or not. */
  queries = 0;

  constructor(private readonly clock: Clock) {}

  set(services: CatalogService[]): void {
    this.catalog = { index: this.catalog.index + 1, services: structuredClone(services) };
    for (const w of [...this.waiters]) w.wake();
  }

  get index(): number {
    return this.catalog.index;
  }

  setReachable(reachable: boolean): void {
    this.reachable = reachable;
    if (!reachable) for (const w of [...this.waiters]) w.fail(new Error('cannot reach the Karu server: ECONNREFUSED'));
  }

  /** The CatalogSource to hand to the data plane. */
  readonly source = ({ index, waitMs, signal }: { index: number; waitMs: number; signal: AbortSignal }): Promise<Catalog> =>
    new Promise((resolve, reject) => {
      this.queries++;
      if (!this.reachable) return reject(new Error('cannot reach the Karu server: ECONNREFUSED'));
      const answer = () => resolve(structuredClone(this.catalog));
      if (this.catalog.index > index || waitMs <= 0) return answer();
      parkQuery({ clock: this.clock, waiters: this.waiters, waitMs, signal, answer, reject });
    });
}

/** A catalog service with sensible defaults. */
export function aCatalogService(over: Partial<CatalogService> & Pick<CatalogService, 'name' | 'vip'>): CatalogService {
  return { namespace: 'default', port: 80, portLabel: 'http', tags: [], job: over.name, group: 'web', ingress: [], endpoints: [], ...over };
}

/** A catalog endpoint with sensible defaults. */
export function aCatalogEndpoint(address: string, port: number, healthy = true): CatalogEndpoint {
  return { allocId: `alloc_${address.replace(/\./g, '')}${port}` as AllocId, nodeId: 'node_1' as NodeId, nodeName: 'n1', address, port, healthy, output: '' };
}

/** Starts `server` on a free port of `host`; `close()` cuts kept-alive connections so it ends at once. */
export async function serveOnLoopback(server: HttpServer, host: string): Promise<{ port: number; close(): Promise<void> }> {
  server.listen(0, host);
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
