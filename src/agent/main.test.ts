import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KaruClient } from '../client/client.js';
import type { NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { nodeSession, startAgent } from './main.js';
import { FakeAgentServer } from './testing.js';

test('startAgent wires the API and the agent: it registers with the URL it serves on', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-agent-main-'));
  const clock = new FakeClock();
  const server = new FakeAgentServer(clock);
  const running = await startAgent(
    { serverUrl: 'http://127.0.0.1:1', dataDir, address: '127.0.0.1', httpPort: 0, httpHost: '127.0.0.1' },
    { driver: new FakeDriver({ clock }), server, clock, logger: silentLogger() },
  );
  try {
    const nodeId = running.agent.nodeId!;
    assert.equal(server.nodes.get(nodeId)?.request.agentUrl, running.url);
    const res = await fetch(`${running.url}/v1/agent/health`, { headers: { 'x-karu-server-token': server.serverToken } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { nodeId: string }).nodeId, nodeId);
  } finally {
    await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('nodeSession sends the node secret on every call after registration', async () => {
  const seen: { path: string; secret: string | null }[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    seen.push({ path: url.pathname, secret: new Headers(init?.headers).get('x-karu-node-secret') });
    const body = url.pathname.endsWith('/register') ? { nodeId: 'node_1', secret: 's3cret', heartbeatTtlMs: 1000, serverToken: 't' } : { heartbeatTtlMs: 1000 };
    return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const api = nodeSession(new KaruClient({ baseUrl: 'http://127.0.0.1:1', fetch: fetchImpl }));
  await api.registerNode({ name: 'n', address: '127.0.0.1', agentUrl: 'x', resources: { cpuMhz: 1, memoryMb: 1 }, attributes: {}, labels: {}, drivers: {} });
  await api.heartbeat('node_1' as NodeId, {});
  assert.deepEqual(seen, [
    { path: '/v1/nodes/register', secret: null },
    { path: '/v1/nodes/node_1/heartbeat', secret: 's3cret' },
  ]);
});
