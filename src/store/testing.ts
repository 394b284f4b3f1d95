import type { Allocation, AllocStatus } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { AllocId, EvalId, NodeId } from '../core/ids.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';

/** Small builders for the store's tests: valid records with overridable fields. */

export function aJob(over: Partial<Job> = {}): Job {
  return {
    namespace: 'default',
    name: 'web',
    type: 'service',
    priority: 50,
    constraints: [],
    placement: 'binpack',
    groups: [],
    meta: {},
    stopped: false,
    version: 1,
    submittedAt: 1_700_000_000_000,
    ...over,
  };
}

export function anAlloc(id: string, over: Partial<Allocation> = {}): Allocation {
  return {
    id: id as AllocId,
    namespace: 'default',
    jobName: 'web',
    jobVersion: 1,
    group: 'web',
    index: 0,
    nodeId: 'node_1' as NodeId,
    nodeName: 'n1',
    evalId: 'eval_1' as EvalId,
    resources: { cpuMhz: 100, memoryMb: 64 },
    ports: [],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: 1_700_000_000_000,
    modifiedAt: 1_700_000_000_000,
    ...over,
  };
}

export function aStatus(id: string, over: Partial<AllocStatus> = {}): AllocStatus {
  return {
    id: id as AllocId,
    nodeId: 'node_1' as NodeId,
    clientStatus: 'running',
    clientDescription: 'tasks are running',
    taskStates: { main: { state: 'running', failed: false, restarts: 0, events: [] } },
    updatedAt: 1_700_000_000_000,
    ...over,
  };
}

export function aNode(id: string, over: Partial<Node> = {}): Node {
  return {
    id: id as NodeId,
    name: id,
    address: '127.0.0.1',
    status: 'ready',
    statusDescription: '',
    eligibility: 'eligible',
    drain: false,
    resources: { cpuMhz: 4000, memoryMb: 8192 },
    attributes: {},
    labels: {},
    drivers: {},
    portRange: { min: 20000, max: 32000 },
    registeredAt: 1_700_000_000_000,
    statusUpdatedAt: 1_700_000_000_000,
    ...over,
  };
}

export function anEval(id: string, over: Partial<Evaluation> = {}): Evaluation {
  return {
    id: id as EvalId,
    namespace: 'default',
    jobName: 'web',
    triggeredBy: 'job-register',
    status: 'pending',
    statusDescription: '',
    failedPlacements: {},
    createdAt: 1_700_000_000_000,
    modifiedAt: 1_700_000_000_000,
    ...over,
  };
}
