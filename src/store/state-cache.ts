import type { AllocView } from '../core/alloc.js';
import { UnavailableError } from '../core/errors.js';
import type { Evaluation } from '../core/evaluation.js';
import { jobKey, type AllocId, type EvalId, type NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Disposable } from '../lib/disposable.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { CACHED_PREFIXES, cachedPrefixOf, diffIndexes, StateIndex } from './state-index.js';
import { keys, prefixes, type NodeLoad, type StateCache, type StateChange } from './state.js';
import { CompactedError, type Store, type WatchEvent } from './store.js';

export interface StateCacheOptions {
  /** Times `waitFor` and resync retries. Default: the system clock. */
  clock?: Clock;
  /** Where listener errors and resyncs are reported. Default: a `state-cache` logger on stderr. */
  logger?: Logger;
  /** Deep-freeze every cached object, so a caller that mutates one fails loudly. Default true. */
  freeze?: boolean;
  /** Wait before retrying a resync that failed. Default 1000. */
  resyncRetryMs?: number;
}

/** Keys per list call when (re)loading. */
const LIST_PAGE = 10_000;

/** Statuses first: an allocation applied after its status gets its merged view once. */
const LOAD_ORDER = [...CACHED_PREFIXES].sort((a, b) => (a === prefixes.allocStatus ? -1 : b === prefixes.allocStatus ? 1 : 0));

const NO_LOAD: NodeLoad = Object.freeze({ cpuMhz: 0, memoryMb: 0, ports: new Set<number>(), groups: new Map<string, number>() });

type Listener = (changes: StateChange[], revision: number) => void;

interface Waiter {
  revision: number;
  resolve: () => void;
  reject: (err: Error) => void;
  cancelTimer: () => void;
}

/**
 * Opens the leader's read model over `store`: one watch on the whole key space, started
 * before the initial list so no change falls between them (ARCHITECTURE invariant 2).
 * Resolves once the cache holds the state as of the list.
 */
export async function openStateCache(store: Store, opts: StateCacheOptions = {}): Promise<StateCache & { close(): void }> {
  const cache = new WatchedStateCache(store, opts);
  try {
    await cache.start();
  } catch (err) {
    cache.close();
    throw err;
  }
  return cache;
}

class WatchedStateCache implements StateCache {
  private idx: StateIndex;
  private rev = 0;
  private watchHandle: Disposable | undefined;
  /** Bumped on every (re)sync and on close: callbacks of an older watch are ignored. */
  private generation = 0;
  private closed = false;
  private readonly listeners = new Set<Listener>();
  private waiters: Waiter[] = [];
  private readonly clock: Clock;
  private logger: Logger | undefined;

  constructor(
    private readonly store: Store,
    private readonly opts: StateCacheOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger;
    this.idx = this.newIndex();
  }

  get revision(): number {
    return this.rev;
  }

  async start(): Promise<void> {
    await this.sync(false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    this.watchHandle?.dispose();
    this.watchHandle = undefined;
    this.listeners.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      w.cancelTimer();
      w.reject(new UnavailableError('the state cache was closed'));
    }
  }

  // ---- reads ----

  job(namespace: string, name: string): Job | undefined {
    return this.idx.jobs.get(keys.job(namespace, name));
  }

  jobs(namespace?: string): Job[] {
    const all = [...this.idx.jobs.values()];
    return namespace === undefined ? all : all.filter((j) => j.namespace === namespace);
  }

  node(id: NodeId): Node | undefined {
    return this.idx.nodes.get(id);
  }

  nodes(): Node[] {
    return [...this.idx.nodes.values()];
  }

  alloc(id: AllocId): AllocView | undefined {
    return this.idx.views.get(id);
  }

  allocs(): AllocView[] {
    return [...this.idx.views.values()];
  }

  allocsByNode(nodeId: NodeId): AllocView[] {
    const m = this.idx.allocsByNode.get(nodeId);
    return m ? [...m.values()] : [];
  }

  allocsByJob(namespace: string, name: string): AllocView[] {
    const m = this.idx.allocsByJob.get(jobKey(namespace, name));
    return m ? [...m.values()] : [];
  }

  nodeUsage(nodeId: NodeId): NodeLoad {
    return this.idx.loads.get(nodeId) ?? NO_LOAD;
  }

  eval(id: EvalId): Evaluation | undefined {
    return this.idx.evals.get(id);
  }

  evals(filter: { namespace?: string; jobName?: string } = {}): Evaluation[] {
    const { namespace, jobName } = filter;
    if (namespace !== undefined && jobName !== undefined) {
      const ids = this.idx.evalsByJob.get(jobKey(namespace, jobName));
      return ids ? [...ids].map((id) => this.idx.evals.get(id)!) : [];
    }
    const all = [...this.idx.evals.values()];
    if (namespace === undefined && jobName === undefined) return all;
    return all.filter((e) => (namespace === undefined || e.namespace === namespace) && (jobName === undefined || e.jobName === jobName));
  }

  waitFor(revision: number, timeoutMs = 5_000): Promise<void> {
    if (this.closed) return Promise.reject(new UnavailableError('the state cache was closed'));
    if (this.rev >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        revision,
        resolve,
        reject,
        cancelTimer: this.clock.setTimer(timeoutMs, () => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new UnavailableError(`the state cache did not reach revision ${revision} within ${timeoutMs} ms (it is at ${this.rev})`));
        }),
      };
      this.waiters.push(waiter);
    });
  }

  subscribe(listener: Listener): () => void {
    // Wrap so the same function subscribed twice gets two independent subscriptions.
    const entry: Listener = (changes, revision) => listener(changes, revision);
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  // ---- feeding ----

  /**
   * Watch, then list every cached prefix, then apply the buffered events each list had
   * not seen yet (revision > that list's revision). With `emit`, subscribers get the
   * difference from the state they saw before (a rebuild after compaction).
   */
  private async sync(emit: boolean): Promise<void> {
    const gen = ++this.generation;
    this.watchHandle?.dispose();
    this.watchHandle = undefined;
    let buffer: WatchEvent[][] | undefined = [];
    const from = await this.store.revision();
    if (gen !== this.generation) return;
    this.watchHandle = this.store.watch(
      '', // everything, so every revision reaches waitFor, even ones outside the cached prefixes
      from,
      (events) => {
        if (gen !== this.generation) return;
        if (buffer) buffer.push(events);
        else this.applyBatch(events);
      },
      (err) => this.onWatchError(err, gen),
    );
    // Listed page by page (bounded memory with a million allocations), statuses before
    // allocations so each allocation's view is built once, not once per half.
    const fresh = this.newIndex();
    let revision = from;
    for (const prefix of LOAD_ORDER) {
      let after: string | undefined;
      for (;;) {
        const page = await this.store.list(prefix, { limit: LIST_PAGE, ...(after !== undefined ? { startAfter: after } : {}) });
        if (gen !== this.generation) return;
        revision = Math.max(revision, page.revision);
        for (const kv of page.items) fresh.apply(kv.key, kv.value, kv.modRevision);
        if (page.items.length < LIST_PAGE) break;
        after = page.items[page.items.length - 1]!.key;
      }
    }
    // Pages may be read at different revisions, so a buffered event is applied only when
    // it is newer than what the list gave for its key: exact per key, whatever the page.
    // (A key the list did not have takes every event: they replay in order to its end state.)
    for (const batch of buffer) {
      for (const e of batch) {
        if (cachedPrefixOf(e.key) !== undefined && e.revision > (fresh.modRevisions.get(e.key) ?? 0)) fresh.apply(e.key, e.type === 'put' ? e.value : undefined, e.revision);
        revision = Math.max(revision, e.revision);
      }
    }
    buffer = undefined; // from here on, events apply directly
    const changes = emit ? diffIndexes(this.idx, fresh) : [];
    this.idx = fresh;
    this.rev = Math.max(this.rev, revision);
    this.afterApply(changes);
  }

  private applyBatch(events: WatchEvent[]): void {
    const changes: StateChange[] = [];
    for (const e of events) {
      this.idx.apply(e.key, e.type === 'put' ? e.value : undefined, e.revision, changes);
      this.rev = Math.max(this.rev, e.revision);
    }
    this.afterApply(changes);
  }

  private afterApply(changes: StateChange[]): void {
    if (changes.length > 0) {
      for (const listener of [...this.listeners]) {
        try {
          listener(changes, this.rev);
        } catch (err) {
          this.log().error({ err }, 'a state cache subscriber threw; the cache carries on');
        }
      }
    }
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.revision <= this.rev);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.revision > this.rev);
    for (const w of due) {
      w.cancelTimer();
      w.resolve();
    }
  }

  /** The watch ended (history compacted, or a listener bug): rebuild from a fresh list. */
  private onWatchError(err: Error, gen: number): void {
    if (gen !== this.generation || this.closed) return;
    if (err instanceof CompactedError) this.log().warn({ compactRevision: err.compactRevision }, 'state cache fell behind compaction; re-listing');
    else this.log().error({ err }, 'state cache watch failed; re-listing');
    this.resync();
  }

  private resync(): void {
    this.sync(true).catch((err: unknown) => {
      if (this.closed) return;
      this.log().error({ err }, 'state cache resync failed; retrying');
      this.clock.setTimer(this.opts.resyncRetryMs ?? 1_000, () => {
        if (!this.closed) this.resync();
      });
    });
  }

  private newIndex(): StateIndex {
    return new StateIndex({
      freeze: this.opts.freeze ?? true,
      onBadValue: (key, err) => this.log().error({ key, err }, 'skipping a value that is not valid JSON'),
    });
  }

  private log(): Logger {
    return (this.logger ??= createLogger({ name: 'state-cache' }));
  }
}
