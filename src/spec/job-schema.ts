/**
 * The job file, as one zod schema: the single source of truth for what a job file may
 * say. It validates YAML files (src/spec/parse.ts) and API bodies alike, its `.describe()`
 * texts become the published JSON Schema (`karu job schema`), and its final transform
 * turns the user's shape (`killTimeout: 10s`, `memory: 1GB`) into the core `Job`
 * (`killTimeoutMs: 10000`, `memoryMb: 1024`).
 *
 * Every object is strict: a field the schema does not know is an error, never ignored,
 * because a silently dropped misspelling (`imagee:`) is the worst kind of bug report.
 *
 * This file holds the job, its groups and tasks; placement-schema.ts the constraints,
 * affinities and spreads; network-schema.ts volumes, lifecycles, services and their
 * cross-field checks.
 */
import { z } from 'zod';
import type {
  Group,
  Job,
  JobType,
  MigratePolicy,
  Mount,
  PortSpec,
  ReschedulePolicy,
  RestartPolicy,
  Task,
} from '../core/job.js';
import type { Resources } from '../core/resources.js';
import { DISCONNECT_DEFAULTS, DISCONNECT_RECONCILE_OPTIONS, type DisconnectPolicy } from '../core/disconnect.js';
import { MIGRATE_DEFAULTS } from '../core/job.js';
import {
  ALWAYS,
  PORT_LABEL,
  PORT_LABEL_HELP,
  absolutePath,
  dnsLabel,
  duplicate,
  duration,
  field,
  intIn,
  isRecord,
  itemsOf,
  nameOf,
  stringish,
  type Ctx,
  type Path,
} from './leaves.js';
import { mustBe, mustBeOneOf } from './messages.js';
import { checkNetwork, lifecycleSchema, serviceSchema, toService, volumeMountSchema, volumeSchema } from './network-schema.js';
import { affinities, constraints, spreads } from './placement-schema.js';
import { DURATION_HELP, MEMORY_HELP, MEMORY_PATTERN, formatDurationMs, parseMemoryMb } from './units.js';

export { normaliseAttribute } from './placement-schema.js';

// ---------------------------------------------------------------------------------------
// Defaults, exported so docs, the CLI and tests quote the same numbers the schema uses.

/** Restart policy when the group sets none (or leaves a field out), by job type — as Nomad's. */
export const RESTART_DEFAULTS: Readonly<Record<JobType, Readonly<RestartPolicy>>> = {
  service: { attempts: 2, intervalMs: 30 * 60_000, delayMs: 15_000, mode: 'fail' },
  batch: { attempts: 3, intervalMs: 24 * 3_600_000, delayMs: 15_000, mode: 'fail' },
};

/** Reschedule policy when the group sets none (or leaves a field out), by job type. */
export const RESCHEDULE_DEFAULTS: Readonly<Record<JobType, Readonly<ReschedulePolicy>>> = {
  service: { attempts: 3, intervalMs: 3_600_000 },
  batch: { attempts: 1, intervalMs: 24 * 3_600_000 },
};

/** A task that states no resources gets these. */
export const DEFAULT_RESOURCES: Readonly<Resources> = { cpuMhz: 100, memoryMb: 128 };

/** Karu's CPU model: one core is worth 1000 MHz, whatever the node's real clock. */
export const MHZ_PER_CORE = 1000;

/** Docker refuses a memory limit below 6 MB; saying so at submit time beats a failed start. */
export const MIN_MEMORY_MB = 6;

export const DEFAULT_KILL_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------
// Memory (the other leaf fields are in leaves.ts)

const MEMORY_RE = new RegExp(MEMORY_PATTERN);
const MEMORY_ALLOWED = `${MEMORY_HELP}, at least ${MIN_MEMORY_MB}MB`;
const memory = z
  .union(
    [
      z.int(mustBe(MEMORY_ALLOWED)).min(MIN_MEMORY_MB, mustBe(MEMORY_ALLOWED)),
      z
        .string(mustBe(MEMORY_ALLOWED))
        .regex(MEMORY_RE, mustBe(MEMORY_ALLOWED))
        // Text the pattern already refused is not reported twice.
        .refine((s) => !MEMORY_RE.test(s) || (parseMemoryMb(s) ?? 0) >= MIN_MEMORY_MB, mustBe(MEMORY_ALLOWED)),
    ],
    mustBe(MEMORY_ALLOWED),
  )
  .transform((v) => (typeof v === 'number' ? v : (parseMemoryMb(v) ?? 0)))
  .describe(`Memory limit: ${MEMORY_HELP}. Default ${DEFAULT_RESOURCES.memoryMb}MB.`);

// ---------------------------------------------------------------------------------------
// Tasks

const portSchema = z
  .strictObject({
    label: z
      .string(mustBe(PORT_LABEL_HELP))
      .regex(PORT_LABEL, mustBe(PORT_LABEL_HELP))
      .describe('Name of the port, unique within the task; the task finds the host port in KARU_PORT_<LABEL>.'),
    to: intIn(1, 65535).describe('Port the task listens on inside the container.'),
    static: intIn(1, 65535)
      .optional()
      .describe('Fixed host port. Left out, the scheduler picks a free one from the node\'s dynamic range.'),
  })
  .transform((p): PortSpec => (p.static === undefined ? { label: p.label, to: p.to } : { label: p.label, to: p.to, static: p.static }))
  .describe('A port the task listens on, published on the node.');

const resourcesSchema = z
  .strictObject({
    cpu: intIn(1, undefined, ' (MHz)')
      .optional()
      .describe(`CPU in MHz (1 core = ${MHZ_PER_CORE} MHz). Default ${DEFAULT_RESOURCES.cpuMhz}. Give either cpu or cores.`),
    cores: z
      .number(mustBe('a number of cores > 0, e.g. 0.5'))
      .positive(mustBe('a number of cores > 0, e.g. 0.5'))
      .optional()
      .describe(`CPU in cores, fractions allowed (0.5 = ${MHZ_PER_CORE / 2} MHz). Give either cpu or cores.`),
    memory: memory.optional(),
  })
  .superRefine((r, ctx) => {
    if (isRecord(r) && r.cpu !== undefined && r.cores !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['cores'], input: r.cores, message: `must be left out when cpu is set: give either cpu (MHz) or cores (1 core = ${MHZ_PER_CORE} MHz), not both` });
    }
  }, ALWAYS)
  .transform(
    (r): Resources => ({
      cpuMhz: r.cpu ?? (r.cores === undefined ? DEFAULT_RESOURCES.cpuMhz : Math.max(1, Math.round(r.cores * MHZ_PER_CORE))),
      memoryMb: r.memory ?? DEFAULT_RESOURCES.memoryMb,
    }),
  )
  .describe(`What one copy of the task reserves on its node. Defaults: cpu ${DEFAULT_RESOURCES.cpuMhz} MHz, memory ${DEFAULT_RESOURCES.memoryMb}MB.`);

const ENV_NAME = /^[^=\0]+$/;

const mountSchema = z
  .strictObject({
    source: absolutePath().describe('Directory (or file) on the node to mount.'),
    target: absolutePath().describe('Where it appears inside the container.'),
    readOnly: z.boolean(mustBe('true or false')).default(false).describe('Mount read-only. Default false.'),
  })
  .transform((m): Mount => ({ source: m.source, target: m.target, readOnly: m.readOnly }))
  .describe('A host bind mount. It ties the allocation to its node: a drain reports it as not movable and a rebalance leaves it where it is.');

const taskSchema = z
  .strictObject({
    name: dnsLabel().describe('Task name, unique within its group (a DNS label).'),
    image: z
      .string(mustBe("a container image reference, e.g. 'karu/hello:1'"))
      .regex(/^\S+$/, mustBe("a container image reference without spaces, e.g. 'karu/hello:1'"))
      .describe("Container image to run, e.g. 'karu/hello:1'."),
    command: z
      .string(mustBe('a program to run, e.g. \'sh\' (its arguments go in args)'))
      .min(1, mustBe('a program to run, e.g. \'sh\' (its arguments go in args)'))
      .optional()
      .describe("Program to run instead of the image's entrypoint; arguments go in `args`."),
    args: z
      .array(stringish('a string'), mustBe('a list of strings'))
      .default([])
      .describe('Arguments, passed to `command` (or to the image entrypoint) as they are: no shell splitting.'),
    env: z
      .record(z.string().regex(ENV_NAME, mustBe("a variable name without '='")), stringish('a string'), mustBe('a map of NAME: value'))
      .default({})
      .describe('Environment variables. Numbers and true/false are taken as text, as written.'),
    resources: resourcesSchema.optional(),
    ports: z.array(portSchema, mustBe('a list of ports ({label, to, static})')).default([]).describe('Ports the task listens on.'),
    killTimeout: duration
      .optional()
      .describe(`Time between SIGTERM and SIGKILL when the task is stopped: ${DURATION_HELP}. Default ${formatDurationMs(DEFAULT_KILL_TIMEOUT_MS)}.`),
    mounts: z.array(mountSchema, mustBe('a list of mounts ({source, target, readOnly})')).optional().describe('Host paths bind-mounted into the container (node-local data).'),
    volumeMounts: z
      .array(volumeMountSchema, mustBe('a list of volume mounts ({volume, target, readOnly})'))
      .optional()
      .describe("Mounts of the group's volumes (shared with the group's other tasks, removed with the allocation)."),
    lifecycle: lifecycleSchema.optional(),
  })
  .transform((t): Task => {
    const task: Task = {
      name: t.name,
      image: t.image,
      args: t.args,
      env: t.env,
      resources: t.resources ?? { ...DEFAULT_RESOURCES },
      ports: t.ports,
      killTimeoutMs: t.killTimeout ?? DEFAULT_KILL_TIMEOUT_MS,
    };
    if (t.command !== undefined) task.command = t.command;
    if (t.mounts !== undefined && t.mounts.length > 0) task.mounts = t.mounts;
    if (t.volumeMounts !== undefined && t.volumeMounts.length > 0) task.volumeMounts = t.volumeMounts;
    if (t.lifecycle !== undefined) task.lifecycle = t.lifecycle;
    return task;
  })
  .describe('One container.');

// ---------------------------------------------------------------------------------------
// Groups

const restartSchema = z
  .strictObject({
    attempts: intIn(0).optional().describe('Restarts allowed within `interval`.'),
    interval: duration.optional().describe(`Window the attempts are counted in: ${DURATION_HELP}.`),
    delay: duration.optional().describe(`Wait before each restart: ${DURATION_HELP}.`),
    mode: z
      .enum(['fail', 'delay'], mustBeOneOf(['fail', 'delay']))
      .optional()
      .describe("When attempts run out: 'fail' the task, or 'delay' until the interval has passed and try again."),
  })
  .describe(
    `What the agent does when a task exits, on the same node. Fields left out take the defaults: ` +
      `service ${describeRestart(RESTART_DEFAULTS.service)}; batch ${describeRestart(RESTART_DEFAULTS.batch)}.`,
  );

const rescheduleSchema = z
  .strictObject({
    attempts: intIn(0).optional().describe('Replacements allowed within `interval`; 0 disables rescheduling.'),
    interval: duration.optional().describe(`Window the attempts are counted in: ${DURATION_HELP}.`),
  })
  .describe(
    `What the server does when an allocation fails for good: place a replacement, elsewhere if it can. Defaults: ` +
      `service ${describeReschedule(RESCHEDULE_DEFAULTS.service)}; batch ${describeReschedule(RESCHEDULE_DEFAULTS.batch)}.`,
  );

const migrateSchema = z
  .strictObject({
    maxParallel: intIn(1).optional().describe(`Allocations of the group moved at once. Default ${MIGRATE_DEFAULTS.maxParallel}.`),
    minHealthyTime: duration
      .optional()
      .describe(`How long a replacement must run before the allocation it replaces is stopped: ${DURATION_HELP}. Default ${formatDurationMs(MIGRATE_DEFAULTS.minHealthyTimeMs)}.`),
  })
  .transform((m): MigratePolicy => ({ maxParallel: m.maxParallel ?? MIGRATE_DEFAULTS.maxParallel, minHealthyTimeMs: m.minHealthyTime ?? MIGRATE_DEFAULTS.minHealthyTimeMs }))
  .describe('How allocations move off a draining node or in a rebalance: make-before-break, at most maxParallel at a time.');

const disconnectSchema = z
  .strictObject({
    lostAfter: duration
      .optional()
      .describe(
        `How long an allocation on a node that missed its heartbeats counts as disconnected (it may come back) before it is lost and replaced for good: ${DURATION_HELP}. ` +
          `Default ${formatDurationMs(DISCONNECT_DEFAULTS.lostAfterMs)}: lost as soon as the heartbeat TTL passes.`,
      ),
    replace: z
      .boolean(mustBe('true or false'))
      .optional()
      .describe(`Start a replacement while the original is only disconnected. Default ${DISCONNECT_DEFAULTS.replace}.`),
    stopOnClientAfter: z
      .union([duration, z.null()], mustBe(`${DURATION_HELP}, or null`))
      .optional()
      .describe(`The agent stops the allocation itself after being cut off from the server this long: ${DURATION_HELP}. Default null: keep running.`),
    reconcile: z
      .enum(DISCONNECT_RECONCILE_OPTIONS, mustBeOneOf(DISCONNECT_RECONCILE_OPTIONS))
      .optional()
      .describe(
        `When the node returns and the original and its replacement both run, which stays: 'keep_original', 'keep_replacement', or 'best_score' ` +
          `(a running copy first, then the better node score, ties to the original). Default '${DISCONNECT_DEFAULTS.reconcile}'.`,
      ),
  })
  .transform((d): DisconnectPolicy => ({
    lostAfterMs: d.lostAfter ?? DISCONNECT_DEFAULTS.lostAfterMs,
    replace: d.replace ?? DISCONNECT_DEFAULTS.replace,
    stopOnClientAfterMs: d.stopOnClientAfter ?? DISCONNECT_DEFAULTS.stopOnClientAfterMs,
    reconcile: d.reconcile ?? DISCONNECT_DEFAULTS.reconcile,
  }))
  .describe("While the group's node is cut off from the server (as Nomad's disconnect block). Fields left out take the defaults.");

const groupSchema = z
  .strictObject({
    name: dnsLabel().describe('Group name, unique within the job (a DNS label).'),
    count: intIn(0).default(1).describe('How many copies (allocations) of the group to run.'),
    constraints: constraints().describe('Rules a node must satisfy to run this group, on top of the job\'s.'),
    restart: restartSchema.optional(),
    reschedule: rescheduleSchema.optional(),
    disconnect: disconnectSchema.optional(),
    migrate: migrateSchema.optional(),
    affinities: affinities().describe("Soft preferences of this group's placements, on top of the job's."),
    spreads: spreads().describe("Spread blocks of this group, on top of the job's."),
    volumes: z
      .array(volumeSchema, mustBe('a list of volume names'))
      .optional()
      .describe('Volumes of each allocation, shared by the tasks that mount them (`volumeMounts`): `volumes: [data]`.'),
    tasks: z
      .array(taskSchema, mustBe('a list of tasks'))
      .min(1, mustBe('a list of at least one task'))
      .describe('The containers of one copy; they are placed together, share a network namespace (localhost) and can share volumes.'),
    services: z
      .array(serviceSchema, mustBe('a list of services ({name, port, tags, checks, ingress})'))
      .optional()
      .describe('Services the group offers: reachable by name from every Karu container, and through the ingress.'),
  })
  .describe('The unit of placement: `count` copies, each running all of `tasks` on one node.');

// ---------------------------------------------------------------------------------------
// The job

/**
 * The job file. Parse with `jobFileSchema.safeParse(obj)`: the output is a complete core
 * `Job` with the server-owned fields (`version`, `stopped`, `submittedAt`) zeroed.
 */
export const jobFileSchema = z
  .strictObject({
    namespace: dnsLabel().default('default').describe('Namespace the job lives in (a DNS label).'),
    name: dnsLabel().describe('Job name, unique within its namespace (a DNS label).'),
    type: z
      .enum(['service', 'batch'], mustBeOneOf(['service', 'batch']))
      .default('service')
      .describe("'service' runs until stopped and is restarted when it exits; 'batch' runs to completion."),
    priority: intIn(1, 100).default(50).describe('1–100; higher is scheduled first.'),
    placement: z
      .enum(['binpack', 'spread'], mustBeOneOf(['binpack', 'spread']))
      .default('binpack')
      .describe("How to choose among feasible nodes: fill nodes up ('binpack') or even them out ('spread')."),
    nodePool: dnsLabel()
      .default('default')
      .describe("Node pool to run in: only nodes started with that `--pool` are considered. Default 'default'."),
    constraints: constraints().describe('Rules a node must satisfy to run any group of this job.'),
    affinities: affinities().describe('Soft preferences over node properties: they rank feasible nodes, never filter them.'),
    spreads: spreads().describe("Spread the job's allocations over the values of node attributes."),
    meta: z
      .record(z.string().min(1, mustBe('a non-empty key')), stringish('a string'), mustBe('a map of key: value'))
      .default({})
      .describe('Free-form key: value pairs, kept with the job.'),
    groups: z
      .array(groupSchema, mustBe('a list of groups'))
      .min(1, mustBe('a list of at least one group'))
      .describe('What to run: at least one group, names unique.'),
  })
  // `when`: report duplicates together with every other problem, not only once the rest is fixed.
  .superRefine((job, ctx) => {
    checkUniqueness(field(job, 'groups'), ctx);
    checkNetwork(field(job, 'groups'), ctx);
  }, ALWAYS)
  .transform((f, ctx): Job => {
    const groups = f.groups.map((g, gi): Group => {
      const restart: RestartPolicy = { ...RESTART_DEFAULTS[f.type] };
      if (g.restart?.attempts !== undefined) restart.attempts = g.restart.attempts;
      if (g.restart?.interval !== undefined) restart.intervalMs = g.restart.interval;
      if (g.restart?.delay !== undefined) restart.delayMs = g.restart.delay;
      if (g.restart?.mode !== undefined) restart.mode = g.restart.mode;
      // As Nomad: attempts that cannot fit in the window make the policy a lie.
      if (g.restart !== undefined && restart.attempts * restart.delayMs > restart.intervalMs) {
        ctx.issues.push({
          code: 'custom',
          path: ['groups', gi, 'restart', 'interval'],
          input: g.restart.interval,
          message:
            `must be at least attempts × delay (${restart.attempts} × ${formatDurationMs(restart.delayMs)} = ` +
            `${formatDurationMs(restart.attempts * restart.delayMs)}), got ${formatDurationMs(restart.intervalMs)}: raise interval or lower attempts or delay`,
        });
      }
      const reschedule: ReschedulePolicy = { ...RESCHEDULE_DEFAULTS[f.type] };
      if (g.reschedule?.attempts !== undefined) reschedule.attempts = g.reschedule.attempts;
      if (g.reschedule?.interval !== undefined) reschedule.intervalMs = g.reschedule.interval;
      const group: Group = { name: g.name, count: g.count, constraints: g.constraints, restart, reschedule, tasks: g.tasks };
      if (g.disconnect !== undefined) group.disconnect = g.disconnect;
      if (g.migrate !== undefined) group.migrate = g.migrate;
      if (g.affinities !== undefined && g.affinities.length > 0) group.affinities = g.affinities;
      if (g.spreads !== undefined && g.spreads.length > 0) group.spreads = g.spreads;
      if (g.volumes !== undefined && g.volumes.length > 0) group.volumes = g.volumes;
      if (g.services !== undefined && g.services.length > 0) group.services = g.services.map((s) => toService(s, g.tasks));
      return group;
    });
    const job: Job = {
      namespace: f.namespace,
      name: f.name,
      type: f.type,
      priority: f.priority,
      constraints: f.constraints,
      placement: f.placement,
      nodePool: f.nodePool,
      groups,
      meta: f.meta,
      stopped: false,
      version: 0,
      submittedAt: 0,
    };
    if (f.affinities !== undefined && f.affinities.length > 0) job.affinities = f.affinities;
    if (f.spreads !== undefined && f.spreads.length > 0) job.spreads = f.spreads;
    return job;
  })
  .describe('A Karu job: what to run, how many, and where. Fields not listed are errors.');

/** The job file as written (before defaults and unit conversion). */
export type JobFile = z.input<typeof jobFileSchema>;

// ---------------------------------------------------------------------------------------
// Cross-field checks (see leaves.ts on reading values defensively).

function checkUniqueness(groups: unknown, ctx: Ctx): void {
  const groupNames = new Map<string, number>();
  itemsOf(groups).forEach((group, gi) => {
    duplicate(ctx, groupNames, nameOf(group), gi, ['groups', gi, 'name'], (name, first) => `duplicate group name ${name} (also groups[${first}]): group names must be unique within a job`);
    const taskNames = new Map<string, number>();
    // Static host ports of every task in the group: one allocation holds them all on one node.
    const staticPorts = new Map<number, string>();
    itemsOf(field(group, 'tasks')).forEach((task, ti) => {
      const taskPath: Path = ['groups', gi, 'tasks', ti];
      duplicate(ctx, taskNames, nameOf(task), ti, [...taskPath, 'name'], (name, first) => `duplicate task name ${name} (also groups[${gi}].tasks[${first}]): task names must be unique within a group`);
      const labels = new Map<string, number>();
      itemsOf(field(task, 'ports')).forEach((port, pi) => {
        const label = field(port, 'label');
        if (typeof label === 'string') {
          duplicate(ctx, labels, label, pi, [...taskPath, 'ports', pi, 'label'], (name, first) => `duplicate port label ${name} (also ports[${first}]): labels must be unique within a task`);
        }
        const fixed = field(port, 'static');
        if (typeof fixed !== 'number') return;
        const where = `groups[${gi}].tasks[${ti}].ports[${pi}]`;
        const taken = staticPorts.get(fixed);
        if (taken === undefined) staticPorts.set(fixed, where);
        else {
          ctx.addIssue({
            code: 'custom',
            path: [...taskPath, 'ports', pi, 'static'],
            input: fixed,
            message: `static port ${fixed} is already taken by ${taken}: static ports must be unique within a group, as one node hosts all its tasks`,
          });
        }
      });
    });
  });
}

function describeRestart(p: RestartPolicy): string {
  return `attempts ${p.attempts}, interval ${formatDurationMs(p.intervalMs)}, delay ${formatDurationMs(p.delayMs)}, mode ${p.mode}`;
}

function describeReschedule(p: ReschedulePolicy): string {
  return `attempts ${p.attempts}, interval ${formatDurationMs(p.intervalMs)}`;
}
