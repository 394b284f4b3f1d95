/**
 * The control plane alone at scale, in one process: the server's controllers, read model
 * and a file store with group commit (exactly what `karu server` runs), N registered
 * nodes, and J jobs × T tasks with the same constraints as sched-scale.ts. Instead of
 * `karu sim` agents over HTTP, every node reports its new allocations `running` in one
 * status update at most every 100 ms (as an agent batches its reports). No API, no
 * heartbeats: this measures what the scheduler, plan applier, store and read model can do
 * on one core, and tells it apart from the HTTP/agent costs that sched-scale.sh adds.
 * Then a cold load: the read model opened again on the same store file.
 *
 * Usage: node --import tsx bench/sched-scale-core.ts [nodes] [jobs] [tasks]   (default 5000 100 1000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/lib/logger.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { openStateCache } from '../src/store/index.js';
import { scaleJob, startCorePlane } from './core-plane.js';
import { fmt } from './lib.js';
import { dirBytes } from './scale-lib.js';

const NODES = Number(process.argv[2] ?? 5000);
const JOBS = Number(process.argv[3] ?? 100);
const TASKS = Number(process.argv[4] ?? 1000);

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'karu-sched-core-'));
  const path = join(dir, 'karu.db');
  try {
    const plane = await startCorePlane(path, NODES);
    const { ctl, cache, store, reported } = plane;

    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    for (let j = 0; j < JOBS; j++) await ctl.cluster.registerJob(scaleJob(`scale-${j}`, j, TASKS));
    const total = JOBS * TASKS;
    while (cache.allocs().length < total) await new Promise((r) => setTimeout(r, 20));
    const placedMs = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    while (reported.size < total || plane.inFlight() > 0) await new Promise((r) => setTimeout(r, 20));
    const runningMs = Date.now() - t0;
    const evals = cache.evals().filter((e) => e.jobName.startsWith('scale-'));
    const lat = evals.map((e) => e.modifiedAt - e.createdAt).sort((a, b) => a - b);
    const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
    const heap = process.memoryUsage();

    console.log(`sched-scale-core: ${NODES} nodes, ${JOBS} jobs × ${TASKS} tasks, in one process (no API, no sim)`);
    console.log(`all placed               ${fmt(placedMs)}  → ${((total / placedMs) * 1000).toFixed(0)} placements/s (CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, incl. the fsync thread)`);
    console.log(`all reported running     ${fmt(runningMs)}`);
    console.log(`evaluations              ${evals.length}; latency p50 ${pct(50)} ms, p99 ${pct(99)} ms`);
    console.log(`process RSS              ${mb(heap.rss)} (heap ${mb(heap.heapUsed)})`);
    console.log(`store fsyncs             ${store.syncCount}`);
    await plane.close();
    console.log(`store size               ${mb(dirBytes(dir))}`);

    // Cold load: what a restarted server does before it can schedule.
    const t1 = Date.now();
    const again = openSqliteStore({ path });
    const reloaded = await openStateCache(again, { logger: silentLogger() });
    const loadMs = Date.now() - t1;
    console.log(`cold load of the read model  ${fmt(loadMs)} (${reloaded.allocs().length} allocations; RSS now ${mb(process.memoryUsage().rss)})`);
    reloaded.close();
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
