/**
 * Shared by the scale benchmarks (sched-scale, heartbeats, cold-restart): `karu server`
 * and `karu sim` as child processes, and what /proc says about them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KaruClient } from '../src/client/client.js';
import { freePort, ROOT } from './lib.js';

export interface KaruProc {
  proc: ChildProcess;
  /** Every stdout and stderr line so far (the server logs JSON lines to stderr at KARU_LOG_LEVEL). */
  lines: string[];
}

/**
 * `karu ARGS` with its stdout kept (and echoed to stderr with a label unless `quiet`).
 * `nodeArgs` go to node itself, e.g. `--cpu-prof`; `nice` runs it (every thread) at that
 * scheduling niceness.
 */
export function karu(args: string[], label: string, opts: { nodeArgs?: string[]; env?: Record<string, string>; quiet?: boolean; nice?: number } = {}): KaruProc {
  const command = [process.execPath, ...(opts.nodeArgs ?? []), join(ROOT, 'bin/karu.js'), ...args];
  if (opts.nice) command.unshift('nice', '-n', String(opts.nice));
  const proc = spawn(command[0]!, command.slice(1), {
    cwd: ROOT,
    env: { ...process.env, KARU_LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  // The logger writes to stderr: benchmarks count its lines (e.g. "marked down"), so both streams are kept.
  for (const stream of [proc.stdout!, proc.stderr!]) {
    let rest = '';
    stream.on('data', (d: Buffer) => {
      const text = rest + d.toString();
      const parts = text.split('\n');
      rest = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        if (!opts.quiet) process.stderr.write(`[${label}] ${l}\n`);
      }
    });
  }
  return { proc, lines };
}

/** SIGINT, then SIGKILL after `graceMs`. */
export async function stopProc(proc: ChildProcess, graceMs = 30_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGKILL');
    await exited;
  }
}

/** A /proc/PID/status field in MB (VmHWM = peak RSS). */
export function procMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds (user + system) the process has used so far. */
export function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces) start at state: utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

export const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/**
 * A plain-HTTP `karu server` for a scale benchmark: a fresh data dir (the caller removes
 * it), a free port and a client. `start()` spawns it (again, for a restart on the same
 * data); BENCH_CPU_PROF=DIR makes it write a V8 CPU profile there when it exits.
 */
export async function benchServer(name: string, clientTimeoutMs: number): Promise<{ dataDir: string; url: string; client: KaruClient; start: () => KaruProc }> {
  const dataDir = mkdtempSync(join(tmpdir(), `karu-${name}-`));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const prof = process.env.BENCH_CPU_PROF;
  return {
    dataDir,
    url,
    client: new KaruClient({ baseUrl: url, timeoutMs: clientTimeoutMs }),
    start: () => karu(['server', '--no-tls', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], 'server', prof ? { nodeArgs: ['--cpu-prof', '--cpu-prof-dir', prof] } : {}),
  };
}

