/**
 * The pod and networking parts of a job file: a group's volumes and the tasks' mounts of
 * them, task lifecycle hooks, and services with their health checks and ingress rules.
 * Most rules here span fields (a mount names a volume of its group, a service names a
 * port of one of its tasks), so besides the field schemas this file holds
 * {@link checkNetwork}, run over the whole job, and {@link toService}, which fills in
 * what a service learns from its group.
 */
import { z } from 'zod';
import type { ExecCheck, GroupVolume, HttpCheck, IngressRule, Service, Task, TaskLifecycle, TcpCheck, VolumeMount } from '../core/job.js';
import { normalizeHost, normalizePrefix } from '../core/ingress.js';
import {
  ALWAYS,
  PORT_LABEL,
  absolutePath,
  dnsLabel,
  duration,
  field,
  intIn,
  isRecord,
  itemsOf,
  nameOf,
  pathText,
  stringField,
  stringish,
  type Ctx,
  type Path,
} from './leaves.js';
import { mustBe, mustBeOneOf, show } from './messages.js';
import { DURATION_HELP, formatDurationMs } from './units.js';

export const DEFAULT_CHECK_INTERVAL_MS = 10_000;
export const DEFAULT_CHECK_TIMEOUT_MS = 2_000;

// ---------------------------------------------------------------------------------------
// Volumes, mounts, lifecycle

const VOLUME_WHY = 'tasks mount the volume by this name';

export const volumeSchema = z
  .union([dnsLabel(VOLUME_WHY), z.strictObject({ name: dnsLabel(VOLUME_WHY).describe('Volume name, unique within the group (a DNS label).') })], mustBe('a volume name (a DNS label) or a map {name}'))
  .transform((v): GroupVolume => ({ name: typeof v === 'string' ? v : v.name }))
  .describe('A volume of the group, made empty for each allocation and removed with it. `data` is short for `{name: data}`.');

export const volumeMountSchema = z
  .strictObject({
    volume: dnsLabel().describe("Name of one of the group's `volumes`."),
    target: absolutePath().describe('Where it appears inside the container.'),
    readOnly: z.boolean(mustBe('true or false')).default(false).describe('Mount read-only. Default false.'),
  })
  .transform((m): VolumeMount => ({ volume: m.volume, target: m.target, readOnly: m.readOnly }))
  .describe("A mount of one of the group's volumes; every task that mounts a volume sees the same files.");

const HOOKS = ['prestart', 'poststop'] as const;

export const lifecycleSchema = z
  .strictObject({
    hook: z
      .enum(HOOKS, mustBeOneOf(HOOKS))
      .describe("'prestart': started before the main tasks (which wait for it to exit 0, unless it is a sidecar); 'poststop': run to completion after they stop."),
    sidecar: z
      .boolean(mustBe('true or false'))
      .default(false)
      .describe('With prestart: start the task first and keep it running beside the main tasks, instead of waiting for it to finish. Default false.'),
  })
  .superRefine((l, ctx) => {
    if (isRecord(l) && l.sidecar === true && l.hook === 'poststop') {
      ctx.addIssue({ code: 'custom', path: ['sidecar'], input: true, message: "must be left out (or false) with hook 'poststop': only a prestart task can be a sidecar, kept running beside the main tasks" });
    }
  }, ALWAYS)
  .transform((l): TaskLifecycle => ({ hook: l.hook, sidecar: l.sidecar }))
  .describe('When the task runs within its allocation. Left out: a main task. A group needs at least one main task.');

// ---------------------------------------------------------------------------------------
// Checks

const timing = {
  interval: duration.optional().describe(`Time between two runs: ${DURATION_HELP}. Default ${formatDurationMs(DEFAULT_CHECK_INTERVAL_MS)}.`),
  timeout: duration
    .optional()
    .describe(`A run taking longer fails: ${DURATION_HELP}, shorter than interval. Default ${formatDurationMs(DEFAULT_CHECK_TIMEOUT_MS)}.`),
};

const HTTP_PATH_HELP = "a URL path starting with '/', e.g. '/health'";

const httpCheckSchema = z.strictObject({
  type: z.literal('http').describe("'http': GET `path` on the service's port; healthy on `expectStatus`."),
  path: z.string(mustBe(HTTP_PATH_HELP)).regex(/^\/\S*$/, mustBe(HTTP_PATH_HELP)).default('/').describe("Path to request. Default '/'."),
  expectStatus: intIn(100, 599).default(200).describe('HTTP status that means healthy. Default 200.'),
  ...timing,
});

const tcpCheckSchema = z.strictObject({
  type: z.literal('tcp').describe("'tcp': healthy when a connection to the service's port opens."),
  ...timing,
});

const COMMAND_HELP = "a non-empty list of strings, e.g. ['pg_isready', '-q'] (no shell: add ['sh', '-c', …] for one)";

const execCheckSchema = z.strictObject({
  type: z.literal('exec').describe("'exec': run `command` in a task's container; healthy on exit 0."),
  command: z.array(stringish('a string'), mustBe(COMMAND_HELP)).min(1, mustBe(COMMAND_HELP)).describe('Program and arguments, as they are: no shell splitting.'),
  task: dnsLabel().optional().describe("Task whose container runs the command. Default: the task that owns the service's port."),
  ...timing,
});

const CHECK_TYPES = ['http', 'tcp', 'exec'] as const;
const checkTypeMessage = mustBeOneOf(CHECK_TYPES);

/** A check as the group's services hold it before the group is known: an exec check's task may be left out. */
export type CheckDraft = HttpCheck | TcpCheck | (Omit<ExecCheck, 'task'> & { task?: string });

/** timeout < interval, either of them perhaps a default, so the message says which. */
function checkTiming(c: unknown, ctx: Ctx): void {
  const interval = field(c, 'interval');
  const timeout = field(c, 'timeout');
  const i = interval === undefined ? DEFAULT_CHECK_INTERVAL_MS : interval;
  const t = timeout === undefined ? DEFAULT_CHECK_TIMEOUT_MS : timeout;
  if (typeof i !== 'number' || typeof t !== 'number') return;
  if (timeout !== undefined && t === 0) {
    ctx.addIssue({ code: 'custom', path: ['timeout'], input: timeout, message: 'must be longer than 0s' });
  } else if (t >= i) {
    if (timeout !== undefined) {
      const of = interval === undefined ? `${formatDurationMs(i)}, the default` : formatDurationMs(i);
      ctx.addIssue({ code: 'custom', path: ['timeout'], input: timeout, message: `must be shorter than interval (${of}), got ${formatDurationMs(t)}: a run must end before the next one is due` });
    } else {
      ctx.addIssue({
        code: 'custom',
        path: ['interval'],
        input: interval,
        message: `must be longer than timeout (${formatDurationMs(t)}, the default), got ${formatDurationMs(i)}: raise interval or set a shorter timeout`,
      });
    }
  }
}

export const checkSchema = z
  .discriminatedUnion('type', [httpCheckSchema, tcpCheckSchema, execCheckSchema], {
    // An unknown or missing `type` is reported at `type`, with the types there are.
    error: (iss) => (iss.code === 'invalid_union' ? checkTypeMessage.error({ ...iss, input: field(iss.input, 'type') }) : mustBe(`a check: a map with a type (${CHECK_TYPES.join(', ')})`).error(iss)),
  })
  .superRefine(checkTiming, ALWAYS)
  .transform((c): CheckDraft => {
    const intervalMs = c.interval ?? DEFAULT_CHECK_INTERVAL_MS;
    const timeoutMs = c.timeout ?? DEFAULT_CHECK_TIMEOUT_MS;
    if (c.type === 'http') return { type: 'http', path: c.path, expectStatus: c.expectStatus, intervalMs, timeoutMs };
    if (c.type === 'tcp') return { type: 'tcp', intervalMs, timeoutMs };
    return c.task === undefined ? { type: 'exec', command: c.command, intervalMs, timeoutMs } : { type: 'exec', task: c.task, command: c.command, intervalMs, timeoutMs };
  })
  .meta({ id: 'Check', description: 'A health check, run by the agent next to the allocation. `type` is http, tcp or exec.' });

// ---------------------------------------------------------------------------------------
// Ingress rules

const HOST_LABEL = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
const HOST = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(\\.${HOST_LABEL})*$`);
const HOST_HELP = "a host name without port, e.g. 'shop.example.com'";
const PREFIX_HELP = "a URL path starting with '/', e.g. '/api' (matched on whole segments: '/api' takes '/api/x', not '/apix')";

const ingressHost = z
  .string(mustBe(HOST_HELP))
  .superRefine((h, ctx) => {
    const bare = h.toLowerCase().replace(/\.$/, '');
    if (HOST.test(bare)) return;
    const why = /:\d*$/.test(h) ? ': the ingress matches a host on any of its ports' : h.includes('*') ? ': wildcard hosts are not supported' : '';
    ctx.addIssue({ code: 'custom', input: h, message: `must be ${HOST_HELP}, got ${show(h)}${why}` });
  })
  .transform((h) => normalizeHost(h));

export const ingressRuleSchema = z
  .strictObject({
    host: ingressHost.optional().describe('HTTP: host to match (case-insensitive). Left out: any host.'),
    path: z
      .string(mustBe(PREFIX_HELP))
      .regex(/^\/[^\s?#]*$/, mustBe(PREFIX_HELP))
      .optional()
      .describe("HTTP: path prefix to match, on whole segments. Default '/': everything."),
    tcpPort: intIn(1, 65535).optional().describe('TCP: port on the ingress nodes whose connections are forwarded to the service. Makes the rule a TCP rule.'),
    proxyProtocol: z
      .boolean(mustBe('true or false'))
      .optional()
      .describe("TCP: send a PROXY protocol v1 header first, so the service learns the client's address. Default false."),
  })
  .superRefine((r, ctx) => {
    if (!isRecord(r)) return;
    if (r.tcpPort !== undefined) {
      for (const key of ['host', 'path'] as const) {
        if (r[key] !== undefined) {
          ctx.addIssue({ code: 'custom', path: [key], input: r[key], message: `must be left out: a TCP rule (tcpPort) forwards a whole port; route by ${key} with an HTTP rule of its own` });
        }
      }
    } else if (r.proxyProtocol !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['proxyProtocol'],
        input: r.proxyProtocol,
        message: "must be left out without tcpPort: the PROXY protocol is for TCP rules; HTTP rules pass the client's address in X-Forwarded-For",
      });
    }
  }, ALWAYS)
  .transform((r): IngressRule => {
    if (r.tcpPort !== undefined) return { kind: 'tcp', port: r.tcpPort, proxyProtocol: r.proxyProtocol ?? false };
    const rule: IngressRule = { kind: 'http', pathPrefix: normalizePrefix(r.path ?? '/') };
    if (r.host !== undefined) rule.host = r.host;
    return rule;
  })
  .meta({
    id: 'IngressRule',
    description: "How outside traffic reaches the service through the nodes' ingress: HTTP by `host` and `path`, or TCP by `tcpPort`. Each host+path (and each tcpPort) leads to one service.",
  });

// ---------------------------------------------------------------------------------------
// Services

const SERVICE_PORT_HELP = "the port label of one of the group's tasks, e.g. 'http'";

export const serviceSchema = z
  .strictObject({
    name: dnsLabel('containers reach the service as NAME and NAME.NAMESPACE.karu').describe(
      'Service name, unique within the namespace (a DNS label): containers reach it as NAME and NAME.NAMESPACE.karu.',
    ),
    port: z.string(mustBe(SERVICE_PORT_HELP)).regex(PORT_LABEL, mustBe(SERVICE_PORT_HELP)).describe("Label of the port (of one of the group's tasks) that the service is reached on."),
    tags: z
      .array(stringish('a non-empty string').refine((t) => t.length > 0, mustBe('a non-empty string')), mustBe('a list of strings'))
      .default([])
      .describe('Free-form tags, listed with the service in the catalog.'),
    checks: z
      .array(checkSchema, mustBe('a list of checks ({type: http|tcp|exec, …})'))
      .default([])
      .describe('Health checks; all must pass for an instance to be in rotation. None: in rotation while the allocation runs.'),
    ingress: z
      .array(ingressRuleSchema, mustBe('a list of ingress rules ({host, path} or {tcpPort})'))
      .default([])
      .describe("Routes from the nodes' ingress to this service."),
  })
  .describe('A named service offered by each allocation of the group: found by name (DNS), balanced over its healthy instances, optionally exposed through the ingress.');

export type ServiceDraft = z.output<typeof serviceSchema>;

/** The core service: the task that owns the port, and that task for exec checks that name none. */
export function toService(s: ServiceDraft, tasks: readonly Task[]): Service {
  const task = tasks.find((t) => t.ports.some((p) => p.label === s.port))?.name ?? '';
  const checks = s.checks.map((c) => (c.type === 'exec' ? { type: c.type, task: c.task ?? task, command: c.command, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs } : c));
  return { name: s.name, portLabel: s.port, task, tags: s.tags, checks, ingress: s.ingress };
}

// ---------------------------------------------------------------------------------------
// Cross-field checks over the whole job (see leaves.ts on reading values defensively).

/**
 * Volumes, lifecycles, shared ports and services of every group: the rules that need to
 * see more than one field. Service names and ingress claims are compared across groups.
 */
export function checkNetwork(groups: unknown, ctx: Ctx): void {
  const serviceAt = new Map<string, string>();
  const claimAt = new Map<string, string>();
  itemsOf(groups).forEach((group, gi) => {
    const groupPath: Path = ['groups', gi];
    const tasks = itemsOf(field(group, 'tasks'));
    const groupName = nameOf(group) ?? pathText(groupPath);
    checkVolumes(group, groupName, tasks, groupPath, ctx);
    checkLifecycles(tasks, groupPath, ctx);
    checkSharedPorts(tasks, groupPath, ctx);
    itemsOf(field(group, 'services')).forEach((service, si) => {
      const servicePath: Path = [...groupPath, 'services', si];
      const name = nameOf(service);
      if (name !== undefined) {
        const first = serviceAt.get(name);
        if (first === undefined) serviceAt.set(name, pathText(servicePath));
        else {
          ctx.addIssue({
            code: 'custom',
            path: [...servicePath, 'name'],
            input: name,
            message: `duplicate service name ${show(name)} (also ${first}): service names must be unique within a job (and its namespace: they are what containers resolve)`,
          });
        }
      }
      checkServicePort(service, groupName, tasks, servicePath, ctx);
      checkExecTasks(service, groupName, tasks, servicePath, ctx);
      checkIngressClaims(service, name, servicePath, claimAt, ctx);
    });
  });
}

function checkVolumes(group: unknown, groupName: string, tasks: unknown[], groupPath: Path, ctx: Ctx): void {
  const volumes = new Map<string, number>();
  itemsOf(field(group, 'volumes')).forEach((v, vi) => {
    const name = typeof v === 'string' ? v : nameOf(v);
    if (name === undefined) return;
    const first = volumes.get(name);
    if (first === undefined) volumes.set(name, vi);
    else ctx.addIssue({ code: 'custom', path: [...groupPath, 'volumes', vi], input: v, message: `duplicate volume name ${show(name)} (also volumes[${first}]): volume names must be unique within a group` });
  });
  const declared = [...volumes.keys()];
  tasks.forEach((task, ti) => {
    const taskPath: Path = [...groupPath, 'tasks', ti];
    // Targets of both kinds of mount: one path in the container can hold one of them.
    const targets = new Map<string, string>();
    itemsOf(field(task, 'mounts')).forEach((m, mi) => {
      const target = stringField(m, 'target');
      if (target !== undefined && !targets.has(target)) targets.set(target, `mounts[${mi}]`);
    });
    itemsOf(field(task, 'volumeMounts')).forEach((m, mi) => {
      const mountPath: Path = [...taskPath, 'volumeMounts', mi];
      const volume = stringField(m, 'volume');
      if (volume !== undefined && !volumes.has(volume)) {
        const fix =
          declared.length === 0
            ? `group '${groupName}' declares no volumes: add \`volumes: [${volume}]\` to the group`
            : `group '${groupName}' has: ${declared.join(', ')}`;
        ctx.addIssue({ code: 'custom', path: [...mountPath, 'volume'], input: volume, message: `names no volume of the group (${fix})` });
      }
      const target = stringField(m, 'target');
      if (target === undefined) return;
      const taken = targets.get(target);
      if (taken === undefined) targets.set(target, `volumeMounts[${mi}]`);
      else ctx.addIssue({ code: 'custom', path: [...mountPath, 'target'], input: target, message: `target ${show(target)} is already mounted by ${taken}: mount targets must be unique within a task` });
    });
  });
}

function checkLifecycles(tasks: unknown[], groupPath: Path, ctx: Ctx): void {
  if (tasks.length === 0 || tasks.some((t) => isRecord(t) && t.lifecycle === undefined)) return;
  ctx.addIssue({
    code: 'custom',
    path: [...groupPath, 'tasks'],
    input: tasks,
    message: 'needs at least one main task (a task without lifecycle): prestart and poststop tasks only run around the main ones',
  });
}

/** In a pod the tasks share one network namespace: two of them cannot listen on one port. */
function checkSharedPorts(tasks: unknown[], groupPath: Path, ctx: Ctx): void {
  if (tasks.length < 2) return;
  const owners = new Map<number, { task: string; at: string }>();
  tasks.forEach((task, ti) => {
    const taskName = nameOf(task) ?? `tasks[${ti}]`;
    itemsOf(field(task, 'ports')).forEach((port, pi) => {
      const to = field(port, 'to');
      if (typeof to !== 'number') return;
      const owner = owners.get(to);
      if (owner === undefined) owners.set(to, { task: taskName, at: `tasks[${ti}].ports[${pi}]` });
      else if (owner.task !== taskName) {
        ctx.addIssue({
          code: 'custom',
          path: [...groupPath, 'tasks', ti, 'ports', pi, 'to'],
          input: to,
          message: `container port ${to} is also used by task '${owner.task}' (${owner.at}): the tasks of a group share one network namespace, so only one of them can listen on a port`,
        });
      }
    });
  });
}

/** The service's port: a label of exactly one task of the group, a task that keeps running. */
function checkServicePort(service: unknown, groupName: string, tasks: unknown[], servicePath: Path, ctx: Ctx): void {
  const port = stringField(service, 'port');
  if (port === undefined || !PORT_LABEL.test(port)) return;
  const labels: string[] = [];
  const owners: { name: string; lifecycle: unknown }[] = [];
  tasks.forEach((task, ti) => {
    const name = nameOf(task) ?? `tasks[${ti}]`;
    for (const p of itemsOf(field(task, 'ports'))) {
      const label = stringField(p, 'label');
      if (label === undefined) continue;
      labels.push(`${label} (task ${name})`);
      if (label === port && !owners.some((o) => o.name === name)) owners.push({ name, lifecycle: field(task, 'lifecycle') });
    }
  });
  const at: Path = [...servicePath, 'port'];
  const owner = owners[0];
  if (owner === undefined) {
    const available =
      labels.length === 0
        ? `the tasks of group '${groupName}' declare no ports: give the serving task one, e.g. \`ports: [{label: ${port}, to: 8080}]\``
        : `port labels of group '${groupName}': ${labels.join(', ')}`;
    ctx.addIssue({ code: 'custom', path: at, input: port, message: `names no port of the group's tasks, got ${show(port)} (${available})` });
  } else if (owners.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: at,
      input: port,
      message: `port label ${show(port)} is declared by tasks ${owners.map((o) => `'${o.name}'`).join(' and ')}: a label a service names must be unique across the group's tasks; rename one`,
    });
  } else if (isRecord(owner.lifecycle) && owner.lifecycle.sidecar !== true) {
    ctx.addIssue({
      code: 'custom',
      path: at,
      input: port,
      message: `port ${show(port)} belongs to task '${owner.name}', a ${String(owner.lifecycle.hook)} task that runs to completion: serve the service from a main task or a sidecar`,
    });
  }
}

function checkExecTasks(service: unknown, groupName: string, tasks: unknown[], servicePath: Path, ctx: Ctx): void {
  const names = tasks.map(nameOf).filter((n): n is string => n !== undefined);
  itemsOf(field(service, 'checks')).forEach((check, ci) => {
    const task = field(check, 'type') === 'exec' ? stringField(check, 'task') : undefined;
    if (task === undefined || names.includes(task)) return;
    ctx.addIssue({ code: 'custom', path: [...servicePath, 'checks', ci, 'task'], input: task, message: `names no task of group '${groupName}' (its tasks: ${names.join(', ')})` });
  });
}

/** One service per HTTP host+path and per TCP port in the job; the API compares across jobs. */
function checkIngressClaims(service: unknown, serviceName: string | undefined, servicePath: Path, claimAt: Map<string, string>, ctx: Ctx): void {
  itemsOf(field(service, 'ingress')).forEach((rule, ri) => {
    const rulePath: Path = [...servicePath, 'ingress', ri];
    let key: string;
    let what: string;
    if (field(rule, 'kind') === 'http') {
      const host = stringField(rule, 'host');
      const prefix = stringField(rule, 'pathPrefix') ?? '/';
      key = `http ${host ?? ''} ${prefix}`;
      what = `ingress host ${host === undefined ? '(any)' : show(host)} path ${show(prefix)}`;
    } else if (field(rule, 'kind') === 'tcp') {
      key = `tcp ${String(field(rule, 'port'))}`;
      what = `ingress tcpPort ${String(field(rule, 'port'))}`;
    } else return;
    const first = claimAt.get(key);
    if (first === undefined) claimAt.set(key, `${pathText(rulePath)}${serviceName === undefined ? '' : ` (service '${serviceName}')`}`);
    else ctx.addIssue({ code: 'custom', path: rulePath, input: rule, message: `${what} is already routed by ${first}: each one leads to one service` });
  });
}
