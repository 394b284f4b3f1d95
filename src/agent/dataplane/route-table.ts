import { normalizeHost, normalizePrefix, type IngressRoute } from '../../core/ingress.js';

/**
 * The ingress's route table compiled for the request path: `matchRoute` (core/ingress.ts)
 * normalises every route's host and prefix and filters the list on each request, which is
 * fine for the API but linear in the routes on the hot path. Compiled once per change,
 * the routes sit per host, longest prefix first, and a request's host is normalised once
 * per distinct Host value. Same answers as `matchRoute` (route-table.test.ts checks it).
 */

export type RouteMatcher = (host: string | undefined, path: string) => IngressRoute | undefined;

interface Candidate {
  prefix: string;
  route: IngressRoute;
}

/** Whole segments: `/api` takes `/api` and `/api/x`, not `/apix`; `/` takes everything. */
function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* '/' */);
}

function firstMatch(list: readonly Candidate[], path: string): IngressRoute | undefined {
  for (const c of list) if (prefixMatches(c.prefix, path)) return c.route;
  return undefined;
}

/** Longest prefix first; among equal lengths the earlier route, as matchRoute picks. */
const byPrefixLength = (a: Candidate, b: Candidate) => b.prefix.length - a.prefix.length;

export function compileRoutes(routes: readonly IngressRoute[]): RouteMatcher {
  const byHost = new Map<string, Candidate[]>();
  const anyHost: Candidate[] = [];
  for (const route of routes) {
    const host = normalizeHost(route.host);
    const c = { prefix: normalizePrefix(route.pathPrefix), route };
    if (!host) anyHost.push(c);
    else {
      const list = byHost.get(host);
      if (list) list.push(c);
      else byHost.set(host, [c]);
    }
  }
  // Array.prototype.sort is stable, so ties keep the routes' order.
  for (const list of byHost.values()) list.sort(byPrefixLength);
  anyHost.sort(byPrefixLength);

  const hosts = new Map<string, string>();
  const hostOf = (raw: string): string => {
    let h = hosts.get(raw);
    if (h === undefined) {
      h = normalizeHost(raw);
      if (hosts.size >= 1024) hosts.clear(); // clients choose Host: keep the memo bounded
      hosts.set(raw, h);
    }
    return h;
  };

  return (host, url) => {
    const q = url.indexOf('?');
    const path = (q < 0 ? url : url.slice(0, q)) || '/';
    if (host && byHost.size > 0) {
      const own = byHost.get(hostOf(host));
      const found = own && firstMatch(own, path);
      if (found) return found;
    }
    return firstMatch(anyHost, path);
  };
}
