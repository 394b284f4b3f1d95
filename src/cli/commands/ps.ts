import type { Command } from 'commander';
import { allocName, isLive, type AllocView } from '../../core/alloc.js';
import { shortId } from '../../lib/ids.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { portsText } from '../output/alloc.js';
import { colorStatus } from '../output/color.js';
import { formatAge } from '../output/format.js';
import { renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';

export interface PsOptions {
  all?: boolean;
  namespace?: string;
  json?: boolean;
}

export function registerPs(program: Command, wrap: ActionWrapper): void {
  program
    .command('ps')
    .description('List allocations across jobs, with their ports')
    .option('-a, --all', 'include stopped, completed and failed allocations')
    .option('-n, --namespace <ns>', 'only this namespace')
    .option('--json', 'print the allocations as JSON')
    .addHelpText(
      'after',
      `
Ports read node-address:host-port→container-port.

Examples:
  $ karu ps
  $ karu ps --all
  $ curl "http://$(karu ps --json | jq -r '.[0].ports[0] | "127.0.0.1:\\(.host)"')/"`,
    )
    .action(wrap((ctx, opts: PsOptions) => runPs(ctx, opts)));
}

export async function runPs(ctx: CommandContext, opts: PsOptions): CommandResult {
  const [allocs, nodes] = await Promise.all([ctx.client.listAllocations(opts.namespace ? { namespace: opts.namespace } : {}), ctx.client.listNodes()]);
  const shown = allocs.filter((a) => opts.all || isLive(a)).sort(byJobThenIndex);
  if (opts.json) return printJson(ctx.stdout, shown);
  if (shown.length === 0) {
    println(ctx.stdout, opts.all ? 'No allocations.' : 'No running allocations (`karu ps --all` shows the others).');
    return;
  }
  const address = new Map(nodes.map((n) => [n.id as string, n.address]));
  const now = ctx.clock.now();
  const c = ctx.colors;
  ctx.stdout.write(
    renderTable(
      ['id', 'name', 'node', 'version', 'status', 'ports', 'age'],
      shown.map((a) => [
        shortId(a.id),
        (a.namespace === 'default' ? '' : `${a.namespace}/`) + allocName(a),
        a.nodeName,
        String(a.jobVersion),
        colorStatus(c, a.clientStatus) + (a.desiredStatus === 'stop' && a.clientStatus === 'running' ? ' (stopping)' : ''),
        portsText(a, address.get(a.nodeId)),
        formatAge(a.createdAt, now),
      ]),
      c,
    ),
  );
}

function byJobThenIndex(a: AllocView, b: AllocView): number {
  return a.namespace.localeCompare(b.namespace) || a.jobName.localeCompare(b.jobName) || a.group.localeCompare(b.group) || a.index - b.index || b.createdAt - a.createdAt;
}
