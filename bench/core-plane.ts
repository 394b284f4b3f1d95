/**
 * The control plane alone, in this process, on a SQLite file (exactly what `karu server`
 * runs: controllers, read model, store with group commit), with N registered nodes whose
 * "agents" report every new allocation `running` in one batched status update per node
 * at most every 100 ms (as an agent batches its reports). No API, no heartbeats.
 * Shared by sched-scale-core.ts (measures it) and cold-restart.ts (fills a store with it).
 */
import type { NodeId } from '../src/core/ids.js';
import { Controllers } from '../src/controllers/control-loop.js';
import { aRegistration } from '../src/controllers/testing.js';
import { systemClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { validateJobObject } from '../src/spec/index.js';
import { openSqliteStore, type SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache, type StateCache } from '../src/store/index.js';

const REPORT_MS = 100;

/** The C1M job shape: `tasks` copies on sim nodes, odd jobs also kept off one rack (as sched-scale.ts). */
export const scaleJob = (name: string, j: number, tasks: number) =>
  validateJobObject({
    name,
    groups: [
      {
        name: 'g',
        count: tasks,
        constraints: [{ attribute: '${label.sim}', operator: '=', value: 'true' }, ...(j % 2 === 1 ? [{ attribute: '${label.rack}', operator: '!=', value: `r${j % 10}` }] : [])],
        tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 10, memory: 16 } }],
      },
    ],
  });

export interface CorePlane {
  ctl: Controllers;
  cache: StateCache & { close(): void };
  store: SqliteStore;
  /** Allocations the simulated agents have reported running. */
  reported: Set<string>;
  /** Status reports still being written. */
  inFlight(): number;
  /** Stops the agents, the controllers, the read model and the store (the file stays). */
  close(): Promise<void>;
}

/** Opens the store at `path`, starts the controllers and registers `nodes` nodes (labels sim=true, rack=r0..r9). */
export async function startCorePlane(path: string, nodes: number): Promise<CorePlane> {
  const store = openSqliteStore({ path });
  const cache = await openStateCache(store, { logger: silentLogger() });
  const ctl = new Controllers(
    { stateStore: createStateStore(store), cache, clock: systemClock, logger: silentLogger(), serverToken: 't' },
    // No agents heartbeat here: nodes must not be marked down.
    { nodeMonitor: { minTtlMs: 24 * 3_600_000 } },
  );
  ctl.start();
  for (let i = 0; i < nodes; i++) {
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

  return {
    ctl,
    cache,
    store,
    reported,
    inFlight: () => reports.size,
    async close() {
      clearInterval(agents);
      unsubscribe();
      await Promise.allSettled([...reports]);
      await ctl.stop();
      cache.close();
      await store.close();
    },
  };
}

/** Registers `jobs` C1M jobs of `tasks` each (named `${prefix}-N`) and waits until all are placed and reported running. */
export async function fillCorePlane(plane: CorePlane, prefix: string, jobs: number, tasks: number): Promise<void> {
  for (let j = 0; j < jobs; j++) await plane.ctl.cluster.registerJob(scaleJob(`${prefix}-${j}`, j, tasks));
  const total = jobs * tasks;
  while (plane.cache.allocs().length < total || plane.reported.size < total || plane.inFlight() > 0) await new Promise((r) => setTimeout(r, 50));
}
