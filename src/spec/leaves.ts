/**
 * The small pieces every part of the job schema is built from: leaf field schemas
 * (names, integers, durations, paths) and the helpers of the cross-field checks. Kept
 * apart so the parts (job-schema.ts, placement-schema.ts, network-schema.ts) can share
 * them without importing one another.
 */
import { z } from 'zod';
import { mustBe, show } from './messages.js';
import { DURATION_HELP, DURATION_PATTERN, parseDurationMs } from './units.js';

/**
 * For refinements that read their input defensively: run them even when a sibling field
 * failed (zod skips them by default), so one run reports every problem.
 */
export const ALWAYS = { when: () => true };

export const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const DNS_HELP = "a DNS label: 1–63 lowercase letters, digits or '-', starting and ending with a letter or digit";

/** A DNS label; `why` (when given) tells what the name is used for, after the rule. */
export const dnsLabel = (why?: string) => {
  const must = mustBe(why === undefined ? DNS_HELP : `${DNS_HELP} (${why})`);
  return z.string(must).regex(DNS_LABEL, must);
};

export function intIn(min: number, max?: number, unit = '') {
  const allowed = max === undefined ? `an integer ≥ ${min}${unit}` : `an integer from ${min} to ${max}${unit}`;
  const n = z.int(mustBe(allowed)).min(min, mustBe(allowed));
  return max === undefined ? n : n.max(max, mustBe(allowed));
}

/**
 * A string field that YAML may have typed as a number or boolean (`PORT: 8080`,
 * `DEBUG: true`). They are taken as strings rather than refused: parse.ts even keeps the
 * text as written, so `VERSION: 1.10` stays "1.10". API bodies get `String(value)`.
 */
export const stringish = (what: string) =>
  z
    .union([z.string(), z.number(), z.boolean()], mustBe(`${what} (numbers and true/false are taken as text)`))
    .transform((v) => String(v));

const DURATION_MUST = mustBe(DURATION_HELP);
export const duration = z
  .union([z.string(DURATION_MUST).regex(new RegExp(DURATION_PATTERN), DURATION_MUST), z.int(DURATION_MUST).min(0, DURATION_MUST)], DURATION_MUST)
  .transform((v) => (typeof v === 'number' ? v : (parseDurationMs(v) ?? 0)))
  .meta({ id: 'Duration', description: `A${DURATION_HELP.slice(1)}.` });

export const ABSOLUTE_HELP = "an absolute path, e.g. '/srv/data' (no '..' parts)";
export const absolutePath = () =>
  z
    .string(mustBe(ABSOLUTE_HELP))
    .refine((p) => p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\0') && !p.includes(':'), mustBe(ABSOLUTE_HELP));

/** Port labels: they become `KARU_PORT_<LABEL>`, and services name their port by them. */
export const PORT_LABEL = /^[a-z0-9_]+$/;
export const PORT_LABEL_HELP = "1+ lowercase letters, digits or '_' (it becomes KARU_PORT_<LABEL>)";

// ---------------------------------------------------------------------------------------
// For the cross-field checks. They run even when other fields failed (unless zod could
// not read a value at all), so they read the value defensively: anything not yet of the
// right shape is skipped, not trusted.

export type Ctx = z.core.$RefinementCtx;
export type Path = (string | number)[];

/** Records `name` at `index`; a second sighting is an issue at `path` naming the first. */
export function duplicate(ctx: Ctx, seen: Map<string, number>, name: string | undefined, index: number, path: Path, message: (name: string, first: number) => string): void {
  if (name === undefined) return;
  const first = seen.get(name);
  if (first === undefined) seen.set(name, index);
  else ctx.addIssue({ code: 'custom', path, input: name, message: message(show(name), first) });
}

export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const itemsOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const field = (v: unknown, key: string): unknown => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined);
export function stringField(v: unknown, key: string): string | undefined {
  const s = field(v, key);
  return typeof s === 'string' ? s : undefined;
}
export const nameOf = (v: unknown): string | undefined => stringField(v, 'name');

/** `['groups', 0, 'services', 1]` → `groups[0].services[1]`, for messages that point elsewhere. */
export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
