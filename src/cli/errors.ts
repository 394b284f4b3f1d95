import { KaruError, type FieldIssue } from '../core/errors.js';
import type { Env } from './context.js';

/** A mistake in how the command was called (bad flag value…): exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Renders an error for a person: `Error: <message>`, then one line per field issue
 * (`  file:line:col  path: message`). Expected errors (KaruError, UsageError) never show a
 * stack; anything else is a bug and says how to see its stack. KARU_DEBUG=1 always shows it.
 */
export function formatError(e: unknown, env: Env): string {
  const debug = !!env.KARU_DEBUG && env.KARU_DEBUG !== '0';
  const lines: string[] = [];
  if (e instanceof KaruError) {
    lines.push(`Error: ${headline(e)}`);
    for (const issue of e.details.issues ?? []) lines.push(formatIssue(issue));
    if (e.code === 'UNAVAILABLE') {
      lines.push('Is a Karu server running? Start one with `karu dev` (server and agent in one process)');
      lines.push('or `karu server`, or point --server / KARU_SERVER at a running one.');
    }
  } else if (e instanceof UsageError) {
    lines.push(`Error: ${e.message}`);
  } else {
    const message = e instanceof Error ? e.message : String(e);
    lines.push(`Error: ${message}`);
    if (!debug) lines.push('This looks like a bug in karu. Run again with KARU_DEBUG=1 to see the stack trace.');
  }
  if (debug && e instanceof Error && e.stack) lines.push(e.stack);
  return lines.join('\n') + '\n';
}

/**
 * The first line for a KaruError. Validation errors often carry a message that is just
 * their issues joined up; printing it and then the issues would say everything twice.
 */
export function headline(e: KaruError): string {
  const issues = e.details.issues ?? [];
  if (issues.length === 0 || !issues.every((i) => e.message.includes(i.message))) return e.message;
  const files = new Set(issues.map((i) => i.location?.replace(/:\d+:\d+$/, '')));
  const [file] = files;
  const what = files.size === 1 && file ? file : 'the request';
  return `${what} is not valid (${issues.length === 1 ? '1 problem' : `${issues.length} problems`}):`;
}

/** `  web.yaml:4:12  groups[0].count: must be at least 1`, or without a location. */
export function formatIssue(issue: FieldIssue): string {
  const what = issue.path ? `${issue.path}: ${issue.message}` : issue.message;
  return issue.location ? `  ${issue.location}  ${what}` : `  ${what}`;
}
