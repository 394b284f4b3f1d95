/**
 * Shared bits of the lab scenarios: skip reason, job files, bounds.
 * The bounds are what the cluster gives today, kept generous and named so they can be
 * tightened as failure detection gets faster (issue 3 aims at ≤5 s to replacement).
 */
import type { AllocView } from '../../src/core/alloc.js';
import type { Lab, LabHost } from './lab.js';
import { labUnavailable } from './sys.js';

/** Why the lab scenarios skip on this machine (undefined: they run). */
export const LAB_SKIP: string | false = labUnavailable() ?? false;

/** A host's node marked down after it died or was cut off (heartbeat TTL + grace, today 10 s + 5 s). */
export const DETECT_BOUND_MS = 60_000;
/** A lost host's allocations running again elsewhere. */
export const REPLACE_BOUND_MS = 60_000;
/** Everything settled after a heal, restart or deploy: the invariants hold. */
export const SETTLE_BOUND_MS = 60_000;

/** A job file (as the API takes it) of `count` copies of the hello web server. */
export function webJob(name: string, count: number, placement: 'spread' | 'binpack' = 'spread'): Record<string, unknown> {
  return {
    name,
    type: 'service',
    placement,
    groups: [
      {
        name: 'web',
        count,
        restart: { attempts: 5, interval: '5m', delay: '500ms', mode: 'fail' },
        tasks: [{ name: 'server', image: 'karu/hello:1', resources: { cpu: 50, memory: 16 }, ports: [{ label: 'http', to: 8080 }] }],
      },
    ],
  };
}

export const runningAllocs = (allocs: AllocView[]) => allocs.filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');

/** Running allocations of a job per host name. */
export async function spreadOf(lab: Lab, job: string): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.fromEntries(lab.hosts.map((h) => [h.name, 0]));
  for (const a of runningAllocs(await lab.client.listAllocations({ job }))) out[a.nodeName] = (out[a.nodeName] ?? 0) + 1;
  return out;
}

/** The host running the most allocations of `job`. */
export async function busiestHost(lab: Lab, job: string): Promise<LabHost> {
  const spread = await spreadOf(lab, job);
  const [name] = Object.entries(spread).sort((a, b) => b[1] - a[1])[0]!;
  return lab.host(name);
}

/** The lab's logs, to attach to a failure. */
export function withLogs(lab: Lab | undefined, e: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  if (lab) err.message += `\n\nlab logs (tails):\n${lab.tailLogs(1200)}`;
  return err;
}
