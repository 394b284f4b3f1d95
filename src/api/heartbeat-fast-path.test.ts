import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { KaruClient } from '../client/client.js';
import { KaruError, NotFoundError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import type { PeerIdentity } from '../pki/certs.js';
import { silentLogger } from '../lib/logger.js';
import { startServer } from '../server/main.js';
import type { ApiErrorBody, RegisterNodeResponse } from '../client/types.js';
import { withHeartbeatFastPath } from './heartbeat-fast-path.js';
import { json, nodeRegistration as registration, setup } from './testing/harness.js';


/** The fake control plane's API behind the fast path on a loopback socket; counts what reached Hono. */
async function listening(opts: { tls?: boolean; peer?: PeerIdentity } = {}) {
  const { app, cp } = setup();
  const hono = getRequestListener(app.fetch);
  let fallbacks = 0;
  const listener = withHeartbeatFastPath(
    (req, res) => {
      fallbacks++;
      void hono(req, res);
    },
    { controlPlane: cp, logger: silentLogger(), tls: opts.tls ?? false, peerOf: (_req: IncomingMessage) => opts.peer },
  );
  const server: Server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const register = async (): Promise<RegisterNodeResponse> => {
    const res = await app.request('/v1/nodes/register', json('POST', registration));
    return (await res.json()) as RegisterNodeResponse;
  };
  const beat = (nodeId: string, headers: Record<string, string>, body: string | undefined = '{}') =>
    fetch(`${url}/v1/nodes/${nodeId}/heartbeat`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, ...(body === undefined ? {} : { body }) });
  return {
    app,
    cp,
    url,
    register,
    beat,
    fallbacks: () => fallbacks,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const secretHeader = (secret: string) => ({ 'x-karu-node-secret': secret });

test('a heartbeat with its node secret is answered off the socket, drivers passed on, nothing reaching Hono', async () => {
  const s = await listening();
  try {
    const { nodeId, secret } = await s.register();
    const drivers = { docker: { healthy: false, detail: 'socket gone' } };
    const res = await s.beat(nodeId, secretHeader(secret), JSON.stringify({ drivers }));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { heartbeatTtlMs: 10_000 });
    // Same body again (served from the parsed-body memo), then an empty body: drivers unchanged.
    assert.equal((await s.beat(nodeId, secretHeader(secret), JSON.stringify({ drivers }))).status, 200);
    assert.equal((await s.beat(nodeId, secretHeader(secret), undefined)).status, 200);
    assert.deepEqual(
      s.cp.calls.heartbeat.map((h) => [h.nodeId, h.drivers]),
      [
        [nodeId, drivers],
        [nodeId, drivers],
        [nodeId, undefined],
      ],
    );
    assert.equal(s.fallbacks(), 0);
  } finally {
    await s.close();
  }
});

test('a missing, wrong or other node’s secret is refused by the general path (401), the beat not recorded', async () => {
  const s = await listening();
  try {
    const a = await s.register();
    const b = await s.register();
    for (const headers of [{}, secretHeader('wrong'), secretHeader(b.secret)]) {
      const res = await s.beat(a.nodeId, headers);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as ApiErrorBody).code, 'UNAUTHORIZED');
    }
    assert.equal(s.fallbacks(), 3);
    assert.equal(s.cp.calls.heartbeat.length, 0);
  } finally {
    await s.close();
  }
});

test('a malformed body gets the same 400 as through Hono', async () => {
  const s = await listening();
  try {
    const { nodeId, secret } = await s.register();
    for (const body of ['{nope', JSON.stringify({ drivers: { docker: { healthy: 'yes' } } })]) {
      const fast = await s.beat(nodeId, secretHeader(secret), body);
      const viaHono = await s.app.request(`/v1/nodes/${nodeId}/heartbeat`, json('POST', body, secretHeader(secret)));
      assert.equal(fast.status, 400);
      assert.deepEqual(await fast.json(), await viaHono.json());
    }
    assert.equal(s.fallbacks(), 0);
    assert.equal(s.cp.calls.heartbeat.length, 0);
  } finally {
    await s.close();
  }
});

test('errors of the control plane speak the API error shape', async () => {
  const s = await listening();
  try {
    const { nodeId, secret } = await s.register();
    s.cp.heartbeat = async (id: NodeId) => {
      throw new NotFoundError('node', id);
    };
    const gone = await s.beat(nodeId, secretHeader(secret));
    assert.equal(gone.status, 404);
    assert.deepEqual(await gone.json(), { code: 'NOT_FOUND', message: `node '${nodeId}' not found`, details: { kind: 'node', id: nodeId } });
    s.cp.heartbeat = async () => {
      throw new KaruError('UNAVAILABLE', 'not the leader', { retryable: true });
    };
    assert.equal((await s.beat(nodeId, secretHeader(secret))).status, 503);
    s.cp.heartbeat = async () => {
      throw new Error('boom');
    };
    const bug = await s.beat(nodeId, secretHeader(secret));
    assert.equal(bug.status, 500);
    assert.equal(((await bug.json()) as ApiErrorBody).code, 'INTERNAL');
  } finally {
    await s.close();
  }
});

test('other requests, other methods and odd heartbeats (chunked, too large) go to Hono untouched', async () => {
  const s = await listening();
  try {
    const { nodeId, secret } = await s.register();
    assert.equal((await fetch(`${s.url}/v1/health`)).status, 200);
    assert.equal((await fetch(`${s.url}/v1/nodes/${nodeId}/heartbeat`, { headers: secretHeader(secret) })).status, 404);
    assert.equal((await fetch(`${s.url}/v1/nodes/${nodeId}/heartbeat?x=1`, { method: 'POST', headers: secretHeader(secret), body: '{}' })).status, 200);
    const chunked = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{}'));
        c.close();
      },
    });
    const viaStream = await fetch(`${s.url}/v1/nodes/${nodeId}/heartbeat`, { method: 'POST', headers: secretHeader(secret), body: chunked, duplex: 'half' } as RequestInit);
    assert.equal(viaStream.status, 200);
    const big = await s.beat(nodeId, secretHeader(secret), JSON.stringify({ drivers: { docker: { healthy: true, detail: 'x'.repeat(20_000) } } }));
    assert.equal(big.status, 200);
    assert.equal(s.fallbacks(), 5);
    assert.equal(s.cp.calls.heartbeat.length, 3, 'the general path still records beats');
  } finally {
    await s.close();
  }
});

test('with TLS: the client certificate must name the node and not be revoked, else the general path refuses', async () => {
  const peer: PeerIdentity = { role: 'node', nodeId: 'node_a' };
  const s = await listening({ tls: true, peer });
  try {
    const ok = await s.beat('node_a', {});
    assert.equal(ok.status, 200);
    assert.equal(s.fallbacks(), 0);
    // Another node's certificate, and then a revoked one: handed to Hono (which, here without a CA, refuses for want of a secret).
    assert.equal((await s.beat('node_b', {})).status, 401);
    s.cp.revoked.add('node_a' as NodeId);
    assert.equal((await s.beat('node_a', {})).status, 401);
    assert.equal(s.fallbacks(), 2);
    assert.deepEqual(
      s.cp.calls.heartbeat.map((h) => h.nodeId),
      ['node_a'],
    );
  } finally {
    await s.close();
  }
});

test('through the real server: a beat is accepted with the secret, and refused once the node is removed (revoked)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-fast-beat-'));
  const server = await startServer({ dataDir: dir, listen: '127.0.0.1:0', logLevel: 'silent' }, { logger: silentLogger() });
  try {
    const client = new KaruClient({ baseUrl: server.url });
    const { nodeId, secret } = await client.registerNode(registration);
    const agent = client.withNodeSecret(secret);
    assert.ok((await agent.heartbeat(nodeId, { drivers: registration.drivers })).heartbeatTtlMs > 0);
    await assert.rejects(client.withNodeSecret('wrong').heartbeat(nodeId), (e: KaruError) => e.code === 'UNAUTHORIZED');
    await client.removeNode(nodeId);
    await assert.rejects(agent.heartbeat(nodeId), (e: KaruError) => e.code === 'UNAUTHORIZED');
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- status reports take the same way

const report = (url: string, nodeId: string, headers: Record<string, string>, body: string) =>
  fetch(`${url}/v1/nodes/${nodeId}/allocations/status`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body });

const aStatus = (nodeId: string) => ({
  id: 'alloc_01jd0000000000000000000000',
  nodeId,
  clientStatus: 'running',
  clientDescription: 'Tasks are running',
  taskStates: { t: { state: 'running', failed: false, restarts: 0, startedAt: 5, events: [{ type: 'started', time: 5, message: 'started' }] } },
  updatedAt: 5,
});

test('a status report with its node secret is parsed and handed to updateAllocStatus off the socket (204); errors match Hono’s', async () => {
  const s = await listening();
  try {
    const { nodeId, secret } = await s.register();
    const ok = await report(s.url, nodeId, secretHeader(secret), JSON.stringify({ updates: [aStatus(nodeId)] }));
    assert.equal(ok.status, 204);
    assert.deepEqual(s.cp.calls.updateAllocStatus, [{ nodeId, updates: [aStatus(nodeId)] }]);
    for (const body of ['{nope', JSON.stringify({ updates: [{ ...aStatus(nodeId), clientStatus: 'exploded' }] }), JSON.stringify({ updates: [aStatus('node_someoneelse')] })]) {
      const fast = await report(s.url, nodeId, secretHeader(secret), body);
      const viaHono = await s.app.request(`/v1/nodes/${nodeId}/allocations/status`, json('PUT', body, secretHeader(secret)));
      assert.equal(fast.status, 400);
      assert.deepEqual(await fast.json(), await viaHono.json());
    }
    assert.equal(s.fallbacks(), 0);
    assert.equal(s.cp.calls.updateAllocStatus.length, 1, 'only the valid report (the Hono comparisons were refused too)');
  } finally {
    await s.close();
  }
});

test('a status report with a missing, wrong or other node’s secret, or from a revoked certificate, falls back to the general path, which refuses it', async () => {
  const s = await listening();
  try {
    const a = await s.register();
    const b = await s.register();
    for (const headers of [{}, secretHeader('wrong'), secretHeader(b.secret)]) {
      const res = await report(s.url, a.nodeId, headers, JSON.stringify({ updates: [aStatus(a.nodeId)] }));
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as ApiErrorBody).code, 'UNAUTHORIZED');
    }
    assert.equal(s.fallbacks(), 3);
    assert.equal(s.cp.calls.updateAllocStatus.length, 0);
  } finally {
    await s.close();
  }
  const tls = await listening({ tls: true, peer: { role: 'node', nodeId: 'node_a' } });
  try {
    assert.equal((await report(tls.url, 'node_a', {}, JSON.stringify({ updates: [] }))).status, 204);
    tls.cp.revoked.add('node_a' as NodeId);
    assert.equal((await report(tls.url, 'node_a', {}, JSON.stringify({ updates: [] }))).status, 401);
    assert.equal(tls.fallbacks(), 1);
    assert.equal(tls.cp.calls.updateAllocStatus.length, 1);
  } finally {
    await tls.close();
  }
});

test('through the real server: a status report is accepted with the secret, and refused once the node is removed (revoked)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-fast-status-'));
  const server = await startServer({ dataDir: dir, listen: '127.0.0.1:0', logLevel: 'silent' }, { logger: silentLogger() });
  try {
    const client = new KaruClient({ baseUrl: server.url });
    const { nodeId, secret } = await client.registerNode(registration);
    const agent = client.withNodeSecret(secret);
    await agent.updateAllocStatus(nodeId, []);
    await assert.rejects(client.withNodeSecret('wrong').updateAllocStatus(nodeId, []), (e: KaruError) => e.code === 'UNAUTHORIZED');
    await client.removeNode(nodeId);
    await assert.rejects(agent.updateAllocStatus(nodeId, []), (e: KaruError) => e.code === 'UNAUTHORIZED');
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
