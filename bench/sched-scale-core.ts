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
import type { NodeId } from '../src/core/ids.js';
import { Controllers } from '../src/controllers/control-loop.js';
import { aRegistration } from '../src/controllers/testing.js';
import { systemClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { validateJobObject } from '../src/spec/index.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache } from '../src/store/index.js';
import { fmt } from './lib.js';
import { dirBytes } from './scale-lib.js';

const NODES = Number(process.argv[2] ?? 5000);
const JOBS = Number(process.argv[3] ?? 100);
const TASKS = Number(process.argv[4] ?? 1000);
const REPORT_MS = 100;

const jobSpec = (j: number) =>
  validateJobObject({
    name: `scale-${j}`,
    groups: [
      {
        name: 'g',
        count: TASKS,
        constraints: [{ attribute: '${label.sim}', operator: '=', value: 'true' }, ...(j % 2 === 1 ? [{ attribute: '${label.rack}', operator: '!=', value: `r${j % 10}` }] : [])],
        tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 10, memory: 16 } }],
      },
    ],
  });

const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'karu-sched-core-'));
  const path = join(dir, 'karu.db');
  try {
    const store = openSqliteStore({ path });
    const cache = await openStateCache(store, { logger: silentLogger() });
    const ctl = new Controllers(
      { stateStore: createStateStore(store), cache, clock: systemClock, logger: silentLogger(), serverToken: 't' },
      // No agents heartbeat here: nodes must not be marked down.
      { nodeMonitor: { minTtlMs: 24 * 3_600_000 } },
    );
    ctl.start();
    for (let i = 0; i < NODES; i++) {
      await ctl.cluster.registerNode(aRegistration({ name: `sim-${i}`, labels: { sim: 'true', rack: `r${i % 10}` }, resources: { cpuMhz: 4000, memoryMb: 8192 } }));
    }

    // The agents: each node reports what it was given, batched per REPORT_MS.
    const reported = new Set<string>();
    const dirty = new Set<NodeId>();
    const unsubscribe = cache.subscribe((changes) => {
      for (const c of changes) if (c.type === 'alloc' && c.after && c.after.clientStatus === 'pending' && !reported.has(c.after.id)) dirty.add(c.after.nodeId);
    });
    const reports = new Set<Promise<void>>();
    const agents = setInterval(() => {
      for (const nodeId of dirty) {
        const updates = cache
          .allocsByNode(nodeId)
          .filter((a) => a.clientStatus === 'pending' && !reported.has(a.id))
          .map((a) => (reported.add(a.id), { id: a.id, nodeId, clientStatus: 'running' as const, clientDescription: 'running', taskStates: {}, updatedAt: Date.now() }));
        if (updates.length === 0) continue;
        const p = ctl.cluster.updateAllocStatus(nodeId, updates).finally(() => reports.delete(p));
        reports.add(p);
      }
      dirty.clear();
    }, REPORT_MS);

    const t0 = Date.now();
    const cpu0 = process.cpuUsage();
    for (let j = 0; j < JOBS; j++) await ctl.cluster.registerJob(jobSpec(j));
    const total = JOBS * TASKS;
    while (cache.allocs().length < total) await new Promise((r) => setTimeout(r, 20));
    const placedMs = Date.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    while (reported.size < total || reports.size > 0) await new Promise((r) => setTimeout(r, 20));
    const runningMs = Date.now() - t0;
    clearInterval(agents);
    unsubscribe();
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
    await ctl.stop();
    cache.close();
    await store.close();
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
