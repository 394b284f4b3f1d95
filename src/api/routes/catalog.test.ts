import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus } from '../../core/alloc.js';
import { KaruError } from '../../core/errors.js';
import type { NodeId } from '../../core/ids.js';
import type { IngressRule, Job, Service } from '../../core/job.js';
import type { Catalog, CatalogService } from '../../core/service.js';
import { aGroup, aServiceJob, aTask } from '../../core/testing.js';
import { KaruClient } from '../../client/client.js';
import type { ApiErrorBody, IngressRouteView, RegisterNodeResponse } from '../../client/index.js';
import { silentLogger } from '../../lib/logger.js';
import { createApi } from '../app.js';
import { allocIdFor, anAlloc, FakeControlPlane } from '../testing/fake-control-plane.js';
import { json, setup } from '../testing/harness.js';

type ErrorBody = ApiErrorBody & { details: Record<string, unknown> };

function aCatalogService(over: Partial<CatalogService> = {}): CatalogService {
  return {
    namespace: 'default',
    name: 'web',
    vip: '10.99.0.7',
    port: 8080,
    portLabel: 'http',
    tags: ['v1'],
    job: 'shop',
    group: 'api',
    ingress: [],
    endpoints: [
      { allocId: allocIdFor('one'), nodeId: 'node_a' as NodeId, nodeName: 'a', address: '10.0.0.5', port: 23412, healthy: true, output: '' },
      { allocId: allocIdFor('two'), nodeId: 'node_b' as NodeId, nodeName: 'b', address: '10.0.0.6', port: 23413, healthy: false, output: 'http GET /health: 503' },
    ],
    ...over,
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never became true');
}

// ---- GET /v1/catalog

test('GET /v1/catalog answers at once without an index, or with an older one', async () => {
  const { app, cp } = setup();
  cp.setCatalog([aCatalogService()]);
  const res = await app.request('/v1/catalog');
  assert.equal(res.status, 200);
  const body = (await res.json()) as Catalog;
  assert.equal(body.index, 2);
  assert.equal(body.services[0]!.vip, '10.99.0.7');
  assert.equal(((await (await app.request('/v1/catalog?index=1&wait=30s')).json()) as Catalog).index, 2);
});

test('GET /v1/catalog?index=N parks until the catalog changes', async () => {
  const { app, cp } = setup();
  let answered = false;
  const pending = Promise.resolve(app.request('/v1/catalog?index=1&wait=30s')).then((r) => {
    answered = true;
    return r;
  });
  await until(() => cp.catalogWaiting() === 1);
  assert.equal(answered, false);
  assert.deepEqual(cp.calls.waitForCatalog, [{ index: 1, waitMs: 30_000 }]);
  cp.setCatalog([aCatalogService()]);
  const body = (await (await pending).json()) as Catalog;
  assert.equal(body.index, 2);
  assert.equal(body.services.length, 1);
});

test('GET /v1/catalog: wait in ms or with a unit, 30 s by default, capped at 60 s; bad values name the parameter', async () => {
  const { app, cp } = setup();
  for (const [qs, waitMs] of [
    ['index=1&wait=1500', 1_500],
    ['index=1&wait=500ms', 500],
    ['index=1&wait=2m', 60_000],
    ['index=1', 30_000],
  ] as const) {
    const pending = app.request(`/v1/catalog?${qs}`);
    await until(() => cp.catalogWaiting() === 1);
    assert.equal(cp.calls.waitForCatalog.at(-1)!.waitMs, waitMs, qs);
    cp.clock.advance(waitMs);
    assert.equal(((await (await pending).json()) as Catalog).index, 1, 'the wait ran out: same index');
  }
  const bad = await app.request('/v1/catalog?index=1&wait=soon');
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as ErrorBody).message, /^query parameter 'wait' must be a duration/);
  const badIndex = await app.request('/v1/catalog?index=-1');
  assert.equal(((await badIndex.json()) as ErrorBody).message, "query parameter 'index' must be a non-negative integer");
});

test('GET /v1/catalog is open to users and to agents presenting their node secret', async () => {
  const { app } = setup();
  const reg = (await (
    await app.request(
      '/v1/nodes/register',
      json('POST', { name: 'n1', address: '10.0.0.1', agentUrl: 'http://10.0.0.1:4647', resources: { cpuMhz: 1000, memoryMb: 1024 } }),
    )
  ).json()) as RegisterNodeResponse;
  assert.equal(reg.serviceCidr, '10.99.0.0/16', 'registration tells the agent the service range');
  assert.equal((await app.request('/v1/catalog', { headers: { 'x-karu-node-secret': reg.secret } })).status, 200);
  assert.equal((await app.request('/v1/catalog')).status, 200);
});

test('a caller hanging up ends its catalog query', async () => {
  const { app, cp } = setup();
  const ac = new AbortController();
  const pending = app.request('/v1/catalog?index=1&wait=30s', { signal: ac.signal });
  await until(() => cp.catalogWaiting() === 1);
  ac.abort();
  await Promise.resolve(pending).catch(() => undefined);
  assert.equal(cp.catalogWaiting(), 0);
});

// ---- services and ingress

test('GET /v1/services lists every service or one namespace; GET /v1/services/:ns/:name shows one or says why not', async () => {
  const { app, cp } = setup();
  cp.setCatalog([aCatalogService(), aCatalogService({ namespace: 'prod', name: 'db', job: 'pg' })]);
  assert.deepEqual(
    ((await (await app.request('/v1/services')).json()) as CatalogService[]).map((s) => `${s.namespace}/${s.name}`),
    ['default/web', 'prod/db'],
  );
  assert.deepEqual(
    ((await (await app.request('/v1/services?namespace=prod')).json()) as CatalogService[]).map((s) => s.name),
    ['db'],
  );
  const one = (await (await app.request('/v1/services/prod/db')).json()) as CatalogService;
  assert.equal(one.job, 'pg');
  const missing = await app.request('/v1/services/prod/web');
  assert.equal(missing.status, 404);
  const err = (await missing.json()) as ErrorBody;
  assert.equal(err.code, 'NOT_FOUND');
  assert.match(err.message, /^service 'prod\/web' not found: no job in namespace 'prod' declares it/);
});

test('GET /v1/ingress flattens every rule with its owner and backing', async () => {
  const { app, cp } = setup();
  const http = (host: string | undefined, pathPrefix: string): IngressRule => ({ kind: 'http', ...(host ? { host } : {}), pathPrefix });
  cp.setCatalog([
    aCatalogService({ ingress: [http('shop.example.com', '/'), { kind: 'tcp', port: 5432, proxyProtocol: true }] }),
    aCatalogService({ name: 'api', ingress: [http(undefined, '/api')], endpoints: [] }),
  ]);
  const views = (await (await app.request('/v1/ingress')).json()) as IngressRouteView[];
  assert.deepEqual(views, [
    { kind: 'http', pathPrefix: '/api', namespace: 'default', service: 'api', job: 'shop', group: 'api', healthy: 0, total: 0, nodes: 0 },
    { kind: 'http', host: 'shop.example.com', pathPrefix: '/', namespace: 'default', service: 'web', job: 'shop', group: 'api', healthy: 1, total: 2, nodes: 1 },
    { kind: 'tcp', port: 5432, proxyProtocol: true, namespace: 'default', service: 'web', job: 'shop', group: 'api', healthy: 1, total: 2, nodes: 1 },
  ]);
});

test('client ⇄ routes: catalog, services, service, ingress', async () => {
  const { app, cp } = setup();
  const client = new KaruClient({ baseUrl: 'http://karu.test', fetch: async (input, init) => app.request(input, init) });
  cp.setCatalog([aCatalogService({ ingress: [{ kind: 'http', pathPrefix: '/' }] })]);
  const first = await client.catalog();
  assert.equal(first.index, 2);
  const next = client.catalog({ index: first.index, waitMs: 5_000 });
  await until(() => cp.catalogWaiting() === 1);
  assert.deepEqual(cp.calls.waitForCatalog.at(-1), { index: 2, waitMs: 5_000 });
  cp.setCatalog([]);
  assert.deepEqual(await next, { index: 3, services: [] });
  cp.setCatalog([aCatalogService()]);
  assert.equal((await client.services('default')).length, 1);
  assert.equal((await client.service('default', 'web')).vip, '10.99.0.7');
  await assert.rejects(client.service('default', 'nope'), (e: unknown) => e instanceof KaruError && e.code === 'NOT_FOUND');
  assert.deepEqual(await client.ingressRoutes(), []);
});

// ---- check results from agents

test('status updates carry check results: validated, long output cut to 1 KiB', async () => {
  const { app, cp } = setup();
  const reg = (await (
    await app.request('/v1/nodes/register', json('POST', { name: 'n1', address: '10.0.0.1', agentUrl: 'http://10.0.0.1:4647', resources: { cpuMhz: 1, memoryMb: 1 } }))
  ).json()) as RegisterNodeResponse;
  const headers = { 'x-karu-node-secret': reg.secret };
  cp.state.putAlloc(anAlloc({ nodeId: reg.nodeId }));
  const status = (checks: unknown): AllocStatus & { checks?: unknown } => ({
    id: allocIdFor('aaaa'),
    nodeId: reg.nodeId,
    clientStatus: 'running',
    clientDescription: '',
    taskStates: {},
    checks: checks as AllocStatus['checks'],
    updatedAt: 1,
  });
  const put = (checks: unknown) => app.request(`/v1/nodes/${reg.nodeId}/allocations/status`, json('PUT', { updates: [status(checks)] }, headers));

  assert.equal((await put({ web: { healthy: false, output: 'é'.repeat(600), since: 5 } })).status, 204);
  const kept = cp.calls.updateAllocStatus[0]!.updates[0]!.checks!.web!;
  assert.equal(Buffer.byteLength(kept.output), 1024);
  assert.equal(kept.healthy, false);
  assert.equal(kept.since, 5);

  const notBool = await put({ web: { healthy: 'yes', output: '', since: 5 } });
  assert.equal(notBool.status, 400);
  assert.equal(((await notBool.json()) as ErrorBody).message, "request body field 'updates[0].checks.web.healthy' must be a boolean");
  const badName = await put({ Web_1: { healthy: true, output: '', since: 5 } });
  assert.equal(badName.status, 400);
  assert.match(((await badName.json()) as ErrorBody).message, /must be a service name \(a DNS label\)/);
  assert.equal(cp.calls.updateAllocStatus.length, 1);
});

// ---- claims at submit

/** The API with a validator that trusts the submitted object: the jobs here are built whole. */
function submitApp() {
  const cp = new FakeControlPlane();
  const app = createApi({ controlPlane: cp, logger: silentLogger(), validateJob: (o) => o as Job });
  const submit = (job: Job) => app.request('/v1/jobs', json('POST', { job }));
  return { cp, app, submit };
}

function svc(name: string, ingress: IngressRule[] = []): Service {
  return { name, portLabel: 'http', task: 'server', tags: [], checks: [], ingress };
}

function jobWith(name: string, services: Service[], over: Partial<Job> = {}): Job {
  return aServiceJob({ name, ...over }, aGroup({ name: 'api', tasks: [aTask({ ports: [{ label: 'http', to: 8080 }] })], services }));
}

test('a service name declared by another job of the namespace is refused (409) naming the owner', async () => {
  const { cp, submit } = submitApp();
  assert.equal((await submit(jobWith('shop', [svc('web')]))).status, 201);
  const res = await submit(jobWith('blog', [svc('web')]));
  assert.equal(res.status, 409);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'CONFLICT');
  assert.equal(body.message, "service 'web' is already declared by job 'shop' (group 'api'): service names are unique per namespace");
  assert.deepEqual(body.details.issues, [{ path: 'groups[0].services[0].name', message: body.message }]);
  assert.deepEqual(body.details.owners, ['shop']);
  assert.deepEqual(
    cp.calls.registerJob.map((j) => j.name),
    ['shop'],
  );
  // Its own update, and the same name in another namespace, are fine.
  assert.equal((await submit(jobWith('shop', [svc('web'), svc('admin')]))).status, 200);
  assert.equal((await submit(jobWith('blog', [svc('web')], { namespace: 'staging' }))).status, 201);
});

test('two jobs claiming the same ingress host and path: the second is refused naming the first', async () => {
  const { submit } = submitApp();
  const route: IngressRule = { kind: 'http', host: 'shop.example.com', pathPrefix: '/api' };
  assert.equal((await submit(jobWith('shop', [svc('web', [route])]))).status, 201);
  const res = await submit(jobWith('blog', [svc('blog', [{ ...route, host: 'SHOP.example.com', pathPrefix: '/api/' }])]));
  assert.equal(res.status, 409);
  const body = (await res.json()) as ErrorBody;
  assert.match(body.message, /^ingress host 'shop\.example\.com' path '\/api' is already routed by job 'shop'/);
  assert.deepEqual((body.details.issues as { path: string }[]).map((i) => i.path), ['groups[0].services[0].ingress[0]']);
  assert.deepEqual(body.details.owners, ['shop']);
  // Another namespace's job of the same name is another owner all the same: hosts are cluster-wide.
  const elsewhere = await submit(jobWith('shop', [svc('web', [route])], { namespace: 'staging' }));
  assert.equal(elsewhere.status, 409);
  assert.match(((await elsewhere.json()) as ErrorBody).message, /already routed by job 'default\/shop'/);
  // A job moving its own route is fine; another path on the same host too.
  assert.equal((await submit(jobWith('shop', [svc('web', [{ ...route, pathPrefix: '/v2' }])]))).status, 200);
  assert.equal((await submit(jobWith('blog', [svc('blog', [route])]))).status, 201);
});

test('a TCP ingress port used by another job is refused naming the owner', async () => {
  const { submit } = submitApp();
  const tcp: IngressRule = { kind: 'tcp', port: 5432, proxyProtocol: false };
  assert.equal((await submit(jobWith('pg', [svc('db', [tcp])]))).status, 201);
  const res = await submit(jobWith('pg2', [svc('db2', [tcp])], { namespace: 'other' }));
  assert.equal(res.status, 409);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.message, "ingress tcp port 5432 is already taken by job 'pg' (namespace 'default') (group 'api'); pick another port, or stop that job first");
  assert.deepEqual((body.details.issues as { path: string }[]).map((i) => i.path), ['groups[0].services[0].ingress[0].port']);
  assert.equal((await submit(jobWith('pg', [svc('db', [tcp])]))).status, 200, 'its own port on update');
});

test('several conflicts are reported together', async () => {
  const { submit } = submitApp();
  await submit(jobWith('shop', [svc('web', [{ kind: 'tcp', port: 8443, proxyProtocol: false }])]));
  const res = await submit(jobWith('blog', [svc('web', [{ kind: 'tcp', port: 8443, proxyProtocol: false }])]));
  const body = (await res.json()) as ErrorBody;
  assert.match(body.message, /\(and 1 more\)$/);
  assert.equal((body.details.issues as unknown[]).length, 2);
});
