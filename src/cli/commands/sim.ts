import type { Command } from 'commander';
import { createLogger } from '../../lib/logger.js';
import { parseDuration, parsePositiveInt } from '../args.js';
import { EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { untilAborted } from '../lifecycle.js';
import type { ActionWrapper } from '../program.js';
import { UsageError } from '../errors.js';
import { logLevelOption, type LogLevel } from './server.js';

export interface SimCommandOptions {
  nodes: number;
  cpu?: number;
  memory?: number;
  runDelay?: number;
  namePrefix?: string;
  pool?: string;
  dataDir?: string;
  logLevel?: LogLevel;
}

export function registerSim(program: Command, wrap: ActionWrapper): void {
  program
    .command('sim')
    .description('Run many simulated nodes in one process (fake driver) against a plain-HTTP server, for scale tests')
    .requiredOption('--nodes <n>', 'number of simulated nodes', parsePositiveInt)
    .option('--cpu <mhz>', 'CPU each node offers (default 4000)', parsePositiveInt)
    .option('--memory <mb>', 'memory each node offers (default 8192)', parsePositiveInt)
    .option('--run-delay <duration>', 'how long a task takes to turn running, e.g. 500ms (default 500ms)', parseDuration)
    .option('--name-prefix <prefix>', 'nodes are named PREFIX-N (default: sim)')
    .option('--pool <name>', 'node pool of every simulated node')
    .option('--data-dir <dir>', 'where node identities are kept (default: a temp dir, removed on exit)')
    .addOption(logLevelOption('how much the simulated agents log (default warn)'))
    .addHelpText(
      'after',
      `
Each node is a real agent (register, heartbeat, blocking allocations query, status
reports over the HTTP API) with an in-memory driver whose tasks turn running after
--run-delay. Nodes carry the labels sim=true and rack=r0…r9 (node i: r(i mod 10)). They serve no API of their own, so
\`karu logs\` has nothing to show for them. Plain-HTTP servers only (\`karu dev\`,
\`karu server --no-tls\`). SIGINT/SIGTERM stop every node (the server then marks them down).

Examples:
  $ karu sim --server http://127.0.0.1:4646 --nodes 1000
  $ karu sim --nodes 50 --cpu 2000 --memory 4096 --run-delay 2s --pool batch`,
    )
    .action(wrap((ctx, opts: SimCommandOptions) => runSim(ctx, opts)));
}

export async function runSim(ctx: CommandContext, opts: SimCommandOptions): CommandResult {
  if (!ctx.serverUrl.startsWith('http:')) throw new UsageError(`karu sim talks plain HTTP only; --server is ${ctx.serverUrl} (start the server with --no-tls or use karu dev)`);
  const signal = ctx.interrupts();
  const { startSim } = await import('../../agent/main.js');
  const level = opts.logLevel ?? (ctx.env.KARU_LOG_LEVEL as LogLevel | undefined) ?? 'warn';
  const started = Date.now();
  const sim = await startSim({
    serverUrl: ctx.serverUrl,
    nodes: opts.nodes,
    ...(opts.cpu !== undefined ? { cpuMhz: opts.cpu } : {}),
    ...(opts.memory !== undefined ? { memoryMb: opts.memory } : {}),
    ...(opts.runDelay !== undefined ? { runDelayMs: opts.runDelay } : {}),
    ...(opts.namePrefix !== undefined ? { namePrefix: opts.namePrefix } : {}),
    ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    logger: createLogger({ name: 'karu-sim', level }),
  });
  println(ctx.stdout, `Karu sim: ${sim.nodeIds().length} simulated nodes registered with ${ctx.serverUrl} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await untilAborted(signal);
  println(ctx.stdout, 'Stopping the simulated nodes…');
  await sim.stop();
  println(ctx.stdout, 'Simulated nodes stopped.');
  return EXIT_OK;
}
