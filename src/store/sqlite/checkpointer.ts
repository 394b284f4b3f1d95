import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * The thread that copies the WAL back into the database file. SQLite's automatic
 * checkpoint runs inside a COMMIT, on the event loop, and ends with an fsync of the
 * database file: in a write-heavy run it took about a third of the event loop's time in
 * the store. Here a worker thread with its own connection runs PASSIVE checkpoints (they
 * never block the writer) while the store's connection keeps writing.
 *
 * Durability is SQLite's: a checkpoint syncs the database file before it records the
 * frames as copied, and the WAL is rewritten from its start only after that.
 *
 * The code is a string evaluated in the worker, so it runs the same from the TypeScript
 * sources and from the one-file bundle; it loads the same better-sqlite3 as this module.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
parentPort.on('message', (msg) => {
  if (msg === 'close') {
    db?.close();
    parentPort.close();
    return;
  }
  try {
    if (!db) {
      db = new Database(workerData.path, { fileMustExist: true });
      db.pragma('synchronous = NORMAL');
    }
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
  }
});
`;

export interface CheckpointerOptions {
  /** The database file (the store's connection has it open in WAL mode). */
  path: string;
  /** Least time between two checkpoints; a request sooner than that is dropped. */
  intervalMs: number;
  /** A thread with nothing to do for this long ends (~9 MB of RSS back); the next request starts another. Default 2 s. */
  idleExitMs?: number;
  /** The thread failed (to start, or a checkpoint threw): the store checkpoints itself again. */
  onFailure: (err: Error) => void;
}

export class Checkpointer {
  private worker: Worker | undefined;
  private running: Promise<void> | undefined;
  private finishRun: (() => void) | undefined;
  private lastDone = -Infinity;
  private idleTimer: NodeJS.Timeout | undefined;
  /** The thread failed or was closed: no more checkpoints here. */
  failed = false;
  /** Checkpoints completed (tests read it). */
  count = 0;
  /** Frames in the WAL when the last checkpoint ran. */
  walFrames = 0;

  constructor(private readonly opts: CheckpointerOptions) {}

  /** Whether a checkpoint is under way (the store must not checkpoint on its own connection meanwhile). */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Starts a checkpoint unless one is under way, one ended less than intervalMs ago, or the thread failed. */
  request(now = performance.now()): void {
    if (this.failed || this.running || now - this.lastDone < this.opts.intervalMs) return;
    const worker = this.worker ?? this.start();
    clearTimeout(this.idleTimer);
    this.running = new Promise<void>((resolve) => (this.finishRun = resolve));
    // Referenced while it works: a caller may be waiting for it (close, idle).
    worker.ref();
    worker.postMessage('run');
  }

  /** Whether the thread exists (it ends when idle). */
  get threadAlive(): boolean {
    return this.worker !== undefined;
  }

  /** Resolves once no checkpoint is under way. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** Waits for a checkpoint under way, then closes the thread's connection and ends it. */
  async close(): Promise<void> {
    this.failed = true;
    await this.stop();
  }

  private async stop(): Promise<void> {
    clearTimeout(this.idleTimer);
    await this.running;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private start(): Worker {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    // No execArgv: the parent's loaders (tsx) are not needed by plain JavaScript.
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: this.opts.path }, execArgv: [] });
    worker.on('message', (msg: { log: number; error?: string }) => {
      if (msg.error !== undefined) this.fail(new Error(`checkpoint failed: ${msg.error}`));
      else {
        this.count++;
        this.walFrames = msg.log;
      }
      // An idle checkpointer must not keep the process alive, nor stay long.
      if (this.worker === worker) {
        worker.unref();
        clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => {
          if (this.worker === worker && !this.running) void this.stop();
        }, this.opts.idleExitMs ?? 2_000).unref();
      }
      this.lastDone = performance.now();
      this.settle();
    });
    worker.on('error', (err) => {
      this.fail(err);
      this.settle();
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.fail(new Error('the checkpoint thread exited'));
      this.settle();
    });
    this.worker = worker;
    return worker;
  }

  private settle(): void {
    const finish = this.finishRun;
    this.running = undefined;
    this.finishRun = undefined;
    finish?.();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    this.opts.onFailure(err);
  }
}
