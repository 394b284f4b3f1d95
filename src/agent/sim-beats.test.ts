import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { KaruClient } from '../client/client.js';
import { isKaruError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import type { ServerConfigInput } from '../server/config.js';
import { createLogger } from '../lib/logger.js';
import { BeatLane } from './sim-beats.js';
import { startSim, type RunningSim } from './sim.js';

/** Polls until `check` returns a value; the message says what never happened. */
async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const last = await check();
    if (last !== undefined) return last;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A real server in a process of its own: these tests block the sim's event loop, and a
 * server on the same loop would stop with it (and, unblocked, mark every node down before
 * it read the beats waiting on its sockets).
 */
async function serverProcess(config: ServerConfigInput): Promise<{ url: string; stop(): Promise<void> }> {
  const code = `
const { startServer } = await import(process.argv[1]);
const server = await startServer(JSON.parse(process.argv[2]));
process.stdout.write(server.url + '\\n');
process.stdin.resume();
process.stdin.once('end', async () => { await server.stop(); process.exit(0); });
`;
  const main = new URL('../server/main.ts', import.meta.url).href;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, main, JSON.stringify(config)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(String(d).trim()));
    child.once('exit', (c) => reject(new Error(`server process exited (${c}) before listening`)));
  });
  return {
    url,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** Holds this thread's event loop, as `karu sim` does while thousands of allocations land. */
function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    /* spin */
  }
}

const SERVER = { listen: '127.0.0.1:0', logLevel: 'silent', heartbeatTtlMs: 2_000, heartbeatGraceMs: 1_000, maxHeartbeatsPerSecond: 1_000 } as const;

test('simulated nodes stay ready while the sim event loop is blocked past TTL + grace', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-sim-beats-'));
  const server = await serverProcess({ ...SERVER, dataDir: join(dir, 'server') });
  let sim: RunningSim | undefined;
  try {
    const client = new KaruClient({ baseUrl: server.url });
    sim = await startSim({ serverUrl: server.url, nodes: 5, runDelayMs: 0, dataDir: join(dir, 'sim'), seed: 1 });
    const ids = sim.nodeIds();
    await until('5 ready nodes', async () => ((await client.listNodes()).filter((n) => n.status === 'ready').length === 5 ? true : undefined));

    // 3.5 s > TTL 2 s + grace 1 s: with the beats on this loop every node was marked down.
    busyWait(3_500);
    await delay(200);
    for (const id of ids) {
      const node = await client.getNode(id);
      assert.equal(node.status, 'ready', `${node.name} is ${node.status}`);
      const statuses = (node.events ?? []).map((e) => e.status);
      assert.ok(!statuses.includes('down') && !statuses.includes('disconnected'), `${node.name} went ${statuses.join(' → ')}`);
    }
    assert.ok(sim.callsSent().beats >= 5, `${sim.callsSent().beats} beats`);
  } finally {
    await sim?.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a refused beat reaches the agent, which registers again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-sim-beats-'));
  const server = await serverProcess({ ...SERVER, heartbeatTtlMs: 1_000, heartbeatGraceMs: 500, dataDir: join(dir, 'server') });
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(String(chunk)), done()) });
  let sim: RunningSim | undefined;
  let lane: BeatLane | undefined;
  try {
    const client = new KaruClient({ baseUrl: server.url });
    sim = await startSim({ serverUrl: server.url, nodes: 2, runDelayMs: 0, dataDir: join(dir, 'sim'), seed: 1, logger: createLogger({ name: 'sim', level: 'warn', destination: sink }) });
    const agent = sim.agents[0]!;
    const old = agent.nodeId!;
    await until('2 ready nodes', async () => ((await client.listNodes()).filter((n) => n.status === 'ready').length === 2 ? true : undefined));

    // The lane itself: a wrong secret comes back as the refusal the KaruClient would throw.
    lane = new BeatLane({ serverUrl: server.url, flushMs: 10 });
    lane.add(sim.agents[1]!.nodeId!, 'not-the-secret', '{}', 1_000);
    const refused = await until('a refused beat', () => {
      const last = lane!.last(sim!.agents[1]!.nodeId!);
      return last && 'error' in last ? last.error : undefined;
    });
    assert.ok(isKaruError(refused) && (refused.code === 'UNAUTHORIZED' || refused.code === 'NOT_FOUND'), String(refused));
    assert.ok(lane.stats.failed >= 1 && lane.stats.sent >= lane.stats.failed, JSON.stringify(lane.stats));

    // Revoked (no TLS: anyone may): its next beat is refused, the agent hears it and registers anew.
    await client.removeNode(old);
    const fresh = await until('a new node id', () => (agent.nodeId !== undefined && agent.nodeId !== old ? agent.nodeId : undefined));
    await until('the new node ready', async () => ((await client.getNode(fresh)).status === 'ready' ? true : undefined));
    const beatRefusals = lines.filter((l) => l.includes('heartbeat failed'));
    assert.ok(beatRefusals.length >= 1, `no refused heartbeat logged:\n${lines.join('')}`);
    assert.equal((await client.getNode(old)).status, 'down');
  } finally {
    await lane?.close();
    await sim?.stop();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('stopping the sim ends its heartbeat thread', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-sim-beats-'));
  const server = await serverProcess({ ...SERVER, dataDir: join(dir, 'server') });
  try {
    const workers = () => process.getActiveResourcesInfo().filter((r) => r === 'Worker' || r === 'MessagePort').length;
    const before = workers();
    const sim = await startSim({ serverUrl: server.url, nodes: 3, runDelayMs: 0, dataDir: join(dir, 'sim'), seed: 1 });
    await until('beats sent', () => (sim.callsSent().beats >= 3 ? true : undefined));
    assert.ok(workers() > before, `no worker seen: ${process.getActiveResourcesInfo().join(',')}`);
    await sim.stop();
    assert.equal(workers(), before, process.getActiveResourcesInfo().join(','));
    const nodeIds: NodeId[] = sim.nodeIds();
    assert.equal(nodeIds.length, 3);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
