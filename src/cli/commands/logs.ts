import type { Command } from 'commander';
import { KaruError } from '../../core/errors.js';
import { parseAllocRef, parsePositiveInt } from '../args.js';
import { EXIT_OK, type CommandContext, type CommandResult } from '../context.js';
import type { ActionWrapper } from '../program.js';

export interface LogsOptions {
  follow?: boolean;
  tail?: number;
}

export function registerLogs(program: Command, wrap: ActionWrapper): void {
  program
    .command('logs')
    .description("Print an allocation's logs (stdout to stdout, stderr to stderr)")
    .argument('<alloc>', 'allocation id or short id, optionally /TASK')
    .option('-f, --follow', 'keep printing new lines until interrupted')
    .option('--tail <n>', 'start with the last N lines', parsePositiveInt)
    .addHelpText(
      'after',
      `
TASK may be left out when the allocation has one task.

Examples:
  $ karu logs 1a2b3c4d
  $ karu logs 1a2b3c4d/web -f --tail 20
  $ karu logs 1a2b3c4d 2>/dev/null      # stdout only`,
    )
    .action(wrap((ctx, ref: string, opts: LogsOptions) => runLogs(ctx, ref, opts)));
}

export async function runLogs(ctx: CommandContext, ref: string, opts: LogsOptions): CommandResult {
  const { alloc, task } = parseAllocRef(ref);
  // ^C is how a follow ends: a clean stop, exit 0.
  const signal = ctx.interrupts();
  try {
    for await (const entry of ctx.client.logs(alloc, { task, follow: opts.follow, tail: opts.tail, signal })) {
      (entry.stream === 'stderr' ? ctx.stderr : ctx.stdout).write(entry.line + '\n');
    }
  } catch (e) {
    if (signal.aborted) return EXIT_OK;
    if (e instanceof KaruError && e.code === 'NOT_FOUND') {
      const what = typeof e.details.kind === 'string' && e.details.kind !== 'allocation' ? `: ${e.message}` : '';
      throw new KaruError('NOT_FOUND', `no allocation '${alloc}'${task ? ` with task '${task}'` : ''}${what} (list them with \`karu ps --all\`)`, { cause: e });
    }
    throw e;
  }
}
