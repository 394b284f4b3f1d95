import type Dockerode from 'dockerode';
import type { Clock } from '../../lib/clock.js';
import { DriverError, type ExecResult } from '../driver.js';
import { engineMessage, statusOf } from './docker-errors.js';

/** How much output an exec keeps: the end is what explains a failed check. */
export const EXEC_OUTPUT_LIMIT = 4096;

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= this.limit) this.size -= this.chunks.shift()!.length;
  }

  /** The kept bytes as text; a character cut in two at the start is dropped. */
  text(): string {
    const all = Buffer.concat(this.chunks);
    const tail = all.subarray(Math.max(0, all.length - this.limit));
    return tail.toString('utf8').replace(/^\uFFFD+/, '');
  }
}

export interface ExecDeps {
  docker: Dockerode;
  clock: Clock;
  /** Turns an engine failure into the driver's error (retryable or not). */
  error(e: unknown, what: string): DriverError;
}

/**
 * Runs `command` in a running container: create the exec, start it attached (a hijacked
 * stream carrying stdout and stderr frames), collect both in arrival order, then read the
 * exit code. On timeout the stream is dropped and the call rejects; Docker has no way to
 * kill an exec, so the process may go on running in the container until it ends by itself.
 */
export async function execInContainer(deps: ExecDeps, id: string, command: string[], timeoutMs: number): Promise<ExecResult> {
  const short = id.slice(0, 12);
  const container = deps.docker.getContainer(id);
  let exec: Dockerode.Exec;
  try {
    exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
  } catch (e) {
    const status = statusOf(e);
    if (status === 404) throw new DriverError(`exec in container ${short}: it no longer exists`, false, { cause: e });
    if (status === 409) throw new DriverError(`exec in container ${short}: it is not running (${engineMessage(e)})`, false, { cause: e });
    throw deps.error(e, `exec in container ${short}`);
  }

  const output = new TailBuffer(EXEC_OUTPUT_LIMIT);
  // demuxStream only calls write(): a plain sink takes every chunk synchronously, so the
  // output is complete once the stream has ended (no Writable buffering in between).
  const sink = { write: (chunk: Buffer) => (output.push(chunk), true) } as unknown as NodeJS.WritableStream;
  let stream: (NodeJS.ReadWriteStream & { destroy(): void }) | undefined;
  let cancelTimer: () => void = () => undefined;
  const timedOut = new Promise<never>((_, reject) => {
    cancelTimer = deps.clock.setTimer(timeoutMs, () =>
      reject(
        new DriverError(`exec in container ${short}: ${JSON.stringify(command)} did not finish within ${timeoutMs} ms (it may still be running there)`, true),
      ),
    );
  });
  timedOut.catch(() => undefined); // raced below; never an unhandled rejection on its own
  let settled = false;
  try {
    const finished = (async () => {
      try {
        stream = (await exec.start({ hijack: true, stdin: false })) as NonNullable<typeof stream>;
      } catch (e) {
        if (statusOf(e) === 409) throw new DriverError(`exec in container ${short}: it is not running (${engineMessage(e)})`, false, { cause: e });
        throw deps.error(e, `exec in container ${short}`);
      }
      const attached = stream;
      if (settled) attached.destroy(); // timed out while starting: nobody reads it
      await new Promise<void>((resolve, reject) => {
        deps.docker.modem.demuxStream(attached, sink, sink);
        attached.once('end', resolve);
        attached.once('close', resolve);
        attached.once('error', reject);
      });
      return readExitCode(deps, exec, short);
    })();
    finished.catch(() => undefined); // when the timeout wins, a later failure has no one to tell
    const exitCode = await Promise.race([finished, timedOut]);
    return { exitCode, output: output.text() };
  } finally {
    settled = true;
    cancelTimer();
    stream?.destroy();
  }
}

/**
 * The exec's exit code. The attach stream can end a moment before the engine has
 * recorded the exit, so a still-running exec is inspected again a few times.
 */
async function readExitCode(deps: ExecDeps, exec: Dockerode.Exec, short: string): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    let info: Dockerode.ExecInspectInfo;
    try {
      info = await exec.inspect();
    } catch (e) {
      throw deps.error(e, `inspect exec in container ${short}`);
    }
    if (!info.Running && info.ExitCode !== null) return info.ExitCode;
    if (attempt >= 50) throw new DriverError(`exec in container ${short}: output ended but the exec still runs`, true);
    await new Promise<void>((resolve) => deps.clock.setTimer(10, resolve));
  }
}
