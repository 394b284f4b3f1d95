/** client: the typed API v1 client used by the CLI, the agent, the web UI and tests. */
export * from './client.js';
export * from './types.js';
export * from './plan-types.js';
export * from './catalog-types.js';
export * from './transport.js';
