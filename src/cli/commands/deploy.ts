import { Option, type Command } from 'commander';
import type { JobDetail } from '../../client/types.js';
import { allocName } from '../../core/alloc.js';
import type { Job } from '../../core/job.js';
import { sleep } from '../../lib/clock.js';
import { shortId } from '../../lib/ids.js';
import { parseDuration } from '../args.js';
import { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, println, type CommandContext, type CommandResult } from '../context.js';
import { colorStatus } from '../output/color.js';
import { failedAllocLines, placementFailureLines, taskStatesText } from '../output/alloc.js';
import { formatDuration, plural } from '../output/format.js';
import { LiveView } from '../output/live.js';
import type { ActionWrapper } from '../program.js';
import { judgeRollout, type Rollout, type RolloutTarget } from '../rollout.js';

export interface DeployOptions {
  /** Register and return; don't watch the rollout. */
  detach?: boolean;
  /** Give up watching after this long (exit 1). Default 5 minutes. */
  timeoutMs?: number;
  /** Between two reads of the job while watching. Default 400 ms. */
  pollMs?: number;
}

export const DEFAULT_DEPLOY_TIMEOUT_MS = 5 * 60_000;

/** What a deploy ended with: the exit code and, when it watched, the job's last state. */
export interface DeployOutcome {
  code: number;
  job?: Job;
  detail?: JobDetail;
}

export function registerDeploy(program: Command, wrap: ActionWrapper): void {
  program
    .command('deploy')
    .description('Submit a job file and watch it roll out')
    .argument('<file>', 'job file (YAML or JSON)')
    .option('-d, --detach', 'return once the job is registered, without watching')
    .addOption(new Option('--timeout <duration>', 'give up watching after this long (30s, 5m, 1h)').argParser(parseDuration).default(DEFAULT_DEPLOY_TIMEOUT_MS, '5m'))
    .addHelpText(
      'after',
      `
The file is checked here first, so mistakes are reported as file:line:col. Then the
job is registered and, unless --detach, its allocations are shown until every one of
the new version runs (batch jobs: completes). Exit code 1 if one fails, if the job
cannot be placed (the reasons are printed) or on --timeout.

Examples:
  $ karu deploy hello.yaml
  $ karu deploy hello.yaml --timeout 30s
  $ karu deploy hello.yaml --detach && karu status hello`,
    )
    .action(wrap(async (ctx, file: string, opts: { detach?: boolean; timeout: number }) => (await deployFile(ctx, file, { detach: opts.detach, timeoutMs: opts.timeout })).code));
}

/**
 * Checks `file` locally, registers it and (unless detached) watches the rollout.
 * Used by `karu deploy` and `karu dev --deploy`.
 */
export async function deployFile(ctx: CommandContext, file: string, opts: DeployOptions = {}): Promise<DeployOutcome> {
  // Loaded on use: building the job schema costs ~0.4 s that `karu ps` should not pay.
  const { readJobFile } = await import('../../spec/parse.js');
  const text = await ctx.readFile(file);
  // Validate here for errors that point into the file; nothing is sent if it is wrong.
  const { job: parsed, spec } = readJobFile(text, file);
  // The server validates again and owns defaults: send what the file says, not our reading of it.
  const res = await ctx.client.registerJob(spec);
  const job = res.job;
  const name = job.namespace === 'default' ? job.name : `${job.namespace}/${job.name}`;
  const evalText = res.evalId ? `, evaluation ${res.evalId}` : '';
  if (res.result === 'unchanged') println(ctx.stdout, `Job ${name} unchanged (version ${job.version})${evalText}`);
  else println(ctx.stdout, `Job ${name} ${res.result === 'created' ? 'registered' : 'updated'} (version ${job.version})${evalText}`);
  if (parsed.name !== job.name) println(ctx.stderr, `Warning: the server registered the job as '${job.name}', the file names it '${parsed.name}'`);
  if (opts.detach) return { code: EXIT_OK, job };
  return watchRollout(ctx, job, { version: job.version, evalId: res.evalId }, opts);
}

async function watchRollout(ctx: CommandContext, job: Job, target: RolloutTarget, opts: DeployOptions): Promise<DeployOutcome> {
  const { clock, colors: c } = ctx;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
  const pollMs = opts.pollMs ?? 400;
  const started = clock.now();
  const signal = ctx.interrupts();
  const view = new LiveView(ctx.stdout);
  const statusHint = `karu status ${job.namespace === 'default' ? job.name : `${job.namespace}/${job.name}`}`;
  let detail: JobDetail | undefined;
  let rollout: Rollout | undefined;

  for (;;) {
    detail = await ctx.client.getJob(job.namespace, job.name);
    rollout = judgeRollout(detail, target);
    view.render(
      rollout.allocs.map((a) => ({
        key: a.id,
        text: `  ${shortId(a.id)}  ${allocName(a)}  ${a.nodeName}  ${colorStatus(c, a.clientStatus)}  ${taskStatesText(a, c)}`,
      })),
    );
    if (rollout.phase !== 'waiting') break;
    if (clock.now() - started >= timeoutMs) {
      view.done();
      println(ctx.stderr, `Timed out after ${formatDuration(timeoutMs)}: ${rollout.done}/${plural(rollout.want, 'allocation')} of ${job.name} version ${target.version} ${job.type === 'batch' ? 'complete' : 'running'}.`);
      println(ctx.stderr, `The rollout goes on on the server; follow it with \`${statusHint}\`.`);
      return { code: EXIT_FAILED, job, detail };
    }
    try {
      await sleep(clock, pollMs, signal);
    } catch {
      view.done();
      println(ctx.stderr, `Stopped watching; the rollout goes on on the server. Follow it with \`${statusHint}\`.`);
      return { code: EXIT_INTERRUPTED, job, detail };
    }
  }
  view.done();

  const took = formatDuration(clock.now() - started);
  switch (rollout.phase) {
    case 'done':
      println(ctx.stdout, c.green(`Deployed ${job.name} version ${target.version}: ${rollout.done}/${plural(rollout.want, 'allocation')} ${job.type === 'batch' ? 'complete' : 'running'} (${took}).`));
      return { code: EXIT_OK, job, detail };
    case 'failed':
      for (const a of rollout.failed) for (const line of failedAllocLines(a, 3)) println(ctx.stderr, line);
      println(ctx.stderr, `Deploy of ${job.name} version ${target.version} failed (${took}). See \`${statusHint}\` and \`karu alloc status ${shortId(rollout.failed[0]!.id)}\`.`);
      return { code: EXIT_FAILED, job, detail };
    case 'blocked':
      for (const line of placementFailureLines(rollout.evaluation)) println(ctx.stderr, line);
      println(ctx.stderr, `Deploy of ${job.name} version ${target.version} cannot be placed now; evaluation ${rollout.evaluation.id} is ${rollout.evaluation.status}${rollout.evaluation.status === 'blocked' ? ' and is retried when capacity changes' : ''}.`);
      return { code: EXIT_FAILED, job, detail };
    case 'superseded':
      println(ctx.stderr, `Job ${job.name} was changed again meanwhile (now version ${rollout.version}); stopped watching version ${target.version}.`);
      return { code: EXIT_FAILED, job, detail };
  }
}
