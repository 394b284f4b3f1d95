import { KaruError, type FieldIssue } from './errors.js';

/**
 * Ingress routes: which host and path prefix go to which service. Pure functions only
 * (matching and the conflict check), so the API can run the same check at submit time
 * that the ingress relies on at request time.
 */

/** One route, as declared in a job's `ingress` block. */
export interface IngressRoute {
  /** Host to match (case-insensitive, without port); absent: any host. */
  host?: string;
  /** Path prefix, matched on whole segments: `/api` takes `/api` and `/api/x`, not `/apix`. */
  pathPrefix: string;
  service: string;
  namespace: string;
  /** The service's port label, when the route should check it (services carry one port). */
  port?: string;
  /** The job that declared the route: a second job claiming the same host+path is refused. */
  owner: { job: string };
}

/** A lower-case host without port or trailing dot; '' for "any host". */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end > 0 ? h.slice(0, end + 1) : h;
  } else if (h.indexOf(':') === h.lastIndexOf(':')) {
    h = h.replace(/:\d*$/, '');
  }
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** A path prefix with a leading slash and no trailing one (`/` stays `/`). */
export function normalizePrefix(prefix: string): string {
  let p = prefix.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * The route for a request: among the routes naming the request's host, the longest
 * matching prefix; only when none of those match, the longest among host-less routes
 * (a host's own routes always beat the catch-all, as nginx's server_name does).
 */
export function matchRoute(routes: readonly IngressRoute[], host: string | undefined, path: string): IngressRoute | undefined {
  const h = normalizeHost(host);
  const p = path.split('?')[0] || '/';
  const best = (candidates: readonly IngressRoute[]) => {
    let found: IngressRoute | undefined;
    let len = -1;
    for (const r of candidates) {
      const prefix = normalizePrefix(r.pathPrefix);
      if (prefix.length > len && prefixMatches(prefix, p)) {
        found = r;
        len = prefix.length;
      }
    }
    return found;
  };
  return (h ? best(routes.filter((r) => normalizeHost(r.host) === h)) : undefined) ?? best(routes.filter((r) => !normalizeHost(r.host)));
}

/** One refused claim, with the index of the incoming route it is about. */
export interface RouteConflict {
  index: number;
  host: string;
  pathPrefix: string;
  /** The job that holds the host+path already. */
  ownerJob: string;
  message: string;
}

const claimKey = (r: IngressRoute) => `${normalizeHost(r.host)} ${normalizePrefix(r.pathPrefix)}`;
const describeClaim = (r: IngressRoute) => `host '${normalizeHost(r.host) || '*'}' path '${normalizePrefix(r.pathPrefix)}'`;

/**
 * Checks the routes of one job (`incoming`, all owned by the same job) against the routes
 * of every job already admitted. A host+path held by another job is a conflict naming
 * that job; the incoming job's own old routes are not (an update replaces them). The
 * same host+path twice within `incoming` is a conflict too.
 */
export function checkRouteConflicts(existing: readonly IngressRoute[], incoming: readonly IngressRoute[]): RouteConflict[] {
  const held = new Map<string, IngressRoute>();
  for (const r of existing) if (!held.has(claimKey(r))) held.set(claimKey(r), r);
  const seen = new Map<string, number>();
  const conflicts: RouteConflict[] = [];
  incoming.forEach((r, index) => {
    const key = claimKey(r);
    const owner = held.get(key);
    const base = { index, host: normalizeHost(r.host), pathPrefix: normalizePrefix(r.pathPrefix) };
    if (owner && owner.owner.job !== r.owner.job) {
      conflicts.push({
        ...base,
        ownerJob: owner.owner.job,
        message: `ingress ${describeClaim(r)} is already routed by job '${owner.owner.job}' (namespace '${owner.namespace}'); pick another host or path, or stop that job first`,
      });
    } else if (seen.has(key)) {
      conflicts.push({ ...base, ownerJob: r.owner.job, message: `ingress ${describeClaim(r)} is declared twice in job '${r.owner.job}' (routes ${seen.get(key)} and ${index})` });
    }
    if (!seen.has(key)) seen.set(key, index);
  });
  return conflicts;
}

/** `checkRouteConflicts`, throwing a CONFLICT KaruError (not retryable) listing every conflict. */
export function assertNoRouteConflicts(existing: readonly IngressRoute[], incoming: readonly IngressRoute[], fieldPath = 'ingress'): void {
  const conflicts = checkRouteConflicts(existing, incoming);
  if (conflicts.length === 0) return;
  const issues: FieldIssue[] = conflicts.map((c) => ({ path: `${fieldPath}[${c.index}]`, message: c.message }));
  throw new KaruError('CONFLICT', conflicts[0]!.message + (conflicts.length > 1 ? ` (and ${conflicts.length - 1} more)` : ''), {
    retryable: false,
    details: { issues, owners: [...new Set(conflicts.map((c) => c.ownerJob))] },
  });
}
