import type { Command } from 'commander';
import type { RebalanceResponse } from '../../client/types.js';
import { shortId } from '../../lib/ids.js';
import { parseJobRef, parsePositiveInt } from '../args.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { UsageError } from '../errors.js';
import { plural } from '../output/format.js';
import { renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';

export interface RebalanceOptions {
  plan?: boolean;
  maxParallel?: number;
  job?: string;
  namespace?: string;
  json?: boolean;
}

export function registerRebalance(program: Command, wrap: ActionWrapper): void {
  program
    .command('rebalance')
    .description('Even out load across the eligible nodes by moving allocations (make before break)')
    .option('--plan', 'only show the moves and the utilisation before and after; change nothing')
    .option('--max-parallel <n>', 'moves in flight at once (default 1)', parsePositiveInt)
    .option('--job <job>', 'only move allocations of this job (NAME or NAMESPACE/NAME)')
    .option('-n, --namespace <ns>', 'namespace of --job (default: default)')
    .option('--json', 'print the answer as JSON')
    .addHelpText(
      'after',
      `
Moves keep every constraint and capacity rule the scheduler applies, and never touch
allocations with host mounts (node-local data), batch work or allocations being moved.
Each move starts a replacement on the new node and stops the old copy once it runs, so the
running count never drops.

Examples:
  $ karu rebalance --plan
  $ karu rebalance --max-parallel 2
  $ karu rebalance --job web --plan`,
    )
    .action(wrap((ctx, opts: RebalanceOptions) => runRebalance(ctx, opts)));
}

export async function runRebalance(ctx: CommandContext, opts: RebalanceOptions): CommandResult {
  if (opts.maxParallel !== undefined && opts.maxParallel < 1) throw new UsageError('--max-parallel must be at least 1');
  const job = opts.job !== undefined ? parseJobRef(opts.job, opts.namespace) : undefined;
  const res = await ctx.client.rebalance({
    dryRun: Boolean(opts.plan),
    maxParallel: opts.maxParallel ?? 1,
    ...(job ? { job: job.name, namespace: job.namespace } : {}),
  });
  if (opts.json) return printJson(ctx.stdout, res);
  printPlan(ctx, res);
  if (res.moves.length === 0) return;
  if (opts.plan) println(ctx.stdout, `Apply with \`karu rebalance${opts.maxParallel ? ` --max-parallel ${opts.maxParallel}` : ''}${opts.job ? ` --job ${opts.job}` : ''}\`.`);
  else println(ctx.stdout, `Moving ${plural(res.moves.length, 'allocation')}, at most ${opts.maxParallel ?? 1} at a time; each old copy stops once its replacement runs. Follow with \`karu node ls\`.`);
}

function printPlan(ctx: CommandContext, res: RebalanceResponse): void {
  const c = ctx.colors;
  const pct = (f: number) => `${Math.round(f * 100)}%`;
  if (res.moves.length === 0) {
    println(ctx.stdout, `Balanced: no move would even out the load (imbalance ${res.imbalanceBefore.toFixed(3)}).`);
  } else {
    println(ctx.stdout, c.bold(`${plural(res.moves.length, 'move')}: imbalance ${res.imbalanceBefore.toFixed(3)} → ${res.imbalanceAfter.toFixed(3)}`));
    ctx.stdout.write(renderTable(['alloc', 'name', 'from', 'to', 'why'], res.moves.map((m) => [shortId(m.allocId), m.name, m.fromNodeName, m.toNodeName, m.why]), c));
    println(ctx.stdout);
    const after = new Map(res.after.map((u) => [u.nodeId, u]));
    ctx.stdout.write(
      renderTable(
        ['node', 'cpu before', 'cpu after', 'memory before', 'memory after', 'allocs'],
        res.before.map((b) => {
          const a = after.get(b.nodeId) ?? b;
          return [b.name, pct(b.cpu), pct(a.cpu), pct(b.memory), pct(a.memory), `${b.allocs} → ${a.allocs}`];
        }),
        c,
      ),
    );
  }
  if (res.notMovable.length > 0) {
    println(ctx.stdout);
    println(ctx.stdout, c.bold('Not moved'));
    for (const n of res.notMovable) println(ctx.stdout, `  ${shortId(n.allocId)}  ${n.name} on ${n.nodeName}: ${n.why}`);
  }
}
