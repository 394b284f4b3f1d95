/**
 * Submit → all running, for N replicas of a small HTTP server, on the same engine:
 *   - engine ceiling: create+start of N containers through the API, at the best parallelism;
 *   - Docker Swarm: `docker service create --replicas N --no-resolve-image` (single-node swarm);
 *   - Karu: `karu dev`, register a job with count N, until N allocations run.
 * Prints each figure and the ratios. Usage: bench/deploy-vs-swarm.sh [N ...]
 */
import { execFileSync } from 'node:child_process';
import { containerConfig } from '../src/driver/docker/container-config.js';
import { PAUSE_IMAGE } from '../src/driver/index.js';
import { docker, fmt, startDev, until } from './lib.js';

const IMAGE = 'karu/hello:1';
const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const NS = counts.length ? counts : [10, 50, 100];
const DOCKER = process.env.DOCKER ?? '/usr/bin/docker';
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Lets the engine finish tearing down the last run (proxies, netns) before the next. */
const settle = () => new Promise((r) => setTimeout(r, 3_000));

async function removeLabelled(label: string): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  // Removal is not what we measure: do it in parallel.
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

/** The engine alone: N create+start calls, `parallel` at a time. */
async function engine(n: number, parallel: number): Promise<number> {
  const run = `bench-${Date.now()}`;
  const basePort = 40_000 + Math.floor(Math.random() * 20) * 500;
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      // Exactly the container Karu's driver would create for such a task.
      const c = await docker.createContainer(
        containerConfig(
          {
            labels: { nodeId: run, allocId: `${run}-${i}`, jobName: 'bench', namespace: 'default', group: 'web', task: 'server' },
            name: `${run}-${i}`,
            image: IMAGE,
            args: [],
            env: { KARU_ALLOC_INDEX: String(i) },
            resources: { cpuMhz: 10, memoryMb: 32 },
            ports: [{ host: basePort + i, to: 8080 }],
          },
          { hostIp: '0.0.0.0', mhzPerCore: 1000, cpuHardLimit: false, logMaxSize: '10m', logMaxFiles: 3, pauseImage: PAUSE_IMAGE },
        ),
      );
      await c.start();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const ms = performance.now() - t0;
  await removeLabelled(`karu.node=${run}`);
  return ms;
}

function swarmActive(): boolean {
  return execFileSync(DOCKER, ['info', '--format', '{{.Swarm.LocalNodeState}}']).toString().trim() === 'active';
}

async function swarm(n: number): Promise<number> {
  const name = `karu-bench-${Date.now()}`;
  const t0 = performance.now();
  execFileSync(DOCKER, ['service', 'create', '--detach', '--quiet', '--no-resolve-image', '--init', '--name', name, '--replicas', String(n), '--limit-memory', '32m', '--publish', 'mode=host,target=8080', IMAGE], { stdio: 'ignore' });
  await until(`swarm service ${name} to run ${n}`, async () => {
    const out = execFileSync(DOCKER, ['service', 'ps', name, '--filter', 'desired-state=running', '--format', '{{.CurrentState}}']).toString();
    return out.split('\n').filter((l) => l.startsWith('Running')).length >= n;
  }, 600_000, 100);
  const ms = performance.now() - t0;
  execFileSync(DOCKER, ['service', 'rm', name], { stdio: 'ignore' });
  await until('swarm tasks to go', async () => (await docker.listContainers({ all: true, filters: { label: [`com.docker.swarm.service.name=${name}`] } })).length === 0, 120_000, 200);
  return ms;
}

async function karu(n: number): Promise<number> {
  const dev = await startDev();
  try {
    const job = {
      name: `bench${n}`,
      groups: [{ name: 'web', count: n, tasks: [{ name: 'server', image: IMAGE, resources: { cpu: 10, memory: 32 }, ports: [{ label: 'http', to: 8080 }] }] }],
    };
    const t0 = performance.now();
    await dev.client.registerJob(job);
    await until(`karu to run ${n}`, async () => {
      const d = await dev.client.getJob('default', job.name);
      return d.summary.running >= n;
    }, 600_000, 50);
    return performance.now() - t0;
  } finally {
    await dev.stop();
  }
}

async function main(): Promise<void> {
  const startedSwarm = !swarmActive();
  if (startedSwarm) execFileSync(DOCKER, ['swarm', 'init', '--advertise-addr', '127.0.0.1'], { stdio: 'ignore' });
  try {
    // Find the engine's best parallelism once, at the middle size.
    const probeN = Math.min(50, Math.max(...NS));
    const parallelisms = [1, 4, 8, 16];
    const probe: Record<number, number> = {};
    for (const p of parallelisms) probe[p] = await engine(probeN, p);
    const best = Number(Object.entries(probe).sort((a, b) => a[1] - b[1])[0]![0]);
    console.log(`engine parallelism probe (N=${probeN}): ${parallelisms.map((p) => `${p}→${fmt(probe[p]!)}`).join('  ')}; best ${best}`);
    console.log('');
    console.log(`medians of ${REPEATS} interleaved runs (engine, swarm, karu, engine, …); BENCH_REPEATS sets the count`);
    console.log('    N   engine ceiling      swarm       karu   karu/engine  swarm/engine  karu/swarm');
    for (const n of NS) {
      const e: number[] = [];
      const s: number[] = [];
      const k: number[] = [];
      // Interleaved, so a slow spell of the engine hits every contender alike.
      for (let r = 0; r < REPEATS; r++) {
        e.push(await engine(n, best));
        await settle();
        s.push(await swarm(n));
        await settle();
        k.push(await karu(n));
        await settle();
      }
      const [me, ms, mk] = [median(e), median(s), median(k)];
      console.log(
        `${String(n).padStart(5)}  ${fmt(me).padStart(14)}  ${fmt(ms).padStart(9)}  ${fmt(mk).padStart(9)}  ${(mk / me).toFixed(2).padStart(11)}×  ${(ms / me).toFixed(2).padStart(11)}×  ${(mk / ms).toFixed(2).padStart(9)}×`,
      );
      console.log(`       runs: engine ${e.map(fmt).join(', ')}; swarm ${s.map(fmt).join(', ')}; karu ${k.map(fmt).join(', ')}`);
    }
  } finally {
    if (startedSwarm) execFileSync(DOCKER, ['swarm', 'leave', '--force'], { stdio: 'ignore' });
  }
}

await main();
