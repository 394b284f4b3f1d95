import { pino } from 'pino';
import { ValidationError } from '../../core/errors.js';
import type { Job } from '../../core/job.js';
import type { Logger } from '../../lib/logger.js';
import type { RegisterNodeRequest } from '../../client/types.js';
import { createApi } from '../app.js';
import { aJob, FakeControlPlane } from './fake-control-plane.js';

/**
 * Stands in for the spec's validator: a job needs a string `name`; `count` must be a
 * positive number when given. Enough to tell "the API passes issues through" apart.
 */
export function stubValidateJob(obj: unknown): Job {
  const o = obj as { name?: unknown; namespace?: unknown; count?: unknown };
  const issues = [];
  if (typeof o.name !== 'string') issues.push({ path: 'name', message: 'is required' });
  if (o.count !== undefined && !(typeof o.count === 'number' && o.count > 0)) issues.push({ path: 'groups[0].count', message: 'must be a positive integer' });
  if (issues.length) throw new ValidationError(`job is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, issues);
  return aJob({ name: o.name as string, namespace: typeof o.namespace === 'string' ? o.namespace : 'default', version: 0 });
}

/** A logger whose lines the test can read back. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void out.push(s) });
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export function setup(opts: { fetchAgent?: typeof fetch } = {}) {
  const cp = new FakeControlPlane();
  const log = capturingLogger();
  const app = createApi({ controlPlane: cp, logger: log.logger, validateJob: stubValidateJob, fetchAgent: opts.fetchAgent });
  return { cp, app, logLines: log.lines };
}

/** JSON request helper for `app.request`. */
export function json(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
}

/** A complete, valid node registration, as an agent sends it (node routes and the heartbeat fast path). */
export const nodeRegistration: RegisterNodeRequest = {
  name: 'n1',
  address: '10.0.0.1',
  agentUrl: 'http://10.0.0.1:4647',
  resources: { cpuMhz: 4000, memoryMb: 8192 },
  attributes: { 'os.name': 'linux' },
  labels: {},
  drivers: { docker: { healthy: true, detail: 'ok' } },
};
