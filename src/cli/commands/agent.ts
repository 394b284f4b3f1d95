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

Examples:
  $ karu agent --join https://10.0.0.5:4646 --token karu1.3f9c…
  $ karu agent --join https://10.0.0.5:4646     # a restart: the stored certificate is used
  $ karu agent --server http://10.0.0.5:4646
  $ karu agent --server http://10.0.0.5:4646 --name worker-2 --label zone=a --label disk=ssd`,
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
  };
}
