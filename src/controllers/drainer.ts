import { isClientTerminal } from '../core/alloc.js';
import type { AllocView, MigrateRequest } from '../core/alloc.js';
import { ConflictError } from '../core/errors.js';
import type { Evaluation, EvalTrigger } from '../core/evaluation.js';
import { hostPathsOf, migratePolicy } from '../core/job.js';
import type { Group } from '../core/job.js';
import { isSchedulable, withNodeEvent } from '../core/node.js';
import type { Node } from '../core/node.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { isMigrating, readyAt } from '../scheduler/migrate.js';
import { groupKey } from '../scheduler/usage.js';
import type { StateCache, StateChange, StateStore, StateWrite } from '../store/state.js';
import { newEvaluation } from './evals.js';

export interface DrainerOptions {
  /** Coalesce bursts of changes into one pass. Default 50 ms. */
  debounceMs?: number;
  /** Wait before retrying a pass that lost a write race or failed. Default 1 s. */
  retryMs?: number;
}

/**
 * The drainer: carries out drains and rebalances, level-triggered on the read model.
 * Everything it knows is in the store (the node's drain strategy, allocations' migrate
 * marks), so a server restart mid-drain simply resumes with the next pass.
 *
 * Per draining node, each pass:
 *   - before the deadline, marks allocations to migrate (started), per group at most
 *     `migrate.maxParallel` in flight across the cluster; batch allocations are left to
 *     finish and node-local ones (host mounts) are left running — not movable;
 *   - once the deadline passed, marks everything left `force`: the scheduler stops it at
 *     once and replaces what can be replaced (node-local ones are reported lost by drain);
 *   - when nothing meant to run is left, ends the drain ("drain complete"), the node
 *     staying ineligible.
 * For rebalance batches it starts waiting moves up to the batch's max-parallel, and drops
 * moves whose target stopped taking work or whose evaluation finished without placing a
 * replacement. Whenever a migrating allocation's replacement is ready it asks for an
 * evaluation, so the scheduler stops the original (make before break).
 */
export class Drainer {
  private cancelTimer: (() => void) | undefined;
  private cancelWake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private readonly opts: Required<DrainerOptions>;

  constructor(
    private readonly deps: { stateStore: StateStore; cache: StateCache; clock: Clock; logger: Logger },
    opts: DrainerOptions = {},
  ) {
    this.opts = { debounceMs: opts.debounceMs ?? 50, retryMs: opts.retryMs ?? 1_000 };
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.deps.cache.subscribe((changes) => {
      if (changes.some((c) => this.relevant(c))) this.schedule(this.opts.debounceMs);
    });
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    this.cancelTimer?.();
    this.cancelWake?.();
    this.cancelTimer = this.cancelWake = undefined;
  }

  /** Resolves once no pass is running (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private relevant(c: StateChange): boolean {
    switch (c.type) {
      case 'node':
        return Boolean(c.before?.drain || c.after?.drain);
      case 'alloc': {
        const a = c.after ?? c.before;
        if (!a) return false;
        if (c.before?.migrate || c.after?.migrate) return true;
        if (a.previousAllocId !== undefined && this.deps.cache.alloc(a.previousAllocId)?.migrate) return true;
        return Boolean(this.deps.cache.node(a.nodeId)?.drain);
      }
      case 'eval':
        // A rebalance move whose evaluation finished without a replacement is dropped.
        return c.after?.status !== 'pending' && (c.after?.triggeredBy === 'rebalance' || c.after?.triggeredBy === 'node-drain');
      default:
        return false;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped || this.cancelTimer) return;
    this.cancelTimer = this.deps.clock.setTimer(ms, () => {
      this.cancelTimer = undefined;
      void this.runPass();
    });
  }

  private async runPass(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass()
      .catch((err) => {
        if (err instanceof ConflictError) this.deps.logger.debug({ err }, 'drainer lost a write race; retrying');
        else this.deps.logger.warn({ err }, 'drainer pass failed; retrying');
        this.schedule(this.opts.retryMs);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(0);
        }
      });
    await this.running;
  }

  /** One level-triggered pass over every drain and rebalance. Exposed for tests. */
  async pass(): Promise<void> {
    const { cache, clock, stateStore, logger } = this.deps;
    const now = clock.now();
    const marks = new Map<string, { alloc: AllocView; migrate: MigrateRequest | undefined }>();
    const nodeWrites: StateWrite[] = [];
    const evals = new Map<string, Evaluation>();
    const evalFor = (a: AllocView, trigger: EvalTrigger): Evaluation => {
      const key = `${a.namespace}/${a.jobName}`;
      let e = evals.get(key);
      if (!e) evals.set(key, (e = newEvaluation(a.namespace, a.jobName, trigger, now)));
      return e;
    };
    const groupOf = (a: AllocView): Group | undefined => cache.job(a.namespace, a.jobName)?.groups.find((g) => g.name === a.group);
    let wakeAt = Number.POSITIVE_INFINITY;

    // Moves in flight per group, across the cluster (the migrate policy's max-parallel).
    const inFlight = new Map<string, number>();
    const all = cache.allocs();
    for (const a of all) if (isMigrating(a) && !a.migrate!.force) inFlight.set(groupKey(a), (inFlight.get(groupKey(a)) ?? 0) + 1);

    // 1. Drains.
    for (const node of cache.nodes()) {
      if (!node.drain || !node.drainStrategy) continue;
      const forced = now >= node.drainStrategy.deadlineAt;
      if (!forced) wakeAt = Math.min(wakeAt, node.drainStrategy.deadlineAt);
      const left = cache.allocsByNode(node.id).filter((a) => a.desiredStatus === 'run' && !isClientTerminal(a.clientStatus));
      if (left.length === 0) {
        nodeWrites.push(await this.completed(node, now));
        continue;
      }
      for (const a of left) {
        const group = groupOf(a);
        if (forced) {
          if (a.migrate?.force) continue;
          const paths = group ? hostPathsOf(group) : [];
          const why = paths.length > 0 ? `lost by drain: uses host path ${paths.join(', ')}; stopped at the drain deadline` : 'drain deadline reached: stopped before a replacement ran';
          marks.set(a.id, { alloc: a, migrate: { reason: 'drain', requestedAt: a.migrate?.requestedAt ?? now, started: true, force: true, why } });
          evalFor(a, 'node-drain');
          continue;
        }
        if (a.migrate?.started) continue;
        const job = cache.job(a.namespace, a.jobName);
        // Gone or stopped jobs and removed groups are the scheduler's to stop; batch work finishes.
        if (!job || job.stopped || !group || job.type === 'batch' || hostPathsOf(group).length > 0) continue;
        const key = groupKey(a);
        if ((inFlight.get(key) ?? 0) >= migratePolicy(group).maxParallel) continue;
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
        marks.set(a.id, { alloc: a, migrate: { reason: 'drain', requestedAt: now, started: true, why: `node ${node.name} is draining` } });
        evalFor(a, 'node-drain');
      }
    }

    // 2. Rebalance batches: start waiting moves, drop impossible ones.
    const batches = new Map<string, { maxParallel: number; started: number; waiting: AllocView[] }>();
    for (const a of all) {
      const m = a.migrate;
      if (m?.reason !== 'rebalance' || !m.batch || a.desiredStatus !== 'run' || isClientTerminal(a.clientStatus) || marks.has(a.id)) continue;
      let b = batches.get(m.batch.id);
      if (!b) batches.set(m.batch.id, (b = { maxParallel: m.batch.maxParallel, started: 0, waiting: [] }));
      if (!m.started) {
        b.waiting.push(a);
        continue;
      }
      const e = m.evalId ? cache.eval(m.evalId) : undefined;
      const done = e !== undefined && e.status !== 'pending';
      if (done && standIns(cache, a).length === 0) {
        logger.info({ alloc: a.id, target: m.targetNodeId }, 'rebalance move could not be placed on its target; dropped');
        marks.set(a.id, { alloc: a, migrate: undefined });
        continue;
      }
      b.started++;
    }
    for (const b of batches.values()) {
      b.waiting.sort((x, y) => x.migrate!.requestedAt - y.migrate!.requestedAt || (x.id < y.id ? -1 : 1));
      for (const a of b.waiting) {
        if (b.started >= b.maxParallel) break;
        const target = a.migrate!.targetNodeId ? cache.node(a.migrate!.targetNodeId) : undefined;
        if (a.migrate!.targetNodeId && (!target || !isSchedulable(target))) {
          logger.info({ alloc: a.id, target: a.migrate!.targetNodeId }, 'rebalance target no longer takes work; move dropped');
          marks.set(a.id, { alloc: a, migrate: undefined });
          continue;
        }
        const e = evalFor(a, 'rebalance');
        marks.set(a.id, { alloc: a, migrate: { ...a.migrate!, started: true, evalId: e.id, requestedAt: a.migrate!.requestedAt } });
        b.started++;
      }
    }

    // 3. Migrating allocations whose replacement is ready: the scheduler stops them.
    for (const a of all) {
      if (!isMigrating(a) || a.migrate!.force || marks.has(a.id)) continue;
      const group = groupOf(a);
      if (!group) continue;
      for (const r of standIns(cache, a)) {
        const at = readyAt(r, migratePolicy(group));
        if (at === undefined) continue;
        if (at <= now) {
          if (!cache.evals({ namespace: a.namespace, jobName: a.jobName }).some((e) => e.status === 'pending')) evalFor(a, a.migrate!.reason === 'drain' ? 'node-drain' : 'rebalance');
        } else wakeAt = Math.min(wakeAt, at);
      }
    }

    const writes: StateWrite[] = [...nodeWrites];
    for (const { alloc, migrate } of marks.values()) {
      // From the store with its revision: a plan applied meanwhile (a stop) must not be overwritten.
      const stored = await stateStore.getAlloc(alloc.id);
      if (!stored || stored.value.desiredStatus !== 'run') continue;
      const { migrate: _old, ...rest } = stored.value;
      writes.push({ kind: 'alloc', value: migrate ? { ...rest, migrate } : rest, expectedModRevision: stored.modRevision });
    }
    for (const e of evals.values()) writes.push({ kind: 'eval', value: e });
    if (writes.length > 0) {
      const revision = await stateStore.commit(writes);
      await cache.waitFor(revision);
      logger.debug({ marks: marks.size, evaluations: evals.size, nodes: nodeWrites.length }, 'drainer pass');
    }
    this.wake(wakeAt, now);
  }

  private async completed(node: Node, now: number): Promise<StateWrite> {
    const found = await this.deps.stateStore.getNode(node.id);
    const current = found?.value ?? node;
    const forced = current.drainStrategy !== undefined && now >= current.drainStrategy.deadlineAt;
    const message = forced ? 'drain complete (the deadline forced what was left)' : 'drain complete';
    const { drainStrategy: _s, ...rest } = current;
    this.deps.logger.info({ node: node.id, name: node.name }, message);
    return {
      kind: 'node',
      value: { ...rest, drain: false, eligibility: 'ineligible', lastDrain: { completedAt: now, message }, events: withNodeEvent(current.events, { time: now, status: current.status, message }) },
      expectedModRevision: found?.modRevision ?? 0,
    };
  }

  /** Timer for the next thing that is due without any change: a deadline, a replacement's min healthy time. */
  private wake(at: number, now: number): void {
    this.cancelWake?.();
    this.cancelWake = undefined;
    if (this.stopped || !Number.isFinite(at)) return;
    this.cancelWake = this.deps.clock.setTimer(Math.max(0, at - now), () => {
      this.cancelWake = undefined;
      this.schedule(0);
    });
  }
}

/** Other allocations meant to run at the same index of the same group: the replacement, normally. */
function standIns(cache: StateCache, a: AllocView): AllocView[] {
  return cache.allocsByJob(a.namespace, a.jobName).filter((b) => b.id !== a.id && b.group === a.group && b.index === a.index && b.desiredStatus === 'run' && !isMigrating(b));
}
