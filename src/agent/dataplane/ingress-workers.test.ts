import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { IngressRoute } from '../../core/ingress.js';
import { ListenError, startIngressWorkers, workerEntry, type IngressWorkers } from './ingress-workers.js';
import { UnavailableError } from '../../core/errors.js';
import type { ServiceEntry } from './service-table.js';
import { serveOnLoopback } from './testing.js';
import { randomLoopback } from './testing.js';

/**
 * The ingress in worker processes, for real: two workers forked through node:cluster from
 * this program's entry (bin/karu.js on the sources, KARU_ROLE=ingress-worker), a loopback
 * backend, routes changed over IPC, a worker killed and replaced. Slower than the other
 * data-plane tests (each worker loads the sources through tsx: ~1–3 s).
 */

const LO = '127.0.0.1';

let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}

/** A backend that answers with the path and the forwarding headers it saw. */
async function startBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ url: req.url, headers: req.headers }));
  });
  return serveOnLoopback(server, LO);
}

interface Reply {
  status: number;
  body: string;
}

/** One request on a connection of its own (so the primary hands each to the next worker). */
function call(at: { host: string; port: number }, path: string, opts: { localAddress?: string; tls?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = (opts.tls ? httpsRequest : request)(
      {
        host: at.host,
        port: at.port,
        path,
        headers: { host: 'shop.example' },
        agent: false,
        timeout: 10_000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        ...(opts.tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests; the statuses in order. */
async function statuses(at: { host: string; port: number }, path: string, n = 6): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call(at, path)).status);
  return out;
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const svc = (port: number): ServiceEntry => ({ namespace: 'default', name: 'app', vip: '', port: 80, endpoints: [{ address: LO, port, healthy: true }] });
const route = (pathPrefix: string): IngressRoute => ({ service: 'app', namespace: 'default', pathPrefix, owner: { job: 'app' } });

describe('ingress worker processes', () => {
  let backend: { port: number; close(): Promise<void> };
  let pool: IngressWorkers;
  let http: { host: string; port: number };
  let dir = '';
  const seenPids = new Set<number>();

  before(async () => {
    backend = await startBackend();
    const tls = haveOpenssl ? makeCert() : undefined;
    pool = await startIngressWorkers({ workers: 2, host: randomLoopback(), httpPort: 0, ...(tls ? { https: { port: 0, ...tls } } : {}), backendKeepAliveMs: 500 });
    http = pool.http!;
    for (const pid of pool.pids()) seenPids.add(pid);
  });
  after(async () => {
    await pool?.close(1000);
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function makeCert(): { cert: Buffer; key: Buffer } {
    dir = mkdtempSync(join(tmpdir(), 'karu-ingress-workers-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=shop.example', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
  }

  it('runs this program as the worker: bin/karu.js on the sources, the bundle itself when bundled', () => {
    assert.match(workerEntry().exec, /bin\/karu\.js$/);
    assert.deepEqual(workerEntry('file:///opt/karu/dist/karu.mjs'), { exec: '/opt/karu/dist/karu.mjs' });
  });

  it('starts two workers that serve nothing until told the routes', async () => {
    assert.equal(pool.pids().length, 2);
    assert.ok(pool.pids().every((pid) => pid !== process.pid && alive(pid)));
    assert.deepEqual(await statuses(http, '/a/x', 2), [404, 404]);
  });

  it('routes to the backend with the client IP in X-Forwarded-For, on every worker', async () => {
    await pool.setState([svc(backend.port)], [route('/a')]);
    for (let i = 0; i < 6; i++) {
      const r = await call(http, '/a/x?q=1', { localAddress: '127.0.0.9' });
      assert.equal(r.status, 200, r.body);
      const seen = JSON.parse(r.body) as { url: string; headers: IncomingHttpHeaders };
      assert.equal(seen.url, '/a/x?q=1');
      assert.equal(seen.headers['x-forwarded-for'], '127.0.0.9');
      assert.equal(seen.headers['x-forwarded-proto'], 'http');
    }
  });

  it('serves HTTPS in the workers with the certificate it was given', { skip: !haveOpenssl && 'openssl not installed' }, async () => {
    const r = await call(pool.https!, '/a/', { tls: true, localAddress: '127.0.0.9' });
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as { headers: IncomingHttpHeaders };
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.9');
  });

  it('takes route changes over IPC: a new route answers, a removed one 404s', async () => {
    await pool.setState([svc(backend.port)], [route('/a'), route('/b')]);
    assert.deepEqual(await statuses(http, '/b/1'), [200, 200, 200, 200, 200, 200]);
    await pool.setState([svc(backend.port)], [route('/b')]);
    assert.deepEqual(await statuses(http, '/a/1'), [404, 404, 404, 404, 404, 404]);
    assert.deepEqual(await statuses(http, '/b/1'), [200, 200, 200, 200, 200, 200]);
  });

  it('a killed worker: the other keeps serving, and another takes its place with the current routes', async () => {
    const [victim, other] = pool.pids() as [number, number];
    process.kill(victim, 'SIGKILL');
    await until('the pool to notice the worker died', () => !pool.pids().includes(victim));
    assert.deepEqual(pool.pids(), [other]);
    assert.deepEqual(await statuses(http, '/b/1', 4), [200, 200, 200, 200]);
    await until('a replacement worker', () => pool.pids().length === 2);
    const fresh = pool.pids().find((p) => p !== other)!;
    assert.ok(!seenPids.has(fresh) && alive(fresh));
    // The replacement was given the state as it is now (/b, not /a): every request, whichever worker takes it, agrees.
    assert.deepEqual(await statuses(http, '/b/1'), [200, 200, 200, 200, 200, 200]);
    assert.deepEqual(await statuses(http, '/a/1'), [404, 404, 404, 404, 404, 404]);
    seenPids.add(fresh);
  });

  it('stops cleanly: no worker left, the port closed', async () => {
    const pids = pool.pids();
    await pool.close(1000);
    for (const pid of pids) await until(`worker ${pid} gone`, () => !alive(pid), 5_000);
    await assert.rejects(call(http, '/b/1'), /ECONNREFUSED/);
  });
});

describe('ingress worker processes that cannot serve', () => {
  it('a port already taken: ListenError (the data plane logs it as for the in-process ingress)', async () => {
    const blocker = createServer();
    blocker.listen(0, LO);
    await once(blocker, 'listening');
    try {
      await assert.rejects(startIngressWorkers({ workers: 2, host: LO, httpPort: (blocker.address() as AddressInfo).port }), (e: unknown) => e instanceof ListenError && /EADDRINUSE/.test(e.message));
    } finally {
      blocker.close();
    }
  });

  it('a worker that dies before listening fails the start at once (the data plane then serves in-process)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'karu-ingress-workers-bad-'));
    try {
      writeFileSync(join(dir, 'bad.mjs'), 'process.exit(3);\n');
      const started = Date.now();
      await assert.rejects(startIngressWorkers({ workers: 2, host: LO, httpPort: 0, entry: { exec: join(dir, 'bad.mjs') } }), (e: unknown) => e instanceof UnavailableError && /code 3 before listening/.test(e.message));
      assert.ok(Date.now() - started < 10_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
