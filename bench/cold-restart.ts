/**
 * Cold restart: a `karu server --no-tls` with many allocations in its store is stopped and
 * started again on the same data dir while its nodes (`karu sim`) keep running, as a
 * server upgrade would. Prints the time from the new process's start until the API answers,
 * and until it schedules again (a one-allocation probe job placed). Target ≤ 30 s with 1M
 * allocations (issue 5). The store is filled through the API as sched-scale does.
 * Usage: bench/cold-restart.sh [nodes] [jobs] [tasks] [sim|direct]   (default 5000 1000 1000 sim = 1M)
 *
 * `direct`: the store is filled by the control plane in this process (bench/core-plane.ts:
 * the same controllers and store, agents replaced by batched status reports), then a
 * `karu server` process starts on it: a million allocations in ~2 minutes instead of the
 * hour the simulator would need on these 2 cores, and no sim beside the server while it
 * loads. Nodes do not heartbeat then: the probe is placed within the grace a restarted
 * server gives every node.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fillCorePlane, startCorePlane } from './core-plane.js';
import { fmt, until } from './lib.js';
import { benchServer, dirBytes, karu, procMb, stopProc, type KaruProc } from './scale-lib.js';

const NODES = Number(process.argv[2] ?? 5000);
const JOBS = Number(process.argv[3] ?? 1000);
const TASKS = Number(process.argv[4] ?? 1000);
const FILL = process.argv[5] ?? 'sim';
if (FILL !== 'sim' && FILL !== 'direct') throw new Error(`fill mode is sim or direct, got '${FILL}'`);

const spec = (name: string, count: number) => ({
  name,
  groups: [{ name: 'g', count, constraints: [{ attribute: '${label.sim}', operator: '=', value: 'true' }], tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 10, memory: 16 } }] }],
});

async function main(): Promise<void> {
  const { dataDir, url, client, start } = await benchServer('cold-restart', 300_000);
  let server: KaruProc | undefined;
  let sim: KaruProc | undefined;
  const placed = async (prefix: string) =>
    (await client.listJobs()).filter((j) => j.name.startsWith(prefix)).reduce((n, j) => n + j.summary.pending + j.summary.running + j.summary.complete, 0);
  try {
    const t = Date.now();
    if (FILL === 'direct') {
      const plane = await startCorePlane(join(dataDir, 'karu.db'), NODES);
      await fillCorePlane(plane, 'fill', JOBS, TASKS);
      await plane.close();
    } else {
      server = start();
      await until('the server', async () => (await client.listNodes(), true), 60_000, 100);
      sim = karu(['sim', '--server', url, '--nodes', String(NODES), '--run-delay', '0ms'], 'sim');
      await until(`${NODES} ready nodes`, async () => (await client.listNodes()).filter((n) => n.status === 'ready').length >= NODES, 900_000, 1000);
      for (let j = 0; j < JOBS; j++) await client.registerJob(spec(`fill-${j}`, TASKS));
      await until(`${JOBS * TASKS} allocations placed`, async () => (await placed('fill-')) >= JOBS * TASKS, 3_600_000, 2_000);
    }
    console.log(`cold-restart: ${JOBS * TASKS} allocations on ${NODES} nodes placed (${FILL}) in ${fmt(Date.now() - t)}; store ${(dirBytes(dataDir) / 1048576).toFixed(0)} MB; restarting the server…`);

    if (server) await stopProc(server.proc, 120_000);
    const t0 = Date.now();
    server = start();
    await until('the API', async () => (await client.request('GET', '/v1/health'), true), 600_000, 50);
    const apiMs = Date.now() - t0;
    await client.registerJob(spec('probe', 1));
    await until('the probe placed', async () => (await client.getJob('default', 'probe')).allocations.length >= 1, 600_000, 50);
    const scheduleMs = Date.now() - t0;
    const notReady = (await client.listNodes()).filter((n) => n.status !== 'ready').length;

    console.log('');
    console.log(`allocations in the store     ${JOBS * TASKS} on ${NODES} nodes`);
    console.log(`store size (data dir)        ${(dirBytes(dataDir) / 1048576).toFixed(1)} MB`);
    console.log(`start → API answers          ${fmt(apiMs)}`);
    console.log(`start → schedules again      ${fmt(scheduleMs)}  (target ≤ 30 s)`);
    console.log(`server RSS after restart     ${procMb(server.proc.pid!, 'VmRSS').toFixed(0)} MB (peak ${procMb(server.proc.pid!, 'VmHWM').toFixed(0)} MB)`);
    if (sim) console.log(`nodes not ready after it     ${notReady} (a restart must not take nodes down)`);
  } finally {
    if (sim) await stopProc(sim.proc, 120_000);
    if (server) await stopProc(server.proc, 120_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
// Done (cleanup included): a pending wait timer must not keep the process alive for minutes.
process.exit();
