import type { Constraint } from '../core/job.js';
import type { Node } from '../core/node.js';

/**
 * Constraint evaluation against one node. Pure and allocation-free on the hot path:
 * the feasibility filters call it once per node per group.
 */

/**
 * Resolves one side of a constraint: `${attr.X}` → node.attributes[X], `${label.X}` →
 * node.labels[X], `${node.name}`, `${node.id}`; anything else is a literal. Undefined
 * when the node lacks the attribute (which `is_set`/`is_not_set` test for).
 */
export function resolveTarget(target: string, node: Node): string | undefined {
  if (!target.startsWith('${') || !target.endsWith('}')) return target;
  const path = target.slice(2, -1);
  if (path === 'node.name') return node.name;
  if (path === 'node.id') return node.id;
  if (path.startsWith('attr.')) return node.attributes[path.slice('attr.'.length)];
  if (path.startsWith('label.')) return node.labels[path.slice('label.'.length)];
  // An unknown interpolation is "not set" rather than a literal: `${meta.x}` must not
  // compare equal to the string "${meta.x}".
  return undefined;
}

/** True when `node` satisfies `c`. */
export function constraintHolds(c: Constraint, node: Node): boolean {
  const left = resolveTarget(c.attribute, node);
  const right = c.value === undefined ? undefined : resolveTarget(c.value, node);
  switch (c.operator) {
    case 'is_set':
      return left !== undefined;
    case 'is_not_set':
      return left === undefined;
    case '!=':
      // As Nomad: a missing attribute is "not equal" to anything.
      return left === undefined || right === undefined || compareValues(left, right) !== 0;
    case 'regexp':
      return left !== undefined && right !== undefined && matches(right, left);
    case 'set_contains':
      return left !== undefined && right !== undefined && setContains(left, right);
    case 'distinct_hosts':
    case 'distinct_property':
      // Not a property of one node: they depend on where the job's other allocations are,
      // so the DISTINCT_* capacity filters (distinct.ts) check them with the plan's counts.
      return true;
    default: {
      if (left === undefined || right === undefined) return false;
      const cmp = compareValues(left, right);
      switch (c.operator) {
        case '=':
          return cmp === 0;
        case '<':
          return cmp < 0;
        case '<=':
          return cmp <= 0;
        case '>':
          return cmp > 0;
        case '>=':
          return cmp >= 0;
      }
      return false;
    }
  }
}

/** Whether the comma-separated list `have` holds every comma-separated item of `want` (blanks ignored). */
export function setContains(have: string, want: string): boolean {
  const items = new Set(splitList(have));
  return splitList(want).every((w) => items.has(w));
}

const splitList = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** The operators that constrain the job's allocations as a set rather than one node. */
export const isDistinctOperator = (op: string): op is 'distinct_hosts' | 'distinct_property' => op === 'distinct_hosts' || op === 'distinct_property';

/** `${attr.os.name} = linux`, as shown in explanations. */
export function formatConstraint(c: Constraint): string {
  return c.value === undefined ? `${c.attribute} ${c.operator}` : `${c.attribute} ${c.operator} ${c.value}`;
}

const NUMBER = /^-?\d+(\.\d+)?$/;
const VERSION = /^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/**
 * Orders two attribute values: numerically when both are numbers, segment by segment when
 * both are versions (`20.10.24` > `20.10.3`; a pre-release sorts before its release),
 * otherwise as strings.
 */
export function compareValues(a: string, b: string): number {
  if (NUMBER.test(a) && NUMBER.test(b)) return Math.sign(Number(a) - Number(b));
  const va = VERSION.exec(a);
  const vb = VERSION.exec(b);
  if (va && vb) return compareVersions(va, vb);
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareVersions(a: RegExpExecArray, b: RegExpExecArray): number {
  const sa = a[1]!.split('.').map(Number);
  const sb = b[1]!.split('.').map(Number);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const d = (sa[i] ?? 0) - (sb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  const pa = a[2];
  const pb = b[2];
  if (pa === pb) return 0;
  if (pa === undefined) return 1; // 1.0.0 > 1.0.0-rc1
  if (pb === undefined) return -1;
  return pa < pb ? -1 : 1;
}

// Compiled patterns, keyed by source. The job spec validates patterns; one that still fails
// to compile matches nothing, so a bad constraint filters nodes instead of crashing.
const patterns = new Map<string, RegExp | null>();

function matches(pattern: string, value: string): boolean {
  let re = patterns.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(pattern);
    } catch {
      re = null;
    }
    if (patterns.size > 1000) patterns.clear();
    patterns.set(pattern, re);
  }
  return re !== null && re.test(value);
}
