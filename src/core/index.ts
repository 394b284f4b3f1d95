/**
 * core: the domain's nouns (jobs, nodes, allocations, evaluations), their invariants
 * and the one error model. Imports only lib.
 */
export * from './errors.js';
export * from './ids.js';
export * from './resources.js';
export * from './job.js';
export * from './disconnect.js';
export * from './node.js';
export * from './alloc.js';
export * from './evaluation.js';
export * from './rebalance.js';
export * from './service.js';
export * from './ingress.js';
