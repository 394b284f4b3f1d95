/**
 * Cold load of the read model alone: a SQLite store filled with N allocations and their
 * statuses (written straight through the StateStore, shaped as the scheduler and agents
 * write them: one evaluation per 1,000, running tasks with a started event), then opened
 * again and loaded as a restarted server does before it can schedule. Prints the time to
 * read the rows alone, the full load, the GC share of it, heap and RSS: what issue 5's
 * "cold restart with 1M allocations ≤ 30 s" is made of, without filling the store through
 * the scheduler first (bench/cold-restart.sh does the whole thing end to end).
 *
 * Usage: node [--max-old-space-size=…] --import tsx bench/cold-load.ts [allocations] [nodes]   (default 1000000 5000)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import type { Allocation, AllocStatus } from '../src/core/alloc.js';
import type { AllocId, EvalId, NodeId } from '../src/core/ids.js';
import { newPrefixedId } from '../src/lib/ids.js';
import { silentLogger } from '../src/lib/logger.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { createStateStore, openStateCache, prefixes } from '../src/store/index.js';
import { fmt } from './lib.js';
import { dirBytes } from './scale-lib.js';

const N = Number(process.argv[2] ?? 1_000_000);
const NODES = Number(process.argv[3] ?? 5000);
const BATCH = 10_000;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;

async function fill(path: string): Promise<void> {
  const store = openSqliteStore({ path });
  const state = createStateStore(store);
  const now = Date.now();
  let evalId = newPrefixedId('eval') as EvalId;
  for (let done = 0; done < N; ) {
    const writes = [];
    for (let i = 0; i < BATCH && done < N; i++, done++) {
      if (done % 1000 === 0) evalId = newPrefixedId('eval') as EvalId;
      const id = newPrefixedId('alloc') as AllocId;
      const n = done % NODES;
      const nodeId = `node_sim${String(n).padStart(5, '0')}` as NodeId;
      const alloc: Allocation = {
        id,
        namespace: 'default',
        jobName: `scale-${Math.floor(done / 1000)}`,
        jobVersion: 1,
        group: 'g',
        index: done % 1000,
        nodeId,
        nodeName: `sim-${n}`,
        evalId,
        resources: { cpuMhz: 10, memoryMb: 16 },
        ports: [],
        desiredStatus: 'run',
        desiredDescription: '',
        rescheduleTimes: [],
        createdAt: now,
        modifiedAt: now,
      };
      const status: AllocStatus = {
        id,
        nodeId,
        clientStatus: 'running',
        clientDescription: 'tasks are running',
        taskStates: { t: { state: 'running', failed: false, restarts: 0, containerId: `sim-${id}`, startedAt: now, events: [{ type: 'started', time: now, message: 'task started' }] } },
        updatedAt: now,
      };
      writes.push({ kind: 'alloc' as const, value: alloc }, { kind: 'allocStatus' as const, value: status });
    }
    await state.commit(writes);
  }
  await store.close();
}

async function main(): Promise<void> {
  // KARU_BENCH_STORE=path: load that store (kept by an earlier run with KEEP_STORE=1) instead of filling one.
  const reuse = process.env.KARU_BENCH_STORE;
  const dir = reuse !== undefined ? join(reuse, '..') : mkdtempSync(join(tmpdir(), 'karu-cold-load-'));
  const path = reuse ?? join(dir, 'karu.db');
  try {
    const t = Date.now();
    if (reuse !== undefined) console.log(`cold-load: reusing ${path}`);
    else await fill(path);
    if (reuse === undefined) console.log(`cold-load: ${N} allocations + statuses on ${NODES} nodes written in ${fmt(Date.now() - t)}; store ${mb(dirBytes(dir))}`);

    // The rows alone: what SQLite and the list pages cost, nothing decoded.
    const raw = openSqliteStore({ path });
    const t0 = Date.now();
    let rows = 0;
    for (const prefix of [prefixes.allocStatus, prefixes.allocs]) {
      let after: string | undefined;
      for (;;) {
        const page = await raw.list(prefix, { limit: 10_000, ...(after !== undefined ? { startAfter: after } : {}) });
        rows += page.items.length;
        if (page.items.length < 10_000) break;
        after = page.items[page.items.length - 1]!.key;
      }
    }
    const readMs = Date.now() - t0;
    await raw.close();

    let gcMs = 0;
    const gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) gcMs += e.duration;
    });
    gc.observe({ entryTypes: ['gc'] });
    const t1 = Date.now();
    const cpu0 = process.cpuUsage();
    const store = openSqliteStore({ path });
    const cache = await openStateCache(store, { logger: silentLogger() });
    const loadMs = Date.now() - t1;
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 100)); // GC entries arrive asynchronously
    gc.disconnect();
    const mem = process.memoryUsage();
    console.log(`rows read (no decoding)      ${fmt(readMs)} (${rows} rows)`);
    console.log(`cold load of the read model  ${fmt(loadMs)} (${cache.allocs().length} allocations; CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s; GC pauses ${fmt(gcMs)})`);
    console.log(`heap after load              ${mb(mem.heapUsed)} (${((mem.heapUsed / N) | 0)} bytes per allocation); RSS ${mb(mem.rss)}`);
    cache.close();
    await store.close();
  } finally {
    if (process.env.KEEP_STORE || reuse !== undefined) console.log(`kept ${path}`); else rmSync(dir, { recursive: true, force: true });
  }
}

await main();
