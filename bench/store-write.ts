/**
 * The SQLite store's write path alone: rounds of one 1,000-key plan (new allocation keys,
 * ~275-byte values) and 100 ten-key status reports (status keys of earlier plans' allocations:
 * created the first time, updated after), each round's writes issued in one tick so they
 * share a group commit, as the plan applier and the agents' reports do. Prints keys/s,
 * CPU per key (the process's, and the main thread's: what the event loop pays), the event
 * loop's busy time, fsyncs, and the WAL/database size.
 *
 * Usage: node --import tsx bench/store-write.ts [rounds] [plan keys] [reports per round] [keys per report]
 *        (default 100 1000 100 10)
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { TxnOp } from '../src/store/store.js';

const ROUNDS = Number(process.argv[2] ?? 100);
const PLAN = Number(process.argv[3] ?? 1000);
const REPORTS = Number(process.argv[4] ?? 100);
const PER_REPORT = Number(process.argv[5] ?? 10);

// Deterministic ULID-like ids: a time part that grows, a pseudo-random tail (xorshift).
let seed = 0x2545f491;
const rnd = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), (seed >>> 0).toString(32).padStart(7, '0'));
let tick = 0;
const newId = () => `alloc_01J${(tick++).toString(32).padStart(7, '0')}${rnd()}${rnd()}`.slice(0, 32);

const pad = (s: string, n: number) => s + 'x'.repeat(Math.max(0, n - s.length));
const allocValue = (id: string) => pad(`{"n":"default","e":"eval_01J${id.slice(-10)}","j":"scale-1","v":1,"g":"g","node":"node_01J${id.slice(-12)}","r":{"cpu":10,"memory":16},"d":"run","c":${Date.now()},"pad":"`, 273) + '"}';
const statusValue = (id: string, n: number) => pad(`{"node":"node_01J${id.slice(-12)}","s":"running","n":${n},"t":{},"u":${Date.now()},"pad":"`, 208) + '"}';

/** The main thread's CPU seconds (Linux: /proc), or NaN elsewhere. */
function mainThreadCpu(): number {
  try {
    const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'karu-store-write-'));
  const path = join(dir, 'karu.db');
  try {
    const store = openSqliteStore({ path });
    const placed: string[] = [];
    const reportedTimes = new Map<string, number>();
    let keys = 0;
    let cursor = 0;
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    const main0 = mainThreadCpu();
    const elu0 = performance.eventLoopUtilization();
    for (let r = 0; r < ROUNDS; r++) {
      const writes: Promise<unknown>[] = [];
      const plan: TxnOp[] = [];
      for (let i = 0; i < PLAN; i++) {
        const id = newId();
        placed.push(id);
        plan.push({ type: 'put', key: `/allocs/${id}`, value: allocValue(id) });
      }
      writes.push(store.txn({ compares: [], success: plan }));
      keys += PLAN;
      for (let i = 0; i < REPORTS && placed.length > 0; i++) {
        const ops: TxnOp[] = [];
        for (let k = 0; k < PER_REPORT; k++) {
          // Walk the placed allocations: the first pass creates statuses, later ones update them.
          const id = placed[cursor++ % placed.length]!;
          const n = (reportedTimes.get(id) ?? 0) + 1;
          reportedTimes.set(id, n);
          ops.push({ type: 'put', key: `/alloc-status/${id}`, value: statusValue(id, n) });
        }
        writes.push(store.txn({ compares: [], success: ops }));
        keys += ops.length;
      }
      await Promise.all(writes);
    }
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const mainS = mainThreadCpu() - main0;
    const elu = performance.eventLoopUtilization(elu0);
    const size = (f: string) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    };
    const mbOf = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
    console.log(`store-write: ${ROUNDS} rounds × (${PLAN}-key plan + ${REPORTS} × ${PER_REPORT}-key reports) = ${keys} keys`);
    console.log(`wall ${wallS.toFixed(2)} s → ${Math.round(keys / wallS)} keys/s; CPU ${cpuS.toFixed(2)} s → ${((cpuS / keys) * 1e6).toFixed(1)} µs/key (${Math.round(keys / cpuS)} keys per CPU-s)`);
    console.log(`main thread CPU ${mainS.toFixed(2)} s → ${((mainS / keys) * 1e6).toFixed(1)} µs/key; event loop busy ${(elu.active / 1000).toFixed(2)} s (${(elu.utilization * 100).toFixed(0)} %)`);
    console.log(`fsyncs ${store.syncCount}; db ${mbOf(size(path))}, wal ${mbOf(size(`${path}-wal`))}`);
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
