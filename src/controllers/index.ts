/**
 * controllers: the control plane's loops (scheduling, plan application, node health,
 * blocked-evaluation retries, garbage collection, the service catalog and its VIPs) and the
 * Cluster front door the API calls.
 */
export * from './control-plane.js';
export * from './control-loop.js';
export * from './cluster.js';
export * from './work-queue.js';
export * from './plan-applier.js';
export * from './node-monitor.js';
export * from './catalog.js';
export * from './catalog-vips.js';
export * from './catalog-claims.js';
