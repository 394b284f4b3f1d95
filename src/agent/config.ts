import os from 'node:os';
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';

/**
 * The agent's configuration as given (flags, file, `karu dev`). Every field but
 * `serverUrl` and `dataDir` is optional; its default is documented where it is declared.
 */
export const agentConfigInput = z
  .object({
    /** Base URL of the Karu server, e.g. `http://127.0.0.1:4646`. Required. */
    serverUrl: z.string().url(),
    /** Directory the agent keeps its identity in (`node.json`). Required; created when missing. */
    dataDir: z.string().min(1),
    /** Node name. Default: the machine's hostname. */
    name: z.string().min(1).optional(),
    /** Address other machines reach this node on. Default: the first non-internal IPv4, else 127.0.0.1. */
    address: z.string().min(1).optional(),
    /** Operator labels for constraints (`${label.zone}`). Default: none. */
    labels: z.record(z.string(), z.string()).optional(),
    /** Node pool the node belongs to (jobs name theirs in `nodePool`). Default: `default`. */
    pool: z.string().min(1).optional(),
    /** CPU offered to allocations. Default: cores × 1000 MHz. */
    cpuMhz: z.number().int().positive().optional(),
    /** Memory offered to allocations. Default: total memory minus `reservedMemoryMb`. */
    memoryMb: z.number().int().positive().optional(),
    /** Memory kept back for the OS and the agent when `memoryMb` is not given. Default: 256 MB. */
    reservedMemoryMb: z.number().int().min(0).optional(),
    /** Port of the agent's own HTTP API (logs); 0 picks a free one. Default: 4647. */
    httpPort: z.number().int().min(0).max(65535).optional(),
    /** Interface the agent's HTTP API binds to. Default: 0.0.0.0 (the server must reach it). */
    httpHost: z.string().min(1).optional(),
    /** Range dynamic host ports are drawn from, inclusive. Default: 20000–32000. */
    portRange: z
      .object({ min: z.number().int().min(1).max(65535), max: z.number().int().min(1).max(65535) })
      .refine((r) => r.min <= r.max, { message: 'portRange.min must not exceed portRange.max' })
      .optional(),
    /** Docker Engine socket. Default: the driver's own (/var/run/docker.sock). */
    dockerSocketPath: z.string().min(1).optional(),
    /** Task starts in flight at once; the engine is fastest at 4–8. Default: 8. */
    maxParallelStarts: z.number().int().min(1).max(256).optional(),
    /**
     * Join token (`karu1.…`) for the first start against a TLS server (`serverUrl` is then
     * the https join URL). Ignored once the node holds a certificate. Default: none (plain HTTP).
     */
    joinToken: z.string().min(1).optional(),
    /**
     * Run the node's data plane: DNS for containers, service VIPs on `karu0`, the VIP
     * proxy (and the ingress when `ingress` is set). Needs root for `karu0` and port 53;
     * without it the agent warns and runs DNS on 127.0.0.1 only. Default: false here (so
     * tests and `karu sim` never touch the host's network); `karu agent` and `karu dev`
     * turn it on unless `--no-dataplane`.
     */
    dataPlane: z.boolean().optional(),
    /** Make this node an ingress node. Default: none. Ignored without `dataPlane`. */
    ingress: z
      .object({
        /** Address the ingress listens on. Default: 0.0.0.0. */
        address: z.string().min(1).optional(),
        /** HTTP port. Default: 80. */
        httpPort: z.number().int().min(0).max(65535).optional(),
        /** HTTPS port; needs `certFile` and `keyFile`. Default: no HTTPS. */
        httpsPort: z.number().int().min(0).max(65535).optional(),
        /** PEM certificate (chain) for HTTPS. */
        certFile: z.string().min(1).optional(),
        /** PEM private key for HTTPS. */
        keyFile: z.string().min(1).optional(),
        /**
         * Processes serving the HTTP(S) ingress, forked by the agent (one Node process
         * proxies on one core). 1: in the agent's own process. Default: the machine's
         * cores, at most 4 (`defaultIngressWorkers`).
         */
        workers: z.number().int().min(1).max(64).optional(),
      })
      .strict()
      .refine((i) => i.httpsPort === undefined || (i.certFile !== undefined && i.keyFile !== undefined), {
        message: 'HTTPS ingress needs a certificate and a key (--ingress-cert FILE --ingress-key FILE)',
      })
      .refine((i) => (i.certFile === undefined && i.keyFile === undefined) || i.httpsPort !== undefined, {
        message: 'an ingress certificate and key go with an HTTPS port (--ingress-https PORT)',
      })
      .optional(),
  })
  .strict();

export type AgentConfigInput = z.input<typeof agentConfigInput>;

/** The complete, frozen configuration the agent runs with. */
export interface AgentConfig {
  readonly serverUrl: string;
  readonly dataDir: string;
  readonly name: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Node pool; undefined = the server's default pool. */
  readonly pool: string | undefined;
  /** Undefined: fingerprinted (cores × 1000). */
  readonly cpuMhz: number | undefined;
  /** Undefined: fingerprinted (total memory − reservedMemoryMb). */
  readonly memoryMb: number | undefined;
  readonly reservedMemoryMb: number;
  readonly httpPort: number;
  readonly httpHost: string;
  readonly portRange: Readonly<{ min: number; max: number }>;
  readonly dockerSocketPath: string | undefined;
  readonly maxParallelStarts: number;
  /** See agentConfigInput.joinToken. */
  readonly joinToken?: string;
  /** See agentConfigInput.dataPlane. */
  readonly dataPlane: boolean;
  /** Set: this node runs the ingress (see agentConfigInput.ingress). */
  readonly ingress: AgentIngressConfig | undefined;
}

/** The ingress of an ingress node, with defaults filled in. */
export interface AgentIngressConfig {
  readonly address: string;
  readonly httpPort: number;
  /** Undefined: HTTP only. */
  readonly https: Readonly<{ port: number; certFile: string; keyFile: string }> | undefined;
  /** Ingress processes; 1 = in the agent's process. */
  readonly workers: number;
}

export const AGENT_DEFAULTS = {
  reservedMemoryMb: 256,
  httpPort: 4647,
  httpHost: '0.0.0.0',
  portRange: { min: 20_000, max: 32_000 },
  maxParallelStarts: 8,
  ingressAddress: '0.0.0.0',
  ingressHttpPort: 80,
  /** At most this many ingress workers by default: past it the backends, not the proxy, are the limit on most nodes. */
  maxDefaultIngressWorkers: 4,
} as const;

/** One ingress process per core, at most `maxDefaultIngressWorkers`. */
export function defaultIngressWorkers(cores: number = os.availableParallelism()): number {
  return Math.max(1, Math.min(cores, AGENT_DEFAULTS.maxDefaultIngressWorkers));
}

/** Validates the input and fills in every default. Throws ValidationError naming the field. */
export function resolveAgentConfig(input: unknown): AgentConfig {
  const parsed = agentConfigInput.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
    throw new ValidationError(`invalid agent configuration: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, issues);
  }
  const c = parsed.data;
  return Object.freeze({
    serverUrl: c.serverUrl,
    dataDir: c.dataDir,
    name: c.name ?? os.hostname(),
    address: c.address ?? defaultAddress(),
    labels: Object.freeze({ ...(c.labels ?? {}) }),
    pool: c.pool,
    cpuMhz: c.cpuMhz,
    memoryMb: c.memoryMb,
    reservedMemoryMb: c.reservedMemoryMb ?? AGENT_DEFAULTS.reservedMemoryMb,
    httpPort: c.httpPort ?? AGENT_DEFAULTS.httpPort,
    httpHost: c.httpHost ?? AGENT_DEFAULTS.httpHost,
    portRange: Object.freeze({ ...(c.portRange ?? AGENT_DEFAULTS.portRange) }),
    dockerSocketPath: c.dockerSocketPath,
    maxParallelStarts: c.maxParallelStarts ?? AGENT_DEFAULTS.maxParallelStarts,
    ...(c.joinToken !== undefined ? { joinToken: c.joinToken } : {}),
    dataPlane: c.dataPlane ?? false,
    ingress: c.ingress
      ? Object.freeze({
          address: c.ingress.address ?? AGENT_DEFAULTS.ingressAddress,
          httpPort: c.ingress.httpPort ?? AGENT_DEFAULTS.ingressHttpPort,
          https:
            c.ingress.httpsPort !== undefined ? Object.freeze({ port: c.ingress.httpsPort, certFile: c.ingress.certFile!, keyFile: c.ingress.keyFile! }) : undefined,
          workers: c.ingress.workers ?? defaultIngressWorkers(),
        })
      : undefined,
  });
}

/** The first non-internal IPv4 address of this machine, or 127.0.0.1 when it has none. */
export function defaultAddress(interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string {
  for (const name of Object.keys(interfaces).sort()) {
    for (const info of interfaces[name] ?? []) {
      if (info.family === 'IPv4' && !info.internal) return info.address;
    }
  }
  return '127.0.0.1';
}
