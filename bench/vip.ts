/**
 * Service-to-service through a VIP vs direct (issue 4's benchmark), on loopback with wrk.
 * The backend is a tiny Node HTTP app in its own process (busybox httpd closes every
 * connection and drops SYNs under load: it would measure itself); the VIP proxy is the
 * agent's `VipProxy` following a ServiceTable with that one endpoint, in its own process,
 * listening on 127.0.0.2 as on a VIP of the node (bench/ingress-proxy.ts `vip`).
 *
 * Two client shapes, because the proxy's cost is per connection as much as per byte:
 *   keep-alive  - wrk's connections stay open (a pooled client);
 *   new conn    - `Connection: close` on every request (a client that connects per call):
 *                 each request pays accept + backend connect + endpoint choice.
 * Rounds are interleaved, each figure is the median of BENCH_REPEATS runs, and the
 * proxy's own CPU time is read from /proc (requests per CPU-second), which other load on
 * the shared machine disturbs far less than req/s or the tail. Helpers: bench/ingress.ts.
 */
import { loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';
import { cpuNote, load, LO, med, settle, startChild, wrk, type Figures } from './ingress.js';
import { stopOnExit } from './lib.js';

const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const VIP = '127.0.0.2';
const CLOSE = ['-H', 'Connection: close'];

const uptime = () => {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average ${loadavg().map((l) => l.toFixed(2)).join(', ')}`;
  }
};

async function main(): Promise<void> {
  const { stops, cleanup } = stopOnExit();
  try {
    const app = await startChild('app', LO);
    stops.push(app.stop);
    const vip = await startChild('vip', VIP, app.port);
    stops.push(vip.stop);

    const targets = {
      'direct, keep-alive': { url: `http://${LO}:${app.port}/`, args: [] as string[] },
      'VIP, keep-alive': { url: `http://${VIP}:${vip.port}/`, args: [], pid: vip.pid },
      'direct, new conn': { url: `http://${LO}:${app.port}/`, args: CLOSE },
      'VIP, new conn': { url: `http://${VIP}:${vip.port}/`, args: CLOSE, pid: vip.pid },
    } as const;
    type Name = keyof typeof targets;
    const runs = new Map<Name, Figures[]>(Object.keys(targets).map((k) => [k as Name, []]));
    console.log(`backend: node http server; VIP proxy: VipProxy (one endpoint) on ${VIP}; wrk -t2 -c${CONNECTIONS} -d${DURATION}s; ${REPEATS} interleaved round(s)`);
    console.log(`uptime before: ${uptime()}`);
    for (let round = 1; round <= REPEATS; round++) {
      for (const name of Object.keys(targets) as Name[]) {
        const t = targets[name];
        await settle();
        const f = wrk(t.url, 'pid' in t ? t.pid : undefined, [...t.args]);
        runs.get(name)!.push(f);
        console.log(`  round ${round} ${name.padEnd(20)} ${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms${cpuNote(f)}${f.errors ? `  (${f.errors} errors)` : ''}`);
      }
    }
    console.log(`uptime after: ${uptime()} (load average ${load()})`);
    const r = Object.fromEntries([...runs].map(([k, v]) => [k, med(v)])) as Record<Name, Figures>;
    console.log('\nmedians');
    for (const [name, f] of Object.entries(r)) {
      console.log(`  ${name.padEnd(20)} ${f.rps.toFixed(0).padStart(7)} req/s  p50 ${f.p50.toFixed(2)} ms  p99 ${f.p99.toFixed(2)} ms${cpuNote(f)}${f.errors ? `  (${f.errors} errors in all rounds)` : ''}`);
    }
    console.log('\nVIP vs direct');
    for (const shape of ['keep-alive', 'new conn'] as const) {
      const d = r[`direct, ${shape}`];
      const v = r[`VIP, ${shape}`];
      console.log(`  ${shape.padEnd(11)} throughput ${((v.rps / d.rps) * 100).toFixed(0)}%, p50 +${(v.p50 - d.p50).toFixed(2)} ms, p99 +${(v.p99 - d.p99).toFixed(2)} ms`);
    }
  } finally {
    await cleanup();
  }
}

await main();
