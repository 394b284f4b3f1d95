/**
 * Placement quality of sampling vs a full scan, with the pure scheduler in-process.
 * On N simulated nodes (seeded sizes), jobs with one allocation of a random cpu/memory
 * ask (seeded) are scheduled one by one, each plan applied to an in-memory state, until
 * the first placement fails. Prints the share of cluster cpu and memory then allocated,
 * and placements per second, for limited sampling (service: ⌈log2 N⌉, batch: 2) and
 * for a full scan, averaged over several seeds. Target: sampling within 5% of full.
 * Usage: bench/placement-quality.sh [nodes] [seeds]   (default 200 5)
 */
import type { AllocView } from '../src/core/alloc.js';
import type { AllocId, EvalId, NodeId } from '../src/core/ids.js';
import type { Job, JobType } from '../src/core/job.js';
import type { Node } from '../src/core/node.js';
import { seededRng } from '../src/lib/rng.js';
import type { Rng } from '../src/lib/rng.js';
import { schedule } from '../src/scheduler/schedule.js';
import type { Plan, Sampling, SchedulerState } from '../src/scheduler/types.js';
import { aJob, anEval, aNode, aTask, T0 } from '../src/scheduler/testing/builders.js';

const NODES = Number(process.argv[2] ?? 200);
const SEEDS = Number(process.argv[3] ?? 5);

/** A snapshot indexed by node and by job, so the state is not what we measure. */
class BenchState implements SchedulerState {
  private readonly nodeList: Node[];
  private readonly nodeMap = new Map<NodeId, Node>();
  private readonly jobs = new Map<string, Job>();
  private readonly byNode = new Map<NodeId, AllocView[]>();
  private readonly byJob = new Map<string, AllocView[]>();
  cpuUsed = 0;
  memUsed = 0;

  constructor(nodes: Node[]) {
    this.nodeList = nodes;
    for (const n of nodes) this.nodeMap.set(n.id, n);
  }
  job(namespace: string, name: string): Job | undefined {
    return this.jobs.get(`${namespace}/${name}`);
  }
  nodes(): readonly Node[] {
    return this.nodeList;
  }
  node(id: NodeId): Node | undefined {
    return this.nodeMap.get(id);
  }
  allocsByNode(nodeId: NodeId): readonly AllocView[] {
    return this.byNode.get(nodeId) ?? [];
  }
  allocsByJob(namespace: string, name: string): readonly AllocView[] {
    return this.byJob.get(`${namespace}/${name}`) ?? [];
  }
  putJob(job: Job): void {
    this.jobs.set(`${job.namespace}/${job.name}`, job);
  }
  apply(plan: Plan): void {
    for (const a of plan.place) {
      const view: AllocView = { ...a, clientStatus: 'running', clientDescription: '', taskStates: {} };
      push(this.byNode, a.nodeId, view);
      push(this.byJob, `${a.namespace}/${a.jobName}`, view);
      this.cpuUsed += a.resources.cpuMhz;
      this.memUsed += a.resources.memoryMb;
    }
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const xs = m.get(k);
  if (xs) xs.push(v);
  else m.set(k, [v]);
}

function cluster(rng: Rng): Node[] {
  return Array.from({ length: NODES }, (_, i) =>
    aNode({ name: `sim${i}`, resources: { cpuMhz: rng.int(2, 8) * 2000, memoryMb: rng.int(2, 8) * 4096 } }),
  );
}

interface Result {
  cpuPct: number;
  memPct: number;
  placements: number;
  perSec: number;
}

function run(seed: number, type: JobType, sampling: Sampling): Result {
  const nodes = cluster(seededRng(`nodes-${seed}`));
  const asks = seededRng(`asks-${seed}`);
  const state = new BenchState(nodes);
  const rng = seededRng(`sched-${seed}`);
  let n = 0;
  const ctx = { rng, now: T0, newAllocId: () => `alloc_${++n}` as AllocId, sampling };
  const t0 = performance.now();
  for (;;) {
    const job = aJob({
      name: `j${n}`,
      type,
      group: { count: 1, tasks: [aTask({ resources: { cpuMhz: asks.int(1, 20) * 100, memoryMb: asks.int(1, 32) * 128 } })] },
    });
    state.putJob(job);
    const plan = schedule(state, { ...anEval(job), id: `eval_${n}` as EvalId }, ctx);
    if (plan.place.length === 0) break;
    state.apply(plan);
  }
  const secs = (performance.now() - t0) / 1000;
  const cpuTotal = nodes.reduce((s, x) => s + x.resources.cpuMhz, 0);
  const memTotal = nodes.reduce((s, x) => s + x.resources.memoryMb, 0);
  return { cpuPct: (100 * state.cpuUsed) / cpuTotal, memPct: (100 * state.memUsed) / memTotal, placements: n, perSec: n / secs };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => `${x.toFixed(1)}%`;

console.log(`placement quality: ${NODES} nodes, ${SEEDS} seeds, binpack, one allocation per evaluation until the first failure`);
for (const type of ['service', 'batch'] as const) {
  const rows: Record<Sampling, Result[]> = { limited: [], full: [] };
  for (let s = 1; s <= SEEDS; s++) for (const mode of ['limited', 'full'] as const) rows[mode].push(run(s, type, mode));
  const summary = (mode: Sampling) => {
    const r = rows[mode];
    return { cpu: mean(r.map((x) => x.cpuPct)), mem: mean(r.map((x) => x.memPct)), placed: mean(r.map((x) => x.placements)), perSec: mean(r.map((x) => x.perSec)) };
  };
  const lim = summary('limited');
  const full = summary('full');
  const limit = type === 'batch' ? 2 : Math.max(2, Math.ceil(Math.log2(NODES)));
  for (const [name, x] of [[`sampled (${limit})`, lim], ['full scan', full]] as const) {
    console.log(
      `  ${type.padEnd(7)} ${name.padEnd(13)} cpu ${pct(x.cpu).padStart(6)}  memory ${pct(x.mem).padStart(6)}  placed ${x.placed.toFixed(0).padStart(5)}  ${x.perSec.toFixed(0).padStart(6)} placements/s`,
    );
  }
  const ratio = (100 * (lim.cpu + lim.mem)) / (full.cpu + full.mem);
  console.log(`  ${type.padEnd(7)} sampled/full capacity allocated: ${ratio.toFixed(1)}% (target ≥ 95%); speed ×${(lim.perSec / full.perSec).toFixed(2)}`);
}
