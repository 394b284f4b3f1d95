import type { Command } from 'commander';
import { KaruError } from '../../core/errors.js';
import { parseJobRef } from '../args.js';
import { println, type CommandContext, type CommandResult } from '../context.js';
import type { ActionWrapper } from '../program.js';
import { qualifiedName } from './status.js';

export interface StopOptions {
  purge?: boolean;
  namespace?: string;
}

export function registerStop(program: Command, wrap: ActionWrapper): void {
  program
    .command('stop')
    .description('Stop a job: its allocations are stopped, its history is kept')
    .argument('<job>', 'job name (or NAMESPACE/NAME)')
    .option('--purge', 'also forget the job and its history once stopped')
    .option('-n, --namespace <ns>', 'namespace of the job', undefined)
    .addHelpText(
      'after',
      `
Examples:
  $ karu stop hello
  $ karu stop hello --purge     # remove it from \`karu status\` too`,
    )
    .action(wrap((ctx, job: string, opts: StopOptions) => runStop(ctx, job, opts)));
}

export async function runStop(ctx: CommandContext, job: string, opts: StopOptions): CommandResult {
  const ref = parseJobRef(job, opts.namespace);
  const name = qualifiedName(ref.namespace, ref.name);
  try {
    const res = await ctx.client.stopJob(ref.namespace, ref.name, { purge: opts.purge });
    const evalText = res.evalId ? `, evaluation ${res.evalId}` : '';
    println(ctx.stdout, `Job ${name} ${res.purged ? 'stopped and purged' : 'stopped'}${evalText}`);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') throw new KaruError('NOT_FOUND', `no job '${ref.name}' in namespace '${ref.namespace}' (list them with \`karu status\`)`, { cause: e });
    throw e;
  }
}
