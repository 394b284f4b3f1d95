import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { forwardHeaders, startHttpIngress, type HttpIngress } from './http-ingress.js';
import type { IngressRoute } from '../../core/ingress.js';
import { ServiceTable, type ServiceEntry } from './service-table.js';
import { deadPort, randomLoopback, serveOnLoopback } from './testing.js';

const LO = '127.0.0.1';

interface Seen {
  name: string;
  url: string;
  method: string;
  headers: IncomingHttpHeaders;
  peer: string;
  peerPort: number;
}

/** A backend that answers with what it saw, as JSON; `…/echo` streams the body back. */
async function startBackend(name: string): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if (req.url?.endsWith('/echo')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', connection: 'x-private', 'x-private': 'hop' });
      req.pipe(res);
      return;
    }
    req.resume();
    req.on('end', () => {
      const seen: Seen = { name, url: req.url ?? '', method: req.method ?? '', headers: req.headers, peer: req.socket.remoteAddress ?? '', peerPort: req.socket.remotePort ?? 0 };
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  });
  return serveOnLoopback(server, LO);
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function call(ingress: HttpIngress, path: string, opts: { host?: string; headers?: Record<string, string>; localAddress?: string; method?: string; body?: Buffer; tls?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const make = opts.tls ? httpsRequest : request;
    const req = make(
      {
        host: ingress.host,
        port: ingress.port,
        path,
        method: opts.method ?? 'GET',
        headers: { host: opts.host ?? 'any.example', ...opts.headers },
        agent: false,
        timeout: 10_000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        ...(opts.tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const seen = (r: Reply) => JSON.parse(r.body.toString()) as Seen;
const svc = (name: string, ports: number[]): ServiceEntry => ({ namespace: 'default', name, vip: '', port: 80, endpoints: ports.map((port) => ({ address: LO, port, healthy: true })) });
const route = (service: string, pathPrefix: string, host?: string): IngressRoute => ({ service, namespace: 'default', pathPrefix, owner: { job: service }, ...(host ? { host } : {}) });

describe('HTTP ingress', () => {
  const table = new ServiceTable();
  const backends: { port: number; close(): Promise<void> }[] = [];
  let ingress: HttpIngress;

  before(async () => {
    for (const n of ['a', 'b', 'api', 'root', 'a2']) backends.push(await startBackend(n));
    const [a, b, api, root, a2] = backends.map((x) => x.port) as [number, number, number, number, number];
    table.set([svc('a', [a, a2]), svc('b', [b]), svc('api', [api]), svc('root', [root]), svc('down', []), svc('dead', [await deadPort()]), svc('half', [await deadPort(), b])]);
    ingress = await startHttpIngress({
      table,
      host: randomLoopback(),
      port: 0,
      routes: [route('a', '/', 'a.example'), route('b', '/', 'b.example'), route('root', '/'), route('api', '/api'), route('down', '/down'), route('dead', '/dead'), route('half', '/half')],
    });
  });
  after(async () => {
    await ingress.close(1000);
    await Promise.all(backends.map((b) => b.close()));
  });

  it('routes by Host header', async () => {
    assert.equal(seen(await call(ingress, '/', { host: 'b.example' })).name, 'b');
    assert.match(seen(await call(ingress, '/x', { host: 'A.Example:8080' })).name, /^a2?$/);
    assert.equal(seen(await call(ingress, '/', { host: 'other.example' })).name, 'root');
  });

  it('routes by the longest path prefix and passes path and query on', async () => {
    const r = seen(await call(ingress, '/api/users?id=7'));
    assert.equal(r.name, 'api');
    assert.equal(r.url, '/api/users?id=7');
    assert.equal(seen(await call(ingress, '/apix')).name, 'root');
  });

  it('balances across the endpoints of a service', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 4; i++) names.add(seen(await call(ingress, '/', { host: 'a.example' })).name);
    assert.deepEqual([...names].sort(), ['a', 'a2']);
  });

  it("tells the backend the client's real IP in X-Forwarded-For and Forwarded", async () => {
    // The client connects from 127.0.0.5; the backend's own peer is the ingress.
    const r = seen(await call(ingress, '/api', { host: 'shop.example:8443', localAddress: '127.0.0.5', headers: { 'x-forwarded-for': '203.0.113.9', connection: 'x-secret', 'x-secret': 'hop', 'x-kept': 'yes' } }));
    assert.equal(r.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.5');
    assert.equal(r.headers['x-forwarded-proto'], 'http');
    assert.equal(r.headers['x-forwarded-host'], 'shop.example:8443');
    assert.equal(r.headers.forwarded, 'for=127.0.0.5;proto=http;host="shop.example:8443"');
    assert.equal(r.headers.host, 'shop.example:8443', 'Host is passed on unchanged');
    assert.equal(r.headers['x-secret'], undefined, 'headers named in Connection are hop-by-hop');
    assert.equal(r.headers['x-kept'], 'yes');
    assert.notEqual(r.peer, '127.0.0.5');
  });

  it('passes response headers on, duplicates kept, hop-by-hop ones dropped', async () => {
    const r = await call(ingress, '/api');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    const echo = await call(ingress, '/api/echo', { method: 'POST', body: Buffer.from('hi') });
    assert.equal(echo.body.toString(), 'hi');
    assert.equal(echo.headers['x-private'], undefined);
  });

  it('answers 404 with a clear body when no route matches', async () => {
    const only = await startHttpIngress({ table, host: randomLoopback(), port: 0, routes: [route('a', '/app', 'a.example')] });
    try {
      const r = await call(only, '/nothing?q=1', { host: 'nope.example' });
      assert.equal(r.status, 404);
      assert.equal(r.body.toString(), "karu ingress: no route for host 'nope.example' and path '/nothing'\n");
    } finally {
      await only.close(1000);
    }
  });

  it('answers 502 when the service has no healthy endpoint or its only endpoint is dead', async () => {
    const down = await call(ingress, '/down');
    assert.equal(down.status, 502);
    assert.match(down.body.toString(), /no healthy endpoint for service 'default\/down'/);
    const dead = await call(ingress, '/dead', { method: 'POST', body: Buffer.from('x') });
    assert.equal(dead.status, 502);
    assert.match(dead.body.toString(), /ECONNREFUSED/);
  });

  it('retries a body-less request on the next endpoint when one refuses', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call(ingress, '/half');
      assert.equal(r.status, 200);
      assert.equal(seen(r).name, 'b');
    }
    const half = table.get('default', 'half')!;
    assert.equal(table.inRotation(half).length, 1);
  });

  it('streams a large body both ways intact', async () => {
    const big = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const r = await call(ingress, '/api/echo', { method: 'POST', body: big });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    assert.equal(createHash('sha256').update(r.body).digest('hex'), createHash('sha256').update(big).digest('hex'));
  });

  it('keeps connections to backends alive and reuses them', async () => {
    const ports = new Set<number>();
    for (let i = 0; i < 5; i++) ports.add(seen(await call(ingress, '/api')).peerPort);
    assert.ok(ports.size < 5, `5 requests used ${ports.size} backend connections`);
  });

  it('passes a body sent with Expect: 100-continue on', async () => {
    const echo = await call(ingress, '/api/echo', { method: 'PUT', body: Buffer.from('after continue'), headers: { expect: '100-continue' } });
    assert.equal(echo.status, 200);
    assert.equal(echo.body.toString(), 'after continue');
  });

  it('stops the backend request when the client goes away mid-answer', async () => {
    let backendClosed!: () => void;
    const closed = new Promise<void>((r) => (backendClosed = r));
    const slow = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first chunk\n'); // …and the rest never comes
      res.on('close', () => backendClosed());
    });
    slow.listen(0, LO);
    await once(slow, 'listening');
    table.set([...table.list(), svc('slow', [(slow.address() as AddressInfo).port])]);
    ingress.setRoutes([route('slow', '/slow')]);
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: ingress.host, port: ingress.port, path: '/slow', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
        req.end();
      });
      await closed; // would hang (and the test time out) if the backend request were left open
    } finally {
      ingress.setRoutes([route('a', '/', 'a.example'), route('b', '/', 'b.example'), route('root', '/'), route('api', '/api'), route('down', '/down'), route('dead', '/dead'), route('half', '/half')]);
      slow.closeAllConnections();
      slow.close();
    }
  });

  it('takes new routes at once', async () => {
    ingress.setRoutes([route('b', '/')]);
    try {
      assert.equal(seen(await call(ingress, '/api')).name, 'b');
    } finally {
      ingress.setRoutes([route('a', '/', 'a.example'), route('b', '/', 'b.example'), route('root', '/'), route('api', '/api'), route('down', '/down'), route('dead', '/dead'), route('half', '/half')]);
    }
  });
});

describe('HTTPS ingress', () => {
  let dir = '';
  const haveOpenssl = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('serves HTTPS with the given certificate and says proto=https', { skip: !haveOpenssl && 'openssl not installed' }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'karu-ingress-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=shop.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const backend = await startBackend('secure');
    const table = new ServiceTable();
    table.set([svc('secure', [backend.port])]);
    const ingress = await startHttpIngress({ table, host: randomLoopback(), port: 0, routes: [route('secure', '/')], tls: { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) } });
    try {
      const r = seen(await call(ingress, '/', { tls: true, host: 'shop.example' }));
      assert.equal(r.name, 'secure');
      assert.equal(r.headers['x-forwarded-proto'], 'https');
      assert.match(String(r.headers.forwarded), /proto=https/);
    } finally {
      await ingress.close(1000);
      await backend.close();
    }
  });
});

describe('forwardHeaders', () => {
  it('quotes IPv6 in Forwarded and appends to an earlier Forwarded', () => {
    const h = forwardHeaders({ host: 'x', forwarded: 'for=192.0.2.1' }, { ip: '2001:db8::1', proto: 'http' });
    assert.equal(h.forwarded, 'for=192.0.2.1, for="[2001:db8::1]";proto=http;host=x');
    assert.equal(h['x-forwarded-for'], '2001:db8::1');
  });
});
