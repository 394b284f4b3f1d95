import type { AllocId, NodeId } from './ids.js';
import type { IngressRule } from './job.js';

/**
 * The service catalog (issue 4): what the server derives from jobs, allocations, their
 * check results and nodes, and what every agent's data plane (DNS, VIP proxy, ingress)
 * follows. No overlay network: an endpoint is a node address plus a host port.
 */

/** What the agent last saw of one service's checks on one allocation (AllocStatus.checks). */
export interface CheckResult {
  /** Every check of the service passed on its last run (no checks: the allocation runs). */
  healthy: boolean;
  /** One line for people: the failing check and why ("http GET /health: 503", "tcp: ECONNREFUSED"). */
  output: string;
  /** When the healthy flag last changed. */
  since: number;
}

/** One instance of a service. */
export interface CatalogEndpoint {
  allocId: AllocId;
  nodeId: NodeId;
  nodeName: string;
  /** The node's address. */
  address: string;
  /** The allocation's host port for the service's port label. */
  port: number;
  /** Checks pass, the allocation runs and is wanted, and its node is ready. */
  healthy: boolean;
  /** Why not healthy (or the check output), for `karu service show`. */
  output: string;
}

/** One service of the cluster with its VIP and endpoints. */
export interface CatalogService {
  namespace: string;
  name: string;
  /** Virtual IP, stable while the service exists (taken from the cluster's service range). */
  vip: string;
  /** Port clients use on the VIP and in `NAME:PORT`: the container port of the label. */
  port: number;
  portLabel: string;
  tags: string[];
  /** The job and group declaring it. */
  job: string;
  group: string;
  ingress: IngressRule[];
  endpoints: CatalogEndpoint[];
}

/** The whole catalog at one store revision (`index`, for blocking queries). */
export interface Catalog {
  index: number;
  services: CatalogService[];
}

/** Default range VIPs are allocated from; its first address is every node's DNS server. */
export const DEFAULT_SERVICE_CIDR = '10.99.0.0/16';

/** The DNS server's address on every node: the service range's first host address. */
export const dnsAddressOf = (cidr: string): string => {
  const [base] = cidr.split('/');
  const parts = (base ?? '').split('.').map(Number);
  parts[3] = (parts[3] ?? 0) + 1;
  return parts.join('.');
};

/** Containers resolve bare names in their own namespace through this search domain. */
export const serviceDomain = (namespace: string): string => `${namespace}.karu`;

/** The task name of a pod's pause container in driver labels: not a DNS label, so never a user task's. */
export const PAUSE_TASK = '.pause';
