import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KaruClient } from '../client/client.js';
import { silentLogger } from '../lib/logger.js';
import { startServer } from '../server/main.js';
import { startSim, type RunningSim } from './sim.js';

/** Polls until `check` returns a value; the message says what never happened. */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last !== undefined) return last;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('simulated nodes register, run a job through the real API, and go down when stopped', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-sim-test-'));
  const server = await startServer(
    { dataDir: join(dir, 'server'), listen: '127.0.0.1:0', logLevel: 'silent', heartbeatTtlMs: 600, heartbeatGraceMs: 200, maxHeartbeatsPerSecond: 1_000 },
    { logger: silentLogger() },
  );
  let sim: RunningSim | undefined;
  try {
    const client = new KaruClient({ baseUrl: server.url });
    sim = await startSim({ serverUrl: server.url, nodes: 20, runDelayMs: 20, cpuMhz: 1000, memoryMb: 1024, dataDir: join(dir, 'sim'), seed: 1 });
    assert.equal(sim.nodeIds().length, 20);

    await until('20 ready nodes', async () => {
      const nodes = await client.listNodes();
      return nodes.filter((n) => n.status === 'ready' && n.name.startsWith('sim-')).length === 20 ? true : undefined;
    });

    await client.registerJob({
      name: 'many',
      groups: [
        {
          name: 'g',
          count: 60,
          constraints: [{ attribute: '${label.sim}', operator: '=', value: 'true' }],
          tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 100, memory: 64 } }],
        },
      ],
    });
    const running = await until('60 running allocations', async () => {
      const allocs = await client.listAllocations({ job: 'many' });
      const run = allocs.filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');
      return run.length === 60 ? run : undefined;
    });
    const perNode = new Map<string, number>();
    for (const a of running) perNode.set(a.nodeId, (perNode.get(a.nodeId) ?? 0) + 1);
    // 60 × 100 MHz on nodes of 1000 MHz: at least 6 nodes are needed, and every one of them is simulated.
    assert.ok(perNode.size >= 6, `allocations on ${perNode.size} nodes`);
    const simIds = new Set<string>(sim.nodeIds());
    for (const id of perNode.keys()) assert.ok(simIds.has(id), `allocation on a node that is not simulated: ${id}`);
    // The fake tasks really were started by the agents' drivers (the server did not just mark them).
    const started = sim.agents.reduce((n, a) => n + a.allocStatuses().filter((s) => s.clientStatus === 'running').length, 0);
    assert.equal(started, 60);
    // Every node's calls went through the one shared transport: registrations, beats and
    // status reports over its pooled connections, and each node's blocking queries.
    const beating = sim;
    await until('a heartbeat from every node', async () => (beating.callsSent().beats >= 20 ? true : undefined));
    const calls = sim.callsSent();
    assert.ok(calls.short >= 20 * 2, `${calls.short} other short calls`);
    assert.ok(calls.blocking >= 20, `${calls.blocking} blocking queries`);

    await sim.stop();
    sim = undefined;
    await until('every simulated node down', async () => {
      const nodes = await client.listNodes();
      return nodes.every((n) => n.status === 'down' || n.status === 'disconnected') ? true : undefined;
    });
  } finally {
    await sim?.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
