/**
 * Scheduler at scale, end to end over the real API: a `karu server --no-tls` process, a
 * `karu sim` process with N simulated nodes (real agents, fake driver), then J jobs of T
 * tasks each with a constraint. Prints placements per second (first register → every
 * allocation exists), time until all are running, p50/p99 evaluation latency
 * (createdAt → modifiedAt), the server's peak RSS (VmHWM) and the size of its data dir.
 * Usage: bench/sched-scale.sh [nodes] [jobs] [tasks]   (default 1000 10 1000)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KaruClient } from '../src/client/client.js';
import { fmt, freePort, ROOT, until } from './lib.js';

const NODES = Number(process.argv[2] ?? 1000);
const JOBS = Number(process.argv[3] ?? 10);
const TASKS = Number(process.argv[4] ?? 1000);
const RUN_DELAY = process.env.SIM_RUN_DELAY ?? '500ms';

function karu(args: string[], label: string): ChildProcess {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/karu.js'), ...args], {
    cwd: ROOT,
    env: { ...process.env, KARU_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proc.stdout!.on('data', (d: Buffer) => process.stderr.write(`[${label}] ${d.toString()}`));
  return proc;
}

async function stopProc(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

/** A /proc/PID/status field in MB. */
function procMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function dirBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return total;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'karu-sched-scale-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const client = new KaruClient({ baseUrl: url, timeoutMs: 120_000 });
  const procs: ChildProcess[] = [];
  try {
    const server = karu(['server', '--no-tls', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], 'server');
    procs.push(server);
    await until('the server', async () => (await client.listNodes(), true), 60_000, 100);

    let t = Date.now();
    const sim = karu(['sim', '--server', url, '--nodes', String(NODES), '--run-delay', RUN_DELAY], 'sim');
    procs.push(sim);
    await until(`${NODES} ready nodes`, async () => (await client.listNodes()).filter((n) => n.status === 'ready').length >= NODES, 600_000, 500);
    const nodesReadyMs = Date.now() - t;
    const rssIdle = procMb(server.pid!, 'VmRSS');

    const total = JOBS * TASKS;
    console.log(`sched-scale: ${NODES} simulated nodes ready in ${fmt(nodesReadyMs)}; server RSS ${rssIdle.toFixed(0)} MB; registering ${JOBS} jobs × ${TASKS} tasks…`);
    t = Date.now();
    for (let j = 0; j < JOBS; j++) {
      await client.registerJob({
        name: `scale-${j}`,
        groups: [
          {
            name: 'g',
            count: TASKS,
            constraints: [{ attribute: '${label.sim}', operator: '=', value: 'true' }],
            tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 20, memory: 32 } }],
          },
        ],
      });
    }
    const registeredMs = Date.now() - t;
    let placedMs = NaN;
    let placed = 0;
    let running = 0;
    await until(
      'every allocation running',
      async () => {
        const jobs = (await client.listJobs()).filter((j) => j.name.startsWith('scale-'));
        placed = jobs.reduce((n, j) => n + j.summary.pending + j.summary.running + j.summary.complete + j.summary.failed + j.summary.lost, 0);
        running = jobs.reduce((n, j) => n + j.summary.running, 0);
        if (Number.isNaN(placedMs) && placed >= total) placedMs = Date.now() - t;
        return running >= total;
      },
      1_800_000,
      100,
    );
    const runningMs = Date.now() - t;

    const evals = (await client.listEvaluations()).filter((e) => e.jobName?.startsWith('scale-'));
    const lat = evals.map((e) => e.modifiedAt - e.createdAt).sort((a, b) => a - b);
    const peak = procMb(server.pid!, 'VmHWM');
    const simPeak = procMb(sim.pid!, 'VmHWM');
    const store = dirBytes(dataDir);

    console.log('');
    console.log(`nodes (simulated)          ${NODES}`);
    console.log(`allocations                ${total} (${JOBS} jobs × ${TASKS})`);
    console.log(`register calls             ${fmt(registeredMs)}`);
    console.log(`all placed                 ${fmt(placedMs)}  → ${(total / (placedMs / 1000)).toFixed(0)} placements/s`);
    console.log(`all running                ${fmt(runningMs)}  (run delay ${RUN_DELAY})`);
    console.log(`evaluations                ${evals.length}; latency p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${lat.at(-1)} ms`);
    console.log(`server peak RSS (VmHWM)    ${peak.toFixed(0)} MB (idle with nodes: ${rssIdle.toFixed(0)} MB)`);
    console.log(`sim process peak RSS       ${simPeak.toFixed(0)} MB`);
    console.log(`store size (data dir)      ${(store / 1024 / 1024).toFixed(1)} MB`);
    console.log('');
    console.log('anchors: Nomad C1M 3,750 placements/s (5 servers); kube-scheduler 680–810 pods/s at 5,000 nodes;');
    console.log('         target ≥ 10,000 placements/s in one process on 2 cores, 1M allocations ≤ 3 min, RSS ≤ 4 GB.');
  } finally {
    for (const p of procs.reverse()) await stopProc(p);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
