import type { Command } from 'commander';
import type { NodeDetail } from '../../client/types.js';
import { sleep } from '../../lib/clock.js';
import { parseDuration } from '../args.js';
import { EXIT_INTERRUPTED, println, type CommandContext, type CommandResult } from '../context.js';
import { UsageError } from '../errors.js';
import { formatDuration, formatTimestamp } from '../output/format.js';
import type { ActionWrapper } from '../program.js';
import { findNode } from './find-node.js';
import { progressLine } from '../output/drain.js';

export interface DrainOptions {
  deadline?: number;
  ignoreSystem?: boolean;
  disable?: boolean;
  detach?: boolean;
  monitor?: boolean;
  /** Poll interval while showing progress; tests shorten it. */
  pollMs?: number;
}

/** `karu node eligibility` and `karu node drain`, added under `karu node`. */
export function registerNodeDrain(node: Command, wrap: ActionWrapper): void {
  node
    .command('eligibility')
    .description('Let a node take new allocations, or stop it from taking any (it keeps those it runs)')
    .argument('<node>', 'node id, short id or name')
    .option('--enable', 'the node takes new allocations')
    .option('--disable', 'the node takes no new allocations; the ones it runs stay')
    .addHelpText(
      'after',
      `
Examples:
  $ karu node eligibility worker-1 --disable
  $ karu node eligibility worker-1 --enable`,
    )
    .action(wrap((ctx, ref: string, opts: { enable?: boolean; disable?: boolean }) => runNodeEligibility(ctx, ref, opts)));
  node
    .command('drain')
    .description('Move every allocation off a node (make before break), e.g. for maintenance')
    .argument('<node>', 'node id, short id or name')
    .option('--deadline <duration>', 'after this, whatever is left is stopped at once (default 1h)', parseDuration)
    .option('--ignore-system', "leave system jobs' allocations in place")
    .option('--disable', 'cancel the drain: the node takes new work again')
    .option('--detach', 'start the drain and return; do not show its progress')
    .option('--monitor', 'show the progress of a drain already under way, change nothing')
    .addHelpText(
      'after',
      `
Allocations move following their group's migrate policy: at most migrate.maxParallel of a
group at a time, and an allocation stops only once its replacement runs. Batch work is left
to finish; allocations with host mounts cannot move and stay until the deadline, when they
are stopped (lost by drain). A drained node stays ineligible: \`karu node eligibility NODE --enable\`.

Examples:
  $ karu node drain worker-1
  $ karu node drain worker-1 --deadline 10m --detach
  $ karu node drain worker-1 --monitor
  $ karu node drain worker-1 --disable`,
    )
    .action(wrap((ctx, ref: string, opts: DrainOptions) => runNodeDrain(ctx, ref, opts)));
}

export async function runNodeEligibility(ctx: CommandContext, ref: string, opts: { enable?: boolean; disable?: boolean }): CommandResult {
  if (Boolean(opts.enable) === Boolean(opts.disable)) throw new UsageError('give exactly one of --enable or --disable');
  const n = await findNode(ctx, ref);
  const next = await ctx.client.setNodeEligibility(n.id, Boolean(opts.enable));
  println(ctx.stdout, next.eligibility === 'eligible' ? `Node ${next.name} is eligible: it takes new allocations.` : `Node ${next.name} is ineligible: it keeps its allocations but takes no new ones.`);
}

export async function runNodeDrain(ctx: CommandContext, ref: string, opts: DrainOptions): CommandResult {
  if (opts.monitor && (opts.disable || opts.deadline !== undefined || opts.detach)) throw new UsageError('--monitor only watches: leave out --disable, --deadline and --detach');
  const n = await findNode(ctx, ref);
  if (opts.disable) {
    const next = await ctx.client.drainNode(n.id, { enable: false });
    println(ctx.stdout, `Drain of ${next.name} cancelled: it takes new allocations again.`);
    return;
  }
  let node: NodeDetail = n;
  if (!opts.monitor) {
    node = await ctx.client.drainNode(n.id, { enable: true, ...(opts.deadline !== undefined ? { deadlineMs: opts.deadline } : {}), ...(opts.ignoreSystem ? { ignoreSystem: true } : {}) });
    println(ctx.stdout, `Draining ${node.name}: deadline ${formatTimestamp(node.drainStrategy?.deadlineAt)}.`);
    if (opts.detach) {
      println(ctx.stdout, `Follow it with \`karu node drain ${node.name} --monitor\`.`);
      return;
    }
  } else if (!node.drain) {
    println(ctx.stdout, node.lastDrain ? `${node.name} is not draining; last drain: ${node.lastDrain.message} (${formatTimestamp(node.lastDrain.completedAt)}).` : `${node.name} is not draining.`);
    return;
  }
  return watchDrain(ctx, node, opts.pollMs ?? 1_000);
}

async function watchDrain(ctx: CommandContext, first: NodeDetail, pollMs: number): CommandResult {
  const signal = ctx.interrupts();
  const started = ctx.clock.now();
  const reported = new Set<string>();
  let last = '';
  let node = first;
  for (;;) {
    if (!node.drain) {
      const message = node.lastDrain?.message ?? 'drain complete';
      println(ctx.stdout, ctx.colors.green(`${node.name}: ${message} (${formatDuration(ctx.clock.now() - started)}).`));
      return;
    }
    const p = node.drainProgress;
    if (p) {
      for (const x of p.notMovable) {
        if (reported.has(x.allocId)) continue;
        reported.add(x.allocId);
        println(ctx.stdout, ctx.colors.yellow(`  ${x.name}: ${x.why}; it stays until the deadline, then is stopped (lost by drain)`));
      }
      const line = progressLine(p);
      if (line !== last) println(ctx.stdout, `  ${line}`);
      last = line;
    }
    try {
      await sleep(ctx.clock, pollMs, signal);
    } catch {
      println(ctx.stderr, `Stopped watching; the drain goes on on the server. Follow it with \`karu node drain ${node.name} --monitor\`.`);
      return EXIT_INTERRUPTED;
    }
    node = await ctx.client.getNode(node.id);
  }
}
