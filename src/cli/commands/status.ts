import type { Command } from 'commander';
import type { JobDetail, JobListEntry } from '../../client/types.js';
import { allocName, type AllocView } from '../../core/alloc.js';
import { KaruError } from '../../core/errors.js';
import { shortId } from '../../lib/ids.js';
import { parseJobRef } from '../args.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { failedAllocLines, placementFailureLines } from '../output/alloc.js';
import { colorStatus } from '../output/color.js';
import { formatAge } from '../output/format.js';
import { renderFields, renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';
import { blockingEvaluation } from '../rollout.js';

export interface StatusOptions {
  namespace?: string;
  json?: boolean;
}

export function registerStatus(program: Command, wrap: ActionWrapper): void {
  program
    .command('status')
    .description('List jobs, or show one job with its allocations and problems')
    .argument('[job]', 'job name (or NAMESPACE/NAME)')
    .option('-n, --namespace <ns>', 'namespace (default: all for the list, "default" for one job)')
    .option('--json', 'print the API response as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ karu status                 # every job: status and allocation counts
  $ karu status hello           # one job: allocations, placement failures, task errors
  $ karu status hello --json | jq '.allocations[].clientStatus'`,
    )
    .action(wrap((ctx, job: string | undefined, opts: StatusOptions) => runStatus(ctx, job, opts)));
}

export async function runStatus(ctx: CommandContext, job: string | undefined, opts: StatusOptions): CommandResult {
  if (job === undefined) return listJobs(ctx, opts);
  const ref = parseJobRef(job, opts.namespace);
  let detail: JobDetail;
  try {
    detail = await ctx.client.getJob(ref.namespace, ref.name);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') {
      throw new KaruError('NOT_FOUND', `no job '${ref.name}' in namespace '${ref.namespace}' (list them with \`karu status\`)`, { cause: e });
    }
    throw e;
  }
  if (opts.json) return printJson(ctx.stdout, detail);
  showJob(ctx, detail);
}

async function listJobs(ctx: CommandContext, opts: StatusOptions): CommandResult {
  const jobs = await ctx.client.listJobs(opts.namespace);
  if (opts.json) return printJson(ctx.stdout, jobs);
  if (jobs.length === 0) {
    println(ctx.stdout, 'No jobs. Deploy one with `karu deploy FILE`.');
    return;
  }
  const now = ctx.clock.now();
  const c = ctx.colors;
  const sorted = [...jobs].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  ctx.stdout.write(
    renderTable(
      ['name', 'type', 'version', 'status', 'desired', 'running', 'pending', 'failed', 'submitted'],
      sorted.map((j: JobListEntry) => [
        qualifiedName(j.namespace, j.name),
        j.type,
        String(j.version),
        colorStatus(c, j.stopped ? 'dead' : j.status) + (j.stopped && j.status !== 'dead' ? ' (stopping)' : ''),
        String(j.summary.desired),
        String(j.summary.running),
        String(j.summary.pending),
        j.summary.failed > 0 ? c.red(String(j.summary.failed)) : '0',
        formatAge(j.submittedAt, now),
      ]),
      c,
    ),
  );
}

function showJob(ctx: CommandContext, d: JobDetail): void {
  const now = ctx.clock.now();
  const c = ctx.colors;
  const s = d.summary;
  ctx.stdout.write(
    renderFields([
      ['Name', d.job.name],
      ['Namespace', d.job.namespace],
      ['Type', d.job.type],
      ['Version', String(d.job.version)],
      ['Status', colorStatus(c, d.status) + (d.job.stopped ? ' (stopped)' : '')],
      ['Submitted', formatAge(d.job.submittedAt, now)],
      ['Groups', d.job.groups.map((g) => `${g.name} ×${g.count} (${g.tasks.map((t) => `${t.name}: ${t.image}`).join(', ')})`).join('; ')],
      ['Allocations', `${s.desired} desired, ${s.running} running, ${s.pending} pending, ${s.failed} failed, ${s.complete} complete, ${s.lost} lost`],
    ]),
  );

  println(ctx.stdout);
  println(ctx.stdout, c.bold('Allocations'));
  const allocs = sortAllocs(d.allocations);
  if (allocs.length === 0) println(ctx.stdout, 'No allocations.');
  else ctx.stdout.write(allocTable(allocs, ctx));

  // Stopped to make room for a higher-priority job: say by whom, or it looks like a bug.
  const preempted = allocs.filter((a) => a.preemptedBy && a.desiredStatus === 'stop').slice(0, 10);
  if (preempted.length > 0) {
    println(ctx.stdout);
    println(ctx.stdout, c.bold('Preempted'));
    for (const a of preempted) {
      const p = a.preemptedBy!;
      println(ctx.stdout, `  ${shortId(a.id)}  ${allocName(a)} on ${a.nodeName}: preempted by job ${p.byJob} (priority ${p.byPriority}, allocation ${shortId(p.byAllocId)}), ${formatAge(p.at, now)}`);
    }
  }

  const blocked = blockingEvaluation(d.evaluations);
  if (blocked && !d.job.stopped) {
    println(ctx.stdout);
    for (const line of placementFailureLines(blocked, c)) println(ctx.stdout, line);
  }

  // The newest few failures tell the story; older ones are in `karu alloc status`.
  const failed = allocs.filter((a) => a.clientStatus === 'failed').slice(0, 3);
  if (failed.length > 0) {
    println(ctx.stdout);
    println(ctx.stdout, c.bold('Recent failures'));
    for (const a of failed) for (const line of failedAllocLines(a, 3, c)) println(ctx.stdout, line);
  }
}

/** Live first, newest first within each. */
function sortAllocs(allocs: AllocView[]): AllocView[] {
  const rank = (a: AllocView) => (a.desiredStatus === 'run' ? 0 : 1);
  return [...allocs].sort((a, b) => rank(a) - rank(b) || b.jobVersion - a.jobVersion || a.group.localeCompare(b.group) || a.index - b.index || b.createdAt - a.createdAt);
}

function allocTable(allocs: AllocView[], ctx: CommandContext): string {
  const now = ctx.clock.now();
  const c = ctx.colors;
  return renderTable(
    ['id', 'name', 'node', 'version', 'desired', 'status', 'age'],
    allocs.map((a) => [shortId(a.id), allocName(a), a.nodeName, String(a.jobVersion), a.preemptedBy && a.desiredStatus === 'stop' ? 'stop (preempted)' : a.desiredStatus, colorStatus(c, a.clientStatus), formatAge(a.createdAt, now)]),
    c,
  );
}

/** `hello`, or `team-a/hello` outside the default namespace. */
export function qualifiedName(namespace: string, name: string): string {
  return namespace === 'default' ? name : `${namespace}/${name}`;
}
