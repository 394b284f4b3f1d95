import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocView } from '../core/alloc.js';
import type { Evaluation } from '../core/evaluation.js';
import type { EvalId, NodeId } from '../core/ids.js';
import type { ApiErrorBody, JobDetail, JobListEntry, NodeView, RegisterJobResponse, StopJobResponse } from '../client/types.js';
import type { Job } from '../core/job.js';
import { silentLogger } from '../lib/logger.js';
import { createApi } from './app.js';
import { aJob, allocIdFor, anAlloc, aNode, anEval, FakeControlPlane } from './testing/fake-control-plane.js';
import { json, setup } from './testing/harness.js';

type ErrorBody = ApiErrorBody & { details: Record<string, unknown> };

test('GET /v1/health answers ok with the read model revision', async () => {
  const { app, cp } = setup();
  const res = await app.request('/v1/health');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { ok: true, revision: cp.state.revision });
});

test('POST /v1/jobs registers a valid job: 201 when created, 200 when updated', async () => {
  const { app, cp } = setup();
  const first = await app.request('/v1/jobs', json('POST', { job: { name: 'web' } }));
  assert.equal(first.status, 201);
  const body = (await first.json()) as RegisterJobResponse;
  assert.equal(body.result, 'created');
  assert.equal(body.job.name, 'web');
  assert.equal(cp.calls.registerJob.length, 1);

  const second = await app.request('/v1/jobs', json('POST', { job: { name: 'web' } }));
  assert.equal(second.status, 200);
  assert.equal(((await second.json()) as RegisterJobResponse).result, 'updated');
});

test('POST /v1/jobs with an invalid job answers 400 with the issues and registers nothing', async () => {
  const { app, cp } = setup();
  const res = await app.request('/v1/jobs', json('POST', { job: { count: -1 } }));
  assert.equal(res.status, 400);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'INVALID');
  const issues = body.details.issues as { path: string; message: string }[];
  assert.deepEqual(
    issues.map((i) => i.path),
    ['name', 'groups[0].count'],
  );
  assert.equal(cp.calls.registerJob.length, 0);
});

test('POST /v1/jobs without a job object names the field', async () => {
  const { app } = setup();
  const res = await app.request('/v1/jobs', json('POST', { jobb: {} }));
  assert.equal(res.status, 400);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'INVALID');
  assert.match(body.message, /'job' is required/);
});

test('malformed JSON answers 400 saying the body is not valid JSON', async () => {
  const { app, cp } = setup();
  const res = await app.request('/v1/jobs', json('POST', '{"job": {'));
  assert.equal(res.status, 400);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'INVALID');
  assert.match(body.message, /not valid JSON/);
  assert.equal(cp.calls.registerJob.length, 0);
});

test('a body over 1 MiB answers 413 before any route reads it', async () => {
  const { app, cp } = setup();
  const big = JSON.stringify({ job: { name: 'web', meta: { blob: 'x'.repeat(1024 * 1024) } } });
  const res = await app.request('/v1/jobs', json('POST', big));
  assert.equal(res.status, 413);
  const body = (await res.json()) as ErrorBody;
  assert.match(body.message, /larger than/);
  assert.equal(cp.calls.registerJob.length, 0);
});

test('an unknown route answers 404 JSON naming the method and path', async () => {
  const { app } = setup();
  const res = await app.request('/v1/x');
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { code: 'NOT_FOUND', message: 'no route GET /v1/x', details: {} });
  const wrongVerb = await app.request('/v1/jobs', { method: 'PATCH' });
  assert.equal(wrongVerb.status, 404);
  assert.equal(((await wrongVerb.json()) as ErrorBody).message, 'no route PATCH /v1/jobs');
});

test('an unexpected error answers a generic 500 and is logged with its stack', async () => {
  const { app, cp, logLines } = setup();
  cp.registerJob = async () => {
    throw new TypeError('cannot read properties of undefined (secret internals)');
  };
  const res = await app.request('/v1/jobs', json('POST', { job: { name: 'web' } }));
  assert.equal(res.status, 500);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'INTERNAL');
  assert.doesNotMatch(body.message, /secret internals/);
  const logged = logLines().find((l) => l.level === 50);
  assert.ok(logged, 'the error is logged');
  assert.match(JSON.stringify(logged), /secret internals/);
});

test('KaruErrors from the control plane keep their code and status', async () => {
  const { app } = setup();
  // The fake's stopJob throws NotFoundError for an unknown job.
  const res = await app.request('/v1/jobs/default/ghost', { method: 'DELETE' });
  assert.equal(res.status, 404);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'NOT_FOUND');
  assert.match(body.message, /default\/ghost/);
});

test('GET /v1/jobs lists jobs with status and summary computed from allocations', async () => {
  const { app, cp } = setup();
  cp.state.putJob(aJob({ name: 'web' }));
  cp.state.putJob(aJob({ name: 'batchy', type: 'batch' }));
  cp.state.putJob(aJob({ name: 'old', stopped: true }));
  cp.state.putJob(aJob({ namespace: 'other', name: 'elsewhere' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('a1'), jobName: 'web', clientStatus: 'running' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('a2'), jobName: 'web', clientStatus: 'pending' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('a3'), jobName: 'web', clientStatus: 'running', desiredStatus: 'stop' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('a4'), jobName: 'web', clientStatus: 'failed', desiredStatus: 'stop' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('b1'), jobName: 'batchy', clientStatus: 'complete' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('c1'), jobName: 'old', clientStatus: 'complete', desiredStatus: 'stop' }));

  const res = await app.request('/v1/jobs?namespace=default');
  assert.equal(res.status, 200);
  const list = (await res.json()) as JobListEntry[];
  assert.deepEqual(
    list.map((j) => [j.name, j.status]),
    [
      ['batchy', 'dead'],
      ['old', 'dead'],
      ['web', 'running'],
    ],
  );
  const web = list.find((j) => j.name === 'web')!;
  assert.deepEqual(web.summary, { pending: 1, running: 1, complete: 0, failed: 1, lost: 0, desired: 2 });
  assert.equal(list.find((j) => j.name === 'old')!.summary.desired, 0);

  const all = (await (await app.request('/v1/jobs')).json()) as JobListEntry[];
  assert.equal(all.length, 4);
});

test('GET /v1/jobs/:ns/:name answers the detail, allocations and evaluations newest first', async () => {
  const { app, cp } = setup();
  cp.state.putJob(aJob({ name: 'web' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('old'), createdAt: 1 }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('new'), createdAt: 2 }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('other'), jobName: 'api', createdAt: 3 }));
  for (let i = 0; i < 25; i++) cp.state.putEval(anEval({ id: `eval_${String(i).padStart(4, '0')}` as EvalId, createdAt: i }));

  const res = await app.request('/v1/jobs/default/web');
  assert.equal(res.status, 200);
  const detail = (await res.json()) as JobDetail;
  assert.equal(detail.job.name, 'web');
  assert.deepEqual(
    detail.allocations.map((a) => a.id),
    [allocIdFor('new'), allocIdFor('old')],
  );
  assert.equal(detail.evaluations.length, 20);
  assert.equal(detail.evaluations[0]!.id, 'eval_0024');
  assert.equal(detail.status, 'pending');
});

test('an unknown job answers 404 naming it', async () => {
  const { app } = setup();
  const res = await app.request('/v1/jobs/default/nope');
  assert.equal(res.status, 404);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'NOT_FOUND');
  assert.match(body.message, /job 'default\/nope'/);
  assert.equal((await app.request('/v1/jobs/default/nope/versions')).status, 404);
});

test('GET versions answers newest first; DELETE stops, with purge from the query', async () => {
  const { app, cp } = setup();
  cp.state.putJob(aJob({ name: 'web', version: 3 }));
  for (const v of [1, 3, 2]) cp.addVersion(aJob({ name: 'web', version: v }));
  const versions = (await (await app.request('/v1/jobs/default/web/versions')).json()) as Job[];
  assert.deepEqual(
    versions.map((j) => j.version),
    [3, 2, 1],
  );

  const stop = await app.request('/v1/jobs/default/web?purge=true', { method: 'DELETE' });
  assert.equal(stop.status, 200);
  assert.deepEqual((await stop.json()) as StopJobResponse, { evalId: 'eval_stop', purged: true });
  assert.deepEqual(cp.calls.stopJob, [{ namespace: 'default', name: 'web', purge: true }]);

  const bad = await app.request('/v1/jobs/default/web?purge=maybe', { method: 'DELETE' });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as ErrorBody).message, "query parameter 'purge' must be 'true' or 'false'");
});

test('GET /v1/allocations filters by namespace, job and node', async () => {
  const { app, cp } = setup();
  const n2 = 'node_01hx0000000000000000000002' as NodeId;
  cp.state.putNode(aNode());
  cp.state.putNode(aNode({ id: n2, name: 'n2' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('w1'), createdAt: 1 }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('w2'), nodeId: n2, createdAt: 2 }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('x1'), jobName: 'api', createdAt: 3 }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('o1'), namespace: 'other', createdAt: 4 }));

  const ids = async (qs: string) => ((await (await app.request(`/v1/allocations${qs}`)).json()) as AllocView[]).map((a) => a.id);
  assert.deepEqual(await ids(''), [allocIdFor('o1'), allocIdFor('x1'), allocIdFor('w2'), allocIdFor('w1')]);
  assert.deepEqual(await ids('?namespace=default&job=web'), [allocIdFor('w2'), allocIdFor('w1')]);
  assert.deepEqual(await ids('?job=web'), [allocIdFor('o1'), allocIdFor('w2'), allocIdFor('w1')]);
  assert.deepEqual(await ids(`?node=${n2}`), [allocIdFor('w2')]);
  assert.deepEqual(await ids('?node=n2'), [allocIdFor('w2')], 'a node may be named');
});

test('GET /v1/allocations/:id resolves a unique prefix, 404s naming an unknown id, 400s an ambiguous one', async () => {
  const { app, cp } = setup();
  cp.state.putAlloc(anAlloc({ id: allocIdFor('abc111') }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('abc222') }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('def333') }));

  const full = await app.request(`/v1/allocations/${allocIdFor('def333')}`);
  assert.equal(full.status, 200);
  assert.equal(((await full.json()) as AllocView).id, allocIdFor('def333'));

  const short = await app.request('/v1/allocations/abc1');
  assert.equal(short.status, 200);
  assert.equal(((await short.json()) as AllocView).id, allocIdFor('abc111'));

  const missing = await app.request('/v1/allocations/zzz999');
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as ErrorBody).message, /zzz999/);

  const amb = await app.request('/v1/allocations/abc');
  assert.equal(amb.status, 400);
  const body = (await amb.json()) as ErrorBody;
  assert.equal(body.code, 'INVALID');
  assert.match(body.message, /ambiguous/);
  assert.deepEqual(body.details.candidates, [allocIdFor('abc111'), allocIdFor('abc222')]);
});

test('GET /v1/nodes sums resources of live allocations; /v1/nodes/:id takes a name or prefix', async () => {
  const { app, cp } = setup();
  const node = aNode();
  cp.state.putNode(node);
  cp.state.putNode(aNode({ id: 'node_01hx0000000000000000000002' as NodeId, name: 'a-first' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('r1'), clientStatus: 'running', resources: { cpuMhz: 100, memoryMb: 64 } }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('r2'), clientStatus: 'pending', taskStates: {}, resources: { cpuMhz: 50, memoryMb: 32 } }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('d1'), clientStatus: 'complete', resources: { cpuMhz: 1000, memoryMb: 1000 } }));

  const list = (await (await app.request('/v1/nodes')).json()) as NodeView[];
  assert.deepEqual(
    list.map((n) => n.name),
    ['a-first', 'n1'],
  );
  const n1 = list[1]!;
  assert.deepEqual(n1.allocated, { cpuMhz: 150, memoryMb: 96 });
  assert.deepEqual(n1.allocations, { running: 1, total: 2 });

  const byName = (await (await app.request('/v1/nodes/n1')).json()) as NodeView;
  assert.equal(byName.id, node.id);
  const ambiguous = await app.request('/v1/nodes/01hx');
  assert.equal(ambiguous.status, 400);
  const missing = await app.request('/v1/nodes/nowhere');
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as ErrorBody).message, /node 'nowhere'/);
});

test('GET /v1/evaluations filters by job; /v1/evaluations/:id finds one or 404s', async () => {
  const { app, cp } = setup();
  cp.state.putEval(anEval({ id: 'eval_01hx000000aaaa000000000000' as EvalId, jobName: 'web', createdAt: 1 }));
  cp.state.putEval(anEval({ id: 'eval_01hx000000bbbb000000000000' as EvalId, jobName: 'web', createdAt: 2 }));
  cp.state.putEval(anEval({ id: 'eval_01hx000000cccc000000000000' as EvalId, jobName: 'api', createdAt: 3 }));
  const list = (await (await app.request('/v1/evaluations?namespace=default&job=web')).json()) as Evaluation[];
  assert.deepEqual(
    list.map((e) => e.id),
    ['eval_01hx000000bbbb000000000000', 'eval_01hx000000aaaa000000000000'],
  );
  const one = await app.request('/v1/evaluations/eval_01hx000000cccc000000000000');
  assert.equal(((await one.json()) as Evaluation).jobName, 'api');
  assert.equal((await app.request('/v1/evaluations/bbbb')).status, 200);
  assert.equal((await app.request('/v1/evaluations/eval_nope')).status, 404);
});

test('query parameters are validated: empty values are refused by name', async () => {
  const { app } = setup();
  const res = await app.request('/v1/jobs?namespace=');
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as ErrorBody).message, "query parameter 'namespace' must not be empty");
});

test('by default jobs are checked by the spec validator: its issue paths reach the client', async () => {
  const cp = new FakeControlPlane();
  const app = createApi({ controlPlane: cp, logger: silentLogger() });
  const bad = await app.request('/v1/jobs', json('POST', { job: { name: 'api', groups: [{ name: 'g', count: 'two', tasks: [{ name: 't', image: 'i' }] }] } }));
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as ErrorBody;
  assert.deepEqual(
    (body.details.issues as { path: string }[]).map((i) => i.path),
    ['groups[0].count'],
  );
  const good = await app.request('/v1/jobs', json('POST', { job: { name: 'api', groups: [{ name: 'g', tasks: [{ name: 't', image: 'i' }] }] } }));
  assert.equal(good.status, 201);
  assert.equal(cp.calls.registerJob[0]!.groups[0]!.tasks[0]!.image, 'i');
});
