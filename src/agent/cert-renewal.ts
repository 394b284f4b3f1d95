import type { KaruClient } from '../client/client.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Rng } from '../lib/rng.js';
import { backoffDelay } from '../lib/backoff.js';
import { createCsr } from '../pki/certs.js';
import { renewalDelay } from '../pki/renewal.js';
import { nodeIdOf, saveNodeTls, type NodeTls } from './node-tls.js';

export interface CertRenewerDeps {
  dataDir: string;
  name: string;
  /** A client that talks mutual TLS with the current certificate. */
  client: Pick<KaruClient, 'renewNodeCert'>;
  clock: Clock;
  rng: Rng;
  logger: Logger;
  /** Called with the new identity once stored: swap it into every TLS endpoint. */
  onRenewed(tls: NodeTls): void;
}

/** Timers sleep at most this long and look again (setTimeout cannot wait 45 days). */
const MAX_SLEEP_MS = 6 * 3600_000;
const RETRY = { baseMs: 5_000, maxMs: 10 * 60_000 } as const;

/**
 * Renews the node certificate at a random 50–80% of its lifetime (at once when past that on
 * start-up), with a fresh key each time. A failed renewal retries with backoff; the old
 * certificate keeps working until it expires.
 */
export class CertRenewer {
  private cancel: (() => void) | undefined;
  private stopped = false;
  private renewAt = 0;
  private failures = 0;

  constructor(
    private tls: NodeTls,
    private readonly deps: CertRenewerDeps,
  ) {}

  /** When the next renewal is due (ms since the epoch). */
  get dueAt(): number {
    return this.renewAt;
  }

  start(): void {
    this.plan();
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
  }

  /** Renews now (also what the timer calls). */
  async renewNow(): Promise<void> {
    const nodeId = nodeIdOf(this.tls.certPem);
    const { csrPem, keyPem } = await createCsr(this.deps.name);
    const res = await this.deps.client.renewNodeCert(nodeId, { csr: csrPem });
    const next: NodeTls = { caPem: res.caCertificate, certPem: res.certificate, keyPem };
    if (nodeIdOf(next.certPem) !== nodeId) throw new Error('the renewed certificate names another node');
    await saveNodeTls(this.deps.dataDir, next);
    this.tls = next;
    this.deps.onRenewed(next);
    this.deps.logger.info({ nodeId }, 'node certificate renewed');
  }

  private plan(): void {
    const now = this.deps.clock.now();
    this.renewAt = now + renewalDelay(this.tls.certPem, this.deps.rng, now);
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    const wait = Math.min(MAX_SLEEP_MS, Math.max(0, this.renewAt - this.deps.clock.now()));
    this.cancel = this.deps.clock.setTimer(wait, () => {
      if (this.stopped) return;
      if (this.deps.clock.now() < this.renewAt) return this.arm();
      this.renewNow().then(
        () => {
          this.failures = 0;
          this.plan();
        },
        (err: unknown) => {
          this.deps.logger.warn({ err: err instanceof Error ? err.message : String(err), failures: this.failures }, 'certificate renewal failed; retrying');
          this.renewAt = this.deps.clock.now() + backoffDelay(this.failures++, this.deps.rng, RETRY);
          this.arm();
        },
      );
    });
  }
}
