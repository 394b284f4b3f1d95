import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KaruClient } from '../client/client.js';
import type { NodeAllocationsResponse } from '../client/types.js';
import { KaruError } from '../core/errors.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { silentLogger } from '../lib/logger.js';
import { seededRng } from '../lib/rng.js';
import { startServer } from '../server/main.js';
import { Agent, type AgentServerApi } from './agent.js';
import { resolveAgentConfig } from './config.js';
import { loadIdentity } from './identity.js';
import { nodeSession } from './node-session.js';

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await delay(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const job = (name: string, count: number) => ({
  name,
  groups: [{ name: 'g', count, tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 10, memory: 16 } }] }],
});

test('an agent follows its allocations by delta answers, asks for the whole list after a failed query, and ends up with the server’s list', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-agent-delta-'));
  const server = await startServer({ dataDir: join(dir, 'server'), listen: '127.0.0.1:0', logLevel: 'silent' }, { logger: silentLogger() });
  const client = new KaruClient({ baseUrl: server.url });
  const session = nodeSession(client);
  const asked: { delta: boolean; answered: 'delta' | 'whole' | 'failed' }[] = [];
  let failNext = false;
  const server$: AgentServerApi = {
    ...session,
    async nodeAllocations(nodeId, index, waitMs, signal, opts) {
      const call = { delta: opts?.delta === true, answered: 'failed' as 'delta' | 'whole' | 'failed' };
      asked.push(call);
      if (failNext) {
        failNext = false;
        throw new KaruError('UNAVAILABLE', 'injected: the answer was lost', { retryable: true });
      }
      const res: NodeAllocationsResponse = await session.nodeAllocations(nodeId, index, waitMs, signal, opts);
      call.answered = res.delta ? 'delta' : 'whole';
      return res;
    },
  };
  const driver = new FakeDriver({});
  Object.defineProperty(driver, 'name', { value: 'docker' });
  const config = resolveAgentConfig({ serverUrl: server.url, dataDir: join(dir, 'agent'), name: 'n1', address: '127.0.0.1', cpuMhz: 4000, memoryMb: 8192, httpPort: 0, httpHost: '127.0.0.1' });
  const agent = new Agent({ config, driver, server: server$, agentUrl: 'http://127.0.0.1:9', rng: seededRng(1), logger: silentLogger(), allocWaitMs: 2_000 });
  const mine = () => new Set(agent.allocStatuses().map((s) => s.id));
  const serverList = async () => {
    const nodeId = agent.nodeId!;
    const res = await client.withNodeSecret((await loadIdentity(config.dataDir))!.secret).nodeAllocations(nodeId, 0, 0);
    return new Set(res.allocations.map((na) => na.alloc.id));
  };
  try {
    await agent.start();
    await agent.whenSynced();

    await client.registerJob(job('a', 3));
    await until('3 allocations on the agent', () => mine().size === 3);
    await client.registerJob(job('b', 2));
    await until('5 allocations on the agent', () => mine().size === 5);
    assert.ok(asked.some((c) => c.delta && c.answered === 'delta'), 'later answers came as deltas');
    assert.equal(asked[0]!.delta, false, 'the first query asks for the whole list');

    // A lost answer: the next query asks for the whole list again, then deltas resume.
    const before = asked.length;
    failNext = true;
    await client.registerJob(job('c', 1));
    await until('6 allocations on the agent', () => mine().size === 6, 15_000);
    // The query parked then answered; the one after it failed; the retry is answered within allocWaitMs.
    await until('the query after the failure answered', () => asked.length >= before + 2 && asked[before + 1]!.answered !== 'failed', 15_000);
    const after = asked.slice(before);
    assert.equal(after[0]!.answered, 'failed');
    assert.deepEqual(after[1], { delta: false, answered: 'whole' });

    // Stopped allocations leave once reported terminal: the delta says so and the agent forgets them.
    await client.stopJob('default', 'a');
    await until('a’s allocations gone from the agent', () => mine().size === 3, 15_000);
    await client.registerJob(job('d', 1));
    await until('4 allocations on the agent', () => mine().size === 4);
    assert.deepEqual(mine(), await serverList());
    assert.ok(asked.slice(before + 2).filter((c) => c.answered !== 'failed').every((c) => c.delta && c.answered === 'delta'), 'no whole list needed after the one failure');
  } finally {
    await agent.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
