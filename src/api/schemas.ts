import { z } from 'zod';
import type { Context } from 'hono';
import type { FieldIssue } from '../core/errors.js';
import type { AllocId, NodeId } from '../core/ids.js';
import { MAX_TASK_EVENTS } from '../core/alloc.js';
import { invalid } from './errors.js';

/**
 * Every query parameter and body the API accepts, as zod schemas, and the two helpers
 * that apply them. A rejection names the parameter or field and what it must be
 * (ARCHITECTURE invariant 8), e.g. "query parameter 'index' must be a non-negative integer".
 */

// ---- query parameters (always strings on the wire)

const nonNegativeInt = z
  .string()
  .regex(/^\d{1,15}$/, { error: 'must be a non-negative integer' })
  .transform(Number);
const boolParam = z.enum(['true', 'false', '1', '0'], { error: "must be 'true' or 'false'" }).transform((v) => v === 'true' || v === '1');
const nonEmpty = z.string().min(1, { error: 'must not be empty' });

export const jobListQuery = z.object({ namespace: nonEmpty.optional() });
export const stopJobQuery = z.object({ purge: boolParam.default(false) });
export const allocListQuery = z.object({ namespace: nonEmpty.optional(), job: nonEmpty.optional(), node: nonEmpty.optional() });
export const evalListQuery = z.object({ namespace: nonEmpty.optional(), job: nonEmpty.optional() });
export const logsQuery = z.object({ task: nonEmpty.optional(), follow: boolParam.default(false), tail: nonNegativeInt.optional() });
export const nodeAllocsQuery = z.object({ index: nonNegativeInt.default(0), waitMs: nonNegativeInt.default(0) });

/** How long a catalog query waits when it gives an index but no `wait`. */
export const DEFAULT_CATALOG_WAIT_MS = 30_000;
const WAIT_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
/** `wait`: milliseconds (`30000`) or with a unit (`500ms`, `30s`, `1m`). */
const waitParam = z
  .string()
  .regex(/^\d{1,9}(ms|s|m)?$/, { error: "must be a duration: milliseconds, or a number with ms, s or m (e.g. '30s')" })
  .transform((v) => {
    const m = /^(\d+)(ms|s|m)?$/.exec(v)!;
    return Number(m[1]) * WAIT_UNITS[m[2] ?? 'ms']!;
  });
/** GET /v1/catalog?index=N&wait=30s */
export const catalogQuery = z.object({ index: nonNegativeInt.default(0), wait: waitParam.default(DEFAULT_CATALOG_WAIT_MS) });
export const serviceListQuery = z.object({ namespace: nonEmpty.optional() });

// ---- bodies

/** A schema's own message replaces the parse-wide one, so keep "is required" for absent fields. */
function orRequired(message: string) {
  return (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : message);
}

const stringMap = z.record(z.string(), z.string());
const count = z.number().int().nonnegative();
const time = z.number().nonnegative();
const resources = z.object({ cpuMhz: count, memoryMb: count });
const driverHealth = z.object({ healthy: z.boolean(), detail: z.string() });
const drivers = z.record(z.string(), driverHealth);
const port = z.number().int().min(1).max(65535);
const nodeId = z
  .string()
  .startsWith('node_', { error: "must be a node id ('node_…')" })
  .transform((s) => s as NodeId);
const allocId = z
  .string()
  .startsWith('alloc_', { error: "must be an allocation id ('alloc_…')" })
  .transform((s) => s as AllocId);

/** POST /v1/jobs. The job itself is checked by the spec's validator, which knows its rules. */
export const registerJobBody = z.object({
  job: z.record(z.string(), z.unknown(), { error: orRequired('must be a job object') }),
});

/** POST /v1/nodes/register */
export const registerNodeBody = z.object({
  nodeId: nodeId.optional(),
  secret: z.string().optional(),
  name: nonEmpty,
  address: nonEmpty,
  agentUrl: z.url({ protocol: /^https?$/, error: orRequired('must be an http(s) URL') }),
  resources,
  attributes: stringMap.default({}),
  labels: stringMap.default({}),
  pool: nonEmpty.optional(),
  drivers: drivers.default({}),
  portRange: z
    .object({ min: port, max: port })
    .refine((r) => r.min <= r.max, { error: 'min must not exceed max' })
    .optional(),
});

/** POST /v1/nodes/:id/heartbeat (an empty body is fine). */
export const heartbeatBody = z.object({ drivers: drivers.optional() });

const taskEvent = z.object({
  type: z.enum(['received', 'driver-failure', 'started', 'terminated', 'restarting', 'not-restarting', 'killing', 'killed', 'reattached']),
  time,
  message: z.string(),
  exitCode: z.number().int().optional(),
});

const taskState = z.object({
  state: z.enum(['pending', 'starting', 'running', 'dead']),
  failed: z.boolean(),
  restarts: count,
  containerId: z.string().optional(),
  startedAt: time.optional(),
  finishedAt: time.optional(),
  exitCode: z.number().int().optional(),
  // The agent caps events; a longer list is trimmed here rather than refused.
  events: z.array(taskEvent).transform((events) => events.slice(-MAX_TASK_EVENTS)),
});

/** A check's output is for people (`karu service show`): longer text is cut, not refused. */
export const MAX_CHECK_OUTPUT_BYTES = 1024;

/** `s` cut to at most `max` bytes of UTF-8, never inside a character. */
export function truncateUtf8(s: string, max: number): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

const checkResult = z.object({
  healthy: z.boolean(),
  output: z.string().transform((o) => truncateUtf8(o, MAX_CHECK_OUTPUT_BYTES)),
  since: time,
});
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Keyed by service name; a bad key is named in the path (zod's own key error says only "invalid key"). */
const checksByService = z.record(z.string(), checkResult).superRefine((rec, ctx) => {
  for (const key of Object.keys(rec)) if (!DNS_LABEL.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: 'must be a service name (a DNS label)' });
});

const allocStatus = z.object({
  id: allocId,
  nodeId,
  clientStatus: z.enum(['pending', 'running', 'complete', 'failed', 'lost']),
  clientDescription: z.string().default(''),
  taskStates: z.record(z.string(), taskState),
  /** Per service of the group: its checks' last verdict (written by the agent's check runner). */
  checks: checksByService.optional(),
  updatedAt: time,
});

/** PUT /v1/nodes/:id/allocations/status */
export const updateAllocStatusBody = z.object({ updates: z.array(allocStatus) });

/** POST /v1/nodes/:id/eligibility */
export const eligibilityBody = z.object({ eligible: z.boolean({ error: orRequired('must be true or false') }) });

/** POST /v1/nodes/:id/drain */
export const drainBody = z.object({
  enable: z.boolean({ error: 'must be true or false' }).default(true),
  deadlineMs: z.number({ error: 'must be a non-negative integer of milliseconds' }).int({ error: 'must be a non-negative integer of milliseconds' }).nonnegative({ error: 'must be a non-negative integer of milliseconds' }).optional(),
  ignoreSystem: z.boolean({ error: 'must be true or false' }).default(false),
});

/** POST /v1/rebalance */
export const rebalanceBody = z.object({
  dryRun: z.boolean({ error: 'must be true or false' }).default(false),
  maxParallel: z.number({ error: 'must be an integer ≥ 1' }).int({ error: 'must be an integer ≥ 1' }).min(1, { error: 'must be an integer ≥ 1' }).default(1),
  job: nonEmpty.optional(),
  namespace: nonEmpty.default('default'),
});

// ---- applying them

/** `updates[0].taskStates.web.state`: the form FieldIssue paths take everywhere in Karu. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

// Zod's defaults read "Invalid input: expected string, received undefined"; say it plainly.
const friendlyErrors: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'is required';
  if (iss.code === 'invalid_type') return `must be ${article(iss.expected)}`;
  return undefined;
};

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function issuesOf(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: formatPath(i.path), message: lowerFirst(i.message) }));
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** Parses the request's query string; throws INVALID naming the first bad parameter. */
export function parseQuery<S extends z.ZodType>(schema: S, query: Record<string, string>): z.output<S> {
  const r = schema.safeParse(query, { error: friendlyErrors });
  if (r.success) return r.data;
  const issues = issuesOf(r.error);
  const first = issues[0]!;
  throw invalid(`query parameter '${first.path}' ${first.message}`, { issues });
}

/**
 * Reads the body as JSON and checks it against `schema`. An empty body counts as `{}`
 * when `emptyOk` (heartbeats), else it is refused like malformed JSON.
 */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S, opts: { emptyOk?: boolean } = {}): Promise<z.output<S>> {
  return parseJsonText(await c.req.text(), schema, opts);
}

/** parseJsonBody on a body already read (the heartbeat fast path reads it from the socket itself). */
export function parseJsonText<S extends z.ZodType>(text: string, schema: S, opts: { emptyOk?: boolean } = {}): z.output<S> {
  let data: unknown;
  if (text.trim() === '') {
    if (!opts.emptyOk) throw invalid('request body is empty; send a JSON object');
    data = {};
  } else {
    try {
      data = JSON.parse(text);
    } catch (e) {
      throw invalid(`request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const r = schema.safeParse(data, { error: friendlyErrors });
  if (r.success) return r.data;
  const issues = issuesOf(r.error);
  const first = issues[0]!;
  throw invalid(first.path ? `request body field '${first.path}' ${first.message}` : `request body ${first.message}`, { issues });
}
