import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IngressRule, Job, Service } from '../../core/job.js';
import { aGroup, aServiceJob, aTask } from '../../core/testing.js';
import type { ApiErrorBody } from '../../client/index.js';
import { ControllerHarness } from '../../controllers/testing.js';
import { silentLogger } from '../../lib/logger.js';
import { createApi } from '../app.js';
import { json } from '../testing/harness.js';

/**
 * Claims at submit against the real control plane: two submissions racing each other
 * both pass the route's quick check (neither job is written yet), so only the check that
 * `Cluster.registerJob` makes under its lock up to the commit keeps the claim unique.
 */

function svc(name: string, ingress: IngressRule[] = []): Service {
  return { name, portLabel: 'http', task: 'server', tags: [], checks: [], ingress };
}

function jobWith(name: string, services: Service[]): Job {
  return aServiceJob({ name }, aGroup({ name: 'api', tasks: [aTask({ ports: [{ label: 'http', to: 8080 }] })], services }));
}

async function raceOf(a: Job, b: Job) {
  const h = await new ControllerHarness().start();
  try {
    const app = createApi({ controlPlane: h.ctl.cluster, logger: silentLogger(), validateJob: (o) => o as Job });
    const submit = (job: Job) => app.request('/v1/jobs', json('POST', { job }));
    const [ra, rb] = await Promise.all([submit(a), submit(b)]);
    const bodies = [(await ra.json()) as ApiErrorBody, (await rb.json()) as ApiErrorBody];
    return { statuses: [ra.status, rb.status], bodies, stored: h.cache.jobs().map((j) => j.name).sort() };
  } finally {
    await h.stop();
  }
}

test('two jobs racing for one service name: exactly one is written, the other gets 409 naming it', async () => {
  const { statuses, bodies, stored } = await raceOf(jobWith('shop', [svc('web')]), jobWith('blog', [svc('web')]));
  assert.deepEqual([...statuses].sort(), [201, 409]);
  const winner = statuses[0] === 201 ? 'shop' : 'blog';
  const loser = bodies[statuses[0] === 409 ? 0 : 1]!;
  assert.equal(loser.code, 'CONFLICT');
  assert.equal(loser.message, `service 'web' is already declared by job '${winner}' (group 'api'): service names are unique per namespace`);
  assert.deepEqual(loser.details?.owners, [winner]);
  assert.deepEqual(stored, [winner]);
});

test('two jobs racing for one ingress route, and for one TCP ingress port: one wins each', async () => {
  const route: IngressRule = { kind: 'http', host: 'shop.example.com', pathPrefix: '/api' };
  const http = await raceOf(jobWith('shop', [svc('web', [route])]), jobWith('blog', [svc('blog', [route])]));
  assert.deepEqual([...http.statuses].sort(), [201, 409]);
  assert.equal(http.stored.length, 1);
  const loser = http.bodies[http.statuses[0] === 409 ? 0 : 1]!;
  assert.match(loser.message, new RegExp(`^ingress host 'shop\\.example\\.com' path '/api' is already routed by job '${http.stored[0]}'`));

  const tcp: IngressRule = { kind: 'tcp', port: 5432, proxyProtocol: false };
  const ports = await raceOf(jobWith('db1', [svc('pg1', [tcp])]), jobWith('db2', [svc('pg2', [tcp])]));
  assert.deepEqual([...ports.statuses].sort(), [201, 409]);
  assert.equal(ports.stored.length, 1);
  assert.match(ports.bodies[ports.statuses[0] === 409 ? 0 : 1]!.message, new RegExp(`^ingress tcp port 5432 is already taken by job '${ports.stored[0]}'`));
});

test('jobs that claim nothing, or different names, are not held up by each other', async () => {
  const { statuses, stored } = await raceOf(jobWith('shop', [svc('web')]), jobWith('blog', [svc('blog')]));
  assert.deepEqual(statuses, [201, 201]);
  assert.deepEqual(stored, ['blog', 'shop']);
});
