/**
 * What must hold in the lab after every fault and heal, checked against both the server's
 * view and what every host's dockerd actually runs:
 *   1. no job lost: every job the test registered still exists (and is not stopped);
 *   2. the desired count runs: per job, exactly `count` allocations are running in the
 *      server's view, and exactly `count` distinct allocations have running containers
 *      on the reachable hosts;
 *   3. nothing runs twice: no (allocation, task) has more than one running container
 *      across all hosts;
 *   4. no orphans: every running Karu container on every host belongs to an allocation
 *      the server wants running (desired run, not terminal).
 * A host whose dockerd does not answer counts as a dead machine: its containers are not
 * counted (they do not run anywhere a user could reach).
 */
import type Docker from 'dockerode';
import type { AllocView } from '../../src/core/alloc.js';
import { isClientTerminal } from '../../src/core/alloc.js';
import { KaruError } from '../../src/core/errors.js';
import type { Lab, LabHost } from './lab.js';

export interface JobExpectation {
  name: string;
  namespace?: string;
  /** Allocations that must run, summed over the job's groups. */
  count: number;
}

export interface HostContainer {
  host: string;
  id: string;
  alloc: string;
  task: string;
  job: string;
  namespace: string;
}

export interface Observation {
  allocs: AllocView[];
  /** Running Karu containers on every host whose dockerd answered. */
  containers: HostContainer[];
  /** Hosts whose dockerd did not answer. */
  deadHosts: string[];
}

/** Reads the server's allocations and every host's running Karu containers. */
export async function observe(lab: Lab): Promise<Observation> {
  const allocs = await lab.client.listAllocations();
  const containers: HostContainer[] = [];
  const deadHosts: string[] = [];
  await Promise.all(
    lab.hosts.map(async (h: LabHost) => {
      let list: Docker.ContainerInfo[];
      try {
        list = await lab.hostContainers(h);
      } catch {
        deadHosts.push(h.name);
        return;
      }
      for (const c of list) {
        containers.push({
          host: h.name,
          id: c.Id,
          alloc: c.Labels['karu.alloc'] ?? '',
          task: c.Labels['karu.task'] ?? '',
          job: c.Labels['karu.job'] ?? '',
          namespace: c.Labels['karu.namespace'] ?? 'default',
        });
      }
    }),
  );
  return { allocs, containers, deadHosts };
}

/** Every invariant violation, as a readable line; empty when all hold. */
export async function checkInvariants(lab: Lab, jobs: JobExpectation[]): Promise<string[]> {
  const failures: string[] = [];
  for (const j of jobs) {
    const ns = j.namespace ?? 'default';
    try {
      const detail = await lab.client.getJob(ns, j.name);
      if (detail.job.stopped) failures.push(`job lost: ${ns}/${j.name} is stopped`);
    } catch (e) {
      if (e instanceof KaruError && e.code === 'NOT_FOUND') failures.push(`job lost: ${ns}/${j.name} no longer exists`);
      else throw e;
    }
  }
  const obs = await observe(lab);
  failures.push(...judge(obs, jobs));
  return failures;
}

/** The pure part of `checkInvariants`, over one observation. */
export function judge(obs: Observation, jobs: JobExpectation[]): string[] {
  const failures: string[] = [];
  const byId = new Map(obs.allocs.map((a) => [a.id as string, a]));
  const where = (c: HostContainer) => `${c.host}:${c.id.slice(0, 12)}`;

  for (const j of jobs) {
    const ns = j.namespace ?? 'default';
    const mine = obs.allocs.filter((a) => a.namespace === ns && a.jobName === j.name);
    const serverRunning = mine.filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');
    if (serverRunning.length !== j.count) {
      failures.push(`count: ${ns}/${j.name} has ${serverRunning.length} running allocations in the server's view, wants ${j.count} (${summary(mine)})`);
    }
    const actual = new Set(obs.containers.filter((c) => c.namespace === ns && c.job === j.name).map((c) => c.alloc));
    if (actual.size !== j.count) {
      const perHost = countBy(obs.containers.filter((c) => c.namespace === ns && c.job === j.name), (c) => c.host);
      failures.push(`count: ${ns}/${j.name} has ${actual.size} allocations with running containers on the hosts, wants ${j.count} (${fmtCounts(perHost)})`);
    }
  }

  const byTask = new Map<string, HostContainer[]>();
  for (const c of obs.containers) {
    const key = `${c.alloc}/${c.task}`;
    byTask.set(key, [...(byTask.get(key) ?? []), c]);
  }
  for (const [key, list] of byTask) {
    if (list.length > 1) failures.push(`duplicate: ${key} runs ${list.length} times (${list.map(where).join(', ')})`);
  }

  for (const c of obs.containers) {
    const a = byId.get(c.alloc);
    if (!a) failures.push(`orphan: ${where(c)} (job ${c.job}) belongs to no allocation the server knows (${c.alloc || 'no karu.alloc label'})`);
    else if (a.desiredStatus !== 'run') failures.push(`orphan: ${where(c)} runs ${c.alloc} (${c.job}), which the server wants stopped (${a.desiredDescription})`);
    else if (isClientTerminal(a.clientStatus)) failures.push(`orphan: ${where(c)} runs ${c.alloc} (${c.job}), which the server counts as ${a.clientStatus}`);
  }
  return failures;
}

/**
 * Polls until every invariant holds; throws with the last failures after `boundMs`.
 * Returns how long it took, for a test's log (never assert on it).
 */
export async function invariantsHold(lab: Lab, jobs: JobExpectation[], boundMs: number, what = 'the invariants to hold'): Promise<number> {
  const t0 = Date.now();
  let last: string[] = [];
  for (;;) {
    try {
      last = await checkInvariants(lab, jobs);
    } catch (e) {
      last = [`cannot check: ${(e as Error).message}`];
    }
    if (last.length === 0) return Date.now() - t0;
    if (Date.now() - t0 > boundMs) throw new Error(`${what}: still failing after ${boundMs} ms:\n  ${last.join('\n  ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function summary(allocs: AllocView[]): string {
  return fmtCounts(countBy(allocs, (a) => `${a.nodeName}:${a.desiredStatus}/${a.clientStatus}`)) || 'none';
}

function countBy<T>(xs: T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of xs) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
}

function fmtCounts(m: Map<string, number>): string {
  return [...m].sort().map(([k, v]) => `${k}×${v}`).join(', ');
}
