/**
 * What one heartbeat costs the server, without a simulator in the way: a `karu server
 * --no-tls` as a child process, N nodes registered through the API, and this process
 * (the load) sending their beats at a fixed rate over a few keep-alive connections (raw
 * undici, so the load generator stays cheap). Rounds alternate between the fast path
 * (`POST /v1/nodes/:id/heartbeat`, answered before Hono) and the general path (the same
 * request with a query string, which the fast path hands to Hono: the route every beat
 * took before), and print the server's CPU per beat for each.
 * Usage: bench/heartbeats-api.sh [nodes] [beats/s] [seconds per round] [rounds] [fast|general|both]
 *   (default 2000 2000 10 2 both: nodes beat every nodes/rate s, which must stay under TTL + grace)
 * BENCH_CPU_PROF=DIR writes the server's CPU profile (node --cpu-prof) to DIR.
 */
import { rmSync } from 'node:fs';
import { Pool } from 'undici';
import type { RegisterNodeResponse } from '../src/client/types.js';
import { until } from './lib.js';
import { benchServer, pct, procCpuSeconds, stopProc } from './scale-lib.js';

const NODES = Number(process.argv[2] ?? 2000);
const RATE = Number(process.argv[3] ?? 2000);
const ROUND_S = Number(process.argv[4] ?? 10);
const ROUNDS = Number(process.argv[5] ?? 2);
const PATHS = (process.argv[6] ?? 'both') as 'fast' | 'general' | 'both';
/** Beats are sent in slices this often. */
const SLICE_MS = 10;

const BODY = JSON.stringify({ drivers: { docker: { healthy: true, detail: 'docker 20.10 (sim)' } } });

async function main(): Promise<void> {
  const { dataDir, url, client, start } = await benchServer('heartbeats-api', 120_000);
  const server = start();
  const pool = new Pool(url, { connections: 16, pipelining: 1, keepAliveTimeout: 60_000 });
  try {
    await until('the server', async () => (await client.listNodes(), true), 60_000, 100);
    const nodes: RegisterNodeResponse[] = [];
    const drivers = JSON.parse(BODY).drivers;
    let query = '';
    let sent = 0;
    let failed = 0;
    let latencies: number[] = [];
    // The load: RATE beats a second in slices, round robin over the registered nodes.
    let next = 0;
    let debt = 0;
    const beat = (n: RegisterNodeResponse) => {
      const t = performance.now();
      sent++;
      pool
        .request({ method: 'POST', path: `/v1/nodes/${n.nodeId}/heartbeat${query}`, headers: { 'content-type': 'application/json', 'x-karu-node-secret': n.secret }, body: BODY })
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode !== 200) failed++;
          latencies.push(performance.now() - t);
        })
        .catch(() => failed++);
    };
    const load = setInterval(() => {
      if (nodes.length === 0) return;
      debt += (RATE * SLICE_MS) / 1000;
      for (; debt >= 1; debt--) beat(nodes[next++ % nodes.length]!);
    }, SLICE_MS);

    // Register while beating, so the first nodes are not marked down meanwhile.
    const regStart = Date.now();
    let i = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (i < NODES) {
          const name = `beat-${i++}`;
          nodes.push(
            await client.registerNode({
              name,
              address: '127.0.0.1',
              agentUrl: 'http://127.0.0.1:9',
              resources: { cpuMhz: 4000, memoryMb: 8192 },
              attributes: { 'os.name': 'linux' },
              labels: {},
              drivers,
            }),
          );
        }
      }),
    );
    console.log(`heartbeats-api: ${NODES} nodes registered in ${((Date.now() - regStart) / 1000).toFixed(1)} s; ${RATE} beats/s (each node every ${((NODES / RATE) * 1000).toFixed(0)} ms)`);
    await new Promise((r) => setTimeout(r, 3_000));

    const pid = server.proc.pid!;
    const downFrom = server.lines.length;
    const results: { path: string; beats: number; cpu: number; seconds: number; failed: number; p50: number; p99: number; usPerBeat: number }[] = [];
    const order = PATHS === 'both' ? [true, false] : [PATHS === 'fast'];
    for (let round = 0; round < ROUNDS * order.length; round++) {
      const fastRound = order[round % order.length]!;
      const path = fastRound ? 'fast path' : 'general (Hono)';
      query = fastRound ? '' : '?via=hono';
      await new Promise((r) => setTimeout(r, 1_000)); // let the other path's requests drain
      const cpu0 = procCpuSeconds(pid);
      const sent0 = sent;
      failed = 0;
      latencies = [];
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, ROUND_S * 1000));
      const seconds = (Date.now() - t0) / 1000;
      const cpu = procCpuSeconds(pid) - cpu0;
      const beats = sent - sent0;
      const sorted = [...latencies].sort((a, b) => a - b);
      results.push({ path, beats, cpu, seconds, failed, p50: pct(sorted, 50), p99: pct(sorted, 99), usPerBeat: (cpu / beats) * 1e6 });
      const r = results.at(-1)!;
      console.log(`  ${path.padEnd(15)} ${(beats / seconds).toFixed(0)} beats/s, server ${(cpu / seconds).toFixed(2)} cores → ${r.usPerBeat.toFixed(0)} µs/beat; latency p50 ${r.p50.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms; failed ${failed}`);
    }
    clearInterval(load);
    const down = server.lines.slice(downFrom).filter((l) => /marked down|marked disconnected/.test(l)).length;
    const median = (path: string) => {
      const v = results.filter((r) => r.path === path).map((r) => r.usPerBeat).sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)] ?? NaN;
    };
    const fast = median('fast path');
    const general = median('general (Hono)');
    console.log('');
    console.log(`server CPU per beat (median of rounds): fast path ${fast?.toFixed(0)} µs, general path ${general?.toFixed(0)} µs (${(general / fast).toFixed(1)}× the fast path)`);
    console.log(`at 5,000 nodes beating every 1 s (TTL/2): fast path ≈ ${((fast * 5000) / 1e6).toFixed(2)} cores (target < 0.5)`);
    console.log(`down/disconnected marks while measuring: ${down}`);
  } finally {
    await pool.close().catch(() => pool.destroy());
    await stopProc(server.proc);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
