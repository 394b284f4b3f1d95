import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KaruClient } from '../client/client.js';
import type { KaruError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import { pooledTransport } from './http-transport.js';

/**
 * A stand-in server on loopback: heartbeats answer at once (after `beatDelayMs`), the
 * allocations query and status reports are held until `release()`, anything else is a 401
 * in the API's shape.
 */
async function fakeServer(beatDelayMs = 0) {
  const sockets = new Set<unknown>();
  const held: ServerResponse[] = [];
  const seen: { method: string; url: string; secret: string | undefined; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, secret: req.headers['x-karu-node-secret'] as string | undefined, body });
      const send = (status: number, text: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(text);
      };
      if (req.url!.includes('/heartbeat')) setTimeout(() => send(200, '{"heartbeatTtlMs":2000}'), beatDelayMs).unref();
      else if (req.url!.includes('/allocations')) held.push(res);
      else send(401, JSON.stringify({ code: 'UNAUTHORIZED', message: 'who are you', details: {} }));
    });
  });
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    connections: () => sockets.size,
    release: () => held.splice(0).forEach((r) => r.end(JSON.stringify({ index: 7, allocations: [] }))),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const N1 = 'n1' as NodeId;

test('many clients share a bounded set of keep-alive connections; the calls carry each client’s secret and body', async () => {
  const srv = await fakeServer(5);
  const transport = pooledTransport({ connections: 3, beatConnections: 3 });
  try {
    const base = new KaruClient({ baseUrl: srv.url, transport: transport.request });
    const clients = Array.from({ length: 50 }, (_, i) => base.withNodeSecret(`secret-${i}`));
    const answers = await Promise.all(clients.map((c) => c.heartbeat(N1, { drivers: { docker: { healthy: true, detail: 'ok' } } })));
    assert.ok(answers.every((a) => a.heartbeatTtlMs === 2000));
    await Promise.all(clients.map((c) => c.heartbeat(N1)));
    assert.ok(srv.connections() <= 3, `${srv.connections()} connections for 100 calls`);
    assert.equal(transport.sent.beats, 100);
    assert.deepEqual(new Set(srv.seen.map((s) => s.secret)).size, 50);
    assert.deepEqual(JSON.parse(srv.seen[0]!.body), { drivers: { docker: { healthy: true, detail: 'ok' } } });
    assert.equal(srv.seen[0]!.method, 'POST');
  } finally {
    await transport.close();
    await srv.close();
  }
});

test('a blocking query holds its own connection: short calls are not queued behind it', async () => {
  const srv = await fakeServer();
  const transport = pooledTransport({ connections: 1, beatConnections: 1 });
  try {
    const client = new KaruClient({ baseUrl: srv.url, transport: transport.request, nodeSecret: 's' });
    const polls = [client.nodeAllocations(N1, 3, 30_000), client.nodeAllocations(N1, 3, 30_000)];
    // Both polls are held by the server, and the one short connection still serves beats.
    for (let i = 0; i < 5; i++) assert.equal((await client.heartbeat(N1)).heartbeatTtlMs, 2000);
    srv.release();
    assert.deepEqual(
      (await Promise.all(polls)).map((r) => r.index),
      [7, 7],
    );
    assert.deepEqual(transport.sent, { beats: 5, short: 0, blocking: 2 });
    assert.equal(srv.connections(), 3);
  } finally {
    await transport.close();
    await srv.close();
  }
});

test('heartbeats have a lane of their own: slow status reports filling the short connections do not delay them', async () => {
  const srv = await fakeServer();
  const transport = pooledTransport({ connections: 1, beatConnections: 1 });
  try {
    const client = new KaruClient({ baseUrl: srv.url, transport: transport.request, nodeSecret: 's' });
    const reports = [client.updateAllocStatus(N1, []), client.updateAllocStatus(N1, [])];
    for (let i = 0; i < 3; i++) assert.equal((await client.heartbeat(N1)).heartbeatTtlMs, 2000);
    srv.release();
    srv.release(); // the second report was queued behind the first on the one short connection
    await new Promise((r) => setTimeout(r, 50));
    srv.release();
    await Promise.all(reports);
    assert.deepEqual(transport.sent, { beats: 3, short: 2, blocking: 0 });
  } finally {
    await transport.close();
    await srv.close();
  }
});

test('errors keep the client’s model: the server’s code, UNAVAILABLE when unreachable or too slow, the caller’s abort as is', async () => {
  const srv = await fakeServer(5_000);
  const transport = pooledTransport();
  try {
    const client = new KaruClient({ baseUrl: srv.url, transport: transport.request });
    await assert.rejects(client.listNodes(), (e: KaruError) => e.code === 'UNAUTHORIZED' && e.message === 'who are you' && e.details.status === 401 && !e.retryable);
    // undici's own deadline, checked about every half second: no timer per call.
    await assert.rejects(client.heartbeat(N1, {}, { timeoutMs: 100 }), (e: KaruError) => e.code === 'UNAVAILABLE' && e.retryable && /Headers Timeout/i.test(e.message));
    const abort = new AbortController();
    const call = client.heartbeat(N1, {}, { signal: abort.signal });
    abort.abort();
    await assert.rejects(call, (e: Error) => e.name === 'AbortError');
    const nowhere = new KaruClient({ baseUrl: 'http://127.0.0.1:9', transport: transport.request });
    await assert.rejects(nowhere.listJobs(), (e: KaruError) => e.code === 'UNAVAILABLE' && /ECONNREFUSED/.test(e.message));
  } finally {
    await transport.close();
    await srv.close();
  }
});
