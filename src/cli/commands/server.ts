import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { DEFAULT_DATA_DIR, untilAborted } from '../lifecycle.js';
import type { ActionWrapper } from '../program.js';
import { collect, parseDuration, parsePositiveInt } from '../args.js';

export interface ServerOptions {
  dataDir?: string;
  listen?: string;
  logLevel?: LogLevel;
  /** Failure detection (docs/design/failure.md); left out, the server's defaults. */
  heartbeatTtl?: number;
  heartbeatGrace?: number;
  maxHeartbeats?: number;
  /** Extra names/addresses for the server certificate; the first goes in the join command. */
  advertise?: string[];
  /** false with --no-tls: plain HTTP, node secrets instead of certificates (like `karu dev`). */
  tls?: boolean;
  /** The range service VIPs come from (default 10.99.0.0/16). */
  serviceCidr?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--log-level`, limited to pino's levels so a typo is a usage error. */
export const logLevelOption = (what: string) => new Option('--log-level <level>', `${what} (env KARU_LOG_LEVEL)`).choices(LOG_LEVELS);

const DEFAULT_SERVER_DIR = join(DEFAULT_DATA_DIR, 'server');

export function registerServer(program: Command, wrap: ActionWrapper): void {
  program
    .command('server')
    .description('Run the control plane (API, scheduler, controllers) until interrupted')
    .option('--data-dir <dir>', 'where the state is kept', DEFAULT_SERVER_DIR)
    .option('--listen <host:port>', 'address of the API (port 0 picks a free one)', '127.0.0.1:4646')
    .option('--advertise <host>', 'a name or address agents reach the server by (certificate SAN; the first is used in the join command); repeatable', collect)
    .option('--no-tls', 'serve plain HTTP without the cluster CA (trusted networks and tests only)')
    .addOption(logLevelOption('how much the server logs'))
    .option('--heartbeat-ttl <duration>', 'shortest heartbeat TTL given to agents (default 2s; agents beat at a third of it)', parseDuration)
    .option('--heartbeat-grace <duration>', 'past the TTL before a silent node is disconnected/down (default 1s)', parseDuration)
    .option('--service-cidr <cidr>', 'IPv4 range service VIPs come from; its first address is every node\'s DNS (default 10.99.0.0/16)')
    .option('--max-heartbeats <per-second>', 'heartbeats per second the server takes; the TTL grows with the node count past it (default 2500: a 2 s TTL up to 5,000 nodes)', parsePositiveInt)
    .addHelpText(
      'after',
      `
On first start the server creates the cluster CA (kept in its store) and a join token,
and prints the command that joins a node; the CA certificate is written to
<data-dir>/ca.pem for the CLI (--ca / KARU_CA_CERT), the cluster admin's client certificate
beside it (admin.pem, admin-key.pem, 0600: token rotation, node rm/drain/eligibility and
rebalance need it; the CLI uses them when next to its CA file, else --cert/--key).
Logs go to stderr as JSON lines.
SIGINT/SIGTERM stop it cleanly (exit 0); running containers are not touched.

Examples:
  $ karu server --listen 0.0.0.0:4646 --advertise 10.0.0.5 --data-dir /var/lib/karu/server
  $ karu agent --join https://10.0.0.5:4646 --token karu1.…     # then, on each node
  $ karu token rotate                                          # new token; the old one stops working`,
    )
    .action(wrap((ctx, opts: ServerOptions) => runServer(ctx, opts)));
}

export async function runServer(ctx: CommandContext, opts: ServerOptions): CommandResult {
  const signal = ctx.interrupts();
  // Loaded here, not at the top: the store and its native module are for this command only.
  const { startServer } = await import('../../server/main.js');
  const dataDir = opts.dataDir ?? DEFAULT_SERVER_DIR;
  const server = await startServer({
    dataDir,
    listen: opts.listen,
    logLevel: opts.logLevel,
    tls: opts.tls ?? true,
    ...(opts.advertise ? { advertise: opts.advertise } : {}),
    ...(opts.heartbeatTtl !== undefined ? { heartbeatTtlMs: opts.heartbeatTtl } : {}),
    ...(opts.heartbeatGrace !== undefined ? { heartbeatGraceMs: opts.heartbeatGrace } : {}),
    ...(opts.maxHeartbeats !== undefined ? { maxHeartbeatsPerSecond: opts.maxHeartbeats } : {}),
    ...(opts.serviceCidr !== undefined ? { serviceCidr: opts.serviceCidr } : {}),
  });
  println(ctx.stdout, `Karu server listening on ${server.url} (data in ${dataDir})`);
  if (server.tls) {
    println(ctx.stdout, `CA fingerprint (sha256): ${server.tls.caFingerprint}`);
    println(ctx.stdout, `CA certificate: ${join(dataDir, 'ca.pem')}`);
    println(ctx.stdout, `Admin certificate: ${join(dataDir, 'admin.pem')} + admin-key.pem (whoever holds them is cluster admin)`);
    println(ctx.stdout, `Join token: ${server.tls.joinToken}`);
    println(ctx.stdout, 'On each node run:');
    println(ctx.stdout, `  ${server.tls.joinCommand}`);
  }
  await untilAborted(signal);
  println(ctx.stdout, 'Stopping the server…');
  await server.stop();
  println(ctx.stdout, 'Server stopped.');
  return EXIT_OK;
}
