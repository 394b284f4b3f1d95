import type { AllocatedPort } from '../core/alloc.js';
import type { Group } from '../core/job.js';
import type { Node } from '../core/node.js';
import type { Rng } from '../lib/rng.js';
import type { PortsView } from './overlay.js';

/** Random probes before falling back to a linear scan: cheap while the range is sparse. */
const RANDOM_PROBES = 16;

/** Static host ports the group asks for, in task order. */
export function staticPorts(group: Group): number[] {
  const out: number[] = [];
  for (const t of group.tasks) for (const p of t.ports) if (p.static !== undefined) out.push(p.static);
  return out;
}

/** How many host ports the scheduler must pick from the node's range. */
export function dynamicPortCount(group: Group): number {
  let n = 0;
  for (const t of group.tasks) for (const p of t.ports) if (p.static === undefined) n++;
  return n;
}

/** The first static port of the group already taken on the node, if any. */
export function staticPortConflict(group: Group, used: Pick<PortsView, 'has'>): number | undefined {
  return firstPortConflict(staticPorts(group), used);
}

/** The first of `ports` (a group's static ports) already in `used` or asked twice, if any. */
export function firstPortConflict(ports: readonly number[], used: Pick<PortsView, 'has'>): number | undefined {
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i]!;
    if (used.has(port) || (i > 0 && ports.lastIndexOf(port, i - 1) >= 0)) return port;
  }
  return undefined;
}

/** Free ports left in the node's dynamic range. */
export function freeDynamicPorts(node: Node, used: PortsView): number {
  const { min, max } = node.portRange;
  return Math.max(0, max - min + 1 - used.countIn(min, max));
}

/**
 * Host ports for every task port of the group: static ones as asked, dynamic ones drawn
 * from `node.portRange` avoiding `used` (live allocations on the node, including this
 * plan's). Undefined when a static port is taken or the range runs out. Does not modify
 * `used`: the caller records the allocation once it is placed.
 */
export function assignPorts(group: Group, node: Node, used: Pick<PortsView, 'has'>, rng: Rng): AllocatedPort[] | undefined {
  const taken = new Set<number>(staticPorts(group));
  if (staticPortConflict(group, used) !== undefined) return undefined;
  const out: AllocatedPort[] = [];
  for (const task of group.tasks) {
    for (const p of task.ports) {
      let host = p.static;
      if (host === undefined) {
        host = pickDynamic(node.portRange, (port) => used.has(port) || taken.has(port), rng);
        if (host === undefined) return undefined;
        taken.add(host);
      }
      out.push({ task: task.name, label: p.label, host, to: p.to });
    }
  }
  return out;
}

function pickDynamic(range: { min: number; max: number }, isTaken: (port: number) => boolean, rng: Rng): number | undefined {
  if (range.max < range.min) return undefined;
  for (let i = 0; i < RANDOM_PROBES; i++) {
    const port = rng.int(range.min, range.max);
    if (!isTaken(port)) return port;
  }
  // A crowded range: scan it once, so we fail only when it is truly full.
  for (let port = range.min; port <= range.max; port++) if (!isTaken(port)) return port;
  return undefined;
}
