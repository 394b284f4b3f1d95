/**
 * agent/dataplane: the node-local data plane of Karu's networking (issue 4). One
 * ServiceTable (the agent's copy of the catalog) feeds a DNS server for containers, a
 * TCP proxy on every service VIP, and an HTTP ingress that keeps the client's IP.
 * Self-contained building blocks: the agent's lifecycle does not start them yet.
 * See docs/design/networking.md.
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
export {
  matchRoute,
  checkRouteConflicts,
  assertNoRouteConflicts,
  normalizeHost,
  normalizePrefix,
  type IngressRoute,
  type RouteConflict,
} from '../../core/ingress.js';
