import type { Constraint } from '../core/job.js';
import type { Node } from '../core/node.js';

/**
 * Constraint evaluation against one node. Pure and allocation-free on the hot path:
 * the feasibility filters call it once per node per group, so each target and each
 * constraint is parsed once (cached by its text / its object) into a function of the node.
 */

/** Reads one side of a constraint off a node. */
export type TargetResolver = (node: Node) => string | undefined;

const literal = (value: string): TargetResolver => () => value;
const notSet: TargetResolver = () => undefined;
const nodeName: TargetResolver = (node) => node.name;
const nodeId: TargetResolver = (node) => node.id;

const isInterpolation = (target: string) => target.startsWith('${') && target.endsWith('}');

/** `target` parsed once: see `resolveTarget`. */
function compileTarget(target: string): TargetResolver {
  if (!isInterpolation(target)) return literal(target);
  const path = target.slice(2, -1);
  if (path === 'node.name') return nodeName;
  if (path === 'node.id') return nodeId;
  if (path.startsWith('attr.')) {
    const key = path.slice('attr.'.length);
    return (node) => node.attributes[key];
  }
  if (path.startsWith('label.')) {
    const key = path.slice('label.'.length);
    return (node) => node.labels[key];
  }
  // An unknown interpolation is "not set" rather than a literal: `${meta.x}` must not
  // compare equal to the string "${meta.x}".
  return notSet;
}

// Parsed targets, keyed by text; bounded like `patterns` (a job spec holds a handful).
const resolvers = new Map<string, TargetResolver>();

/** The resolver of `target`, parsed on first use. Hold it across nodes to skip even the lookup. */
export function targetResolver(target: string): TargetResolver {
  let r = resolvers.get(target);
  if (r === undefined) {
    r = compileTarget(target);
    if (resolvers.size > 1000) resolvers.clear();
    resolvers.set(target, r);
  }
  return r;
}

/**
 * Resolves one side of a constraint: `${attr.X}` → node.attributes[X], `${label.X}` →
 * node.labels[X], `${node.name}`, `${node.id}`; anything else is a literal. Undefined
 * when the node lacks the attribute (which `is_set`/`is_not_set` test for).
 */
export function resolveTarget(target: string, node: Node): string | undefined {
  return targetResolver(target)(node);
}

/** A constraint as a function of the node; `constraintHolds` caches one per constraint object. */
export type NodePredicate = (node: Node) => boolean;

interface Compiled {
  attribute: string;
  operator: string;
  value: string | undefined;
  holds: NodePredicate;
}

const compiled = new WeakMap<Constraint, Compiled>();

/** True when `node` satisfies `c`. */
export function constraintHolds(c: Constraint, node: Node): boolean {
  return constraintPredicate(c)(node);
}

/** `c` as a function of the node, compiled once per constraint object (recompiled if the object changed). */
export function constraintPredicate(c: Pick<Constraint, 'attribute' | 'operator' | 'value'>): NodePredicate {
  let e = compiled.get(c as Constraint);
  if (e === undefined || e.attribute !== c.attribute || e.operator !== c.operator || e.value !== c.value) {
    e = { attribute: c.attribute, operator: c.operator, value: c.value, holds: compileConstraint(c) };
    compiled.set(c as Constraint, e);
  }
  return e.holds;
}

function compileConstraint(c: Pick<Constraint, 'attribute' | 'operator' | 'value'>): NodePredicate {
  const left = targetResolver(c.attribute);
  const right = c.value === undefined ? notSet : targetResolver(c.value);
  switch (c.operator) {
    case 'is_set':
      return (node) => left(node) !== undefined;
    case 'is_not_set':
      return (node) => left(node) === undefined;
    case 'regexp':
      return (node) => {
        const l = left(node);
        const r = right(node);
        return l !== undefined && r !== undefined && matches(r, l);
      };
    case 'set_contains':
      return (node) => {
        const l = left(node);
        const r = right(node);
        return l !== undefined && r !== undefined && setContains(l, r);
      };
    case 'distinct_hosts':
    case 'distinct_property':
      // Not a property of one node: they depend on where the job's other allocations are,
      // so the DISTINCT_* capacity filters (distinct.ts) check them with the plan's counts.
      return () => true;
  }
  const op = c.operator;
  // A literal value (the usual case) is classified as number / version once, not per node.
  const compare = c.value !== undefined && !isInterpolation(c.value) ? comparerTo(c.value) : compareValues;
  return (node) => {
    const l = left(node);
    const r = right(node);
    // As Nomad: a missing attribute is "not equal" to anything (and equal, less, … to nothing).
    if (l === undefined || r === undefined) return op === '!=';
    const cmp = compare(l, r);
    switch (op) {
      case '!=':
        return cmp !== 0;
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
  };
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
  return compareClassified(a, b, NUMBER.test(b), VERSION.exec(b));
}

/** `compareValues(·, b)` with `b` classified once: for a constraint's literal value, against every node. */
function comparerTo(b: string): (a: string, b: string) => number {
  const bNumber = NUMBER.test(b);
  const vb = VERSION.exec(b);
  return (a) => compareClassified(a, b, bNumber, vb);
}

/** `compareValues` given `NUMBER.test(b)` and `VERSION.exec(b)`: the regular expressions run on `a` only when needed. */
function compareClassified(a: string, b: string, bNumber: boolean, vb: RegExpExecArray | null): number {
  if (bNumber && NUMBER.test(a)) return Math.sign(Number(a) - Number(b));
  if (vb !== null) {
    const va = VERSION.exec(a);
    if (va !== null) return compareVersions(va, vb);
  }
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
