/**
 * Test builders for the scheduler: small valid objects with every field set, overridden
 * where a test cares, and an in-memory `SchedulerState` that can apply plans the way the
 * plan applier will. Test-only: nothing in src imports this outside `*.test.ts`.
 */
import type { AllocView, ClientStatus } from '../../core/alloc.js';
import type { Evaluation } from '../../core/evaluation.js';
import type { AllocId, EvalId, NodeId } from '../../core/ids.js';
import { groupResources } from '../../core/job.js';
import type { Group, Job, Task } from '../../core/job.js';
import type { Node } from '../../core/node.js';
import { seededRng } from '../../lib/rng.js';
import type { Plan, Sampling, ScheduleContext, SchedulerState } from '../types.js';

export const T0 = 1_700_000_000_000;

let seq = 0;
const next = () => ++seq;

export function aNode(o: Partial<Node> = {}): Node {
  const name = o.name ?? `n${next()}`;
  return {
    id: (`node_${name}` as NodeId),
    name,
    address: '10.0.0.1',
    status: 'ready',
    statusDescription: '',
    eligibility: 'eligible',
    drain: false,
    resources: { cpuMhz: 4000, memoryMb: 4096 },
    attributes: { 'os.name': 'linux', 'docker.version': '20.10.24', 'cpu.cores': '4' },
    labels: {},
    drivers: { docker: { healthy: true, detail: '' } },
    portRange: { min: 20000, max: 32000 },
    registeredAt: T0,
    statusUpdatedAt: T0,
    ...o,
  };
}

export function aTask(o: Partial<Task> = {}): Task {
  return {
    name: 'main',
    image: 'karu-test/busybox:1',
    args: [],
    env: {},
    resources: { cpuMhz: 500, memoryMb: 256 },
    ports: [],
    killTimeoutMs: 5000,
    ...o,
  };
}

export function aGroup(o: Partial<Group> = {}): Group {
  return {
    name: 'web',
    count: 1,
    constraints: [],
    restart: { attempts: 2, intervalMs: 60_000, delayMs: 1000, mode: 'fail' },
    reschedule: { attempts: 2, intervalMs: 3_600_000 },
    tasks: [aTask()],
    ...o,
  };
}

/** A job with one group `web`; `group` overrides fields of that group. */
export function aJob(o: Partial<Job> & { group?: Partial<Group> } = {}): Job {
  const { group, ...rest } = o;
  return {
    namespace: 'default',
    name: 'app',
    type: 'service',
    priority: 50,
    constraints: [],
    placement: 'binpack',
    groups: [aGroup(group)],
    meta: {},
    stopped: false,
    version: 0,
    submittedAt: T0,
    ...rest,
  };
}

/** An allocation (as the API serves it) of `job`'s first group (or `group`) on `node`. */
export function anAlloc(o: Partial<AllocView> & { job: Job; node: Node }): AllocView {
  const { job, node, ...rest } = o;
  const group = job.groups.find((g) => g.name === (rest.group ?? job.groups[0]!.name)) ?? job.groups[0]!;
  return {
    id: (`alloc_${next()}` as AllocId),
    namespace: job.namespace,
    jobName: job.name,
    jobVersion: job.version,
    group: group.name,
    index: 0,
    nodeId: node.id,
    nodeName: node.name,
    evalId: 'eval_old' as EvalId,
    resources: groupResources(group),
    ports: [],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: T0,
    modifiedAt: T0,
    clientStatus: 'running',
    clientDescription: '',
    taskStates: {},
    ...rest,
  };
}

export function anEval(job: Pick<Job, 'namespace' | 'name'>, o: Partial<Evaluation> = {}): Evaluation {
  return {
    id: (`eval_${next()}` as EvalId),
    namespace: job.namespace,
    jobName: job.name,
    triggeredBy: 'job-register',
    status: 'pending',
    statusDescription: '',
    failedPlacements: {},
    createdAt: T0,
    modifiedAt: T0,
    ...o,
  };
}

/** A context with a seeded rng and predictable allocation ids (`alloc_<seed>_<n>`). */
export function aContext(o: { seed?: string | number; now?: number; sampling?: Sampling } = {}): ScheduleContext {
  const seed = o.seed ?? 'test';
  let n = 0;
  const ctx: ScheduleContext = { rng: seededRng(seed), now: o.now ?? T0, newAllocId: () => `alloc_${seed}_${++n}` as AllocId };
  if (o.sampling !== undefined) ctx.sampling = o.sampling;
  return ctx;
}

/**
 * An in-memory snapshot. Every job put is also kept as history (for `jobVersion`), and
 * `apply` commits a plan the way the plan applier will, so tests can chain evaluations.
 */
export class TestState implements SchedulerState {
  private readonly nodeMap = new Map<NodeId, Node>();
  private readonly jobMap = new Map<string, Job>();
  private readonly history = new Map<string, Job>();
  private readonly allocMap = new Map<AllocId, AllocView>();

  job(namespace: string, name: string): Job | undefined {
    return this.jobMap.get(`${namespace}/${name}`);
  }
  nodes(): readonly Node[] {
    return [...this.nodeMap.values()];
  }
  node(id: NodeId): Node | undefined {
    return this.nodeMap.get(id);
  }
  allocsByNode(nodeId: NodeId): readonly AllocView[] {
    return [...this.allocMap.values()].filter((a) => a.nodeId === nodeId);
  }
  allocsByJob(namespace: string, name: string): readonly AllocView[] {
    return [...this.allocMap.values()].filter((a) => a.namespace === namespace && a.jobName === name);
  }
  jobVersion(namespace: string, name: string, version: number): Job | undefined {
    return this.history.get(`${namespace}/${name}@${version}`);
  }
  allocs(): AllocView[] {
    return [...this.allocMap.values()];
  }
  alloc(id: AllocId): AllocView | undefined {
    return this.allocMap.get(id);
  }

  putNode(node: Node): this {
    this.nodeMap.set(node.id, node);
    return this;
  }
  putJob(job: Job): this {
    this.jobMap.set(`${job.namespace}/${job.name}`, job);
    this.history.set(`${job.namespace}/${job.name}@${job.version}`, job);
    return this;
  }
  putAlloc(alloc: AllocView): this {
    this.allocMap.set(alloc.id, alloc);
    return this;
  }
  /** What the agent would report. */
  setClientStatus(id: AllocId, clientStatus: ClientStatus): this {
    const a = this.allocMap.get(id);
    if (a) this.allocMap.set(id, { ...a, clientStatus });
    return this;
  }

  /** Commits a plan (no re-check: see `verifyPlan`). Placed allocations start `running`. */
  apply(plan: Plan, now = T0): this {
    for (const s of plan.stop) {
      const a = this.allocMap.get(s.allocId);
      if (a) this.allocMap.set(a.id, { ...a, desiredStatus: 'stop', desiredDescription: s.reason, modifiedAt: now });
    }
    for (const id of plan.markLost) this.setClientStatus(id, 'lost');
    for (const u of plan.inPlaceUpdate) {
      const a = this.allocMap.get(u.allocId);
      if (a) this.allocMap.set(a.id, { ...a, jobVersion: u.jobVersion, modifiedAt: now });
    }
    for (const a of plan.place) this.allocMap.set(a.id, { ...a, clientStatus: 'running', clientDescription: '', taskStates: {} });
    for (const p of plan.preempt ?? []) {
      const a = this.allocMap.get(p.allocId);
      const by = plan.place.find((x) => x.id === p.forAllocId);
      const priority = this.job(plan.namespace, plan.jobName)?.priority ?? 0;
      if (a && by) {
        this.allocMap.set(a.id, {
          ...a,
          desiredStatus: 'stop',
          desiredDescription: `preempted by job ${plan.jobName} (priority ${priority})`,
          preemptedBy: { byAllocId: by.id, byJob: plan.jobName, byPriority: priority, at: now },
          modifiedAt: now,
        });
      }
    }
    return this;
  }
}

export function aState(o: { nodes?: Node[]; jobs?: Job[]; allocs?: AllocView[] } = {}): TestState {
  const s = new TestState();
  for (const n of o.nodes ?? []) s.putNode(n);
  for (const j of o.jobs ?? []) s.putJob(j);
  for (const a of o.allocs ?? []) s.putAlloc(a);
  return s;
}

/** `set` whose mutators throw: for state the scheduler may only read (overlay.ts). */
export function readOnlySet<T>(set: Set<T>): Set<T> {
  for (const m of ['add', 'delete', 'clear'] as const) {
    Object.defineProperty(set, m, {
      value: () => {
        throw new Error(`a shared set was written (${m})`);
      },
    });
  }
  return set;
}

/** `map` whose mutators throw. */
export function readOnlyMap<K, V>(map: Map<K, V>): Map<K, V> {
  for (const m of ['set', 'delete', 'clear'] as const) {
    Object.defineProperty(map, m, {
      value: () => {
        throw new Error(`a shared map was written (${m})`);
      },
    });
  }
  return map;
}
