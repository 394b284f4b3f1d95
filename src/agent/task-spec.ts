import type { Allocation } from '../core/alloc.js';
import type { Task } from '../core/job.js';
import { shortId } from '../lib/ids.js';
import type { TaskSpec } from '../driver/driver.js';

/** The node a task runs on, as the task sees it in its environment. */
export interface NodeIdentity {
  id: string;
  /** Address other machines reach this node on; `KARU_ADDR_<LABEL>` is built from it. */
  address: string;
}

type AllocForSpec = Pick<Allocation, 'id' | 'namespace' | 'jobName' | 'group' | 'index' | 'ports'>;

/**
 * The container name: `karu-<job>-<group>-<index>-<task>-<allocShort>`. Docker accepts
 * `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; anything else becomes `-`. The alloc's short id keeps
 * names unique when an allocation is replaced on the same node.
 */
export function containerName(alloc: AllocForSpec, task: string): string {
  const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `karu-${safe(alloc.jobName)}-${safe(alloc.group)}-${alloc.index}-${safe(task)}-${safe(shortId(alloc.id))}`;
}

/**
 * What the driver is asked to run for one task of one allocation: the task's own env plus
 * the `KARU_*` variables that tell it who and where it is, and its ports.
 */
export function buildTaskSpec(alloc: AllocForSpec, task: Task, node: NodeIdentity): TaskSpec {
  const ports = alloc.ports.filter((p) => p.task === task.name);
  const env: Record<string, string> = {
    ...task.env,
    KARU_ALLOC_ID: alloc.id,
    KARU_ALLOC_NAME: `${alloc.jobName}.${alloc.group}[${alloc.index}]`,
    KARU_ALLOC_INDEX: String(alloc.index),
    KARU_JOB: alloc.jobName,
    KARU_NAMESPACE: alloc.namespace,
    KARU_GROUP: alloc.group,
    KARU_TASK: task.name,
    KARU_NODE_ID: node.id,
  };
  for (const p of ports) {
    const label = p.label.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
    env[`KARU_PORT_${label}`] = String(p.host);
    env[`KARU_HOST_PORT_${label}`] = String(p.host);
    env[`KARU_ADDR_${label}`] = `${node.address}:${p.host}`;
  }
  const spec: TaskSpec = {
    labels: {
      nodeId: node.id,
      allocId: alloc.id,
      jobName: alloc.jobName,
      namespace: alloc.namespace,
      group: alloc.group,
      task: task.name,
    },
    name: containerName(alloc, task.name),
    image: task.image,
    args: [...task.args],
    env,
    resources: { ...task.resources },
    ports: ports.map((p) => ({ host: p.host, to: p.to })),
  };
  if (task.command !== undefined) spec.command = task.command;
  if (task.mounts !== undefined && task.mounts.length > 0) spec.mounts = task.mounts.map((m) => ({ ...m }));
  return spec;
}
