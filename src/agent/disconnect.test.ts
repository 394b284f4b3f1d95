import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DISCONNECT_DEFAULTS } from '../core/disconnect.js';
import type { AllocId, NodeId } from '../core/ids.js';
import type { Group } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { Agent } from './agent.js';
import { resolveAgentConfig } from './config.js';
import { CUT_OFF_STATUS } from './cutoff.js';
import { advance, aGroup, anAlloc, FakeAgentServer } from './testing.js';

/** The agent cut off from its server: what keeps running, what it stops, how it catches up. */

const HOST = { cpuCores: 4, totalMemoryMb: 8192, osName: 'linux', kernelVersion: '6.1.0', arch: 'x64' };

async function harness(ttlMs = 3_000) {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock });
  const server = new FakeAgentServer(clock);
  server.heartbeatTtlMs = ttlMs;
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-agent-cutoff-'));
  const config = resolveAgentConfig({ serverUrl: 'http://127.0.0.1:1', dataDir, name: 'n1', address: '127.0.0.1' });
  const agent = new Agent({ config, driver, server, agentUrl: 'http://127.0.0.1:2', clock, rng: seededRng(3), host: HOST });
  await agent.start();
  await agent.whenSynced();
  const nodeId = agent.nodeId as NodeId;
  return {
    clock,
    driver,
    server,
    agent,
    place(id: string, group: Group = aGroup()) {
      const alloc = anAlloc(nodeId, { id: id as AllocId });
      server.place(alloc, group);
      return alloc.id;
    },
    running: (id: string) => driver.list().filter((t) => t.running && t.handle.labels.allocId === id).length,
    async done() {
      await agent.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const ID_A = 'alloc_01hzzzzzzzaaaaaaaaaaaaaaaa';
const ID_B = 'alloc_01hzzzzzzzbbbbbbbbbbbbbbbb';

test('heartbeats follow the TTL the server returns, while the allocation query blocks', async () => {
  const h = await harness(2_000);
  try {
    h.place(ID_A);
    await advance(h.clock, 500);
    const before = h.server.heartbeats;
    await advance(h.clock, 10_000, 250);
    // A beat every TTL/2 = 1 s; the blocking query (30 s) held up none of them.
    assert.ok(h.server.heartbeats - before >= 9 && h.server.heartbeats - before <= 11, `${h.server.heartbeats - before} beats in 10 s`);
    h.server.heartbeatTtlMs = 30_000;
    await advance(h.clock, 1_000, 250); // the next beat learns the new TTL
    const after = h.server.heartbeats;
    await advance(h.clock, 20_000, 500);
    assert.ok(h.server.heartbeats - after <= 2, `${h.server.heartbeats - after} beats in 20 s at TTL 30 s`);
  } finally {
    await h.done();
  }
});

test('cut off, allocations keep running; those with stopOnClientAfter stop after it and are reported lost on return', async () => {
  const h = await harness();
  try {
    const a = h.place(ID_A, aGroup({ disconnect: { ...DISCONNECT_DEFAULTS, stopOnClientAfterMs: 30_000 } }));
    const b = h.place(ID_B);
    await advance(h.clock, 500);
    assert.deepEqual([h.running(a), h.running(b)], [1, 1]);
    h.server.setReachable(false);
    await advance(h.clock, 28_000, 500);
    assert.deepEqual([h.running(a), h.running(b)], [1, 1], 'not yet');
    await advance(h.clock, 4_000, 500);
    assert.deepEqual([h.running(a), h.running(b)], [0, 1], 'a stopped itself, b keeps running');
    await advance(h.clock, 120_000, 1_000);
    assert.equal(h.running(b), 1, 'b still runs after minutes');

    h.server.setReachable(true);
    await advance(h.clock, 5_000, 250);
    assert.deepEqual(
      { status: h.server.status(a)?.clientStatus, description: h.server.status(a)?.clientDescription },
      { status: 'lost', description: CUT_OFF_STATUS(30_000).description },
    );
    assert.equal(h.running(a), 0, 'the server still saying run does not start it again');
    assert.equal(h.server.status(b)?.clientStatus, 'running');
  } finally {
    await h.done();
  }
});

test('on return, an allocation the server replaced meanwhile is stopped promptly, and nothing runs twice', async () => {
  const h = await harness();
  try {
    const a = h.place(ID_A);
    const b = h.place(ID_B);
    await advance(h.clock, 500);
    h.server.setReachable(false);
    // Long enough for the allocation query's retry backoff to reach its 15 s ceiling.
    await advance(h.clock, 90_000, 1_000);
    h.driver.exit({ allocId: b, task: 'web' }, 1);
    await advance(h.clock, 10_000, 500);
    assert.equal(h.running(b), 1, 'restarted locally, without the server');
    // Meanwhile the server declared the node lost and replaced `a` elsewhere.
    h.server.setDesired(a, 'stop');

    h.server.setReachable(true);
    await advance(h.clock, 3_000, 250);
    assert.equal(h.running(a), 0, 'stopped within a couple of beats, not after the query backoff');
    assert.equal(h.server.status(a)?.clientStatus, 'complete');
    assert.equal(h.running(b), 1);
    assert.equal(h.driver.list().filter((t) => t.handle.labels.allocId === b).length, 1, 'one container for b');
    assert.equal(h.server.status(b)?.taskStates.web?.restarts, 1);
  } finally {
    await h.done();
  }
});
