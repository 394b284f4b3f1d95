import type { Command } from 'commander';
import type { IngressRouteView } from '../../client/catalog-types.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';

export interface IngressListOptions {
  json?: boolean;
}

export function registerIngress(program: Command, wrap: ActionWrapper): void {
  const ingress = program
    .command('ingress')
    .description("Inspect the routes of the nodes' ingress (from the jobs' services)")
    .addHelpText(
      'after',
      `
Examples:
  $ karu ingress ls`,
    );
  ingress
    .command('ls')
    .alias('list')
    .description('List ingress routes: host and path (or TCP port), the service, its owner')
    .option('--json', 'print the routes as JSON')
    .addHelpText(
      'after',
      `
HTTP routes match the host's own routes first, then host-less ones (HOST "*"),
the longest path prefix on whole segments. HEALTHY reads healthy/total endpoints.

Examples:
  $ karu ingress ls
  $ karu ingress ls --json | jq -r '.[] | select(.kind == "tcp") | .port'`,
    )
    .action(wrap((ctx, opts: IngressListOptions) => runIngressList(ctx, opts)));
}

export async function runIngressList(ctx: CommandContext, opts: IngressListOptions): CommandResult {
  const routes = await ctx.client.ingressRoutes();
  if (opts.json) return printJson(ctx.stdout, routes);
  if (routes.length === 0) {
    println(ctx.stdout, "No ingress routes. A service declares them in its `ingress` block.");
    return;
  }
  const c = ctx.colors;
  ctx.stdout.write(
    renderTable(
      ['host', 'path / port', 'service', 'job', 'healthy'],
      routes.map((r) => [
        r.kind === 'http' ? (r.host ?? '*') : c.dim('tcp'),
        r.kind === 'http' ? r.pathPrefix : `:${r.port}${r.proxyProtocol ? ' (PROXY)' : ''}`,
        r.namespace === 'default' ? r.service : `${r.namespace}/${r.service}`,
        `${r.job}.${r.group}`,
        backing(r),
      ]),
      c,
    ),
  );
}

/** `2/3`, `0/0` when nothing runs. */
function backing(r: IngressRouteView): string {
  return `${r.healthy}/${r.total}`;
}
