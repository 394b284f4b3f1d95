import type { Command } from 'commander';
import type { PlanDiffEntry, PlanJobResponse } from '../../client/plan-types.js';
import type { Evaluation } from '../../core/evaluation.js';
import { EXIT_FAILED, EXIT_OK, println, printJson, type CommandContext, type CommandResult } from '../context.js';
import type { Colors } from '../output/color.js';
import { placementFailureLines } from '../output/alloc.js';
import { plural } from '../output/format.js';
import type { ActionWrapper } from '../program.js';
import { qualifiedName } from './status.js';

export interface PlanOptions {
  json?: boolean;
}

export function registerPlan(program: Command, wrap: ActionWrapper): void {
  program
    .command('plan')
    .description('Show what deploying a job file would change, without changing anything')
    .argument('<file>', 'job file (YAML or JSON)')
    .option('--json', 'print the API response as JSON')
    .addHelpText(
      'after',
      `
The file is checked as \`karu deploy\` checks it, then the server compares it with the
job's current version and runs the scheduler on the cluster as it is now: allocations
it would place (per group and node), update in place, stop, or preempt (lower-priority
allocations of other jobs), and placements that would fail, with the reasons. Nothing
is stored. Exit code 0 when everything fits, 1 when some placement would fail.

Examples:
  $ karu plan hello.yaml
  $ karu plan hello.yaml && karu deploy hello.yaml
  $ karu plan hello.yaml --json | jq '.place'`,
    )
    .action(wrap((ctx, file: string, opts: PlanOptions) => runPlan(ctx, file, opts)));
}

export async function runPlan(ctx: CommandContext, file: string, opts: PlanOptions): CommandResult {
  const { readJobFile } = await import('../../spec/parse.js');
  const text = await ctx.readFile(file);
  // Mistakes are reported as file:line:col here; the server checks again.
  const { spec } = readJobFile(text, file);
  const res = await ctx.client.planJob(spec);
  if (opts.json) {
    printJson(ctx.stdout, res);
    return res.fits ? EXIT_OK : EXIT_FAILED;
  }
  for (const line of planLines(res, ctx.colors)) println(ctx.stdout, line);
  if (!res.fits) {
    println(ctx.stderr, `Some placements of ${qualifiedName(res.job.namespace, res.job.name)} would fail now; \`karu deploy ${file}\` would leave them blocked until capacity frees up.`);
    return EXIT_FAILED;
  }
  return EXIT_OK;
}

/** The dry run in the style of `karu deploy`: the spec diff, then the scheduler's plan. */
export function planLines(res: PlanJobResponse, c: Colors): string[] {
  const name = qualifiedName(res.job.namespace, res.job.name);
  const lines: string[] = [];
  switch (res.result) {
    case 'created':
      lines.push(`Job ${name}: new job (would be version 1)`);
      break;
    case 'unchanged':
      lines.push(`Job ${name}: unchanged (version ${res.job.version})`);
      break;
    case 'updated':
      lines.push(
        res.job.version === res.currentVersion
          ? `Job ${name}: stopped, would start again (version ${res.job.version})`
          : `Job ${name}: version ${res.currentVersion} → ${res.job.version}${res.currentStopped ? ' (stopped now, would start again)' : ''}`,
      );
      break;
  }
  for (const d of res.diff) lines.push(`  ${diffLine(d, c)}`);

  lines.push('');
  lines.push(c.bold('Scheduler dry run'));
  const rows: string[] = [];
  for (const p of res.place) rows.push(`  ${c.green('place')}     ${res.job.name}.${p.group} ×${p.count} on ${p.nodeName} ${indexesText(p.indexes)}`);
  for (const u of res.inPlaceUpdate) rows.push(`  ${c.cyan('update')}    ${u.name} on ${u.nodeName} (in place)`);
  for (const s of res.stop) rows.push(`  ${c.yellow('stop')}      ${s.name} on ${s.nodeName}${s.reason ? `: ${s.reason}` : ''}`);
  for (const l of res.markLost) rows.push(`  ${c.yellow('lost')}      ${l.name} on ${l.nodeName}`);
  for (const p of res.preempt) {
    rows.push(`  ${c.red('preempt')}   ${p.name} on ${p.nodeName} (job ${qualifiedName(p.namespace, p.jobName)}, priority ${p.priority}) for ${p.forName}`);
  }
  if (rows.length === 0) rows.push('  nothing to change');
  lines.push(...rows);

  const placed = res.place.reduce((n, p) => n + p.count, 0);
  const summary = [
    placed && `${plural(placed, 'allocation')} to place`,
    res.inPlaceUpdate.length && `${res.inPlaceUpdate.length} to update in place`,
    res.stop.length && `${res.stop.length} to stop`,
    res.preempt.length && `${res.preempt.length} to preempt`,
  ].filter(Boolean);
  lines.push('');
  if (res.fits) lines.push(c.green(`Everything fits${summary.length ? `: ${summary.join(', ')}` : ''}.`));
  else {
    // Only the failures are read: the same lines as `karu deploy` prints for a blocked evaluation.
    const asEval = { failedPlacements: res.failures, status: 'blocked', statusDescription: '' } as Partial<Evaluation> as Evaluation;
    for (const line of placementFailureLines(asEval, c)) lines.push(line);
    if (summary.length) lines.push(`Would still do: ${summary.join(', ')}.`);
  }
  return lines;
}

/** `~ groups[web].count: 2 → 3`, `+ groups[web].services[web]`, `- groups[old]`. */
export function diffLine(d: PlanDiffEntry, c: Colors): string {
  switch (d.op) {
    case 'add':
      return c.green(`+ ${d.path}${'after' in d ? `: ${show(d.after)}` : ''}`);
    case 'remove':
      return c.red(`- ${d.path}${'before' in d ? `: ${show(d.before)}` : ''}`);
    case 'change':
      return c.yellow(`~ ${d.path}${'before' in d || 'after' in d ? `: ${show(d.before)} → ${show(d.after)}` : ' (value hidden)'}`);
  }
}

/** Compact, one line, cut at 60 characters. */
function show(v: unknown): string {
  const s = v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** `[0]`, `[0, 2]`, `[0..9]` for a run, capped for big groups. */
function indexesText(indexes: number[]): string {
  if (indexes.length === 0) return '';
  const first = indexes[0]!;
  const last = indexes[indexes.length - 1]!;
  if (indexes.length > 2 && last - first === indexes.length - 1) return `[${first}..${last}]`;
  if (indexes.length > 6) return `[${indexes.slice(0, 5).join(', ')}, … ${last}]`;
  return `[${indexes.join(', ')}]`;
}
