import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnavailableError } from '../../core/errors.js';
import type { IngressRoute } from '../../core/ingress.js';
import { backoffDelay } from '../../lib/backoff.js';
import { systemClock, type Clock } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';
import { silentLogger } from '../../lib/logger.js';
import type { Rng } from '../../lib/rng.js';
import { INGRESS_WORKER_ROLE, isMessage, ROLE_ENV, type FromWorker, type ListenerResult, type ToWorker, type WorkerListener } from './ingress-ipc.js';
import type { ServiceEntry } from './service-table.js';

/**
 * The HTTP(S) ingress on more than one core: the agent (the primary) forks N worker
 * processes with `node:cluster`, each running `startHttpIngress` on the same listeners
 * (ingress-worker.ts). One Node process tops out at one core of proxying (bench/README.md,
 * "ingress"); nginx uses them all, so this is what lets the ingress keep up with it.
 *
 * - Connections: node:cluster's round-robin hand-off — the primary accepts and passes each
 *   connection to the next worker, which spreads kept-alive clients evenly (workers all
 *   accepting on one socket leave most connections to whichever wakes first). Only the
 *   accept happens in the agent; every request is parsed and proxied in a worker.
 * - State: level-triggered over IPC, the whole ServiceEntry list and route list on every
 *   catalog change (`setState`); a worker just started is sent the current state before it
 *   listens, so it never serves an empty table.
 * - Lifetime: workers exit when the agent goes (the IPC channel closes); a worker that
 *   dies is forked again with backoff (reset once it has run for a while); `close` drains
 *   them. Ports given as 0 are picked once here, so a restarted worker binds the same one.
 *
 * A worker runs this very program (`workerEntry`): the bundle dist/karu.mjs, or the
 * sources through bin/karu.js; its CLI entry branches on `KARU_ROLE=ingress-worker`.
 */

export interface WorkerEntry {
  /** Script the worker runs. */
  exec: string;
  /** Node flags of the worker. Default: none. */
  execArgv?: string[];
  /** Added to the worker's environment (on top of the agent's). */
  env?: Record<string, string>;
}

/** This program, as a worker runs it: the bundle it is part of, or bin/karu.js on the sources. */
export function workerEntry(moduleUrl: string = import.meta.url): WorkerEntry {
  const file = fileURLToPath(moduleUrl);
  // Sources (tsx): bin/karu.js registers tsx itself; KARU_NO_BUNDLE keeps it on the same sources as the agent.
  if (file.endsWith('.ts')) return { exec: join(dirname(file), '../../../bin/karu.js'), env: { KARU_NO_BUNDLE: '1' } };
  return { exec: file };
}

export interface IngressWorkersOptions {
  /** Worker processes, ≥ 1. */
  workers: number;
  /** Address both listeners bind. */
  host: string;
  /** Plain HTTP port (0 picks a free one); undefined: no plain HTTP listener. */
  httpPort?: number;
  /** HTTPS with the user's certificate and key (PEM). */
  https?: { port: number; cert: string | Buffer; key: string | Buffer };
  keepAliveTimeoutMs?: number;
  backendKeepAliveMs?: number;
  /** How long `start` waits for the workers to listen. Default 30 s (the sources load through tsx). */
  startTimeoutMs?: number;
  /** Default: `workerEntry()`. */
  entry?: WorkerEntry;
  clock?: Clock;
  rng?: Rng;
  logger?: Logger;
}

export interface IngressWorkers {
  /** The plain HTTP listener, when it listens. */
  readonly http: { host: string; port: number } | undefined;
  readonly https: { host: string; port: number } | undefined;
  /** Why a listener asked for does not listen (e.g. the port is taken). */
  readonly errors: Partial<Record<'http' | 'https', string>>;
  /** Sends the whole table and route list to every worker; resolves once all live ones applied it (at most 10 s). */
  setState(services: readonly ServiceEntry[], routes: readonly IngressRoute[]): Promise<void>;
  /** Process ids of the workers that are serving now. */
  pids(): number[];
  /** Stops the workers, letting requests in flight finish for up to `graceMs` (default 10 s). */
  close(graceMs?: number): Promise<void>;
}

/** A worker that ran this long before dying is restarted at the base delay again. */
const STABLE_MS = 10_000;
const RESTART_BACKOFF = { baseMs: 250, maxMs: 10_000 } as const;
const APPLY_TIMEOUT_MS = 10_000;

/** One place in the pool: the worker in it now (if any), and its restart history. */
interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  pid: number;
  hello: boolean;
  ready: boolean;
  acked: number;
  startedAt: number;
  attempt: number;
  cancelRestart: (() => void) | undefined;
}

/** Forks the workers and resolves once they listen; rejects when no listener could be opened. */
export async function startIngressWorkers(opts: IngressWorkersOptions): Promise<IngressWorkers> {
  const pool = new IngressWorkerPool(opts);
  try {
    await pool.start();
  } catch (e) {
    await pool.close(0);
    throw e;
  }
  return pool;
}

class IngressWorkerPool implements IngressWorkers {
  http: { host: string; port: number } | undefined;
  https: { host: string; port: number } | undefined;
  errors: Partial<Record<'http' | 'https', string>> = {};
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly entry: WorkerEntry;
  private readonly slots: Slot[];
  private listeners: WorkerListener[] = [];
  private state: Extract<ToWorker, { t: 'state' }> = { t: 'state', seq: 0, services: [], routes: [] };
  private waiters: { seq: number; done: () => void }[] = [];
  private firstReady: ((results: ListenerResult[]) => void) | undefined;
  /** While starting: a worker died before any listened (a broken entry, a crash at load). */
  private startFailed: ((why: string) => void) | undefined;
  private closing = false;

  constructor(private readonly opts: IngressWorkersOptions) {
    this.log = (opts.logger ?? silentLogger()).child({ component: 'ingress-workers' });
    this.clock = opts.clock ?? systemClock;
    this.entry = opts.entry ?? workerEntry();
    this.slots = Array.from({ length: Math.max(1, opts.workers) }, (_, index) => ({
      index,
      worker: undefined,
      pid: 0,
      hello: false,
      ready: false,
      acked: 0,
      startedAt: 0,
      attempt: 0,
      cancelRestart: undefined,
    }));
  }

  async start(): Promise<void> {
    const { host } = this.opts;
    if (this.opts.httpPort !== undefined) this.listeners.push({ name: 'http', host, port: this.opts.httpPort || (await freePort(host)) });
    if (this.opts.https) {
      const { port, cert, key } = this.opts.https;
      this.listeners.push({ name: 'https', host, port: port || (await freePort(host)), tls: { cert: cert.toString(), key: key.toString() } });
    }
    const first = new Promise<ListenerResult[]>((resolve, reject) => {
      this.firstReady = resolve;
      this.startFailed = (why) => reject(new UnavailableError(why));
    });
    for (const slot of this.slots) this.fork(slot);
    const timeoutMs = this.opts.startTimeoutMs ?? 30_000;
    let cancel: () => void = () => undefined;
    const timedOut = new Promise<undefined>((resolve) => (cancel = this.clock.setTimer(timeoutMs, () => resolve(undefined))));
    try {
      const results = await Promise.race([first, timedOut]);
      if (!results) throw new UnavailableError(`no ingress worker was ready within ${timeoutMs} ms (entry ${this.entry.exec})`);
      for (const r of results) {
        if ('error' in r) this.errors[r.name] = r.error;
        else this[r.name] = { host, port: r.port };
      }
      if (!this.http && !this.https) throw new ListenError(Object.values(this.errors).join('; ') || 'no listener');
      // Serve as soon as one worker listens, but give the others the rest of the start time
      // (so a caller's first requests are spread over all of them).
      await Promise.race([this.untilAllReady(), timedOut]);
    } finally {
      this.startFailed = undefined;
      cancel();
    }
    this.log.info({ workers: this.slots.length, workerPids: this.pids(), http: this.http, https: this.https }, 'ingress workers listening');
  }

  setState(services: readonly ServiceEntry[], routes: readonly IngressRoute[]): Promise<void> {
    this.state = { t: 'state', seq: this.state.seq + 1, services: [...services], routes: [...routes] };
    for (const slot of this.slots) if (slot.worker && slot.hello) this.send(slot.worker, this.state);
    const seq = this.state.seq;
    return new Promise<void>((resolve) => {
      const cancel = this.clock.setTimer(APPLY_TIMEOUT_MS, () => finish());
      const waiter = { seq, done: () => finish() };
      const finish = () => {
        cancel();
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve();
      };
      this.waiters.push(waiter);
      this.checkWaiters();
    });
  }

  pids(): number[] {
    return this.slots.filter((s) => s.worker && s.ready).map((s) => s.pid);
  }

  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    const exits: Promise<void>[] = [];
    for (const slot of this.slots) {
      slot.cancelRestart?.();
      slot.cancelRestart = undefined;
      const w = slot.worker;
      if (!w) continue;
      exits.push(this.stopWorker(w, slot.hello, graceMs));
    }
    await Promise.all(exits);
    for (const w of this.waiters.splice(0)) w.done();
  }

  // ---- workers

  private fork(slot: Slot): void {
    slot.cancelRestart = undefined;
    if (this.closing) return;
    cluster.setupPrimary({ exec: this.entry.exec, args: [], execArgv: this.entry.execArgv ?? [], silent: false });
    const w = cluster.fork({ ...this.entry.env, [ROLE_ENV]: INGRESS_WORKER_ROLE });
    Object.assign(slot, { worker: w, pid: w.process.pid ?? 0, hello: false, ready: false, acked: 0, startedAt: this.clock.now() });
    // A failed spawn or IPC send (racing the worker's death) is the exit handler's business;
    // the listener must be there, or cluster's re-emitted 'error' would throw in the agent.
    w.on('error', (e: Error) => this.log.debug({ err: e, workerPid: slot.pid }, 'ingress worker process error'));
    w.on('message', (m: unknown) => this.onMessage(slot, w, m));
    w.once('exit', (code: number | null, signal: string | null) => this.onExit(slot, w, code, signal));
  }

  private onMessage(slot: Slot, w: Worker, m: unknown): void {
    if (slot.worker !== w || !isMessage<FromWorker>(m, ['hello', 'ready', 'applied'])) return;
    switch (m.t) {
      case 'hello':
        // State first: by the time it says `ready` it routes like the others.
        slot.hello = true;
        this.send(w, this.state);
        this.send(w, { t: 'start', listeners: this.listeners, logLevel: logLevelOf(this.opts.logger), ...this.timeouts() });
        return;
      case 'ready': {
        slot.ready = true;
        const failed = m.listeners.filter((r) => 'error' in r);
        if (this.firstReady) {
          this.firstReady(m.listeners);
          this.firstReady = undefined;
          this.startFailed = undefined; // from now on a death is a restart
        } else if (failed.length) {
          this.log.warn({ workerPid: slot.pid, failed }, 'a restarted ingress worker could not open every listener');
        }
        this.log.debug({ workerPid: slot.pid, slot: slot.index }, 'ingress worker ready');
        this.readyChanged();
        return;
      }
      case 'applied':
        slot.acked = Math.max(slot.acked, m.seq);
        this.checkWaiters();
        return;
    }
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return;
    if (this.startFailed) {
      this.closing = true; // no restarts: the caller falls back
      this.startFailed(`an ingress worker (${this.entry.exec}) exited with ${signal ?? `code ${code}`} before listening`);
    }
    slot.worker = undefined;
    slot.ready = false;
    slot.hello = false;
    this.checkWaiters();
    if (this.closing) return;
    const lived = this.clock.now() - slot.startedAt;
    slot.attempt = lived >= STABLE_MS ? 0 : slot.attempt + 1;
    const delay = backoffDelay(slot.attempt, this.opts.rng, RESTART_BACKOFF);
    this.log.warn({ workerPid: slot.pid, code, signal, restartInMs: Math.round(delay) }, 'ingress worker exited; starting another');
    slot.cancelRestart = this.clock.setTimer(delay, () => this.fork(slot));
  }

  private async stopWorker(w: Worker, listening: boolean, graceMs: number): Promise<void> {
    if (w.process.exitCode !== null || w.process.signalCode !== null) return;
    const exited = once(w, 'exit').then(() => undefined);
    if (!listening) {
      // Still loading: it serves nothing and may not hear a message yet.
      w.process.kill('SIGKILL');
      return exited;
    }
    this.send(w, { t: 'stop', graceMs });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceMs + 5_000)));
    if ((await Promise.race([exited, late])) === 'late') {
      this.log.warn({ workerPid: w.process.pid }, 'ingress worker did not stop in time; killing it');
      w.process.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
  }

  private send(w: Worker, m: ToWorker): void {
    if (!w.isConnected()) return;
    w.send(m, undefined, (err) => {
      if (err) this.log.debug({ err, workerPid: w.process.pid }, 'ingress worker missed a message');
    });
  }

  private timeouts(): { keepAliveTimeoutMs?: number; backendKeepAliveMs?: number } {
    return {
      ...(this.opts.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: this.opts.keepAliveTimeoutMs } : {}),
      ...(this.opts.backendKeepAliveMs !== undefined ? { backendKeepAliveMs: this.opts.backendKeepAliveMs } : {}),
    };
  }

  /** `setState` waiters whose state every live worker has applied (or that have no live worker left). */
  private checkWaiters(): void {
    for (const w of [...this.waiters]) {
      if (this.slots.every((s) => !s.worker || !s.hello || s.acked >= w.seq)) w.done();
    }
  }

  private readyWaiters = new Set<() => void>();
  private readyChanged(): void {
    if (this.slots.every((s) => s.ready)) for (const done of this.readyWaiters) done();
  }
  private untilAllReady(): Promise<void> {
    if (this.slots.every((s) => s.ready)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        this.readyWaiters.delete(done);
        resolve();
      };
      this.readyWaiters.add(done);
    });
  }
}

/** No listener at all could be opened (a port taken, an address not on this machine): not worth a fallback. */
export class ListenError extends UnavailableError {}

/** The level the agent logs at, for the workers' own loggers. */
function logLevelOf(logger: Logger | undefined): string {
  return logger?.level ?? 'silent';
}

/** A port free on `host` right now (bind 0, read it, release it). */
async function freePort(host: string): Promise<number> {
  const s = createServer();
  s.listen(0, host);
  await Promise.race([once(s, 'listening'), once(s, 'error').then(([e]) => Promise.reject(e as Error))]);
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
