import type { Allocation, AllocStatus, AllocView } from '../core/alloc.js';
import { viewOf } from '../core/alloc.js';
import { KaruError, UnavailableError } from '../core/errors.js';
import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Group, JobType, RestartPolicy, Task } from '../core/job.js';
import type { DriverHealth } from '../core/node.js';
import type { Clock, FakeClock } from '../lib/clock.js';
import { DriverError, type TaskHandle, type TaskSpec } from '../driver/driver.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import type { HeartbeatRequest, NodeAllocation, NodeAllocationsResponse, RegisterNodeRequest, RegisterNodeResponse } from '../client/types.js';
import type { Catalog } from '../core/service.js';
import type { AgentServerApi } from './agent.js';

/**
 * Test kit for the agent: builders and an in-memory stand-in for the server's agent API.
 * The thing under test is the agent; the server here only keeps what the agent tells it
 * and answers the blocking query the way the real one does (index + wait).
 */

export function aTask(over: Partial<Task> = {}): Task {
  return { name: 'web', image: 'karu-test/busybox:1', args: [], env: {}, resources: { cpuMhz: 100, memoryMb: 64 }, ports: [], killTimeoutMs: 5_000, ...over };
}

export function aRestartPolicy(over: Partial<RestartPolicy> = {}): RestartPolicy {
  return { attempts: 2, intervalMs: 60_000, delayMs: 5_000, mode: 'fail', ...over };
}

export function aGroup(over: Partial<Group> = {}): Group {
  return { name: 'app', count: 1, constraints: [], restart: aRestartPolicy(), reschedule: { attempts: 0, intervalMs: 0 }, tasks: [aTask()], ...over };
}

export function anAlloc(nodeId: NodeId, over: Partial<Allocation> = {}): Allocation {
  return {
    id: 'alloc_01hzzzzzzzabcdefgh12345678' as AllocId,
    namespace: 'default',
    jobName: 'shop',
    jobVersion: 0,
    group: 'app',
    index: 0,
    nodeId,
    nodeName: 'n1',
    evalId: 'eval_1' as EvalId,
    resources: { cpuMhz: 100, memoryMb: 64 },
    ports: [],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: 0,
    modifiedAt: 0,
    ...over,
  };
}

interface StoredAlloc {
  alloc: Allocation;
  group: Group;
  jobType: JobType;
}

/** The server side of the agent's calls, in memory, with switches for failures. */
export class FakeAgentServer implements AgentServerApi {
  readonly nodes = new Map<NodeId, { secret: string; request: RegisterNodeRequest }>();
  readonly allocs = new Map<AllocId, StoredAlloc>();
  readonly statuses = new Map<AllocId, AllocStatus>();
  /** Every batch the agent sent, in order. */
  readonly statusBatches: AllocStatus[][] = [];
  registrations = 0;
  heartbeats = 0;
  lastDrivers: Record<string, DriverHealth> | undefined;
  heartbeatTtlMs = 30_000;
  /** Told to agents at registration when set (the server's service range). */
  serviceCidr: string | undefined;
  readonly serverToken = 'server-token-1';
  private index = 1;
  private reachable = true;
  private seq = 0;
  private readonly waiters = new Set<ParkedQuery>();

  constructor(private readonly clock: FakeClock) {}

  // ---- controls

  /** Places an allocation on its node (as the plan applier would). */
  place(alloc: Allocation, group: Group, jobType: JobType = 'service'): void {
    this.allocs.set(alloc.id, { alloc, group, jobType });
    this.bump();
  }

  setDesired(id: AllocId, desiredStatus: 'run' | 'stop'): void {
    const a = this.allocs.get(id)!;
    a.alloc = { ...a.alloc, desiredStatus, desiredDescription: desiredStatus === 'stop' ? 'job stopped' : '' };
    this.bump();
  }

  purge(id: AllocId): void {
    this.allocs.delete(id);
    this.statuses.delete(id);
    this.bump();
  }

  /** The server loses the node (as after data loss): its calls get NOT_FOUND until it registers. */
  forgetNode(id: NodeId): void {
    this.nodes.delete(id);
  }

  /** Unreachable: every call fails as a network error would, and waiting queries break. */
  setReachable(reachable: boolean): void {
    this.reachable = reachable;
    if (!reachable) for (const w of [...this.waiters]) w.fail(new UnavailableError('cannot reach the Karu server: ECONNREFUSED'));
  }

  status(id: AllocId): AllocStatus | undefined {
    return this.statuses.get(id);
  }

  view(id: AllocId): AllocView {
    const a = this.allocs.get(id)!;
    return viewOf(a.alloc, this.statuses.get(id));
  }

  // ---- AgentServerApi

  async registerNode(req: RegisterNodeRequest): Promise<RegisterNodeResponse> {
    this.check();
    this.registrations++;
    let nodeId: NodeId;
    let secret: string;
    if (req.nodeId) {
      const known = this.nodes.get(req.nodeId);
      if (known && known.secret !== req.secret) throw new KaruError('UNAUTHORIZED', 'wrong node secret');
      nodeId = req.nodeId;
      secret = req.secret ?? `secret-${++this.seq}`;
    } else {
      nodeId = `node_${String(++this.seq).padStart(26, '0')}` as NodeId;
      secret = `secret-${this.seq}`;
    }
    this.nodes.set(nodeId, { secret, request: req });
    return { nodeId, secret, heartbeatTtlMs: this.heartbeatTtlMs, serverToken: this.serverToken, ...(this.serviceCidr ? { serviceCidr: this.serviceCidr } : {}) };
  }

  async heartbeat(nodeId: NodeId, req: HeartbeatRequest = {}): Promise<{ heartbeatTtlMs: number }> {
    this.check();
    if (!this.nodes.has(nodeId)) throw new KaruError('NOT_FOUND', `node '${nodeId}' not found`);
    this.heartbeats++;
    this.lastDrivers = req.drivers;
    return { heartbeatTtlMs: this.heartbeatTtlMs };
  }

  nodeAllocations(nodeId: NodeId, index: number, waitMs: number, signal?: AbortSignal): Promise<NodeAllocationsResponse> {
    return new Promise((resolve, reject) => {
      this.check();
      if (!this.nodes.has(nodeId)) throw new KaruError('NOT_FOUND', `node '${nodeId}' not found`);
      const answer = () => resolve({ index: this.index, allocations: this.listFor(nodeId) });
      if (this.index > index || waitMs <= 0) return answer();
      parkQuery({ clock: this.clock, waiters: this.waiters, waitMs, ...(signal ? { signal } : {}), answer, reject });
    });
  }

  async updateAllocStatus(nodeId: NodeId, updates: AllocStatus[]): Promise<void> {
    this.check();
    if (!this.nodes.has(nodeId)) throw new KaruError('NOT_FOUND', `node '${nodeId}' not found`);
    this.statusBatches.push(structuredClone(updates));
    for (const u of updates) if (this.allocs.get(u.id)?.alloc.nodeId === nodeId) this.statuses.set(u.id, structuredClone(u));
    this.bump();
  }

  /** The catalog query (the data plane's): an empty catalog; data-plane tests use their own fake. */
  async catalog(): Promise<Catalog> {
    this.check();
    return { index: 1, services: [] };
  }

  // ---- internals

  private listFor(nodeId: NodeId): NodeAllocation[] {
    return [...this.allocs.values()]
      .filter((a) => a.alloc.nodeId === nodeId)
      .map((a) => ({ alloc: structuredClone(viewOf(a.alloc, this.statuses.get(a.alloc.id))), group: structuredClone(a.group), jobType: a.jobType }));
  }

  private bump(): void {
    this.index++;
    for (const w of [...this.waiters]) w.wake();
  }

  private check(): void {
    if (!this.reachable) throw new UnavailableError('cannot reach the Karu server: ECONNREFUSED');
  }
}

/** Lets pending promise chains run (no time passes on any clock). */
export async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Moves the fake clock forward in steps, letting async work run between them. */
export async function advance(clock: FakeClock, ms: number, stepMs = 100): Promise<void> {
  await settle();
  for (let passed = 0; passed < ms; passed += stepMs) {
    clock.advance(Math.min(stepMs, ms - passed));
    await settle();
  }
}

/**
 * A FakeDriver that also writes down, in order, what the agent asked of it
 * (`start web`, `stop .pause`, `destroy web`, `removeVolume karu-…`), for tests of the
 * order of things, and can refuse volume removals.
 */
export class RecordingDriver extends FakeDriver {
  readonly calls: string[] = [];
  private volumeFailures = 0;

  /** The next `n` removeVolume calls fail (retryable), as a volume still in use would. */
  failVolumeRemovals(n: number): void {
    this.volumeFailures = n;
  }

  /** The calls of one kind, in order: `callsOf('start')` → ['.pause', 'web', …]. */
  callsOf(kind: 'start' | 'stop' | 'destroy' | 'removeVolume'): string[] {
    return this.calls.filter((c) => c.startsWith(`${kind} `)).map((c) => c.slice(kind.length + 1));
  }

  override async start(spec: TaskSpec): Promise<TaskHandle> {
    const handle = await super.start(spec);
    this.calls.push(`start ${spec.labels.task}`);
    return handle;
  }

  override async stop(handle: TaskHandle, timeoutMs: number): Promise<void> {
    this.calls.push(`stop ${handle.labels.task}`);
    return super.stop(handle, timeoutMs);
  }

  override async destroy(handle: TaskHandle): Promise<void> {
    this.calls.push(`destroy ${handle.labels.task}`);
    return super.destroy(handle);
  }

  override async removeVolume(name: string): Promise<void> {
    this.calls.push(`removeVolume ${name}`);
    if (this.volumeFailures > 0) {
      this.volumeFailures--;
      throw new DriverError(`remove volume ${name}: volume is in use`, true);
    }
    return super.removeVolume(name);
  }
}

/** A parked blocking query in a test fake: woken by a change, failed by the fake, or answered when its wait ends. */
export interface ParkedQuery {
  wake: () => void;
  fail: (e: unknown) => void;
}

/**
 * Parks a blocking query the way the server does: `answer` runs when a change wakes it
 * (`waiters`) or `waitMs` passes on `clock`; an aborted `signal` rejects it. Shared by
 * the fakes of the allocations query and of the catalog query.
 */
export function parkQuery(o: { clock: Clock; waiters: Set<ParkedQuery>; waitMs: number; signal?: AbortSignal; answer: () => void; reject: (e: unknown) => void }): void {
  const waiter: ParkedQuery = {
    wake: () => {
      done();
      o.answer();
    },
    fail: (e: unknown) => {
      done();
      o.reject(e);
    },
  };
  const onAbort = () => waiter.fail(o.signal?.reason ?? new Error('aborted'));
  const cancel = o.clock.setTimer(o.waitMs, waiter.wake);
  const done = () => {
    cancel();
    o.waiters.delete(waiter);
    o.signal?.removeEventListener('abort', onAbort);
  };
  o.waiters.add(waiter);
  o.signal?.addEventListener('abort', onAbort, { once: true });
}
