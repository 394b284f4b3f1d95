import type { Command } from 'commander';
import type { CatalogService } from '../../client/catalog-types.js';
import { KaruError } from '../../core/errors.js';
import type { Check } from '../../core/job.js';
import { shortId } from '../../lib/ids.js';
import { parseJobRef } from '../args.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import type { Colors } from '../output/color.js';
import { formatDuration } from '../output/format.js';
import { renderFields, renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';

export interface ServiceListOptions {
  namespace?: string;
  json?: boolean;
}

export interface ServiceShowOptions {
  namespace?: string;
  json?: boolean;
}

export function registerService(program: Command, wrap: ActionWrapper): void {
  const service = program
    .command('service')
    .description('Inspect the service catalog: VIPs and endpoints of the services jobs declare')
    .addHelpText(
      'after',
      `
Inside any Karu container a service answers as NAME (its own namespace) or
NAME.NAMESPACE.karu, on its VIP and port; see docs/design/networking.md.

Examples:
  $ karu service ls
  $ karu service show web -n shop`,
    );
  service
    .command('ls')
    .alias('list')
    .description('List services with their VIP, port and healthy endpoints')
    .option('-n, --namespace <ns>', 'only this namespace (default: all)')
    .option('--json', 'print the services (with their endpoints) as JSON')
    .addHelpText(
      'after',
      `
HEALTHY reads healthy/total endpoints; an endpoint is healthy when its allocation
runs, its checks pass and its node is ready.

Examples:
  $ karu service ls
  $ karu service ls -n shop --json | jq -r '.[] | "\\(.name) \\(.vip)"'`,
    )
    .action(wrap((ctx, opts: ServiceListOptions) => runServiceList(ctx, opts)));
  service
    .command('show')
    .description('Show one service: VIP, tags, checks and every endpoint with its health')
    .argument('<service>', 'NAME or NAMESPACE/NAME')
    .option('-n, --namespace <ns>', 'namespace of NAME (default "default")')
    .option('--json', 'print the service as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ karu service show web
  $ karu service show shop/web --json`,
    )
    .action(wrap((ctx, ref: string, opts: ServiceShowOptions) => runServiceShow(ctx, ref, opts)));
}

/** `10.99.0.7:8080`, or `-:8080` for a service without a VIP (the range ran out). */
const vipText = (s: CatalogService) => `${s.vip || '-'}:${s.port}`;

function healthText(c: Colors, s: CatalogService): string {
  const healthy = s.endpoints.filter((e) => e.healthy).length;
  const text = `${healthy}/${s.endpoints.length}`;
  if (s.endpoints.length === 0) return c.dim(text);
  return healthy === s.endpoints.length ? c.green(text) : healthy === 0 ? c.red(text) : c.yellow(text);
}

export async function runServiceList(ctx: CommandContext, opts: ServiceListOptions): CommandResult {
  const services = await ctx.client.services(opts.namespace);
  if (opts.json) return printJson(ctx.stdout, services);
  if (services.length === 0) {
    println(ctx.stdout, `No services${opts.namespace ? ` in namespace '${opts.namespace}'` : ''}. A job declares them in a group's \`services\` block.`);
    return;
  }
  const c = ctx.colors;
  ctx.stdout.write(
    renderTable(
      ['name', 'namespace', 'vip', 'healthy', 'job'],
      services.map((s) => [s.name, s.namespace, vipText(s), healthText(c, s), `${s.job}.${s.group}`]),
      c,
    ),
  );
  const starved = services.filter((s) => !s.vip);
  if (starved.length) println(ctx.stderr, `Warning: ${starved.map((s) => `${s.namespace}/${s.name}`).join(', ')} ha${starved.length === 1 ? 's' : 've'} no VIP: the service range is full (server flag --service-cidr).`);
}

export async function runServiceShow(ctx: CommandContext, ref: string, opts: ServiceShowOptions): CommandResult {
  const { namespace, name } = parseJobRef(ref, opts.namespace);
  let s: CatalogService;
  try {
    s = await ctx.client.service(namespace, name);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') throw new KaruError('NOT_FOUND', `no service '${name}' in namespace '${namespace}' (list them with \`karu service ls\`)`, { cause: e });
    throw e;
  }
  // The catalog carries endpoints, not the checks' spec: that is in the declaring job.
  const checks = await declaredChecks(ctx, s);
  if (opts.json) return printJson(ctx.stdout, { ...s, checks });
  const c = ctx.colors;
  ctx.stdout.write(
    renderFields([
      ['Name', s.name],
      ['Namespace', s.namespace],
      ['DNS', `${s.name} (from its namespace), ${s.name}.${s.namespace}.karu`],
      ['VIP', s.vip ? `${s.vip}:${s.port}` : c.yellow(`none (the service range is full); port ${s.port}`)],
      ['Port label', s.portLabel],
      ['Tags', s.tags.length ? s.tags.join(', ') : '-'],
      ['Job', `${s.job} (group ${s.group})`],
      ['Healthy', `${healthText(c, s)} endpoints`],
      ['Checks', checks === undefined ? `unknown (job '${s.job}' not found)` : checks.length ? checks.map(checkText).join('; ') : 'none (healthy while running)'],
      ['Ingress', s.ingress.length ? s.ingress.map((r) => (r.kind === 'http' ? `http ${r.host ?? '*'}${r.pathPrefix}` : `tcp :${r.port}${r.proxyProtocol ? ' (PROXY)' : ''}`)).join(', ') : '-'],
    ]),
  );
  println(ctx.stdout);
  println(ctx.stdout, c.bold('Endpoints'));
  if (s.endpoints.length === 0) {
    println(ctx.stdout, 'None: no allocation of the service is meant to run.');
    return;
  }
  ctx.stdout.write(
    renderTable(
      ['alloc', 'node', 'address', 'health', 'output'],
      s.endpoints.map((e) => [shortId(e.allocId), e.nodeName, `${e.address}:${e.port}`, e.healthy ? c.green('healthy') : c.red('unhealthy'), e.output || '-']),
      c,
    ),
  );
}

/** The checks the service declares in its job's current version; undefined when the job cannot be read. */
async function declaredChecks(ctx: CommandContext, s: CatalogService): Promise<Check[] | undefined> {
  try {
    const { job } = await ctx.client.getJob(s.namespace, s.job);
    return job.groups.find((g) => g.name === s.group)?.services?.find((x) => x.name === s.name)?.checks ?? [];
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') return undefined;
    throw e;
  }
}

/** `http GET /health → 200 every 10s`, `tcp every 5s`, `exec [pg_isready] every 10s`. */
function checkText(ch: Check): string {
  const every = `every ${formatDuration(ch.intervalMs)}`;
  switch (ch.type) {
    case 'http':
      return `http GET ${ch.path} → ${ch.expectStatus} ${every}`;
    case 'tcp':
      return `tcp ${every}`;
    case 'exec':
      return `exec [${ch.command.join(' ')}] in ${ch.task} ${every}`;
  }
}
