import type { IncomingMessage } from 'node:http';
import type Dockerode from 'dockerode';
import { backoffDelay, type BackoffOptions } from '../../lib/backoff.js';
import type { Clock } from '../../lib/clock.js';
import type { Rng } from '../../lib/rng.js';
import { DriverError, type TaskExit } from '../driver.js';
import { LABEL } from './container-config.js';
import { engineMessage } from './docker-errors.js';

/** What the watcher needs from its driver: how to read one container's exit, and where to report. */
export interface ExitWatcherDeps {
  docker: Dockerode;
  clock: Clock;
  rng?: Rng;
  backoff: BackoffOptions;
  /** The exit of a container that has stopped (or disappeared); undefined while it runs. */
  readExit(id: string): Promise<TaskExit | undefined>;
  /** Called with false when the events stream drops, true when it is back. */
  onStreamHealth(ok: boolean, detail: string): void;
  onError?(message: string, err: unknown): void;
}

interface Waiter {
  resolve(exit: TaskExit): void;
  reject(err: Error): void;
}

type State = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

// Re-read a container after a failed inspect this long later (the stream may be fine
// while one inspect failed, and then no further event would come for it).
const RECHECK_MS = 1_000;

/**
 * One Docker events stream (container die/oom/destroy of Karu's containers) shared by every
 * `wait()`. Watch before read: a waiter's container is inspected only once the stream is
 * open, so an exit between the inspect and the event cannot be missed. When the stream
 * drops (dockerd stopped or restarted) the watcher reports unhealthy, reconnects with
 * backoff, and on reconnect re-reads every waited container, so exits that happened while
 * it was blind are still delivered.
 */
export class ExitWatcher {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private state: State = 'idle';
  private generation = 0;
  private attempt = 0;
  private abort: AbortController | undefined;
  private stream: IncomingMessage | undefined;
  private cancelTimers = new Set<() => void>();

  constructor(private readonly deps: ExitWatcherDeps) {}

  wait(id: string): Promise<TaskExit> {
    if (this.state === 'closed') return Promise.reject(new DriverError('driver is closed', false));
    const p = new Promise<TaskExit>((resolve, reject) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add({ resolve, reject });
    });
    this.updateRef();
    if (this.state === 'open') void this.check(id);
    else if (this.state === 'idle') void this.connect();
    // 'connecting' / 'backoff': the re-read after (re)connecting covers this waiter.
    return p;
  }

  /** Ends the stream and timers; pending waits reject. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.generation++;
    this.abort?.abort();
    for (const cancel of this.cancelTimers) cancel();
    this.cancelTimers.clear();
    const err = new DriverError('driver closed while waiting for a task to exit', true);
    for (const set of this.waiters.values()) for (const w of set) w.reject(err);
    this.waiters.clear();
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation;
    this.state = 'connecting';
    const abort = new AbortController();
    this.abort = abort;
    let stream: IncomingMessage;
    try {
      stream = (await this.deps.docker.getEvents({
        filters: { type: ['container'], event: ['die', 'oom', 'destroy'], label: [`${LABEL.managed}=true`] },
        abortSignal: abort.signal,
      })) as IncomingMessage;
    } catch (e) {
      if (gen === this.generation) this.lost(gen, e);
      return;
    }
    if (gen !== this.generation) {
      stream.destroy();
      return;
    }
    this.stream = stream;
    this.state = 'open';
    this.attempt = 0;
    this.updateRef();
    this.deps.onStreamHealth(true, 'docker events stream connected');

    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.onEvent(line);
    });
    const onDrop = (err?: unknown) => {
      if (gen === this.generation) this.lost(gen, err ?? new Error('stream ended'));
    };
    stream.on('end', () => onDrop());
    stream.on('close', () => onDrop());
    stream.on('error', (e) => onDrop(e));

    // The stream is open: anything that exited before now is seen by reading it.
    for (const id of [...this.waiters.keys()]) void this.check(id);
  }

  private lost(gen: number, err: unknown): void {
    if (this.state === 'closed' || gen !== this.generation) return;
    this.generation++;
    this.stream?.destroy();
    this.stream = undefined;
    this.state = 'backoff';
    const delay = backoffDelay(this.attempt++, this.deps.rng, this.deps.backoff);
    this.deps.onStreamHealth(false, `docker events stream lost (${engineMessage(err)}); reconnecting in ${Math.round(delay)} ms`);
    const cancel = this.deps.clock.setTimer(delay, () => {
      this.cancelTimers.delete(cancel);
      if (this.state === 'backoff') void this.connect();
    });
    this.cancelTimers.add(cancel);
  }

  private onEvent(line: string): void {
    let ev: { Type?: string; Action?: string; id?: string; Actor?: { ID?: string } };
    try {
      ev = JSON.parse(line) as typeof ev;
    } catch {
      return;
    }
    const id = ev.Actor?.ID ?? ev.id;
    if (ev.Type !== 'container' || !id || !this.waiters.has(id)) return;
    if (ev.Action === 'die' || ev.Action === 'destroy' || ev.Action === 'oom') void this.check(id);
  }

  private async check(id: string): Promise<void> {
    if (!this.waiters.has(id)) return;
    let exit: TaskExit | undefined;
    try {
      exit = await this.deps.readExit(id);
    } catch (e) {
      // Unreachable engine: the stream drops too and the reconnect re-reads. Otherwise
      // try again shortly, since no further event may come for this container.
      this.deps.onError?.(`reading the exit of container ${id.slice(0, 12)} failed`, e);
      if (this.state === 'open') {
        const cancel = this.deps.clock.setTimer(RECHECK_MS, () => {
          this.cancelTimers.delete(cancel);
          void this.check(id);
        });
        this.cancelTimers.add(cancel);
      }
      return;
    }
    if (!exit) return;
    const set = this.waiters.get(id);
    this.waiters.delete(id);
    for (const w of set ?? []) w.resolve(exit);
    this.updateRef();
  }

  /** The stream keeps the process alive only while someone waits on it. */
  private updateRef(): void {
    const socket = this.stream?.socket;
    if (!socket) return;
    if (this.waiters.size > 0) socket.ref();
    else socket.unref();
  }
}
