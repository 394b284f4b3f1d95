import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { KaruClient } from '../client/client.js';
import type { NodeId } from '../core/ids.js';
import { systemClock, type Clock } from '../lib/clock.js';
import { silentLogger, type Logger } from '../lib/logger.js';
import { seededRng } from '../lib/rng.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { Agent, type AgentServerApi } from './agent.js';
import { resolveAgentConfig } from './config.js';
import type { HostFacts } from './fingerprint.js';
import { pooledTransport } from './http-transport.js';
import { nodeSession } from './node-session.js';
import { BeatLane } from './sim-beats.js';

/** What `karu sim` runs: N simulated nodes against one plain-HTTP server. */
export interface SimOptions {
  serverUrl: string;
  /** Number of simulated nodes. */
  nodes: number;
  /** CPU each node offers. Default 4000 MHz. */
  cpuMhz?: number;
  /** Memory each node offers. Default 8192 MB. */
  memoryMb?: number;
  /** How long a task takes to turn "running" (the fake driver's start). Default 500 ms. */
  runDelayMs?: number;
  /** Nodes are named `<prefix>-<i>`. Default `sim`. */
  namePrefix?: string;
  /** Node pool of every simulated node. Default: the server's default pool. */
  pool?: string;
  /** Where the nodes keep their identities; default a temp dir removed on stop. */
  dataDir?: string;
  /** Registrations in flight at once while starting. Default 64. */
  startConcurrency?: number;
  /** Keep-alive connections shared by every node's short calls (registration, status reports). Default 32. */
  connections?: number;
  /**
   * Keep-alive connections of the heartbeat thread (see BeatLane). Default one per 20 nodes
   * (at least 16): a beat needs a free connection, so 16 for 5,000 beats a second held only
   * while a round trip took under 3 ms; with both processes busy it took tens, beats queued
   * for seconds and healthy nodes were marked down (issue 5). Real agents each have their own.
   */
  beatConnections?: number;
  /** Seeds each node's rng (node i gets seed + i), so retries are replayable. Default Date.now(). */
  seed?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface RunningSim {
  /** The simulated agents, in name order. */
  readonly agents: readonly Agent[];
  /** The node ids the server handed out. */
  nodeIds(): NodeId[];
  /** Calls sent through the API so far: heartbeats, other short ones (register, status reports), blocking queries. */
  callsSent(): { beats: number; short: number; blocking: number };
  /** Stops every agent (their fake tasks vanish with the process), the shared connections and the temp dir. */
  stop(): Promise<void>;
}

/** Facts every simulated node reports: identical machines, so the figures depend on the control plane only. */
const SIM_HOST: HostFacts = { cpuCores: 4, totalMemoryMb: 8192, osName: 'linux', kernelVersion: 'sim', arch: 'x64' };

/** Agent URL the server is given: simulated nodes serve no API (no logs), nothing listens here. */
const NO_AGENT_URL = 'http://127.0.0.1:9';

/**
 * Runs `nodes` real Agents in this process, each with its own FakeDriver (named `docker`,
 * which is what the scheduler places on) whose tasks turn running after `runDelayMs`.
 * They talk to the server over HTTP exactly as real agents do — register, heartbeat,
 * blocking allocations query, status reports — through the same KaruClient calls, on one
 * shared transport: short calls over a bounded set of keep-alive connections, blocking
 * queries over their own (about one per node, since each node keeps one open). undici's
 * `fetch` per call was most of the sim's CPU (issue 5: one core saturated at ~5,000 nodes).
 * Heartbeats are the exception: a thread of their own sends them (BeatLane), so a stall of
 * this event loop, which every node shares, does not get them all marked down at once.
 */
export async function startSim(opts: SimOptions): Promise<RunningSim> {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1) throw new RangeError(`nodes must be a positive integer, got ${opts.nodes}`);
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger();
  const prefix = opts.namePrefix ?? 'sim';
  const runDelayMs = opts.runDelayMs ?? 500;
  const seed = opts.seed ?? Date.now();
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'karu-sim-')));
  const transport = pooledTransport(opts.connections !== undefined ? { connections: opts.connections } : {});
  const base = new KaruClient({ baseUrl: opts.serverUrl, transport: transport.request });
  const lane = new BeatLane({ serverUrl: opts.serverUrl, connections: opts.beatConnections ?? Math.max(16, Math.ceil(opts.nodes / 20)) });

  const agents: Agent[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const name = `${prefix}-${String(i + 1).padStart(String(opts.nodes).length, '0')}`;
    const config = resolveAgentConfig({
      serverUrl: opts.serverUrl,
      dataDir: join(dataDir, name),
      name,
      address: '127.0.0.1',
      cpuMhz: opts.cpuMhz ?? 4000,
      memoryMb: opts.memoryMb ?? 8192,
      httpPort: 0,
      httpHost: '127.0.0.1',
      // rack: ten values, so benchmarks can constrain on something that differs between nodes.
      labels: { sim: 'true', rack: `r${i % 10}` },
      ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
    });
    const driver = new FakeDriver({ clock, ...(runDelayMs > 0 ? { startDelayMs: runDelayMs } : {}), attributes: { 'driver.sim': 'true' } });
    // The scheduler places only on nodes with a healthy `docker` driver.
    Object.defineProperty(driver, 'name', { value: 'docker' });
    agents.push(
      new Agent({ config, driver, server: beatingOnLane(nodeSession(base), lane), agentUrl: NO_AGENT_URL, clock, rng: seededRng(seed + i), logger: logger.child({ node: name }), host: SIM_HOST }),
    );
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await lane.close();
      await transport.close();
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    })());

  try {
    // Bounded fan-out: a thousand registrations at once would only queue in the server.
    let next = 0;
    const width = Math.max(1, Math.min(opts.startConcurrency ?? 64, agents.length));
    await Promise.all(
      Array.from({ length: width }, async () => {
        while (next < agents.length) await agents[next++]!.start();
      }),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  logger.info({ nodes: agents.length, dataDir }, 'simulated nodes started');
  const stopWatching = watchOwnStalls(logger);
  const stopWatchingBeats = watchBeats(lane, logger);
  const stopAll = () => (stopWatching(), stopWatchingBeats(), stop());
  return { agents, nodeIds: () => agents.flatMap((a) => (a.nodeId ? [a.nodeId] : [])), callsSent: () => ({ ...transport.sent, beats: transport.sent.beats + lane.stats.sent }), stop: stopAll };
}

/**
 * An agent's server API whose heartbeats go on `lane`'s thread: registration (and every
 * other call) goes through `session` as before and hands the lane the node's credentials;
 * the agent's heartbeat call answers with what the lane heard last — the TTL, or the
 * latest beat's error, so a refusal still makes the agent register again. A stall of
 * this event loop then delays the agent's bookkeeping, not its beats.
 */
function beatingOnLane(session: AgentServerApi, lane: BeatLane): AgentServerApi {
  let beaten: NodeId | undefined;
  return {
    ...session,
    async registerNode(req) {
      const res = await session.registerNode(req);
      if (beaten !== undefined && beaten !== res.nodeId) lane.remove(beaten);
      beaten = res.nodeId;
      lane.update(res.nodeId, res.secret, JSON.stringify({ drivers: req.drivers }), res.heartbeatTtlMs);
      return res;
    },
    async heartbeat(nodeId, req, opts) {
      const last = lane.last(nodeId);
      // Not on the lane (cannot happen after a registration): beat the ordinary way.
      if (!last) return session.heartbeat(nodeId, req, opts);
      lane.setBody(nodeId, JSON.stringify(req));
      if ('error' in last) throw last.error;
      return { heartbeatTtlMs: last.ttlMs };
    },
  };
}

/**
 * Every 5 s, whether the heartbeat thread's beats failed or came late (more than a TTL
 * after the node's previous answer) meanwhile: a node the server marks down then was not
 * beaten in time by the sim or answered in time by the server — benchmarks tell which from
 * these lines and the server's own ("node monitor ran late").
 */
function watchBeats(lane: BeatLane, logger: Logger): () => void {
  let seen = { ...lane.stats };
  const timer = setInterval(() => {
    const now = { ...lane.stats };
    const failed = now.failed - seen.failed;
    const late = now.late - seen.late;
    if (failed > 0 || late > 0) logger.warn({ beats: now.sent - seen.sent, failed, late, maxGapMs: now.maxGapMs }, 'simulated heartbeats failed or came late');
    seen = now;
  }, 5_000);
  timer.unref();
  return () => clearInterval(timer);
}

/** A stall of the sim's own event loop longer than this is logged: its nodes' beats wait behind it. */
const SIM_STALL_WARN_MS = 1_000;

/**
 * Every 5 s, the longest delay of this process's event loop; logged when over a second.
 * Thousands of nodes share one loop here: when it stalls, every node misses its beats at
 * once, and "marked down" then measures the simulator, not the server (benchmarks count
 * these lines). Real time on purpose: it watches the process, not the simulated clock.
 */
function watchOwnStalls(logger: Logger): () => void {
  const delays = monitorEventLoopDelay({ resolution: 20 });
  delays.enable();
  const timer = setInterval(() => {
    const maxMs = delays.max / 1e6;
    if (maxMs > SIM_STALL_WARN_MS) logger.warn({ maxMs: Math.round(maxMs), p99Ms: Math.round(delays.percentile(99) / 1e6) }, 'the sim stalled: its nodes missed beats meanwhile');
    delays.reset();
  }, 5_000);
  timer.unref();
  return () => {
    clearInterval(timer);
    delays.disable();
  };
}
