import type { Job } from '../core/job.js';
import { jobIntent } from './job-spec.js';

/**
 * One difference between two versions of a job spec, at a readable path:
 * `groups[web].count`, `groups[web].tasks[api].image`, `groups[web].services[web]`.
 * Lists of named things (groups, tasks, services, volumes) are matched by name, so
 * reordering them is no change; other lists are compared as a whole.
 */
export interface SpecDiffEntry {
  op: 'add' | 'remove' | 'change';
  path: string;
  /** Absent when the value is hidden (env values may be secrets) or the path is new. */
  before?: unknown;
  after?: unknown;
}

/** What the user wrote, without what the server stamps (version, submission time, stopped). */
export function diffJobSpecs(prev: Job | undefined, next: Job): SpecDiffEntry[] {
  const out: SpecDiffEntry[] = [];
  if (!prev) return [{ op: 'add', path: `job[${next.name}]` }];
  walk(jobIntent(prev), jobIntent(next), '', out, false);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: SpecDiffEntry[], secret: boolean): void {
  if (equal(a, b)) return;
  // An absent list of named things reads as an empty one: `+ groups[web].services[web]`.
  if (a === undefined && isNamedList(b)) a = [];
  if (b === undefined && isNamedList(a)) b = [];
  if (a === undefined) return void out.push(entry('add', path, undefined, b, secret));
  if (b === undefined) return void out.push(entry('remove', path, a, undefined, secret));
  if ((isNamedList(a) || isEmptyList(a)) && (isNamedList(b) || isEmptyList(b))) {
    const before = new Map(a.map((x) => [x.name, x]));
    const after = new Map(b.map((x) => [x.name, x]));
    for (const x of a) if (!after.has(x.name)) out.push({ op: 'remove', path: `${path}[${x.name}]` });
    for (const x of b) {
      const old = before.get(x.name);
      if (!old) out.push({ op: 'add', path: `${path}[${x.name}]` });
      else walk(old, x, `${path}[${x.name}]`, out, secret);
    }
    return;
  }
  if (isRecord(a) && isRecord(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    // Environment values may hold secrets: name the variable, never what it holds.
    const hide = secret || path.endsWith('.env');
    for (const k of keys) walk(a[k], b[k], path ? `${path}.${k}` : k, out, hide);
    return;
  }
  out.push(entry('change', path, a, b, secret));
}

function entry(op: SpecDiffEntry['op'], path: string, before: unknown, after: unknown, secret: boolean): SpecDiffEntry {
  if (secret) return { op, path };
  return { op, path, ...(before !== undefined ? { before } : {}), ...(after !== undefined ? { after } : {}) };
}

const isEmptyList = (v: unknown): v is Named[] => Array.isArray(v) && v.length === 0;

type Named = { name: string } & Record<string, unknown>;

function isNamedList(v: unknown): v is Named[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => isRecord(x) && typeof x.name === 'string') && new Set(v.map((x: Named) => x.name)).size === v.length;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => equal(x, bb[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
  for (const k of keys) if (!equal(ra[k], rb[k])) return false;
  return true;
}
