import type { KaruClient } from '../client/client.js';
import type { Clock } from '../lib/clock.js';
import type { Colors } from './output/color.js';

/** The part of a stream the CLI writes to: process.stdout, or a buffer in tests. */
export interface OutStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width, when a terminal. */
  columns?: number;
}

export type Env = Record<string, string | undefined>;

/**
 * What every command runs with. Everything a command touches outside itself is here, so a
 * test builds one with a fake-backed client and two buffers and reads what was printed.
 */
export interface CommandContext {
  client: KaruClient;
  /** The server URL the client talks to (for messages and for `karu agent`). */
  serverUrl: string;
  stdout: OutStream;
  stderr: OutStream;
  /** Colours for stdout (off unless a TTY without NO_COLOR). */
  colors: Colors;
  clock: Clock;
  env: Env;
  readFile(path: string): Promise<string>;
  /**
   * Takes SIGINT/SIGTERM over for a long-running command: from this call on, a signal
   * aborts the returned AbortSignal instead of ending the process, so the command can
   * stop cleanly. Commands that never call it die on ^C as usual.
   */
  interrupts(): AbortSignal;
}

/** A command's result: its exit code (nothing = 0). */
export type CommandResult = Promise<number | void>;

/** Exit codes: 0 ok, 1 failed (the error was printed), 2 bad usage, 130 interrupted. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Writes one line (a newline is added). */
export function println(stream: OutStream, line = ''): void {
  stream.write(line + '\n');
}

/** `--json` output: pretty, one document, newline-terminated. */
export function printJson(stream: OutStream, value: unknown): void {
  stream.write(JSON.stringify(value, null, 2) + '\n');
}
