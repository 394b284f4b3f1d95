import { isClientTerminal } from '../core/alloc.js';
import type { MigrateRequest } from '../core/alloc.js';
import { ConflictError, KaruError, NotFoundError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import { withNodeEvent, type Node } from '../core/node.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { planRebalance, type RebalancePlan } from '../scheduler/rebalance.js';
import type { StateCache, StateStore, StateWrite } from '../store/state.js';

/**
 * The operator's node controls — eligibility, drain, rebalance — each one store write.
 * They only record intent (the node's drain strategy, allocations' migrate marks); the
 * drainer controller and the scheduler carry it out, so a server restart mid-drain loses
 * nothing.
 */

export interface NodeAdminDeps {
  stateStore: StateStore;
  cache: StateCache;
  clock: Clock;
  logger: Logger;
}

export interface DrainRequest {
  /** True starts (or updates) a drain; false cancels it. */
  enable: boolean;
  /** From now until whatever is left is stopped at once. */
  deadlineMs: number;
  ignoreSystem: boolean;
}

export interface RebalanceRequest {
  dryRun: boolean;
  /** Moves of this request in flight at once. */
  maxParallel: number;
  job?: { namespace: string; name: string };
}

export interface RebalanceResult {
  plan: RebalancePlan;
  /** Set when the moves were recorded (not a dry run, something to move). */
  batchId?: string;
}

/** Default drain deadline, as Nomad's. */
export const DEFAULT_DRAIN_DEADLINE_MS = 3_600_000;

async function loadNode(deps: NodeAdminDeps, nodeId: NodeId) {
  const found = await deps.stateStore.getNode(nodeId);
  if (!found) throw new NotFoundError('node', nodeId);
  return found;
}

/**
 * Each admin change reads the node and writes it back with compare-and-swap; losing to a
 * concurrent writer (a heartbeat, the monitor, the drainer) just means reading again.
 */
async function retryOnConflict<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof ConflictError) || i + 1 >= attempts) throw e;
    }
  }
}

async function commit(deps: NodeAdminDeps, writes: StateWrite[]): Promise<void> {
  const revision = await deps.stateStore.commit(writes);
  await deps.cache.waitFor(revision);
}

/** Eligible nodes take new allocations; ineligible ones keep theirs but get no new ones. */
export function setNodeEligibility(deps: NodeAdminDeps, nodeId: NodeId, eligible: boolean): Promise<Node> {
  return retryOnConflict(() => setEligibilityOnce(deps, nodeId, eligible));
}

async function setEligibilityOnce(deps: NodeAdminDeps, nodeId: NodeId, eligible: boolean): Promise<Node> {
  const { value: node, modRevision } = await loadNode(deps, nodeId);
  if (eligible && node.drain) {
    throw new KaruError('INVALID', `node ${node.name} is draining: cancel the drain first (karu node drain ${node.name} --disable)`);
  }
  const eligibility = eligible ? 'eligible' : 'ineligible';
  if (node.eligibility === eligibility) return node;
  const next: Node = { ...node, eligibility };
  await commit(deps, [{ kind: 'node', value: next, expectedModRevision: modRevision }]);
  deps.logger.info({ node: nodeId, eligibility }, 'node eligibility changed');
  return next;
}

/**
 * Starts, updates or cancels a drain. Starting makes the node ineligible and gives it a
 * drain strategy; cancelling makes it eligible again and withdraws the moves that have
 * not been replaced yet (a replacement already placed wins over its original as a duplicate).
 */
export function drainNode(deps: NodeAdminDeps, nodeId: NodeId, req: DrainRequest): Promise<Node> {
  return retryOnConflict(() => drainOnce(deps, nodeId, req));
}

async function drainOnce(deps: NodeAdminDeps, nodeId: NodeId, req: DrainRequest): Promise<Node> {
  const { value: node, modRevision } = await loadNode(deps, nodeId);
  const now = deps.clock.now();
  if (req.enable) {
    const next: Node = {
      ...node,
      drain: true,
      eligibility: 'ineligible',
      drainStrategy: { startedAt: node.drainStrategy?.startedAt ?? now, deadlineAt: now + req.deadlineMs, ignoreSystem: req.ignoreSystem },
      events: withNodeEvent(node.events, { time: now, status: node.status, message: `drain started (deadline ${new Date(now + req.deadlineMs).toISOString()})` }),
    };
    await commit(deps, [{ kind: 'node', value: next, expectedModRevision: modRevision }]);
    deps.logger.info({ node: nodeId, deadlineMs: req.deadlineMs }, node.drain ? 'drain updated' : 'drain started');
    return next;
  }
  if (!node.drain) return node;
  const { drainStrategy: _s, ...rest } = node;
  const next: Node = {
    ...rest,
    drain: false,
    eligibility: 'eligible',
    lastDrain: { completedAt: now, message: 'drain cancelled' },
    events: withNodeEvent(node.events, { time: now, status: node.status, message: 'drain cancelled' }),
  };
  const writes: StateWrite[] = [{ kind: 'node', value: next, expectedModRevision: modRevision }];
  for (const a of deps.cache.allocsByNode(nodeId)) {
    if (a.migrate?.reason !== 'drain' || a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus)) continue;
    const stored = await deps.stateStore.getAlloc(a.id);
    if (!stored) continue;
    const { migrate: _m, ...unmarked } = stored.value;
    writes.push({ kind: 'alloc', value: unmarked, expectedModRevision: stored.modRevision });
  }
  await commit(deps, writes);
  deps.logger.info({ node: nodeId, withdrawn: writes.length - 1 }, 'drain cancelled');
  return next;
}

/**
 * Plans a rebalance (scheduler/rebalance.ts) and, unless a dry run, records its moves as
 * migrate marks of one batch, not yet started: the drainer starts at most `maxParallel`
 * of them at a time, each make-before-break.
 */
export async function rebalance(deps: NodeAdminDeps, req: RebalanceRequest): Promise<RebalanceResult> {
  const { cache, clock } = deps;
  const plan = planRebalance(cache, req.job ? { job: req.job } : {});
  if (req.dryRun || plan.moves.length === 0) return { plan };
  const now = clock.now();
  const batchId = `rebalance_${now.toString(36)}`;
  const writes: StateWrite[] = [];
  for (const m of plan.moves) {
    const stored = await deps.stateStore.getAlloc(m.allocId);
    if (!stored || stored.value.desiredStatus !== 'run' || stored.value.migrate) continue;
    const migrate: MigrateRequest = {
      reason: 'rebalance',
      requestedAt: now,
      started: false,
      targetNodeId: m.toNodeId,
      batch: { id: batchId, maxParallel: req.maxParallel },
      why: `rebalance: ${m.fromNodeName} → ${m.toNodeName}`,
    };
    writes.push({ kind: 'alloc', value: { ...stored.value, migrate }, expectedModRevision: stored.modRevision });
  }
  if (writes.length > 0) await commit(deps, writes);
  deps.logger.info({ batch: batchId, moves: writes.length, maxParallel: req.maxParallel }, 'rebalance recorded');
  return { plan, batchId };
}
