/**
 * Resident memory of `karu dev` (server + agent in one process): idle with no
 * allocations, then with 100 running. Usage: bench/footprint.sh [N]
 */
import { fmt, rssMb, startDev, until } from './lib.js';

const n = Number(process.argv[2] ?? 100);
const settle = () => new Promise((r) => setTimeout(r, 5_000));

const dev = await startDev();
try {
  await settle();
  const idle = rssMb(dev.proc.pid!);
  const t0 = performance.now();
  await dev.client.registerJob({
    name: 'footprint',
    groups: [{ name: 'web', count: n, tasks: [{ name: 'server', image: 'karu/hello:1', resources: { cpu: 10, memory: 16 }, ports: [{ label: 'http', to: 8080 }] }] }],
  });
  await until(`${n} allocations running`, async () => (await dev.client.getJob('default', 'footprint')).summary.running >= n, 600_000, 100);
  const took = performance.now() - t0;
  await settle();
  const loaded = rssMb(dev.proc.pid!);
  console.log(`karu dev RSS idle, 0 allocations:   ${idle.toFixed(1)} MB   (target ≤ 100 MB: ${idle <= 100 ? 'met' : 'NOT met'})`);
  console.log(`karu dev RSS idle, ${n} allocations: ${loaded.toFixed(1)} MB   (${n} placed and running in ${fmt(took)})`);
} finally {
  await dev.stop();
}
