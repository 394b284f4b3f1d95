/** Shared bits of the benchmarks: timing, a `karu dev` to measure, the engine client. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { KaruClient } from '../src/client/client.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

export async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Dev {
  client: KaruClient;
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A `karu dev` process with a fresh data dir, for measuring. */
export async function startDev(): Promise<Dev> {
  const dataDir = mkdtempSync(join(tmpdir(), 'karu-bench-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [join(ROOT, 'bin/karu.js'), 'dev', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--stop-on-exit'], {
    cwd: ROOT,
    env: { ...process.env, KARU_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const client = new KaruClient({ baseUrl: url, timeoutMs: 30_000 });
  await until('karu dev', async () => (await client.listNodes()).some((n) => n.status === 'ready'), 60_000);
  return {
    client,
    url,
    proc,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
      if (proc.exitCode === null) proc.kill('SIGKILL');
      const left = await docker.listContainers({ all: true, filters: { label: ['karu.managed=true'] } });
      await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resident set size of a process in MB, from /proc. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

export const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/**
 * What a benchmark started, stopped in reverse order by `cleanup` (at the end, and on
 * Ctrl-C, which then exits 130); a stop that fails does not keep the others from running.
 */
export function stopOnExit(): { stops: (() => Promise<void>)[]; cleanup: () => Promise<void> } {
  const stops: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  return { stops, cleanup };
}
