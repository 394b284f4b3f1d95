/**
 * Scheduler at scale, end to end over the real API: a `karu server --no-tls` process, a
 * `karu sim` process with N simulated nodes (real agents, fake driver), then jobs of T
 * tasks each with constraints, in phases (the C1M shape: 5,000 nodes; 100 jobs ×
 * 1,000, then up to 1,000 × 1,000). Per phase it prints placements per second (first
 * register of the phase → every allocation exists), time until all are running, p50/p99
 * evaluation latency (createdAt → modifiedAt), the server's peak RSS (VmHWM) and the size
 * of its data dir.
 *
 * Usage: bench/sched-scale.sh [nodes] [jobs[,jobs…]] [tasks]   (default 1000 10 1000)
 *   bench/sched-scale.sh 5000 100,1000 1000    the C1M shape: 100k, then on to 1M
 * Per phase also: the server's and the sim's CPU seconds (and per placement), and false
 * marks: nodes the server marked down or disconnected (every sim node is alive throughout,
 * so each mark is false) and stalls the node monitor forgave.
 *
 * Env: SIM_RUN_DELAY (default 500ms); BENCH_CPU_PROF=DIR writes the server's CPU profile
 * (node --cpu-prof) there when it exits; SIM_CPU_PROF=DIR the sim's.
 */
import { rmSync } from 'node:fs';
import { fmt, until } from './lib.js';
import { benchServer, dirBytes, karu, pct, procCpuSeconds, procMb, stopProc, type KaruProc } from './scale-lib.js';

const NODES = Number(process.argv[2] ?? 1000);
const PHASES = String(process.argv[3] ?? '10')
  .split(',')
  .map(Number);
const TASKS = Number(process.argv[4] ?? 1000);
const RUN_DELAY = process.env.SIM_RUN_DELAY ?? '500ms';

/**
 * Job j: every node of the sim (label), and one rack in ten excluded for odd jobs, so the
 * constraint filter has real work. 10 MHz / 16 MB per task: 1M tasks fill half the CPU of
 * 5,000 default sim nodes (4,000 MHz, 8 GB), so even the 1M run never fails for room.
 */
function jobSpec(j: number) {
  const constraints: { attribute: string; operator: string; value: string }[] = [{ attribute: '${label.sim}', operator: '=', value: 'true' }];
  if (j % 2 === 1) constraints.push({ attribute: '${label.rack}', operator: '!=', value: `r${j % 10}` });
  return {
    name: `scale-${j}`,
    groups: [{ name: 'g', count: TASKS, constraints, tasks: [{ name: 't', image: 'karu/busybox:1', resources: { cpu: 10, memory: 16 } }] }],
  };
}

async function main(): Promise<void> {
  const { dataDir, url, client, start } = await benchServer('sched-scale', 300_000);
  const procs: KaruProc[] = [];
  try {
    const server = start();
    procs.push(server);
    await until('the server', async () => (await client.listNodes(), true), 60_000, 100);

    let t = Date.now();
    const simProf = process.env.SIM_CPU_PROF;
    // The sim stands in for thousands of machines but shares these 2 cores with the server
    // it measures: at niceness SIM_NICE (default 10) it yields the CPU to the server when
    // both want it, as the server's own machine would not be running the agents' work.
    const simNice = Number(process.env.SIM_NICE ?? 10);
    // Every simulated allocation is a full AllocRunner in the sim (~10 KB): past a few
    // hundred thousand the sim needs more than V8's default heap limit (~4 GB here).
    const sim = karu(['sim', '--server', url, '--nodes', String(NODES), '--run-delay', RUN_DELAY], 'sim', {
      nice: simNice,
      nodeArgs: ['--max-old-space-size=16384', ...(simProf ? ['--cpu-prof', '--cpu-prof-dir', simProf] : [])],
    });
    procs.push(sim);
    await until(`${NODES} ready nodes`, async () => (await client.listNodes()).filter((n) => n.status === 'ready').length >= NODES, 900_000, 1000);
    const nodesReadyMs = Date.now() - t;
    const rssIdle = procMb(server.proc.pid!, 'VmRSS');
    console.log(`sched-scale: ${NODES} simulated nodes ready in ${fmt(nodesReadyMs)}; server RSS ${rssIdle.toFixed(0)} MB`);

    let registered = 0;
    for (const jobs of PHASES) {
      const from = registered;
      const total = jobs * TASKS;
      console.log(`phase: jobs ${from}..${jobs - 1} (${(jobs - from) * TASKS} new allocations, ${total} in all)…`);
      t = Date.now();
      const fromLine = server.lines.length;
      const cpu0 = { server: procCpuSeconds(server.proc.pid!), sim: procCpuSeconds(sim.proc.pid!) };
      for (let j = from; j < jobs; j++) await client.registerJob(jobSpec(j));
      registered = jobs;
      const registeredMs = Date.now() - t;
      let placedMs = NaN;
      // The listing's summaries walk every allocation: poll gently, it competes with the scheduler.
      const pollMs = total > 100_000 ? 2_000 : total > 10_000 ? 500 : 100;
      await until(
        'every allocation running',
        async () => {
          const list = (await client.listJobs()).filter((j) => j.name.startsWith('scale-'));
          const placed = list.reduce((n, j) => n + j.summary.pending + j.summary.running + j.summary.complete + j.summary.failed + j.summary.lost, 0);
          const running = list.reduce((n, j) => n + j.summary.running, 0);
          if (Number.isNaN(placedMs) && placed >= total) placedMs = Date.now() - t;
          return running >= total;
        },
        3_600_000,
        pollMs,
      );
      const runningMs = Date.now() - t;
      const cpu = { server: procCpuSeconds(server.proc.pid!) - cpu0.server, sim: procCpuSeconds(sim.proc.pid!) - cpu0.sim };
      const marks = (re: RegExp) => server.lines.slice(fromLine).filter((l) => re.test(l)).length;
      const placedNew = (jobs - from) * TASKS;
      const evals = (await client.listEvaluations()).filter((e) => {
        const n = Number(e.jobName?.slice('scale-'.length));
        return e.jobName?.startsWith('scale-') && n >= from && n < jobs;
      });
      const lat = evals.map((e) => e.modifiedAt - e.createdAt).sort((a, b) => a - b);
      console.log('');
      console.log(`nodes (simulated)          ${NODES}`);
      console.log(`allocations                ${placedNew} new (${jobs - from} jobs × ${TASKS}), ${total} in the cluster`);
      console.log(`register calls             ${fmt(registeredMs)}`);
      console.log(`all placed                 ${fmt(placedMs)}  → ${(placedNew / (placedMs / 1000)).toFixed(0)} placements/s`);
      console.log(`all running                ${fmt(runningMs)}  (run delay ${RUN_DELAY})`);
      console.log(`evaluations                ${evals.length}; latency p50 ${pct(lat, 50)} ms, p99 ${pct(lat, 99)} ms, max ${lat.at(-1)} ms`);
      const perPlacement = (s: number) => `${((s / placedNew) * 1e6).toFixed(0)} µs/placement`;
      console.log(`server CPU (to all running) ${cpu.server.toFixed(1)} s = ${(cpu.server / (runningMs / 1000)).toFixed(2)} cores, ${perPlacement(cpu.server)}`);
      console.log(`sim CPU (to all running)    ${cpu.sim.toFixed(1)} s = ${(cpu.sim / (runningMs / 1000)).toFixed(2)} cores, ${perPlacement(cpu.sim)}`);
      console.log(
        `false marks                ${marks(/missed its heartbeats: marked down|disconnected node marked down/)} down, ${marks(/missed its heartbeats: marked disconnected/)} disconnected; ${marks(/node monitor ran late/)} stalls forgiven`,
      );
      console.log(`server peak RSS (VmHWM)    ${procMb(server.proc.pid!, 'VmHWM').toFixed(0)} MB (idle with nodes: ${rssIdle.toFixed(0)} MB)`);
      console.log(`sim process peak RSS       ${procMb(sim.proc.pid!, 'VmHWM').toFixed(0)} MB`);
      console.log(`store size (data dir)      ${(dirBytes(dataDir) / 1024 / 1024).toFixed(1)} MB`);
      console.log('');
    }
    console.log('anchors: Nomad C1M 3,750 placements/s (5 servers); kube-scheduler 680–810 pods/s at 5,000 nodes;');
    console.log('         target ≥ 10,000 placements/s in one process on 2 cores, 1M allocations ≤ 3 min, RSS ≤ 4 GB.');
  } finally {
    for (const p of procs.reverse()) await stopProc(p.proc, 120_000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
