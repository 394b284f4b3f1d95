import { KaruError, type FieldIssue } from '../core/errors.js';
import { checkRouteConflicts, type IngressRoute } from '../core/ingress.js';
import type { Job } from '../core/job.js';

/**
 * What a job claims in the cluster's shared name spaces, checked when it is submitted
 * (networking.md, "Bad input and faults"): a service name is unique per namespace (the
 * catalog, DNS and the VIP are keyed by namespace/name); an ingress host+path and a TCP
 * ingress port are unique cluster-wide (every ingress node listens for all of them). A job
 * re-submitting its own claims is fine. Pure: the API runs it before anything is written (a
 * quick answer), and `Cluster.registerJob` runs it again under a lock up to the commit, so
 * two submissions racing each other cannot both pass.
 */

/** One refused claim: where in the submitted job, and who holds it. */
export interface ClaimConflict extends FieldIssue {
  ownerJob: string;
}

interface Owner {
  job: Job;
  group: string;
}

/** `job 'shop'`, with its namespace when it is another one, and a hint when it is stopped. */
function ownerText(owner: Owner, namespace: string): string {
  const name = owner.job.namespace === namespace ? `'${owner.job.name}'` : `'${owner.job.name}' (namespace '${owner.job.namespace}')`;
  return `job ${name}${owner.job.stopped ? ' (stopped: purge it to free the claim)' : ''}`;
}

/** Whether `job` claims anything at all (a service): only those need the check, and its lock. */
export function claimsAnything(job: Job): boolean {
  return job.groups.some((g) => (g.services?.length ?? 0) > 0);
}

/** Every conflict of `incoming` with the claims of `jobs` (all jobs known; `incoming`'s own current version is ignored). */
export function checkJobClaims(jobs: readonly Job[], incoming: Job): ClaimConflict[] {
  const others = jobs.filter((j) => !(j.namespace === incoming.namespace && j.name === incoming.name));
  const ns = incoming.namespace;
  const conflicts: ClaimConflict[] = [];

  // Service names, per namespace.
  const names = new Map<string, Owner>();
  for (const job of others) {
    if (job.namespace !== ns) continue;
    for (const g of job.groups) for (const s of g.services ?? []) if (!names.has(s.name)) names.set(s.name, { job, group: g.name });
  }
  const ownNames = new Map<string, string>();
  // TCP ingress ports, cluster-wide.
  const ports = new Map<number, Owner>();
  for (const job of others) for (const g of job.groups) for (const s of g.services ?? []) for (const r of s.ingress) if (r.kind === 'tcp' && !ports.has(r.port)) ports.set(r.port, { job, group: g.name });
  const ownPorts = new Map<number, string>();
  // HTTP routes, cluster-wide: owners of other namespaces are named with theirs, so a job of
  // the same name elsewhere is not mistaken for the submitter.
  const existing: IngressRoute[] = [];
  const ownerJobs = new Map<string, Owner>();
  for (const job of others) {
    const owner = job.namespace === ns ? job.name : `${job.namespace}/${job.name}`;
    for (const g of job.groups) {
      for (const s of g.services ?? []) {
        for (const r of s.ingress) {
          if (r.kind !== 'http') continue;
          ownerJobs.set(owner, { job, group: g.name });
          existing.push({ ...(r.host ? { host: r.host } : {}), pathPrefix: r.pathPrefix, service: s.name, namespace: job.namespace, owner: { job: owner } });
        }
      }
    }
  }
  const incomingRoutes: IngressRoute[] = [];
  const routePaths: string[] = [];

  incoming.groups.forEach((g, gi) => {
    (g.services ?? []).forEach((s, si) => {
      const path = `groups[${gi}].services[${si}]`;
      const held = names.get(s.name);
      if (held) {
        conflicts.push({
          path: `${path}.name`,
          ownerJob: held.job.name,
          message: `service '${s.name}' is already declared by ${ownerText(held, ns)} (group '${held.group}'): service names are unique per namespace`,
        });
      } else if (ownNames.has(s.name)) {
        conflicts.push({ path: `${path}.name`, ownerJob: incoming.name, message: `service '${s.name}' is declared twice in job '${incoming.name}' (${ownNames.get(s.name)} and ${path}): service names are unique per namespace` });
      }
      if (!ownNames.has(s.name)) ownNames.set(s.name, path);
      s.ingress.forEach((r, ri) => {
        const rpath = `${path}.ingress[${ri}]`;
        if (r.kind === 'http') {
          incomingRoutes.push({ ...(r.host ? { host: r.host } : {}), pathPrefix: r.pathPrefix, service: s.name, namespace: ns, owner: { job: incoming.name } });
          routePaths.push(rpath);
          return;
        }
        const holder = ports.get(r.port);
        if (holder) {
          conflicts.push({
            path: `${rpath}.port`,
            ownerJob: holder.job.name,
            message: `ingress tcp port ${r.port} is already taken by ${ownerText(holder, ns)} (group '${holder.group}'); pick another port, or stop that job first`,
          });
        } else if (ownPorts.has(r.port)) {
          conflicts.push({ path: `${rpath}.port`, ownerJob: incoming.name, message: `ingress tcp port ${r.port} is declared twice in job '${incoming.name}' (${ownPorts.get(r.port)} and ${rpath})` });
        }
        if (!ownPorts.has(r.port)) ownPorts.set(r.port, rpath);
      });
    });
  });

  for (const c of checkRouteConflicts(existing, incomingRoutes)) {
    const holder = ownerJobs.get(c.ownerJob);
    conflicts.push({ path: routePaths[c.index]!, ownerJob: holder?.job.name ?? c.ownerJob, message: c.message });
  }
  return conflicts;
}

/** `checkJobClaims`, throwing one CONFLICT (not retryable) that lists every conflict and its owner. */
export function assertNoJobClaimConflicts(jobs: readonly Job[], incoming: Job): void {
  const conflicts = checkJobClaims(jobs, incoming);
  if (conflicts.length === 0) return;
  const issues: FieldIssue[] = conflicts.map(({ path, message }) => ({ path, message }));
  throw new KaruError('CONFLICT', conflicts[0]!.message + (conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : ''), {
    retryable: false,
    details: { issues, owners: [...new Set(conflicts.map((c) => c.ownerJob))] },
  });
}
