/**
 * api: HTTP API v1 (Hono). Routes translate requests into ControlPlane calls and
 * read-model lookups; schemas.ts validates every query and body; errors.ts maps error
 * codes to HTTP statuses in one place. See docs/design/api.md.
 */
export { createApi, type ApiApp, type ApiOptions } from './app.js';
export { HTTP_STATUS, MAX_BODY_BYTES } from './errors.js';
export { NODE_SECRET_HEADER } from './node-auth.js';
export { SERVER_TOKEN_HEADER } from './logs-proxy.js';
export { MAX_BLOCKING_WAIT_MS } from './routes/agent.js';
export { withHeartbeatFastPath, type NodeRequestListener } from './heartbeat-fast-path.js';
