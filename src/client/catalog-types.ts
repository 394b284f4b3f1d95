import type { Catalog, CatalogEndpoint, CatalogService } from '../core/service.js';

/**
 * Wire types of the service catalog routes (docs/design/networking.md §3–§5, api.md):
 *
 *   GET /v1/catalog?index=N&wait=MS        Catalog (blocking query; agents and users)
 *   GET /v1/services?namespace=NS          CatalogService[] (sorted by namespace, name)
 *   GET /v1/services/:namespace/:name      CatalogService (404 when unknown)
 *   GET /v1/ingress                        IngressRouteView[]
 */

/** One ingress route of some service, flattened for `karu ingress ls`. */
export type IngressRouteView = (
  | { kind: 'http'; /** Absent: any host. */ host?: string; pathPrefix: string }
  | { kind: 'tcp'; port: number; proxyProtocol: boolean }
) & {
  namespace: string;
  service: string;
  /** The job and group declaring the service: the route's owner. */
  job: string;
  group: string;
  /** The service's endpoints: healthy ones and all. */
  healthy: number;
  total: number;
  /** Distinct nodes holding a healthy endpoint: where the ingress can send traffic. */
  nodes: number;
};

export type { Catalog, CatalogEndpoint, CatalogService };
