/**
 * agent/dataplane: the node-local data plane of Karu's networking (issue 4). One
 * ServiceTable (the agent's copy of the catalog) feeds a DNS server for containers, a
 * TCP proxy on every service VIP, and an HTTP ingress that keeps the client's IP.
 * `NodeDataPlane` wires them to the catalog and the node's `karu0` interface; the agent
 * starts it after registering. See docs/design/networking.md §4.
 */
export {
  ServiceTable,
  SERVICE_DOMAIN,
  serviceKey,
  endpointKey,
  type ServiceEntry,
  type ServiceEndpoint,
  type ServiceTableChange,
  type ServiceTableOptions,
  type BalanceStrategy,
  type PickOptions,
} from './service-table.js';
export { startDnsServer, addressName, type DnsServerOptions, type DnsUpstream, type KaruDnsServer } from './dns-server.js';
export {
  listenServiceProxy,
  VipProxy,
  proxyV1Header,
  plainAddress,
  type ServiceProxyOptions,
  type ServiceProxyListener,
  type VipProxyOptions,
  type VipListenerStatus,
} from './tcp-proxy.js';
export { startHttpIngress, forwardHeaders, type HttpIngress, type HttpIngressOptions } from './http-ingress.js';
export { startIngressWorkers, workerEntry, ListenError, type IngressWorkers, type IngressWorkersOptions, type WorkerEntry } from './ingress-workers.js';
export { runIngressWorker } from './ingress-worker.js';
export { compileRoutes, type RouteMatcher } from './route-table.js';
export {
  matchRoute,
  checkRouteConflicts,
  assertNoRouteConflicts,
  normalizeHost,
  normalizePrefix,
  type IngressRoute,
  type RouteConflict,
} from '../../core/ingress.js';
export {
  NodeDataPlane,
  ingressRoutesOf,
  tcpIngressOf,
  type AgentDataPlane,
  type DataPlaneStatus,
  type IngressConfig,
  type NodeDataPlaneOptions,
  type TcpIngressRoute,
} from './node-dataplane.js';
export { CatalogFollower, serviceEntriesOf, type CatalogSource, type CatalogFollowerOptions } from './catalog-follower.js';
export { ipHostNetwork, inIpv4Range, DATAPLANE_INTERFACE, type HostNetwork } from './host-network.js';
export { upstreamFromResolvConf, hostUpstream } from './resolv-conf.js';
