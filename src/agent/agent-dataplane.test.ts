import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AllocId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { Agent } from './agent.js';
import { resolveAgentConfig } from './config.js';
import type { AgentDataPlane } from './dataplane/node-dataplane.js';
import { advance, aGroup, anAlloc, FakeAgentServer } from './testing.js';

/** The Agent's side of the data plane: when it starts and stops it, and what containers get. */

const HOST = { cpuCores: 4, totalMemoryMb: 8192, osName: 'linux', kernelVersion: '6.1.0', arch: 'x64' };

class RecordingDataPlane implements AgentDataPlane {
  readonly events: string[] = [];
  constructor(readonly dnsServer: string | undefined) {}
  async start({ serviceCidr }: { serviceCidr: string }): Promise<void> {
    this.events.push(`start ${serviceCidr}`);
  }
  async stop(): Promise<void> {
    this.events.push('stop');
  }
}

async function run(dataPlane: RecordingDataPlane, serviceCidr?: string) {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock });
  const server = new FakeAgentServer(clock);
  server.serviceCidr = serviceCidr;
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-agent-dp-'));
  const config = resolveAgentConfig({ serverUrl: 'http://127.0.0.1:1', dataDir, name: 'n1', address: '127.0.0.1' });
  const agent = new Agent({ config, driver, server, agentUrl: 'http://127.0.0.1:2', clock, rng: seededRng(7), host: HOST, dataPlane });
  await agent.start();
  await agent.whenSynced();
  server.place(anAlloc(agent.nodeId!, { id: 'alloc_01hzzzzzzzabcdefgh12345678' as AllocId, namespace: 'shop' }), aGroup());
  await advance(clock, 200);
  const specs = driver.list().map((t) => t.spec);
  await agent.stop();
  await rm(dataDir, { recursive: true, force: true });
  return specs;
}

test("the agent starts the data plane with the server's service range after registering, and stops it", async () => {
  const dp = new RecordingDataPlane('10.98.0.1');
  await run(dp, '10.98.0.0/16');
  assert.deepEqual(dp.events, ['start 10.98.0.0/16', 'stop']);
});

test('an older server that names no range: the default one', async () => {
  const dp = new RecordingDataPlane(undefined);
  await run(dp);
  assert.deepEqual(dp.events, ['start 10.99.0.0/16', 'stop']);
});

test("containers get the node's DNS with their namespace as search domain, or Docker's default without it", async () => {
  const withDns = await run(new RecordingDataPlane('10.99.0.1'));
  assert.deepEqual(withDns.find((s) => s.dns)?.dns, { servers: ['10.99.0.1'], search: ['shop.karu'] });
  const without = await run(new RecordingDataPlane(undefined));
  assert.ok(without.length > 0);
  assert.ok(without.every((s) => s.dns === undefined));
});
