import type { Node } from '../core/node.js';
import type { NodeId } from '../core/ids.js';
import { newEvaluation } from './evals.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';
import { lostAfterOnNode, transitionWrites, updateNode } from './node-status.js';

/** Defaults: a dead node's work is replaced within ~5 s (docs/design/failure.md). */
export const NODE_MONITOR_DEFAULTS = Object.freeze({
  /** Shortest heartbeat TTL, whatever the cluster size; agents beat at half of it. */
  minTtlMs: 2_000,
  /**
   * Nodes per second of TTL the server is willing to take; the TTL grows past minTtlMs to
   * stay under it. 2,500 keeps the 2 s TTL (and ~5 s failover) up to 5,000 nodes; agents
   * beat at half the TTL, so that is up to 5,000 beats/s, each one an in-memory deadline
   * update (no store write; auth from memory; answered before the HTTP router:
   * api/heartbeat-fast-path.ts). bench/heartbeats.sh and heartbeats-api.sh measure it.
   */
  maxHeartbeatsPerSecond: 2_500,
  /** Extra time past the TTL before a node counts as disconnected (network jitter, a busy agent). */
  graceMs: 1_000,
});

export interface NodeMonitorOptions {
  /** Shortest heartbeat TTL, whatever the cluster size. Default 2 s. */
  minTtlMs?: number;
  /**
   * Heartbeats per second the server is willing to take; the TTL grows with the node
   * count to stay under it (Nomad's approach). Default 2,500 (2 s TTL up to 5,000 nodes).
   */
  maxHeartbeatsPerSecond?: number;
  /** Extra time past the TTL before a node counts as disconnected. Default 1 s. */
  graceMs?: number;
}

/** How stale the TTL may be: nodes join a few per second at most, the TTL moves slowly. */
const TTL_REFRESH_MS = 1_000;

/**
 * A tick later than planned means this process did not run for that long (GC, a long
 * synchronous stretch, starved CPU), not that the nodes were silent: beats that arrived
 * meanwhile wait unread in its sockets. Every delay past FORGIVE_AFTER_MS is forgiven, not
 * only long stalls: under steady load (issue 5: plans landing at 5,000 nodes) ticks ran
 * 100–400 ms late one after another and the delays added up to false down marks. A delay
 * past STALL_MS is also logged.
 */
const FORGIVE_AFTER_MS = 50;
const STALL_MS = 500;

/**
 * Watches heartbeats. Deadlines live in memory on the leader (a heartbeat is not a store
 * write). A node that misses its deadline (TTL + grace since its last beat) becomes
 * `disconnected`, or `down` at once when none of its allocations' groups waits for it
 * (`disconnect.lostAfter` 0, the default). A disconnected node goes `down` once the
 * longest `lostAfter` of its allocations has passed; in between, each job is re-evaluated
 * when its own allocations' `lostAfter` runs out. Every change writes a node event and
 * evaluations for the jobs on the node in one commit; the scheduler does the rest.
 *
 * After a server start every known node gets a fresh deadline, so a restart never takes
 * healthy nodes down; and a tick that fires late (this process stalled) moves every
 * deadline by the delay, since the heartbeats that arrived meanwhile are still queued.
 */
export class NodeMonitor {
  private readonly deadlines = new Map<NodeId, number>();
  /** Disconnected nodes → jobs already re-evaluated for their lostAfter expiry. */
  private readonly disconnected = new Map<NodeId, Set<string>>();
  private cancelTick: (() => void) | undefined;
  /** The tick under way, if any: `idle` waits for it. */
  private ticking: Promise<void> | undefined;
  /** Set by `stop`: a tick under way marks nobody else (the store may be closing). */
  private stopped = false;
  private ttl: { value: number; at: number } | undefined;
  private count: { value: number; at: number } | undefined;
  private readonly opts: Required<NodeMonitorOptions>;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    opts: NodeMonitorOptions = {},
  ) {
    this.opts = {
      minTtlMs: opts.minTtlMs ?? NODE_MONITOR_DEFAULTS.minTtlMs,
      maxHeartbeatsPerSecond: opts.maxHeartbeatsPerSecond ?? NODE_MONITOR_DEFAULTS.maxHeartbeatsPerSecond,
      graceMs: opts.graceMs ?? NODE_MONITOR_DEFAULTS.graceMs,
    };
  }

  start(): void {
    this.stopped = false;
    const now = this.deps.clock.now();
    for (const node of this.deps.cache.nodes()) {
      if (node.status !== 'down') this.deadlines.set(node.id, now + this.ttlMs() + this.opts.graceMs);
      if (node.status === 'disconnected') this.disconnected.set(node.id, new Set());
    }
    this.scheduleTick();
  }

  stop(): void {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelTick = undefined;
  }

  /** Resolves once a tick under way has ended (after `stop`, it marks nobody else). */
  async idle(): Promise<void> {
    await this.ticking;
  }

  /**
   * The TTL agents are told to heartbeat within. Worked out at most once a second: every
   * beat asks, and counting nodes copies the read model's list (5,000 nodes × 7,500
   * beats/s would be 37 M copies a second).
   */
  ttlMs(): number {
    const now = this.deps.clock.now();
    if (this.ttl && now - this.ttl.at < TTL_REFRESH_MS) return this.ttl.value;
    const nodes = Math.max(1, this.nodeCount());
    const value = Math.max(this.opts.minTtlMs, Math.ceil((nodes / this.opts.maxHeartbeatsPerSecond) * 1000));
    this.ttl = { value, at: now };
    return value;
  }

  /** Nodes the cluster knows, counted at most once a second (for the same reason as ttlMs). */
  nodeCount(): number {
    const now = this.deps.clock.now();
    if (this.count && now - this.count.at < TTL_REFRESH_MS) return this.count.value;
    this.count = { value: this.deps.cache.nodes().length, at: now };
    return this.count.value;
  }

  /** Records a heartbeat; returns the TTL the node must beat within. */
  beat(nodeId: NodeId): number {
    const ttl = this.ttlMs();
    this.deadlines.set(nodeId, this.deps.clock.now() + ttl + this.opts.graceMs);
    this.disconnected.delete(nodeId);
    return ttl;
  }

  forget(nodeId: NodeId): void {
    this.deadlines.delete(nodeId);
    this.disconnected.delete(nodeId);
  }

  /** How often deadlines are checked: a quarter of the TTL, between 100 ms and 1 s. */
  private intervalMs(): number {
    return Math.min(1_000, Math.max(100, this.opts.minTtlMs / 4));
  }

  private scheduleTick(): void {
    const interval = this.intervalMs();
    const due = this.deps.clock.now() + interval;
    this.cancelTick = this.deps.clock.setTimer(interval, () => {
      const late = this.deps.clock.now() - due;
      if (late > FORGIVE_AFTER_MS) this.forgive(late);
      this.ticking = this.tick()
        .catch((err) => this.deps.logger.warn({ err }, 'node monitor tick failed'))
        .finally(() => {
          this.ticking = undefined;
          if (this.cancelTick) this.scheduleTick();
        });
    });
  }

  /** This process did not run for `ms`: nobody could have heartbeat to it, so nobody is to blame. */
  private forgive(ms: number): void {
    for (const [id, deadline] of this.deadlines) this.deadlines.set(id, deadline + ms);
    if (ms > STALL_MS) this.deps.logger.warn({ stalledMs: ms }, 'node monitor ran late (server stalled): heartbeat deadlines extended');
  }

  /** Marks nodes past their deadline disconnected or down, and expires disconnected ones. Exposed for tests. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    const { cache, stateStore, logger } = this.deps;
    for (const [id, deadline] of this.deadlines) {
      if (this.stopped) return;
      if (deadline > now) continue;
      this.deadlines.delete(id);
      const node = cache.node(id);
      if (!node || node.status === 'down' || node.status === 'disconnected') continue;
      const waits = Math.max(0, ...lostAfterOnNode(cache, node).map((d) => d.lostAfterMs));
      const missed = `missed heartbeats (TTL ${this.ttlMs()} ms + grace ${this.opts.graceMs} ms)`;
      // Only a node still ready as stored is marked: a heartbeat may have just landed.
      const mark = (status: 'down' | 'disconnected', message: string) =>
        updateNode(stateStore, node.id, (current) => (current.status === 'ready' ? transitionWrites(cache, current, status, message, now) : undefined));
      if (waits === 0) {
        await mark('down', `${missed}: down`);
        logger.warn({ node: node.id, name: node.name }, 'node missed its heartbeats: marked down');
      } else {
        await mark('disconnected', `${missed}: disconnected, down after ${waits} ms unless it returns`);
        this.disconnected.set(node.id, new Set());
        logger.warn({ node: node.id, name: node.name, downAfterMs: waits }, 'node missed its heartbeats: marked disconnected');
      }
    }
    for (const [id, evaluated] of this.disconnected) {
      if (this.stopped) return;
      const node = cache.node(id);
      if (!node || node.status !== 'disconnected') {
        this.disconnected.delete(id);
        continue;
      }
      await this.expire(node, evaluated, now);
    }
  }

  /** A disconnected node: re-evaluate jobs whose lostAfter passed; down once all have. */
  private async expire(node: Node, evaluated: Set<string>, now: number): Promise<void> {
    const { cache, stateStore, logger } = this.deps;
    const since = node.disconnectedAt ?? node.statusUpdatedAt;
    const deadlines = lostAfterOnNode(cache, node);
    const longest = Math.max(0, ...deadlines.map((d) => d.lostAfterMs));
    if (now >= since + longest) {
      this.disconnected.delete(node.id);
      await updateNode(stateStore, node.id, (current) =>
        current.status === 'disconnected' ? transitionWrites(cache, current, 'down', `disconnected for ${now - since} ms, longer than any allocation waits: down`, now) : undefined,
      );
      logger.warn({ node: node.id, name: node.name }, 'disconnected node marked down');
      return;
    }
    const writes: StateWrite[] = [];
    for (const d of deadlines) {
      const key = `${d.namespace}/${d.jobName}`;
      if (now < since + d.lostAfterMs || evaluated.has(key)) continue;
      evaluated.add(key);
      writes.push({ kind: 'eval', value: newEvaluation(d.namespace, d.jobName, 'node-update', now, { nodeId: node.id }) });
    }
    if (writes.length > 0) await stateStore.commit(writes);
  }
}
