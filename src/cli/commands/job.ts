import type { Command } from 'commander';
import { KaruError } from '../../core/errors.js';
import { jobTotalCount } from '../../core/job.js';
import { parseJobRef } from '../args.js';
import { EXIT_FAILED, println, printJson, type CommandContext, type CommandResult } from '../context.js';
import { formatIssue, headline } from '../errors.js';
import { formatAge, formatTimestamp, plural } from '../output/format.js';
import { renderTable } from '../output/table.js';
import type { ActionWrapper } from '../program.js';
import { summarizeJobChange } from '../job-diff.js';

export function registerJob(program: Command, wrap: ActionWrapper): void {
  const job = program
    .command('job')
    .description('Job versions, the job file schema, and checking job files')
    .addHelpText(
      'after',
      `
Examples:
  $ karu job validate hello.yaml
  $ karu job history hello
  $ karu job schema > karu-job.schema.json`,
    );
  job
    .command('history')
    .description('List the versions of a job and what changed in each')
    .argument('<job>', 'job name (or NAMESPACE/NAME)')
    .option('-n, --namespace <ns>', 'namespace of the job')
    .option('--json', 'print the versions as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ karu job history hello
  $ karu job history hello --json | jq '.[-1].groups[0].tasks[0].image'`,
    )
    .action(wrap((ctx, ref: string, opts: { namespace?: string; json?: boolean }) => runJobHistory(ctx, ref, opts)));
  job
    .command('schema')
    .description('Print the JSON Schema of job files (for editors and linters)')
    .addHelpText(
      'after',
      `
Examples:
  $ karu job schema > karu-job.schema.json
  # VS Code (YAML extension): put this first in a job file
  # yaml-language-server: $schema=./karu-job.schema.json`,
    )
    .action(wrap((ctx) => runJobSchema(ctx)));
  job
    .command('validate')
    .description('Check a job file without submitting it')
    .argument('<file>', 'job file (YAML or JSON)')
    .option('--json', 'print {ok, job | issues} as JSON')
    .addHelpText(
      'after',
      `
Exit code 0 when the file is valid, 1 when not (each problem as file:line:col).

Examples:
  $ karu job validate hello.yaml
  $ for f in jobs/*.yaml; do karu job validate "$f" || exit 1; done`,
    )
    .action(wrap((ctx, file: string, opts: { json?: boolean }) => runJobValidate(ctx, file, opts)));
}

export async function runJobHistory(ctx: CommandContext, refText: string, opts: { namespace?: string; json?: boolean }): CommandResult {
  const ref = parseJobRef(refText, opts.namespace);
  let versions;
  try {
    versions = await ctx.client.jobVersions(ref.namespace, ref.name);
  } catch (e) {
    if (e instanceof KaruError && e.code === 'NOT_FOUND') throw new KaruError('NOT_FOUND', `no job '${ref.name}' in namespace '${ref.namespace}' (list them with \`karu status\`)`, { cause: e });
    throw e;
  }
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  if (opts.json) return printJson(ctx.stdout, sorted);
  const now = ctx.clock.now();
  const rows = sorted.map((v, i) => [String(v.version), `${formatTimestamp(v.submittedAt)} (${formatAge(v.submittedAt, now)})`, summarizeJobChange(sorted[i - 1], v)]);
  // Newest on top, as people look for the latest change first.
  ctx.stdout.write(renderTable(['version', 'submitted', 'changes'], rows.reverse(), ctx.colors));
}

export async function runJobSchema(ctx: CommandContext): CommandResult {
  // Loaded on use, like the parser: see deploy.ts.
  const { jobJsonSchema } = await import('../../spec/json-schema.js');
  printJson(ctx.stdout, jobJsonSchema());
}

export async function runJobValidate(ctx: CommandContext, file: string, opts: { json?: boolean }): CommandResult {
  const { parseJobFile } = await import('../../spec/parse.js');
  const text = await ctx.readFile(file);
  try {
    const job = parseJobFile(text, file);
    if (opts.json) return printJson(ctx.stdout, { ok: true, job });
    println(ctx.stdout, `${file}: OK — ${job.type} job '${job.name}', ${plural(job.groups.length, 'group')}, ${plural(jobTotalCount(job), 'allocation')}`);
  } catch (e) {
    if (!(e instanceof KaruError && e.code === 'INVALID')) throw e;
    const issues = e.details.issues ?? [];
    if (opts.json) printJson(ctx.stdout, { ok: false, message: e.message, issues });
    else {
      println(ctx.stderr, `Error: ${headline(e)}`);
      for (const issue of issues) println(ctx.stderr, formatIssue(issue));
    }
    return EXIT_FAILED;
  }
}
