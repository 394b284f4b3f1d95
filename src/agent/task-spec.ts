import type { Allocation } from '../core/alloc.js';
import type { Task } from '../core/job.js';
import { PAUSE_TASK, serviceDomain } from '../core/service.js';
import { shortId } from '../lib/ids.js';
import type { TaskSpec } from '../driver/driver.js';

/** The node a task runs on, as the task sees it in its environment. */
export interface NodeIdentity {
  id: string;
  /** Address other machines reach this node on; `KARU_ADDR_<LABEL>` is built from it. */
  address: string;
  /**
   * The node's Karu DNS server (set by the agent's data plane). When set, the container
   * holding the allocation's network (the pause container, or a single task) resolves
   * through it, with the allocation's namespace as search domain. Absent: Docker's default.
   */
  dnsServer?: string;
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

/** The Docker volume of group volume `volume` for one allocation: `karu-<allocShort>-<volume>`. */
export function volumeName(allocId: string, volume: string): string {
  return `karu-${shortId(allocId)}-${volume.replace(/[^a-zA-Z0-9_.-]/g, '-')}`;
}

/** The resolver of the allocation's namespace holder, when the node serves DNS. */
function dnsOf(alloc: AllocForSpec, node: NodeIdentity): TaskSpec['dns'] | undefined {
  return node.dnsServer === undefined ? undefined : { servers: [node.dnsServer], search: [serviceDomain(alloc.namespace)] };
}

/**
 * What the driver is asked to run for one task of one allocation: the task's own env plus
 * the `KARU_*` variables that tell it who and where it is, its ports and its volumes.
 *
 * `inPod`: the task joins its pod's pause container (the AllocRunner sets `joinNetworkOf`
 * at each start), which publishes the ports and carries the DNS config; the task itself
 * then has neither. Alone, the task holds its own namespace, ports and DNS.
 */
export function buildTaskSpec(alloc: AllocForSpec, task: Task, node: NodeIdentity, inPod = false): TaskSpec {
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
    labels: labelsOf(alloc, node, task.name),
    name: containerName(alloc, task.name),
    image: task.image,
    args: [...task.args],
    env,
    resources: { ...task.resources },
    ports: inPod ? [] : ports.map((p) => ({ host: p.host, to: p.to })),
  };
  if (task.command !== undefined) spec.command = task.command;
  if (task.mounts !== undefined && task.mounts.length > 0) spec.mounts = task.mounts.map((m) => ({ ...m }));
  if (task.volumeMounts !== undefined && task.volumeMounts.length > 0) {
    spec.volumes = task.volumeMounts.map((m) => ({ name: volumeName(alloc.id, m.volume), target: m.target, readOnly: m.readOnly }));
  }
  const dns = inPod ? undefined : dnsOf(alloc, node);
  if (dns) spec.dns = dns;
  return spec;
}

/** The labels `driver.recover()` reads back to find the task after an agent restart. */
function labelsOf(alloc: AllocForSpec, node: NodeIdentity, task: string): TaskSpec['labels'] {
  return { nodeId: node.id, allocId: alloc.id, jobName: alloc.jobName, namespace: alloc.namespace, group: alloc.group, task };
}

/**
 * The pod's pause container: it holds the network namespace every task joins, so it
 * publishes all the allocation's ports and carries the DNS config. The driver runs its
 * own pause program (`image` is ignored for `kind: 'pause'`).
 */
export function buildPauseSpec(alloc: AllocForSpec, node: NodeIdentity): TaskSpec {
  const spec: TaskSpec = {
    kind: 'pause',
    labels: labelsOf(alloc, node, PAUSE_TASK),
    // PAUSE_TASK ('.pause') is no DNS label, so this name never clashes with a task called `pause`.
    name: containerName(alloc, PAUSE_TASK),
    image: PAUSE_IMAGE,
    args: [],
    env: {},
    resources: { cpuMhz: 0, memoryMb: 0 },
    ports: alloc.ports.map((p) => ({ host: p.host, to: p.to })),
  };
  const dns = dnsOf(alloc, node);
  if (dns) spec.dns = dns;
  return spec;
}

/** Named in pause specs for people reading `docker ps`; the driver supplies the real program. */
export const PAUSE_IMAGE = 'karu/pause';
