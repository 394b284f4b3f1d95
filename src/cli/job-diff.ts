import type { Group, Job, Task } from '../core/job.js';

/**
 * One line saying what changed from one job version to the next, for `karu job history`:
 * "image karu/hello:1 → karu/hello:2, count 2 → 3". Names of groups and tasks are added
 * only when the job has more than one, so the common single-task job reads short.
 */
export function summarizeJobChange(prev: Job | undefined, next: Job): string {
  if (!prev) return 'first version';
  const changes: string[] = [];
  const multiGroup = prev.groups.length > 1 || next.groups.length > 1;
  const change = (what: string, a: unknown, b: unknown) => {
    if (!sameValue(a, b)) changes.push(`${what} ${show(a)} → ${show(b)}`);
  };

  change('type', prev.type, next.type);
  change('priority', prev.priority, next.priority);
  change('placement', prev.placement, next.placement);
  if (!sameValue(prev.constraints, next.constraints)) changes.push('constraints changed');
  if (!sameValue(prev.meta, next.meta)) changes.push('meta changed');
  if (prev.stopped !== next.stopped) changes.push(next.stopped ? 'stopped' : 'started again');

  const before = new Map(prev.groups.map((g) => [g.name, g]));
  const after = new Map(next.groups.map((g) => [g.name, g]));
  for (const g of prev.groups) if (!after.has(g.name)) changes.push(`group ${g.name} removed`);
  for (const g of next.groups) {
    const old = before.get(g.name);
    if (!old) {
      changes.push(`group ${g.name} added`);
      continue;
    }
    const multiTask = old.tasks.length > 1 || g.tasks.length > 1;
    changes.push(...groupChanges(old, g, multiGroup ? `${g.name} ` : '', multiGroup || multiTask));
  }
  return changes.length ? changes.join(', ') : 'no change to the spec';
}

function groupChanges(a: Group, b: Group, prefix: string, nameTasks: boolean): string[] {
  const out: string[] = [];
  const change = (what: string, x: unknown, y: unknown) => {
    if (!sameValue(x, y)) out.push(`${prefix}${what} ${show(x)} → ${show(y)}`);
  };
  change('count', a.count, b.count);
  if (!sameValue(a.constraints, b.constraints)) out.push(`${prefix}constraints changed`);
  if (!sameValue(a.restart, b.restart)) out.push(`${prefix}restart policy changed`);
  if (!sameValue(a.reschedule, b.reschedule)) out.push(`${prefix}reschedule policy changed`);
  const before = new Map(a.tasks.map((t) => [t.name, t]));
  const after = new Map(b.tasks.map((t) => [t.name, t]));
  for (const t of a.tasks) if (!after.has(t.name)) out.push(`${prefix}task ${t.name} removed`);
  for (const t of b.tasks) {
    const old = before.get(t.name);
    if (!old) out.push(`${prefix}task ${t.name} added`);
    else out.push(...taskChanges(old, t, nameTasks ? `${prefix.trim() ? prefix.trim() + '.' : ''}${t.name} ` : prefix));
  }
  return out;
}

function taskChanges(a: Task, b: Task, prefix: string): string[] {
  const out: string[] = [];
  const change = (what: string, x: unknown, y: unknown) => {
    if (!sameValue(x, y)) out.push(`${prefix}${what} ${show(x)} → ${show(y)}`);
  };
  change('image', a.image, b.image);
  change('command', a.command, b.command);
  if (!sameValue(a.args, b.args)) out.push(`${prefix}args changed`);
  change('cpu', `${a.resources.cpuMhz} MHz`, `${b.resources.cpuMhz} MHz`);
  change('memory', `${a.resources.memoryMb} MB`, `${b.resources.memoryMb} MB`);
  const envKeys = [...new Set([...Object.keys(a.env), ...Object.keys(b.env)])].filter((k) => a.env[k] !== b.env[k]).sort();
  // Values may be secrets: name the variables, not what they hold.
  if (envKeys.length) out.push(`${prefix}env ${envKeys.join(', ')} changed`);
  if (!sameValue(a.ports, b.ports)) out.push(`${prefix}ports changed`);
  change('kill timeout', `${a.killTimeoutMs} ms`, `${b.killTimeoutMs} ms`);
  return out;
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : String(v);
}

/** Structural equality with object keys in any order. */
function sameValue(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)))
      : value,
  ) ?? 'undefined';
}
