import { Option, type Command } from 'commander';
import { join } from 'node:path';
import { EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { DEFAULT_DATA_DIR, untilAborted } from '../lifecycle.js';
import type { ActionWrapper } from '../program.js';

export interface ServerOptions {
  dataDir?: string;
  listen?: string;
  logLevel?: LogLevel;
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
    .addOption(logLevelOption('how much the server logs'))
    .addHelpText(
      'after',
      `
Logs go to stderr as JSON lines. SIGINT/SIGTERM stop it cleanly (exit 0); running
containers are not touched.

Examples:
  $ karu server
  $ karu server --listen 0.0.0.0:4646 --data-dir /var/lib/karu/server
  $ karu agent --server http://10.0.0.5:4646     # then, on each node`,
    )
    .action(wrap((ctx, opts: ServerOptions) => runServer(ctx, opts)));
}

export async function runServer(ctx: CommandContext, opts: ServerOptions): CommandResult {
  const signal = ctx.interrupts();
  // Loaded here, not at the top: the store and its native module are for this command only.
  const { startServer } = await import('../../server/main.js');
  const dataDir = opts.dataDir ?? DEFAULT_SERVER_DIR;
  const server = await startServer({ dataDir, listen: opts.listen, logLevel: opts.logLevel });
  println(ctx.stdout, `Karu server listening on ${server.url} (data in ${dataDir})`);
  await untilAborted(signal);
  println(ctx.stdout, 'Stopping the server…');
  await server.stop();
  println(ctx.stdout, 'Server stopped.');
  return EXIT_OK;
}
