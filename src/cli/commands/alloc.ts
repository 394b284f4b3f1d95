import type { Command } from 'commander';
import { allocName, type AllocView } from '../../core/alloc.js';
import { KaruError } from '../../core/errors.js';
import { println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { portsText } from '../output/alloc.js';
import { colorStatus } from '../output/color.js';
import { formatAge, formatMemoryMb, formatMhz, formatTimestamp } from '../output/format.js';
import { renderFields, renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';

export function registerAlloc(program: Command, wrap: ActionWrapper): void {
  const alloc = program
    .command('alloc')
    .description('Inspect allocations')
    .addHelpText(
      'after',
      `
Examples:
  $ karu alloc status 1a2b3c4d`,
    );
  alloc
    .command('status')
    .description('Show one allocation: placement, task states and events')
    .argument('<alloc>', 'allocation id or short id')
    .option('--json', 'print the allocation as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ karu alloc status 1a2b3c4d
  $ karu alloc status 1a2b3c4d --json | jq .taskStates`,
    )
    .action(wrap((ctx, id: string, opts: { json?: boolean }) => runAllocStatus(ctx, id, opts)));
}

/** Fetches an allocation, turning "not found" into a message that names what was asked for. */
export async function fetchAlloc(ctx: CommandContext, id: string): Promise<AllocView> {
  try {
    return await ctx.client.getAllocation(id);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') throw new KaruError('NOT_FOUND', `no allocation '${id}' (list them with \`karu ps --all\`)`, { cause: e });
    throw e;
  }
}

export async function runAllocStatus(ctx: CommandContext, id: string, opts: { json?: boolean }): CommandResult {
  const a = await fetchAlloc(ctx, id);
  if (opts.json) return printJson(ctx.stdout, a);
  // Ports are reached on the node's address; the name stands in if the node is gone.
  const address = await ctx.client.getNode(a.nodeId).then(
    (n) => n.address,
    () => undefined,
  );
  const c = ctx.colors;
  const now = ctx.clock.now();
  ctx.stdout.write(
    renderFields([
      ['ID', a.id],
      ['Name', allocName(a)],
      ['Job', `${a.namespace}/${a.jobName} version ${a.jobVersion}`],
      ['Node', `${a.nodeName} (${a.nodeId})`],
      ['Desired', a.desiredStatus + (a.desiredDescription ? ` — ${a.desiredDescription}` : '')],
      ['Status', colorStatus(c, a.clientStatus) + (a.clientDescription ? ` — ${a.clientDescription}` : '')],
      ['Resources', `${formatMhz(a.resources.cpuMhz)}, ${formatMemoryMb(a.resources.memoryMb)}`],
      ['Ports', a.ports.length ? a.ports.map((p) => `${p.task}.${p.label} ${portsText({ ...a, ports: [p] }, address)}`).join(', ') : '-'],
      ['Evaluation', a.evalId],
      ...(a.previousAllocId ? ([['Replaces', a.previousAllocId]] as [string, string][]) : []),
      ['Created', `${formatTimestamp(a.createdAt)} (${formatAge(a.createdAt, now)})`],
      ['Modified', `${formatTimestamp(a.modifiedAt)} (${formatAge(a.modifiedAt, now)})`],
    ]),
  );

  const tasks = Object.entries(a.taskStates).sort(([x], [y]) => x.localeCompare(y));
  println(ctx.stdout);
  println(ctx.stdout, c.bold('Tasks'));
  if (tasks.length === 0) {
    println(ctx.stdout, 'No task has reported yet.');
    return;
  }
  ctx.stdout.write(
    renderTable(
      ['task', 'state', 'restarts', 'exit code', 'started', 'finished', 'container'],
      tasks.map(([name, ts]) => [
        name,
        colorStatus(c, ts.failed ? 'failed' : ts.state),
        String(ts.restarts),
        ts.exitCode === undefined ? '-' : String(ts.exitCode),
        formatAge(ts.startedAt, now),
        formatAge(ts.finishedAt, now),
        ts.containerId ? ts.containerId.slice(0, 12) : '-',
      ]),
      c,
    ),
  );
  for (const [name, ts] of tasks) {
    println(ctx.stdout);
    println(ctx.stdout, c.bold(`Events of ${name}`));
    if (ts.events.length === 0) {
      println(ctx.stdout, 'None.');
      continue;
    }
    ctx.stdout.write(
      renderTable(
        ['time', 'type', 'message'],
        ts.events.map((ev) => [formatTimestamp(ev.time), ev.type, ev.message + (ev.exitCode !== undefined ? ` (exit code ${ev.exitCode})` : '')]),
        c,
      ),
    );
  }
}
