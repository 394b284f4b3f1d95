import type { Allocation } from '../../core/alloc.js';
import type { Check, Service } from '../../core/job.js';
import type { CheckResult } from '../../core/service.js';
import type { Driver, TaskHandle } from '../../driver/driver.js';
import type { Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import { seededRng, type Rng } from '../../lib/rng.js';
import { describeExecCheck, runExecCheck } from './exec-check.js';
import { describeHttpCheck, runHttpCheck } from './http-check.js';
import { errorReason, formatDuration, type CheckOutcome } from './outcome.js';
import { describeTcpCheck, runTcpCheck } from './tcp-check.js';

export interface AllocChecksOptions {
  alloc: Pick<Allocation, 'id' | 'ports'>;
  services: Service[];
  /** The node's address: http and tcp checks go to it plus the service's host port, as outside clients would. */
  node: { address: string };
  /** Runs exec checks in the task's container. */
  driver: Driver;
  clock: Clock;
  /** The running task's handle, or undefined while it is not running (an exec check then fails). */
  taskHandle: (task: string) => TaskHandle | undefined;
  logger?: Logger;
  /** Jitter between runs. Default: seeded from the allocation id, so a run can be replayed. */
  rng?: Rng;
  /** Called with every service's result when one changes (healthy or its output); never after `stop()`. */
  onChange: (results: Record<string, CheckResult>) => void;
}

/** Runs never come closer than this, whatever the job says: a guard against a busy loop. */
const MIN_INTERVAL_MS = 100;
/** Jitter taken off each interval: at most this share of it… */
const JITTER_SHARE = 0.1;
/** …and at most this long. Taken off, never added, so a failure is seen within one interval. */
const MAX_JITTER_MS = 1_000;

interface CheckState {
  readonly check: Check;
  /** The last run's outcome; undefined until the first run ends. */
  last?: CheckOutcome;
  cancelTimer?: () => void;
  /** Set while a run is out: `stop()` aborts it and cancels its timeout. */
  abort?: AbortController;
  cancelTimeout?: () => void;
}

interface ServiceState {
  readonly service: Service;
  readonly checks: CheckState[];
  result: CheckResult;
}

/**
 * The health checks of one allocation's services (issue 4, point 3). Each check runs on
 * its own interval — the first run at once, later ones `intervalMs` after the previous
 * one started, less a little seeded jitter so the checks of many allocations do not beat
 * in step — and fails when it takes longer than its `timeoutMs`. Runs of one check never
 * overlap: a run still out when the next is due delays the next.
 *
 * A service is healthy when every one of its checks passed on its last run; one failure
 * makes it unhealthy at once (no consecutive-failure threshold), so an endpoint whose
 * check fails leaves rotation within one check interval. A service with no checks is
 * healthy from `start()`. Until its checks have all run, a service is unhealthy with
 * "waiting for the first check".
 */
export class AllocChecks {
  private readonly states: ServiceState[];
  private readonly log: Logger;
  private readonly rng: Rng;
  private started = false;
  private stopped = false;

  constructor(private readonly o: AllocChecksOptions) {
    this.log = o.logger ?? silentLogger();
    this.rng = o.rng ?? seededRng(`checks:${o.alloc.id}`);
    const now = o.clock.now();
    this.states = o.services.map((service) => ({
      service,
      checks: service.checks.map((check) => ({ check })),
      result: { healthy: false, output: 'not started', since: now },
    }));
  }

  /**
   * Starts the checks (once the allocation's main tasks run). Calls `onChange` right away
   * with the starting results: services without checks healthy, the others waiting.
   */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const now = this.o.clock.now();
    for (const s of this.states) {
      s.result = s.checks.length === 0
        ? { healthy: true, output: 'no checks', since: now }
        : { healthy: false, output: 'waiting for the first check', since: now };
    }
    this.notify();
    for (const s of this.states) for (const c of s.checks) void this.run(s, c);
  }

  /** Cancels every timer and in-flight check; no `onChange` after this. Idempotent. */
  stop(): void {
    this.stopped = true;
    for (const s of this.states) {
      for (const c of s.checks) {
        c.cancelTimer?.();
        c.cancelTimer = undefined;
        c.cancelTimeout?.();
        c.cancelTimeout = undefined;
        c.abort?.abort();
        c.abort = undefined;
      }
    }
  }

  /** Every service's current result, by service name (a copy). */
  get results(): Record<string, CheckResult> {
    const out: Record<string, CheckResult> = {};
    for (const s of this.states) out[s.service.name] = { ...s.result };
    return out;
  }

  private async run(s: ServiceState, c: CheckState): Promise<void> {
    if (this.stopped) return;
    c.cancelTimer = undefined;
    const { clock } = this.o;
    const startedAt = clock.now();
    const abort = new AbortController();
    c.abort = abort;
    const timeout = new Promise<CheckOutcome>((resolve) => {
      c.cancelTimeout = clock.setTimer(c.check.timeoutMs, () => {
        resolve({ ok: false, output: `${this.describe(s, c.check)}: timeout after ${formatDuration(c.check.timeoutMs)}` });
        abort.abort();
      });
    });
    const outcome = await Promise.race([
      this.execute(s, c.check, abort.signal).catch((e: unknown) => ({ ok: false, output: `${this.describe(s, c.check)}: ${errorReason(e)}` })),
      timeout,
    ]);
    if (this.stopped || c.abort !== abort) return;
    c.cancelTimeout?.();
    c.cancelTimeout = undefined;
    c.abort = undefined;
    c.last = outcome;
    this.evaluate(s);
    const interval = Math.max(MIN_INTERVAL_MS, c.check.intervalMs);
    const jitter = Math.round(this.rng.next() * Math.min(interval * JITTER_SHARE, MAX_JITTER_MS));
    const delay = Math.max(0, startedAt + interval - jitter - clock.now());
    c.cancelTimer = clock.setTimer(delay, () => void this.run(s, c));
  }

  private execute(s: ServiceState, check: Check, signal: AbortSignal): Promise<CheckOutcome> {
    if (check.type === 'exec') {
      const task = check.task || s.service.task;
      return runExecCheck(this.o.driver, this.o.taskHandle(task), task, check);
    }
    const target = this.target(s.service);
    if (!target) return Promise.resolve({ ok: false, output: `${this.describe(s, check)}: the allocation has no port labelled ${s.service.portLabel}` });
    return check.type === 'http' ? runHttpCheck(target, check, signal) : runTcpCheck(target, signal);
  }

  /** The node address and the allocation's host port for the service's port label. */
  private target(service: Service): { host: string; port: number } | undefined {
    const ports = this.o.alloc.ports;
    const port = ports.find((p) => p.label === service.portLabel && p.task === service.task) ?? ports.find((p) => p.label === service.portLabel);
    return port ? { host: this.o.node.address, port: port.host } : undefined;
  }

  private describe(s: ServiceState, check: Check): string {
    switch (check.type) {
      case 'http':
        return describeHttpCheck(check);
      case 'exec':
        return describeExecCheck(check);
      case 'tcp': {
        const t = this.target(s.service);
        return t ? describeTcpCheck(t) : 'tcp';
      }
    }
  }

  /** Recomputes a service's verdict from its checks' last outcomes; notifies on a change. */
  private evaluate(s: ServiceState): void {
    const failed = s.checks.find((c) => c.last && !c.last.ok);
    let healthy: boolean;
    let output: string;
    if (failed?.last) {
      healthy = false;
      output = failed.last.output;
    } else if (s.checks.some((c) => !c.last)) {
      return; // some checks passed, others have not run yet: still waiting
    } else {
      healthy = true;
      output = s.checks.map((c) => c.last?.output ?? '').join('; ');
    }
    if (healthy === s.result.healthy && output === s.result.output) return;
    const now = this.o.clock.now();
    if (healthy !== s.result.healthy) {
      this.log.info({ allocId: this.o.alloc.id, service: s.service.name, healthy, output }, healthy ? 'service checks pass' : 'service check failed');
    }
    s.result = { healthy, output, since: healthy !== s.result.healthy ? now : s.result.since };
    this.notify();
  }

  private notify(): void {
    if (this.stopped) return;
    try {
      this.o.onChange(this.results);
    } catch (e) {
      this.log.warn({ allocId: this.o.alloc.id, err: errorReason(e) }, 'check result listener failed');
    }
  }
}
