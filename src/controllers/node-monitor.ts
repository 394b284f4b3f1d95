import type { Node } from '../core/node.js';
import type { NodeId } from '../core/ids.js';
import type { Evaluation } from '../core/evaluation.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';
import { evalsForJobsOnNode } from './evals.js';

export interface NodeMonitorOptions {
  /** Shortest heartbeat TTL, whatever the cluster size. Default 10 s. */
  minTtlMs?: number;
  /**
   * Heartbeats per second the server is willing to take; the TTL grows with the node
   * count to stay under it (Nomad's approach). Default 50.
   */
  maxHeartbeatsPerSecond?: number;
  /** Extra time past the TTL before a node counts as down (network jitter). Default 5 s. */
  graceMs?: number;
}

/**
 * Watches heartbeats. Deadlines live in memory on the leader (a heartbeat is not a
 * store write); a missed deadline marks the node `down` and asks every job with work
 * on it to be re-evaluated. After a server start every known node gets a fresh
 * deadline, so a restart never takes healthy nodes down.
 */
export class NodeMonitor {
  private readonly deadlines = new Map<NodeId, number>();
  private cancelTick: (() => void) | undefined;
  private readonly opts: Required<NodeMonitorOptions>;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    opts: NodeMonitorOptions = {},
  ) {
    this.opts = { minTtlMs: opts.minTtlMs ?? 10_000, maxHeartbeatsPerSecond: opts.maxHeartbeatsPerSecond ?? 50, graceMs: opts.graceMs ?? 5_000 };
  }

  start(): void {
    const now = this.deps.clock.now();
    for (const node of this.deps.cache.nodes()) {
      if (node.status !== 'down') this.deadlines.set(node.id, now + this.ttlMs() + this.opts.graceMs);
    }
    this.scheduleTick();
  }

  stop(): void {
    this.cancelTick?.();
    this.cancelTick = undefined;
  }

  /** The TTL agents are told to heartbeat within. */
  ttlMs(): number {
    const nodes = Math.max(1, this.deps.cache.nodes().length);
    return Math.max(this.opts.minTtlMs, Math.ceil((nodes / this.opts.maxHeartbeatsPerSecond) * 1000));
  }

  /** Records a heartbeat; returns the node as it should now be (ready), for the caller to write when it changed. */
  beat(nodeId: NodeId): number {
    const ttl = this.ttlMs();
    this.deadlines.set(nodeId, this.deps.clock.now() + ttl + this.opts.graceMs);
    return ttl;
  }

  forget(nodeId: NodeId): void {
    this.deadlines.delete(nodeId);
  }

  private scheduleTick(): void {
    const interval = Math.min(1_000, Math.max(100, this.opts.minTtlMs / 4));
    this.cancelTick = this.deps.clock.setTimer(interval, () => {
      void this.tick()
        .catch((err) => this.deps.logger.warn({ err }, 'node monitor tick failed'))
        .finally(() => {
          if (this.cancelTick) this.scheduleTick();
        });
    });
  }

  /** Marks every node whose deadline passed as down. Exposed for tests. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    const expired: Node[] = [];
    for (const [id, deadline] of this.deadlines) {
      if (deadline > now) continue;
      this.deadlines.delete(id);
      const node = this.deps.cache.node(id);
      if (node && node.status !== 'down') expired.push(node);
    }
    for (const node of expired) {
      const writes: StateWrite[] = [
        {
          kind: 'node',
          value: { ...node, status: 'down', statusDescription: 'missed heartbeats', statusUpdatedAt: now },
        },
      ];
      const evals: Evaluation[] = evalsForJobsOnNode(this.deps.cache, node.id, 'node-update', now);
      for (const e of evals) writes.push({ kind: 'eval', value: e });
      await this.deps.stateStore.commit(writes);
      this.deps.logger.warn({ node: node.id, name: node.name, evaluations: evals.length }, 'node missed its heartbeats: marked down');
    }
  }
}
