import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { DEFAULT_SERVICE_CIDR } from '../core/service.js';
import { parseServiceCidr } from '../controllers/catalog-vips.js';

/** What `karu server` accepts. Each option's default is stated where it is declared. */
export const serverConfigSchema = z
  .object({
    /** Where the state (karu.db) and the server token live. Required. */
    dataDir: z.string().min(1),
    /** host:port to serve the API on. Default 127.0.0.1:4646. */
    listen: z.string().default('127.0.0.1:4646'),
    /** pino level. Default info (or KARU_LOG_LEVEL). */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    /**
     * Shortest heartbeat TTL given to agents (they beat at a third of it). Default 2 s:
     * with the grace, a dead node is noticed within 3 s (docs/design/failure.md).
     */
    heartbeatTtlMs: z.number().int().min(100).default(2_000),
    /** Past the TTL before a node is marked disconnected (or down). Default 1 s. */
    heartbeatGraceMs: z.number().int().nonnegative().default(1_000),
    /** Heartbeats per second the server takes at most: the TTL grows with the node count past it. Default 2,500 (the 2 s TTL holds up to 5,000 nodes). */
    maxHeartbeatsPerSecond: z.number().positive().default(2_500),
    /** Concurrent scheduler workers. Default 2. */
    schedulerWorkers: z.number().int().min(1).max(64).default(2),
    /**
     * Serve HTTPS with the cluster CA and require node certificates on agent routes.
     * Default false here (`karu dev` stays plain HTTP on loopback); `karu server` turns it on.
     */
    tls: z.boolean().default(false),
    /** Extra names/addresses agents dial the server on (server certificate SANs; the first is the join URL's host). Default none. */
    advertise: z.array(z.string().min(1)).default([]),
    /**
     * The IPv4 range service VIPs come from; its first address is every node's DNS server.
     * Default DEFAULT_SERVICE_CIDR (10.99.0.0/16). Changing it re-addresses every service.
     */
    serviceCidr: z.string().default(DEFAULT_SERVICE_CIDR),
  })
  .strict();

export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type ServerConfig = Readonly<z.output<typeof serverConfigSchema> & { host: string; port: number }>;

export function resolveServerConfig(input: ServerConfigInput): ServerConfig {
  const parsed = serverConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new ValidationError(
      'invalid server configuration',
      parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
  }
  const m = /^(.*):(\d+)$/.exec(parsed.data.listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new ValidationError(`invalid listen address '${parsed.data.listen}'`, [{ path: 'listen', message: 'must be HOST:PORT, e.g. 127.0.0.1:4646 (port 0 picks a free one)' }]);
  }
  parseServiceCidr(parsed.data.serviceCidr); // throws a ValidationError naming the field
  return Object.freeze({ ...parsed.data, host: m[1]!.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port });
}
