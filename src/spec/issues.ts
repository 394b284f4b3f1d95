/**
 * Runs the job schema and turns zod's issues into Karu's: a path per problem and a
 * message that names what is allowed. Knows nothing of YAML; parse.ts adds locations.
 */
import { z } from 'zod';
import type { FieldIssue } from '../core/errors.js';
import type { Job } from '../core/job.js';
import { jobFileSchema } from './job-schema.js';
import { show, unknownFieldMessage } from './messages.js';

export type IssuePath = (string | number)[];

/** A problem before it is located: `atKey` when it is about a map key, not its value. */
export interface SpecIssue {
  path: IssuePath;
  message: string;
  atKey: boolean;
}

export type SchemaResult = { ok: true; job: Job } | { ok: false; issues: SpecIssue[] };

/** Validates a plain object (from YAML or JSON) against the job schema. */
export function runJobSchema(obj: unknown): SchemaResult {
  // Field lists of the objects that met unknown keys, captured while zod still has the schema.
  const allowedAt = new Map<string, string[]>();
  const result = jobFileSchema.safeParse(obj, {
    error: (iss) => {
      const inst = iss.inst;
      if (iss.code === 'unrecognized_keys' && inst instanceof z.ZodObject) {
        allowedAt.set(pathKey(iss.path ?? []), Object.keys(inst.shape));
        return undefined;
      }
      if (iss.code === 'invalid_type' && inst instanceof z.ZodObject) return objectMessage(iss.path ?? [], Object.keys(inst.shape), iss.input);
      if (iss.code === 'invalid_type' && iss.input === undefined) return 'is required';
      return undefined;
    },
  });
  if (result.success) return { ok: true, job: result.data };
  return { ok: false, issues: result.error.issues.flatMap((iss) => toSpecIssues(iss, allowedAt)) };
}

function toSpecIssues(iss: z.core.$ZodIssue, allowedAt: Map<string, string[]>): SpecIssue[] {
  const path = toPath(iss.path);
  if (iss.code === 'unrecognized_keys') {
    const allowed = allowedAt.get(pathKey(path)) ?? [];
    // One issue per key, each pointing at its own line.
    return iss.keys.map((key) => ({ path: [...path, key], message: unknownFieldMessage(key, allowed), atKey: true }));
  }
  if (iss.code === 'invalid_key') {
    // The record's own message is about the whole map; the nested one says what a key must be.
    const inner = iss.issues[0]?.message ?? iss.message;
    return [{ path, message: `invalid key ${show(path.at(-1))}: ${inner}`, atKey: true }];
  }
  return [{ path, message: iss.message, atKey: false }];
}

function objectMessage(path: PropertyKey[], fields: string[], input: unknown): string {
  const what = `a map with the fields ${fields.join(', ')}`;
  if (path.length === 0) return `a job must be ${what}, got ${show(input)}`;
  return input === undefined ? `is required: ${what}` : `must be ${what}, got ${show(input)}`;
}

function toPath(path: readonly PropertyKey[]): IssuePath {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

const pathKey = (path: readonly PropertyKey[]) => JSON.stringify(toPath(path));

/** `['groups', 0, 'tasks', 1, 'env', 'A B']` → `groups[0].tasks[1].env["A B"]`. */
export function formatPath(path: IssuePath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${JSON.stringify(p)}]`;
  }
  return out;
}

/** One line per issue: `file:line:col: path: message`, leaving out the parts it lacks. */
export function formatIssues(issues: FieldIssue[]): string {
  return issues.map((i) => [i.location, i.path || undefined, i.message].filter((s) => s !== undefined).join(': ')).join('\n');
}
