import type { Command } from 'commander';
import type { NodeDetail } from '../../client/types.js';
import { allocName, isLive } from '../../core/alloc.js';
import { shortId } from '../../lib/ids.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { portsText } from '../output/alloc.js';
import { colorStatus } from '../output/color.js';
import { formatAge, formatDuration, formatMemoryMb, formatMhz, formatUsage } from '../output/format.js';
import { renderFields, renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';
import { registerNodeDrain } from './node-drain.js';
import { findNode } from './find-node.js';
import { progressLine } from '../output/drain.js';

export function registerNode(program: Command, wrap: ActionWrapper): void {
  const node = program
    .command('node')
    .description('Inspect the nodes of the cluster')
    .addHelpText(
      'after',
      `
Examples:
  $ karu node ls
  $ karu node status worker-1`,
    );
  node
    .command('ls')
    .alias('list')
    .description('List nodes with their status and how full they are')
    .option('--json', 'print the nodes as JSON')
    .addHelpText(
      'after',
      `
CPU and MEMORY read allocated/total.

Examples:
  $ karu node ls
  $ karu node ls --json | jq -r '.[] | select(.status != "ready") | .name'`,
    )
    .action(wrap((ctx, opts: { json?: boolean }) => runNodeList(ctx, opts)));
  node
    .command('status')
    .description('Show one node: resources, drivers, labels, attributes, allocations')
    .argument('<node>', 'node id, short id or name')
    .option('--json', 'print the node as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ karu node status worker-1
  $ karu node status 3f9c2a1b --json`,
    )
    .action(wrap((ctx, ref: string, opts: { json?: boolean }) => runNodeStatus(ctx, ref, opts)));
  registerNodeDrain(node, wrap);
}

export async function runNodeList(ctx: CommandContext, opts: { json?: boolean }): CommandResult {
  const nodes = (await ctx.client.listNodes()).sort((a, b) => a.name.localeCompare(b.name));
  if (opts.json) return printJson(ctx.stdout, nodes);
  if (nodes.length === 0) {
    println(ctx.stdout, 'No nodes. Start an agent with `karu agent --server URL`, or run `karu dev`.');
    return;
  }
  const c = ctx.colors;
  ctx.stdout.write(
    renderTable(
      ['id', 'name', 'address', 'status', 'eligibility', 'drain', 'allocs', 'cpu', 'memory'],
      nodes.map((n) => [
        shortId(n.id),
        n.name,
        n.address,
        colorStatus(c, n.status),
        colorStatus(c, n.eligibility),
        n.drain ? c.yellow('yes') : 'no',
        String(n.allocations.running),
        formatUsage(n.allocated.cpuMhz, n.resources.cpuMhz, formatMhz),
        formatUsage(n.allocated.memoryMb, n.resources.memoryMb, formatMemoryMb),
      ]),
      c,
    ),
  );
}

export async function runNodeStatus(ctx: CommandContext, ref: string, opts: { json?: boolean }): CommandResult {
  const found = await findNode(ctx, ref);
  // The detail carries the drain's progress; a node found by name came from the list.
  const n: NodeDetail = found.drain ? await ctx.client.getNode(found.id) : found;
  const allocs = (await ctx.client.listAllocations({ node: n.id })).filter(isLive);
  if (opts.json) return printJson(ctx.stdout, { ...n, liveAllocations: allocs });
  const c = ctx.colors;
  const now = ctx.clock.now();
  const kv = (r: Record<string, string>) =>
    Object.keys(r).length
      ? Object.entries(r)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')
      : '-';
  ctx.stdout.write(
    renderFields([
      ['ID', n.id],
      ['Name', n.name],
      ['Address', n.address],
      ['Status', colorStatus(c, n.status) + (n.statusDescription ? ` — ${n.statusDescription}` : '') + ` (since ${formatAge(n.statusUpdatedAt, now)})`],
      ['Eligibility', colorStatus(c, n.eligibility)],
      ['Drain', drainText(n, now)],
      ['Registered', formatAge(n.registeredAt, now)],
      ['CPU', formatUsage(n.allocated.cpuMhz, n.resources.cpuMhz, formatMhz)],
      ['Memory', formatUsage(n.allocated.memoryMb, n.resources.memoryMb, formatMemoryMb)],
      ['Allocations', `${n.allocations.running} running, ${n.allocations.total} total`],
      ['Ports', `${n.portRange.min}-${n.portRange.max}`],
      ['Drivers', Object.entries(n.drivers).map(([d, h]) => `${d}: ${h.healthy ? c.green('healthy') : c.red('unhealthy')}${h.detail ? ` (${h.detail})` : ''}`).join(', ') || '-'],
      ['Labels', kv(n.labels)],
    ]),
  );
  if (n.events?.length) {
    // Status changes (ready → disconnected → down and back), newest last; see docs/design/failure.md.
    println(ctx.stdout);
    println(ctx.stdout, c.bold('Events'));
    ctx.stdout.write(renderFields(n.events.map((e) => [formatAge(e.time, now), `${colorStatus(c, e.status)} — ${e.message}`] as [string, string])));
  }
  println(ctx.stdout);
  println(ctx.stdout, c.bold('Attributes'));
  ctx.stdout.write(renderFields(Object.entries(n.attributes).sort(([a], [b]) => a.localeCompare(b))) || 'None.\n');
  println(ctx.stdout);
  println(ctx.stdout, c.bold('Allocations'));
  if (allocs.length === 0) {
    println(ctx.stdout, 'None running.');
    return;
  }
  ctx.stdout.write(
    renderTable(
      ['id', 'name', 'version', 'status', 'ports', 'age'],
      allocs.map((a) => [shortId(a.id), allocName(a), String(a.jobVersion), colorStatus(c, a.clientStatus), portsText(a, n.address), formatAge(a.createdAt, now)]),
      c,
    ),
  );
}

/** `yes — 2 allocations left: 1 migrating (deadline in 45m)`, or how the last drain ended. */
function drainText(n: NodeDetail, now: number): string {
  if (n.drain) {
    const deadline = n.drainStrategy ? ` (deadline in ${formatDuration(Math.max(0, n.drainStrategy.deadlineAt - now))})` : '';
    const notMovable = n.drainProgress?.notMovable.map((x) => `; ${x.name} ${x.why}`).join('') ?? '';
    return `yes — ${n.drainProgress ? progressLine(n.drainProgress) : 'starting'}${deadline}${notMovable}`;
  }
  return n.lastDrain ? `no (last: ${n.lastDrain.message}, ${formatAge(n.lastDrain.completedAt, now)})` : 'no';
}
