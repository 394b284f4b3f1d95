/**
 * Where a job may run and where it would rather run: constraints (hard rules a node must
 * satisfy), affinities (soft preferences that only rank nodes) and spreads (even out, or
 * share by percentages, the allocations over the values of a node attribute).
 */
import { z } from 'zod';
import type { Affinity, Constraint, ConstraintOperator, Spread } from '../core/job.js';
import { ALWAYS, duplicate, field, intIn, isRecord, itemsOf, stringish } from './leaves.js';
import { mustBe, mustBeOneOf, show } from './messages.js';

/** Operators that compare an attribute with a value (or test that it is set). */
const COMPARE_OPERATORS = ['=', '!=', '<', '<=', '>', '>=', 'regexp', 'is_set', 'is_not_set', 'set_contains'] as const satisfies readonly ConstraintOperator[];
/** Operators about the job's own allocations: hard rules only, never preferences. */
const OPERATORS = [...COMPARE_OPERATORS, 'distinct_hosts', 'distinct_property'] as const satisfies readonly ConstraintOperator[];

const ATTRIBUTE = /^\$\{(?:(?:attr|label)\.[A-Za-z0-9_.-]+|node\.(?:name|id))\}$/;
const ATTRIBUTE_HELP = "a node property: '${attr.NAME}', '${label.NAME}', '${node.name}' or '${node.id}' (the '${…}' may be left out)";
const ATTRIBUTE_EXAMPLES = "'${attr.os.name}' (fingerprinted), '${label.zone}' (set by the operator), '${node.name}', '${node.id}'";
const ATTRIBUTE_DESCRIPTION = `Node property: ${ATTRIBUTE_EXAMPLES}.`;
const DISTINCT_VALUE_HELP = 'an integer ≥ 1: the most allocations per value of the attribute';

/** `attr.os.name` → `${attr.os.name}`: the bare form is accepted, the wrapped one stored. */
export function normaliseAttribute(text: string): string {
  const t = text.trim();
  return /^(attr|label|node)\./.test(t) ? `\${${t}}` : t;
}

const attribute = () => z.string(mustBe(ATTRIBUTE_HELP)).refine((s) => ATTRIBUTE.test(normaliseAttribute(s)), mustBe(ATTRIBUTE_HELP));

type Ctx = z.core.$RefinementCtx;

/** Constraints may leave the attribute out for distinct_hosts, and only there. */
function checkAttribute(c: Record<string, unknown>, ctx: Ctx): void {
  if (c.operator === 'distinct_hosts') {
    if (c.attribute !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['attribute'], input: c.attribute, message: "must be left out: operator 'distinct_hosts' keeps allocations on different nodes, it reads no attribute" });
    }
  } else if (c.attribute === undefined) {
    ctx.addIssue({ code: 'custom', path: ['attribute'], input: undefined, message: `is required: ${ATTRIBUTE_HELP}` });
  }
}

/**
 * The checks shared by constraints and affinities: which operators take a value, and
 * that a regexp compiles (here, so a bad pattern fails the submission, not every
 * scheduling pass).
 */
function checkValue(c: Record<string, unknown>, ctx: Ctx): void {
  const { operator, value } = c;
  const noValue = operator === 'is_set' || operator === 'is_not_set' || operator === 'distinct_hosts';
  if (noValue && value !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['value'], input: value, message: `must be left out: operator '${String(operator)}' takes no value` });
  } else if (operator === 'distinct_property') {
    if (value !== undefined && !(typeof value === 'string' && /^[1-9][0-9]*$/.test(value))) {
      ctx.addIssue({ code: 'custom', path: ['value'], input: value, message: `must be ${DISTINCT_VALUE_HELP} (default 1), got ${show(value)}` });
    }
  } else if (!noValue && value === undefined) {
    ctx.addIssue({ code: 'custom', path: ['value'], input: undefined, message: `is required: operator '${String(operator)}' compares the attribute with a value` });
  } else if (operator === 'regexp' && typeof value === 'string') {
    try {
      new RegExp(value);
    } catch (e) {
      const why = e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e);
      ctx.addIssue({ code: 'custom', path: ['value'], input: value, message: `must be a valid regular expression (JavaScript syntax), got ${show(value)}: ${why}` });
    }
  }
}

const constraintSchema = z
  .strictObject({
    attribute: attribute()
      .optional()
      .describe(`Node property to test: ${ATTRIBUTE_EXAMPLES}. Required except with 'distinct_hosts'.`),
    operator: z
      .enum(OPERATORS, mustBeOneOf(OPERATORS))
      .default('=')
      .describe(
        "How to compare; default '='. '<'…'>=' compare numbers or versions; 'regexp' matches `value` as a JavaScript regular expression; " +
          "'is_set'/'is_not_set' take no value; 'set_contains': the attribute, a comma-separated list, holds every item of `value`; " +
          "'distinct_hosts' (no attribute, no value): no two allocations of the job (or group) on one node; " +
          "'distinct_property': at most `value` (default 1) allocations per value of the attribute.",
      ),
    value: stringish('a string')
      .optional()
      .describe("Value to compare with; required except for 'is_set', 'is_not_set' and 'distinct_hosts' (none) and 'distinct_property' (optional: an integer ≥ 1)."),
  })
  .superRefine((c, ctx) => {
    if (!isRecord(c) || !(OPERATORS as readonly unknown[]).includes(c.operator)) return;
    checkAttribute(c, ctx);
    checkValue(c, ctx);
  }, ALWAYS)
  .transform((c): Constraint => {
    // Core keeps `attribute` a string: '' for distinct_hosts, which reads none.
    const out: Constraint = { attribute: c.attribute === undefined ? '' : normaliseAttribute(c.attribute), operator: c.operator };
    if (c.value !== undefined) out.value = c.value;
    return out;
  })
  .meta({ id: 'Constraint', description: 'A rule a node must satisfy to run this job or group.' });

export const constraints = () =>
  z.array(constraintSchema, mustBe('a list of constraints ({attribute, operator, value})')).default([]);

// ---------------------------------------------------------------------------------------
// Affinities

const WEIGHT_HELP = 'an integer from -100 to 100, not 0 (negative: avoid such nodes)';

const affinitySchema = z
  .strictObject({
    attribute: attribute().describe(ATTRIBUTE_DESCRIPTION),
    operator: z
      .enum(COMPARE_OPERATORS, mustBeOneOf(COMPARE_OPERATORS))
      .default('=')
      .describe("How to compare, as for constraints (the distinct_* operators are constraints only); default '='."),
    value: stringish('a string').optional().describe("Value to compare with; required except for 'is_set' and 'is_not_set'."),
    weight: z
      .int(mustBe(WEIGHT_HELP))
      .min(-100, mustBe(WEIGHT_HELP))
      .max(100, mustBe(WEIGHT_HELP))
      .refine((w) => w !== 0, mustBe(WEIGHT_HELP))
      .describe('How much nodes that match are preferred: 1..100, or avoided: -1..-100.'),
  })
  .superRefine((a, ctx) => {
    if (isRecord(a) && (COMPARE_OPERATORS as readonly unknown[]).includes(a.operator)) checkValue(a, ctx);
  }, ALWAYS)
  .transform((a): Affinity => {
    const out: Affinity = { attribute: normaliseAttribute(a.attribute), operator: a.operator, weight: a.weight };
    if (a.value !== undefined) out.value = a.value;
    return out;
  })
  .meta({ id: 'Affinity', description: 'A soft preference: feasible nodes where it holds rank higher (or lower, with a negative weight). It never filters nodes out.' });

export const affinities = () =>
  z.array(affinitySchema, mustBe('a list of affinities ({attribute, operator, value, weight})')).optional();

// ---------------------------------------------------------------------------------------
// Spreads

export const DEFAULT_SPREAD_WEIGHT = 50;

const spreadTargetSchema = z
  .strictObject({
    value: stringish('a string').describe('A value of the attribute, e.g. a zone name.'),
    percent: intIn(0, 100).describe('Share of the allocations that should run where the attribute has this value.'),
  })
  .describe('A value of the spread attribute and its share.');

const spreadSchema = z
  .strictObject({
    attribute: attribute().describe(ATTRIBUTE_DESCRIPTION),
    weight: intIn(1, 100).default(DEFAULT_SPREAD_WEIGHT).describe(`Strength against the other rankers, 1..100. Default ${DEFAULT_SPREAD_WEIGHT}.`),
    targets: z
      .array(spreadTargetSchema, mustBe('a list of targets ({value, percent})'))
      .default([])
      .describe('Shares per value, summing to at most 100; values not listed share the rest. None: spread evenly over the values.'),
  })
  .superRefine((s, ctx) => {
    const targets = itemsOf(field(s, 'targets'));
    const seen = new Map<string, number>();
    let sum = 0;
    targets.forEach((t, ti) => {
      const value = field(t, 'value');
      const percent = field(t, 'percent');
      if (typeof value === 'string') {
        duplicate(ctx, seen, value, ti, ['targets', ti, 'value'], (v, first) => `duplicate target value ${v} (also targets[${first}]): give each value one share`);
      }
      // A percent out of range is reported on its own, not counted in the sum as well.
      if (typeof percent === 'number' && Number.isInteger(percent) && percent >= 0 && percent <= 100) sum += percent;
    });
    if (sum > 100) {
      ctx.addIssue({ code: 'custom', path: ['targets'], input: targets, message: `percents must add up to at most 100, got ${sum}: lower some of them` });
    }
  }, ALWAYS)
  .transform((s): Spread => ({ attribute: normaliseAttribute(s.attribute), weight: s.weight, targets: s.targets.map((t) => ({ value: t.value, percent: t.percent })) }))
  .meta({ id: 'Spread', description: "Spread the allocations over the values of a node attribute (e.g. '${label.zone}'): evenly, or by the targets' percentages." });

export const spreads = () => z.array(spreadSchema, mustBe('a list of spreads ({attribute, weight, targets})')).optional();
