import type { Catalog } from '../../core/service.js';
import { backoffDelay } from '../../lib/backoff.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { seededRng, type Rng } from '../../lib/rng.js';
import type { ServiceEntry } from './service-table.js';

/**
 * Follows the server's service catalog with a blocking query and hands every answer —
 * the whole catalog, level-triggered — to `onCatalog`. The server being unreachable
 * changes nothing on this node: the last catalog stays in force (containers keep
 * reaching each other) and the query is retried with backoff.
 */

/** `GET /v1/catalog?index=&wait=`: `KaruClient.catalog`, or a fake in tests. */
export type CatalogSource = (opts: { index: number; waitMs: number; signal: AbortSignal }) => Promise<Catalog>;

export interface CatalogFollowerOptions {
  source: CatalogSource;
  /** Called with every answer, one at a time (the next query waits for it). */
  onCatalog: (catalog: Catalog) => void | Promise<void>;
  /** How long one blocking query may wait. Default 30 s. */
  waitMs?: number;
  /** Backoff after a failed query. Default 500 ms doubling to 15 s. */
  retry?: { baseMs: number; maxMs: number };
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

const DEFAULT_RETRY = { baseMs: 500, maxMs: 15_000 } as const;

/** The data plane's view of one catalog: every service with its VIP and endpoints. */
export function serviceEntriesOf(catalog: Catalog): ServiceEntry[] {
  return catalog.services.map((s) => ({
    namespace: s.namespace,
    name: s.name,
    vip: s.vip,
    port: s.port,
    portLabel: s.portLabel,
    tags: [...s.tags],
    endpoints: s.endpoints.map((e) => ({ address: e.address, port: e.port, healthy: e.healthy, allocId: e.allocId })),
  }));
}

export class CatalogFollower {
  private readonly abort = new AbortController();
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private loop: Promise<void> | undefined;
  private indexNow = 0;
  private failuresNow = 0;
  private received = 0;

  constructor(private readonly opts: CatalogFollowerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.rng = opts.rng ?? seededRng(Date.now());
    this.log = opts.logger ?? silentLogger();
  }

  /** The index of the last catalog handed on (0: none yet). */
  get index(): number {
    return this.indexNow;
  }

  /** Failed queries in a row (0 while the server answers). */
  get failures(): number {
    return this.failuresNow;
  }

  /** Catalogs handed on so far. */
  get answers(): number {
    return this.received;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the loop (an open query is aborted) and waits for it. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const waitMs = this.opts.waitMs ?? 30_000;
    while (!signal.aborted) {
      let catalog: Catalog;
      try {
        // The first query answers at once; later ones wait for a change.
        catalog = await this.opts.source({ index: this.indexNow, waitMs: this.received === 0 ? 0 : waitMs, signal });
      } catch (e) {
        if (signal.aborted) return;
        // Only the first failure of an outage is worth a warning; the rest are the same.
        const log = this.failuresNow === 0 ? this.log.warn.bind(this.log) : this.log.debug.bind(this.log);
        log({ err: e instanceof Error ? e.message : String(e), failures: this.failuresNow }, 'catalog query failed; keeping the last catalog and retrying');
        await this.sleep(backoffDelay(this.failuresNow++, this.rng, this.opts.retry ?? DEFAULT_RETRY));
        continue;
      }
      if (signal.aborted) return;
      if (this.failuresNow > 0) this.log.info({ index: catalog.index }, 'catalog query answers again');
      this.failuresNow = 0;
      // A smaller index means the server restarted and counts anew: follow it.
      this.indexNow = catalog.index;
      this.received++;
      try {
        await this.opts.onCatalog(catalog);
      } catch (e) {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'applying the catalog failed');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.abort.signal;
      if (signal.aborted) return resolve();
      const done = () => {
        cancel();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const cancel = this.clock.setTimer(ms, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}
