import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AllocId, NodeId } from '../core/ids.js';
import type { JobType } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { Agent } from './agent.js';
import { resolveAgentConfig } from './config.js';
import { advance, aGroup, anAlloc, aRestartPolicy, aTask, FakeAgentServer, settle } from './testing.js';

const HOST = { cpuCores: 4, totalMemoryMb: 8192, osName: 'linux', kernelVersion: '6.1.0', arch: 'x64' };

interface Harness {
  clock: FakeClock;
  driver: FakeDriver;
  server: FakeAgentServer;
  dataDir: string;
  agent: Agent;
  nodeId: NodeId;
  newAgent(): Agent;
  done(): Promise<void>;
}

async function harness(opts: { images?: string[] } = {}): Promise<Harness> {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock, ...(opts.images ? { images: opts.images } : {}) });
  const server = new FakeAgentServer(clock);
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-agent-test-'));
  const config = resolveAgentConfig({ serverUrl: 'http://127.0.0.1:1', dataDir, name: 'n1', address: '127.0.0.1', labels: { zone: 'a' }, reservedMemoryMb: 1024 });
  const agents: Agent[] = [];
  const newAgent = () => {
    const a = new Agent({ config, driver, server, agentUrl: 'http://127.0.0.1:2', clock, rng: seededRng(7), host: HOST });
    agents.push(a);
    return a;
  };
  const agent = newAgent();
  await agent.start();
  await agent.whenSynced();
  return {
    clock,
    driver,
    server,
    dataDir,
    agent,
    nodeId: agent.nodeId!,
    newAgent,
    async done() {
      for (const a of agents) await a.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function place(h: Harness, group = aGroup(), jobType: JobType = 'service', id = 'alloc_01hzzzzzzzabcdefgh12345678') {
  const alloc = anAlloc(h.nodeId, { id: id as AllocId });
  h.server.place(alloc, group, jobType);
  return alloc.id;
}

const running = (h: Harness) => h.driver.list().filter((t) => t.running);

test('registers with fingerprinted resources and attributes, and keeps its identity in node.json', async () => {
  const h = await harness();
  try {
    const reg = h.server.nodes.get(h.nodeId)!.request;
    assert.deepEqual(reg.resources, { cpuMhz: 4000, memoryMb: 8192 - 1024 });
    assert.equal(reg.attributes['os.name'], 'linux');
    assert.equal(reg.attributes['cpu.cores'], '4');
    assert.equal(reg.attributes['driver.fake'], 'true');
    assert.deepEqual(reg.labels, { zone: 'a' });
    assert.deepEqual(reg.drivers, { fake: { healthy: true, detail: 'fake driver healthy' } });
    const saved = JSON.parse(await readFile(join(h.dataDir, 'node.json'), 'utf8'));
    assert.equal(saved.nodeId, h.nodeId);
    // Heartbeats go out at half the TTL.
    await advance(h.clock, 15_000, 1_000);
    assert.equal(h.server.heartbeats, 1);
  } finally {
    await h.done();
  }
});

test('a service task that exits is restarted after the policy delay, then fails the alloc when attempts run out', async () => {
  const h = await harness();
  try {
    const id = place(h, aGroup({ restart: aRestartPolicy({ attempts: 2, intervalMs: 60_000, delayMs: 5_000, mode: 'fail' }) }));
    await advance(h.clock, 200);
    assert.equal(running(h).length, 1);
    assert.equal(h.server.status(id)?.clientStatus, 'running');
    const spec = running(h)[0]!.spec;
    assert.equal(spec.env.KARU_ALLOC_ID, id);
    assert.equal(spec.env.KARU_NODE_ID, h.nodeId);

    for (let restart = 1; restart <= 2; restart++) {
      h.driver.exit({ allocId: id, task: 'web' }, 1);
      await advance(h.clock, 4_000);
      assert.equal(running(h).length, 0, 'not restarted before the delay');
      await advance(h.clock, 1_100);
      assert.equal(running(h).length, 1, `restart ${restart} after the delay`);
      assert.equal(h.server.status(id)?.taskStates.web?.restarts, restart);
    }
    h.driver.exit({ allocId: id, task: 'web' }, 137, { oomKilled: true });
    await advance(h.clock, 10_000);
    assert.equal(running(h).length, 0);
    const st = h.server.status(id)!;
    assert.equal(st.clientStatus, 'failed');
    assert.equal(st.taskStates.web?.failed, true);
    const messages = st.taskStates.web!.events.map((e) => `${e.type}: ${e.message}`);
    assert.ok(messages.includes('terminated: Exit code 137 (OOM killed; killed by the kernel: out of memory)'), messages.join('\n'));
    assert.ok(messages.some((m) => m.startsWith('not-restarting: Exceeded allowed attempts')));
  } finally {
    await h.done();
  }
});

test('mode delay waits for the interval to pass, then keeps restarting', async () => {
  const h = await harness();
  try {
    const id = place(h, aGroup({ restart: aRestartPolicy({ attempts: 1, intervalMs: 60_000, delayMs: 1_000, mode: 'delay' }) }));
    await advance(h.clock, 200);
    h.driver.exit({ allocId: id, task: 'web' }, 1);
    await advance(h.clock, 1_100);
    assert.equal(running(h).length, 1);
    h.driver.exit({ allocId: id, task: 'web' }, 1);
    await advance(h.clock, 30_000, 1_000);
    assert.equal(running(h).length, 0, 'still inside the interval');
    await advance(h.clock, 31_000, 1_000);
    assert.equal(running(h).length, 1, 'restarted once the interval passed');
    assert.notEqual(h.server.status(id)?.clientStatus, 'failed');
  } finally {
    await h.done();
  }
});

test('a batch task that exits 0 is complete and not restarted', async () => {
  const h = await harness();
  try {
    const id = place(h, aGroup({ tasks: [aTask({ name: 'job', command: 'sh', args: ['-c', 'echo done; exit 0'] })] }), 'batch');
    await advance(h.clock, 10_000);
    const st = h.server.status(id)!;
    assert.equal(st.clientStatus, 'complete');
    assert.equal(st.taskStates.job?.restarts, 0);
    assert.equal(st.taskStates.job?.exitCode, 0);
    assert.equal(h.driver.list().length, 1, 'exactly one container, kept for its logs');
  } finally {
    await h.done();
  }
});

test('a missing image fails the task with the driver message', async () => {
  const h = await harness({ images: ['other:1'] });
  try {
    const id = place(h);
    await advance(h.clock, 200);
    const st = h.server.status(id)!;
    assert.equal(st.clientStatus, 'failed');
    const failure = st.taskStates.web!.events.find((e) => e.type === 'driver-failure');
    assert.match(failure?.message ?? '', /image karu-test\/busybox:1 not found/);
    await advance(h.clock, 60_000, 5_000);
    assert.equal(h.driver.list().length, 0, 'never retried');
  } finally {
    await h.done();
  }
});

test('desired stop stops and removes every container and the alloc ends complete', async () => {
  const h = await harness();
  try {
    const id = place(h, aGroup({ tasks: [aTask({ name: 'web' }), aTask({ name: 'sidecar' })] }));
    await advance(h.clock, 200);
    // Two tasks make a pod: its pause container runs beside them.
    assert.deepEqual(running(h).map((t) => t.spec.labels.task).sort(), ['.pause', 'sidecar', 'web']);
    h.server.setDesired(id, 'stop');
    await advance(h.clock, 200);
    assert.equal(h.driver.list().length, 0);
    const st = h.server.status(id)!;
    assert.equal(st.clientStatus, 'complete');
    assert.equal(st.taskStates.sidecar?.state, 'dead');
    assert.ok(st.taskStates.web?.events.some((e) => e.type === 'killed'));
  } finally {
    await h.done();
  }
});

test('a purged allocation is stopped and forgotten', async () => {
  const h = await harness();
  try {
    const id = place(h);
    await advance(h.clock, 200);
    h.server.purge(id);
    await advance(h.clock, 200);
    assert.equal(h.driver.list().length, 0);
    assert.equal(h.agent.allocRunner(id), undefined);
  } finally {
    await h.done();
  }
});

test('a restarted agent reattaches to its containers without starting new ones, keeping restart counts', async () => {
  const h = await harness();
  try {
    const id = place(h);
    await advance(h.clock, 200);
    h.driver.exit({ allocId: id, task: 'web' }, 1);
    await advance(h.clock, 5_100);
    assert.equal(h.server.status(id)?.taskStates.web?.restarts, 1);
    const before = h.driver.list().map((t) => t.handle.id);

    await h.agent.stop();
    assert.equal(running(h).length, 1, 'stopping the agent leaves containers running');

    const second = h.newAgent();
    await second.start();
    await second.whenSynced();
    await advance(h.clock, 200);
    assert.equal(second.nodeId, h.nodeId, 'same identity from node.json');
    assert.deepEqual(h.driver.list().map((t) => t.handle.id), before, 'no new container');
    const st = h.server.status(id)!;
    assert.equal(st.clientStatus, 'running');
    assert.equal(st.taskStates.web?.restarts, 1);
    assert.equal(st.taskStates.web?.events.at(-1)?.type, 'reattached');

    // And it keeps following the task: the next exit is restarted per policy.
    h.driver.exit({ allocId: id, task: 'web' }, 1);
    await advance(h.clock, 5_100);
    assert.equal(h.server.status(id)?.taskStates.web?.restarts, 2);
    assert.equal(running(h).length, 1);
  } finally {
    await h.done();
  }
});

test('on start-up, containers of allocations the server does not know are removed', async () => {
  const h = await harness();
  try {
    const keep = place(h);
    const gone = place(h, aGroup(), 'service', 'alloc_01hzzzzzzzzzzzzzzzzzzzzzzz');
    await advance(h.clock, 200);
    assert.equal(running(h).length, 2);
    await h.agent.stop();
    h.server.purge(gone);
    // A stray container labelled for this node, of an allocation nobody ever had.
    await h.driver.start({ labels: { nodeId: h.nodeId, allocId: 'alloc_stray', jobName: 'x', namespace: 'default', group: 'g', task: 't' }, name: 'stray', image: 'i', args: [], env: {}, resources: { cpuMhz: 1, memoryMb: 1 }, ports: [] });

    const second = h.newAgent();
    await second.start();
    await second.whenSynced();
    await advance(h.clock, 200);
    assert.deepEqual(h.driver.list().map((t) => t.handle.labels.allocId), [keep]);
  } finally {
    await h.done();
  }
});

test('while the server is unreachable allocations keep running, and the session recovers', async () => {
  const h = await harness();
  try {
    const id = place(h);
    await advance(h.clock, 200);
    const beats = h.server.heartbeats;
    h.server.setReachable(false);
    await advance(h.clock, 120_000, 1_000);
    assert.equal(running(h).length, 1, 'nothing stopped');
    // The task still follows its policy meanwhile, and the newest status waits to be sent.
    h.driver.exit({ allocId: id, task: 'web' }, 1);
    await advance(h.clock, 6_000, 500);
    assert.equal(running(h).length, 1);

    h.server.setReachable(true);
    await advance(h.clock, 30_000, 1_000);
    assert.ok(h.server.heartbeats > beats, 'heartbeats resumed');
    assert.equal(h.server.status(id)?.taskStates.web?.restarts, 1, 'the status from the outage was delivered');
    h.server.setDesired(id, 'stop');
    await advance(h.clock, 1_000);
    assert.equal(h.driver.list().length, 0, 'the allocation loop is live again');
  } finally {
    await h.done();
  }
});

test('a server that forgot the node gets it registered again under the same id', async () => {
  const h = await harness();
  try {
    h.server.forgetNode(h.nodeId);
    await advance(h.clock, 16_000, 1_000);
    assert.equal(h.server.registrations, 2);
    assert.ok(h.server.nodes.has(h.nodeId));
  } finally {
    await h.done();
  }
});

test('driver down then up: the health goes out at once, and a task that died meanwhile is restarted once', async () => {
  const h = await harness();
  try {
    const id = place(h);
    await advance(h.clock, 200);
    h.driver.setHealthy(false, 'cannot connect to the Docker daemon');
    await settle(); // no time passes: the heartbeat goes out on the change itself
    assert.equal(h.server.lastDrivers?.fake?.healthy, false, 'immediate heartbeat on the change');
    h.driver.exit({ allocId: id, task: 'web' }, 137);
    // Delay passes; the start meets the dead engine and waits without counting attempts.
    await advance(h.clock, 60_000, 1_000);
    assert.equal(running(h).length, 0);
    assert.equal(h.server.status(id)?.taskStates.web?.restarts, 1);

    h.driver.setHealthy(true);
    await settle();
    assert.equal(h.server.lastDrivers?.fake?.healthy, true);
    assert.equal(running(h).length, 1);
    assert.equal(h.driver.list().length, 1, 'no duplicate container');
    await advance(h.clock, 60_000, 1_000);
    assert.equal(h.driver.list().length, 1);
    assert.equal(h.server.status(id)?.taskStates.web?.restarts, 1);
    assert.equal(h.server.status(id)?.clientStatus, 'running');
  } finally {
    await h.done();
  }
});

test('a restarted agent reattaches a pod: the pause container and both tasks keep running, nothing is restarted', async () => {
  const h = await harness();
  try {
    const pod = aGroup({ tasks: [aTask({ name: 'web' }), aTask({ name: 'side' })] });
    const id = place(h, pod);
    await advance(h.clock, 200);
    const ids = () => new Map(running(h).map((t) => [t.handle.labels.task, t.handle.id]));
    const before = ids();
    assert.deepEqual([...before.keys()].sort(), ['.pause', 'side', 'web']);
    assert.equal(h.server.status(id)?.clientStatus, 'running');

    await h.agent.stop();
    assert.deepEqual(ids(), before, 'stopping the agent leaves the pod running');

    const second = h.newAgent();
    await second.start();
    await second.whenSynced();
    await advance(h.clock, 1_000);
    assert.deepEqual(ids(), before, 'same containers: no restart, no new pause container');
    assert.equal(h.driver.list().length, 3, 'and no stopped leftovers');
    const runner = second.allocRunner(id)!;
    assert.equal(runner.pauseHandle?.id, before.get('.pause'));
    for (const task of ['web', 'side']) {
      assert.equal(runner.taskHandle(task)?.id, before.get(task));
      const st = h.server.status(id)!.taskStates[task]!;
      assert.equal(st.state, 'running');
      assert.equal(st.restarts, 0);
      assert.equal(st.events.at(-1)?.type, 'reattached');
    }
    assert.equal(h.server.status(id)?.clientStatus, 'running');

    // And it keeps following the pod: a task exit is restarted in the same namespace.
    h.driver.exit({ allocId: id, task: 'side' }, 1);
    await advance(h.clock, 5_100);
    assert.equal(h.server.status(id)?.taskStates.side?.restarts, 1);
    assert.equal(h.driver.list().find((t) => t.running && t.handle.labels.task === 'side')?.spec.joinNetworkOf, before.get('.pause'));
  } finally {
    await h.done();
  }
});

test('on start-up, volumes of allocations the agent does not run are removed, even with their containers long gone', async () => {
  const h = await harness();
  try {
    const withVolume = aGroup({ volumes: [{ name: 'data' }], tasks: [aTask({ name: 'web', volumeMounts: [{ volume: 'data', target: '/data', readOnly: false }] })] });
    const keep = place(h, withVolume);
    const gone = place(h, withVolume, 'service', 'alloc_01hzzzzzzzzzzzzzzzzzzzzzzz');
    await advance(h.clock, 200);
    assert.deepEqual(h.driver.volumes(), ['karu-abcdefgh-data', 'karu-zzzzzzzz-data']);

    // The agent dies between removing `gone`'s container and its volume; meanwhile the server purges it.
    await h.agent.stop();
    for (const t of h.driver.list().filter((x) => x.handle.labels.allocId === gone)) await h.driver.destroy(t.handle);
    h.server.purge(gone);
    // A volume labelled for another node is not this agent's business.
    await h.driver.start({ labels: { nodeId: 'node_other', allocId: 'alloc_other', jobName: 'x', namespace: 'default', group: 'g', task: 't' }, name: 'other', image: 'i', args: [], env: {}, resources: { cpuMhz: 1, memoryMb: 1 }, ports: [], volumes: [{ name: 'karu-other-data', target: '/d', readOnly: false }] });

    const second = h.newAgent();
    await second.start();
    await second.whenSynced();
    await advance(h.clock, 200);
    assert.deepEqual(h.driver.volumes(), ['karu-abcdefgh-data', 'karu-other-data'], "the running allocation's volume and the other node's stay");
    assert.equal(h.server.status(keep)?.clientStatus, 'running');
  } finally {
    await h.done();
  }
});
