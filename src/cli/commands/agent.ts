import type { Command } from 'commander';
import { join } from 'node:path';
import { createLogger } from '../../lib/logger.js';
import { collectLabel, parsePositiveInt } from '../args.js';
import { EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { DEFAULT_DATA_DIR, untilAborted } from '../lifecycle.js';
import type { ActionWrapper } from '../program.js';
import { logLevelOption, type LogLevel } from './server.js';
import { UsageError } from '../errors.js';

/** What `startAgent` takes (the agent's config input), named through its composition root. */
export type AgentInput = Parameters<typeof import('../../agent/main.js').startAgent>[0];
type AgentInputObject = Extract<AgentInput, { serverUrl: string; ingress?: unknown }>;

export interface AgentOptions {
  dataDir?: string;
  name?: string;
  address?: string;
  label?: Record<string, string>;
  httpPort?: number;
  dockerSocket?: string;
  pool?: string;
  logLevel?: LogLevel;
  /** https URL of the server to join (mutual TLS from then on). */
  join?: string;
  /** Join token printed by `karu server` / `karu token rotate`. */
  token?: string;
  /** commander's `--no-dataplane`: false turns the node's DNS, VIPs and ingress off. */
  dataplane?: boolean;
  /** Make this an ingress node (implied by any --ingress-* option). */
  ingress?: boolean;
  ingressHttp?: number;
  ingressHttps?: number;
  ingressCert?: string;
  ingressKey?: string;
  ingressAddress?: string;
  /** Processes serving the HTTP(S) ingress (1 = in the agent's process). */
  ingressWorkers?: number;
}

const DEFAULT_AGENT_DIR = join(DEFAULT_DATA_DIR, 'agent');

export function registerAgent(program: Command, wrap: ActionWrapper): void {
  program
    .command('agent')
    .description('Run a node agent: registers this machine and runs its allocations in Docker')
    .option('--data-dir <dir>', "where the node's identity is kept", DEFAULT_AGENT_DIR)
    .option('--name <name>', 'node name (default: the hostname)')
    .option('--address <ip>', 'address other machines reach this node on (default: first non-loopback IPv4)')
    .option('--label <key=value>', 'a label for constraints (${label.key}); repeatable', collectLabel)
    .option('--pool <name>', "node pool this node belongs to; jobs run only in their `nodePool` (default: 'default')")
    .option('--http-port <port>', "port of the agent's own API, which serves logs (0 = any free port)", parsePositiveInt)
    .option('--docker-socket <path>', 'Docker Engine socket the agent drives (default: /var/run/docker.sock)')
    .option('--join <url>', 'https URL of the server to join (with --token on the first start)')
    .option('--token <token>', 'join token printed by `karu server` or `karu token rotate` (env KARU_JOIN_TOKEN)')
    .option('--no-dataplane', "don't run the node's data plane (DNS for containers, service VIPs on karu0, ingress)")
    .option('--ingress', 'make this an ingress node: route HTTP by host and path (and TCP by port) to services')
    .option('--ingress-http <port>', 'HTTP port of the ingress (default 80)', parsePositiveInt)
    .option('--ingress-https <port>', 'HTTPS port of the ingress; needs --ingress-cert and --ingress-key', parsePositiveInt)
    .option('--ingress-cert <file>', 'PEM certificate (chain) for the HTTPS ingress')
    .option('--ingress-key <file>', 'PEM private key for the HTTPS ingress')
    .option('--ingress-address <ip>', 'address the ingress listens on (default 0.0.0.0)')
    .option('--ingress-workers <n>', 'processes serving the HTTP(S) ingress, 1 = in the agent itself (default: cores, at most 4)', parsePositiveInt)
    .addOption(logLevelOption('how much the agent logs'))
    .addHelpText(
      'after',
      `
First start: --join URL --token TOKEN checks the server's CA against the token, gets a
node certificate (key, certificate and CA are kept 0600 in <data-dir>/tls) and talks
mutual TLS from then on; later starts reuse it and need no token. Without --join the
server comes from --server (or KARU_SERVER): plain HTTP, as with \`karu dev\`.
SIGINT/SIGTERM stop the agent cleanly (exit 0); its containers keep running and are
found again when it restarts.

The data plane (on unless --no-dataplane) needs root: it adds a dummy interface karu0
holding every service VIP and the DNS address (10.99.0.1 by default), serves DNS there
for containers (NAME, NAME.NAMESPACE.karu, _NAME._tcp.NAMESPACE.karu) and proxies each
VIP:port to the service's healthy endpoints. karu0 and its addresses stay when the agent
stops, so containers keep resolving across a restart. Without root it warns and goes on.

Examples:
  $ karu agent --join https://10.0.0.5:4646 --token karu1.3f9c…
  $ karu agent --join https://10.0.0.5:4646     # a restart: the stored certificate is used
  $ karu agent --server http://10.0.0.5:4646
  $ karu agent --server http://10.0.0.5:4646 --name worker-2 --label zone=a --label disk=ssd
  $ karu agent --join https://10.0.0.5:4646 --ingress --ingress-https 443 --ingress-cert site.pem --ingress-key site-key.pem`,
    )
    .action(wrap((ctx, opts: AgentOptions) => runAgent(ctx, opts)));
}

export async function runAgent(ctx: CommandContext, opts: AgentOptions): CommandResult {
  const signal = ctx.interrupts();
  const { startAgent } = await import('../../agent/main.js');
  const dataDir = opts.dataDir ?? DEFAULT_AGENT_DIR;
  const level = opts.logLevel ?? (ctx.env.KARU_LOG_LEVEL as LogLevel | undefined) ?? 'info';
  const serverUrl = opts.join ?? ctx.serverUrl;
  const token = opts.token ?? ctx.env.KARU_JOIN_TOKEN;
  if (opts.token && !opts.join) throw new UsageError('--token goes with --join https://SERVER:PORT');
  const agent = await startAgent({ ...agentInput(serverUrl, dataDir, opts), ...(token && opts.join ? { joinToken: token } : {}) }, { logger: createLogger({ name: 'karu-agent', level }) });
  println(ctx.stdout, `Karu agent running as node ${agent.agent.nodeId ?? '?'} (data in ${dataDir}), server ${serverUrl}`);
  await untilAborted(signal);
  println(ctx.stdout, 'Stopping the agent (containers keep running)…');
  await agent.stop();
  println(ctx.stdout, 'Agent stopped.');
  return EXIT_OK;
}

/** The agent's configuration from the command's options; unset options keep the agent's defaults. */
export function agentInput(serverUrl: string, dataDir: string, opts: AgentOptions): AgentInput {
  return {
    serverUrl,
    dataDir,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.address !== undefined ? { address: opts.address } : {}),
    ...(opts.label !== undefined ? { labels: opts.label } : {}),
    ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
    ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort } : {}),
    ...(opts.dockerSocket !== undefined ? { dockerSocketPath: opts.dockerSocket } : {}),
    dataPlane: opts.dataplane !== false,
    ...(wantsIngress(opts) ? { ingress: ingressInput(opts) } : {}),
  };
}

/** `--ingress`, or any --ingress-* option, makes an ingress node. */
function wantsIngress(opts: AgentOptions): boolean {
  return !!(opts.ingress || opts.ingressHttp !== undefined || opts.ingressHttps !== undefined || opts.ingressCert || opts.ingressKey || opts.ingressAddress || opts.ingressWorkers !== undefined);
}

function ingressInput(opts: AgentOptions): NonNullable<AgentInputObject['ingress']> {
  if (opts.dataplane === false) throw new UsageError('--ingress needs the data plane: drop --no-dataplane');
  return {
    ...(opts.ingressAddress !== undefined ? { address: opts.ingressAddress } : {}),
    ...(opts.ingressHttp !== undefined ? { httpPort: opts.ingressHttp } : {}),
    ...(opts.ingressHttps !== undefined ? { httpsPort: opts.ingressHttps } : {}),
    ...(opts.ingressCert !== undefined ? { certFile: opts.ingressCert } : {}),
    ...(opts.ingressKey !== undefined ? { keyFile: opts.ingressKey } : {}),
    ...(opts.ingressWorkers !== undefined ? { workers: opts.ingressWorkers } : {}),
  };
}
