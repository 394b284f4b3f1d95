import { Hono } from 'hono';
import { KaruError } from '../../core/errors.js';
import type { CatalogService } from '../../core/service.js';
import type { IngressRouteView } from '../../client/catalog-types.js';
import type { ApiDeps } from '../deps.js';
import { catalogQuery, parseQuery, serviceListQuery } from '../schemas.js';
import { MAX_BLOCKING_WAIT_MS } from './agent.js';

/**
 * The service catalog (docs/design/networking.md §3–§5): the blocking query every agent
 * follows, and the read views behind `karu service` and `karu ingress`. Open like every
 * user read: agents call the catalog with their node credentials (node secret header, or
 * their client certificate under TLS), which are not needed here but never refused.
 */
export function catalogRoutes({ controlPlane: cp }: ApiDeps) {
  return new Hono()
    .get('/catalog', async (c) => {
      const { index, wait } = parseQuery(catalogQuery, c.req.query());
      const signal = c.req.raw.signal;
      const catalog = await cp.waitForCatalog(index, Math.min(wait, MAX_BLOCKING_WAIT_MS), signal);
      // The caller hung up mid-wait: nobody is left to answer.
      if (signal.aborted) return c.body(null, 204);
      return c.json(catalog);
    })
    .get('/services', async (c) => {
      const { namespace } = parseQuery(serviceListQuery, c.req.query());
      const { services } = await cp.catalog();
      return c.json(namespace === undefined ? services : services.filter((s) => s.namespace === namespace));
    })
    .get('/services/:namespace/:name', async (c) => {
      const { namespace, name } = c.req.param();
      const found = (await cp.catalog()).services.find((s) => s.namespace === namespace && s.name === name);
      if (!found) {
        throw new KaruError('NOT_FOUND', `service '${namespace}/${name}' not found: no job in namespace '${namespace}' declares it (list them with \`karu service ls -n ${namespace}\`)`, {
          details: { kind: 'service', id: `${namespace}/${name}` },
          retryable: false,
        });
      }
      return c.json(found);
    })
    .get('/ingress', async (c) => c.json(ingressViews((await cp.catalog()).services)));
}

/** Every ingress rule of every service, HTTP routes first (by host, then path), then TCP ports. */
export function ingressViews(services: readonly CatalogService[]): IngressRouteView[] {
  const out: IngressRouteView[] = [];
  for (const s of services) {
    const healthy = s.endpoints.filter((e) => e.healthy);
    const common = {
      namespace: s.namespace,
      service: s.name,
      job: s.job,
      group: s.group,
      healthy: healthy.length,
      total: s.endpoints.length,
      nodes: new Set(healthy.map((e) => e.nodeId)).size,
    };
    for (const r of s.ingress) {
      if (r.kind === 'http') out.push({ kind: 'http', ...(r.host ? { host: r.host } : {}), pathPrefix: r.pathPrefix, ...common });
      else out.push({ kind: 'tcp', port: r.port, proxyProtocol: r.proxyProtocol, ...common });
    }
  }
  const rank = (v: IngressRouteView) => (v.kind === 'http' ? `0 ${v.host ?? ''} ${v.pathPrefix}` : `1 ${String(v.port).padStart(5, '0')}`);
  return out.sort((a, b) => (rank(a) < rank(b) ? -1 : rank(a) > rank(b) ? 1 : 0));
}
