import type { NodeView } from '../../client/types.js';
import type { AllocView, TaskState } from '../../core/alloc.js';
import type { Evaluation } from '../../core/evaluation.js';
import type { AllocId, EvalId, NodeId } from '../../core/ids.js';
import type { Group, Job, Task } from '../../core/job.js';

/** A fixed "now" for CLI tests: ages print the same on every run. */
export const T0 = 1_700_000_000_000;

export function aTask(o: Partial<Task> = {}): Task {
  return { name: 'server', image: 'karu/hello:1', args: [], env: {}, resources: { cpuMhz: 100, memoryMb: 32 }, ports: [{ label: 'http', to: 8080 }], killTimeoutMs: 5000, ...o };
}

export function aGroup(o: Partial<Group> = {}): Group {
  return {
    name: 'web',
    count: 2,
    constraints: [],
    restart: { attempts: 2, intervalMs: 60_000, delayMs: 1000, mode: 'fail' },
    reschedule: { attempts: 1, intervalMs: 3_600_000 },
    tasks: [aTask()],
    ...o,
  };
}

export function aJob(o: Partial<Job> = {}): Job {
  return { namespace: 'default', name: 'hello', type: 'service', priority: 50, constraints: [], placement: 'binpack', groups: [aGroup()], meta: {}, stopped: false, version: 1, submittedAt: T0 - 60_000, ...o };
}

export function aNode(o: Partial<NodeView> = {}): NodeView {
  return {
    id: 'node_01hzzzzzzz1111aaaabbbbcccc' as NodeId,
    name: 'node1',
    address: '10.0.0.5',
    status: 'ready',
    statusDescription: '',
    eligibility: 'eligible',
    drain: false,
    resources: { cpuMhz: 4000, memoryMb: 8192 },
    attributes: { 'os.name': 'linux', 'cpu.cores': '4' },
    labels: { zone: 'a' },
    drivers: { docker: { healthy: true, detail: 'Docker 20.10.24' } },
    portRange: { min: 20000, max: 32000 },
    registeredAt: T0 - 3_600_000,
    statusUpdatedAt: T0 - 3_600_000,
    allocations: { running: 2, total: 2 },
    allocated: { cpuMhz: 200, memoryMb: 64 },
    ...o,
  };
}

export function aTaskState(o: Partial<TaskState> = {}): TaskState {
  return { state: 'running', failed: false, restarts: 0, startedAt: T0 - 30_000, events: [{ type: 'started', time: T0 - 30_000, message: 'task started' }], ...o };
}

/** An allocation of `hello.web[index]`; ids differ by index in their short form. */
export function anAlloc(o: Partial<AllocView> = {}): AllocView {
  const index = o.index ?? 0;
  return {
    id: `alloc_01hzzzzzzz${String(index).padStart(4, '0')}aaaabbbbcccc` as AllocId,
    namespace: 'default',
    jobName: 'hello',
    jobVersion: 1,
    group: 'web',
    index,
    nodeId: 'node_01hzzzzzzz1111aaaabbbbcccc' as NodeId,
    nodeName: 'node1',
    evalId: 'eval_01hzzzzzzz0001aaaabbbbcccc' as EvalId,
    resources: { cpuMhz: 100, memoryMb: 32 },
    ports: [{ task: 'server', label: 'http', host: 20000 + index, to: 8080 }],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: T0 - 30_000,
    modifiedAt: T0 - 30_000,
    clientStatus: 'running',
    clientDescription: '',
    taskStates: { server: aTaskState() },
    ...o,
  };
}

export function anEval(o: Partial<Evaluation> = {}): Evaluation {
  return {
    id: 'eval_01hzzzzzzz0001aaaabbbbcccc' as EvalId,
    namespace: 'default',
    jobName: 'hello',
    triggeredBy: 'job-register',
    status: 'complete',
    statusDescription: '',
    failedPlacements: {},
    createdAt: T0 - 60_000,
    modifiedAt: T0 - 60_000,
    ...o,
  };
}
