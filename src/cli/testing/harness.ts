import { KaruError } from '../../core/errors.js';
import type { Clock } from '../../lib/clock.js';
import type { OutStream } from '../context.js';
import { runCli } from '../program.js';
import type { FakeApi } from './fake-api.js';
import { T0 } from './builders.js';

/** A stream that keeps what is written. */
export class Capture implements OutStream {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

/**
 * A clock for commands that poll: time jumps forward by each timer's delay and the timer
 * fires on the next turn of the event loop. A 5-minute timeout passes in as many polls
 * as it takes, without waiting.
 */
export class SteppingClock implements Clock {
  constructor(private t = T0) {}
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): () => void {
    const h = setImmediate(() => {
      this.t += ms;
      fn();
    });
    return () => clearImmediate(h);
  }
}

export interface RunOptions {
  api: FakeApi;
  /** Files `readFile` can see, by path. */
  files?: Record<string, string>;
  tty?: boolean;
  env?: Record<string, string>;
  clock?: Clock;
  /** Aborting it plays the part of ^C for commands that take interrupts over. */
  interrupt?: AbortController;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `karu <argv>` in-process against the fake API and returns what it printed. */
export async function runKaru(argv: string[], opts: RunOptions): Promise<RunResult> {
  const stdout = new Capture(opts.tty ?? false);
  const stderr = new Capture(opts.tty ?? false);
  const files = opts.files ?? {};
  const interrupt = opts.interrupt ?? new AbortController();
  const code = await runCli(argv, {
    stdout,
    stderr,
    env: opts.env ?? {},
    clock: opts.clock ?? new SteppingClock(),
    makeClient: (url) => opts.api.client(url),
    readFile: async (path) => {
      const text = files[path];
      if (text === undefined) throw new KaruError('INVALID', `cannot read ${path}: no such file`);
      return text;
    },
    interrupts: () => interrupt.signal,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
