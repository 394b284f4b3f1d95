import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiErrorBody } from '../../client/types.js';
import type { PlanJobResponse } from '../../client/plan-types.js';
import type { NodeId } from '../../core/ids.js';
import { FakeClock } from '../../lib/clock.js';
import { silentLogger } from '../../lib/logger.js';
import { validateJobObject } from '../../spec/parse.js';
import { createApi } from '../app.js';
import { json } from '../testing/harness.js';
import { aJob, allocIdFor, anAlloc, aNode, FakeControlPlane } from '../testing/fake-control-plane.js';
import { Hono } from 'hono';
import { planRoutes } from './plan.js';
import { createErrorHandler } from '../errors.js';

/** A job file's content as `karu deploy` sends it: the spec validator fills in the defaults. */
const spec = (count: number, extra: Record<string, unknown> = {}) => ({
  name: 'web',
  groups: [{ name: 'api', count, tasks: [{ name: 'server', image: 'karu-test/busybox:1', resources: { cpu: 100, memory: 64 } }], ...extra }],
});

const N1 = aNode();
const N2 = aNode({ id: 'node_01hx0000000000000000000002' as NodeId, name: 'n2' });

function setup() {
  const cp = new FakeControlPlane();
  const app = createApi({ controlPlane: cp, logger: silentLogger(), validateJob: validateJobObject });
  return { cp, app };
}

async function plan(app: { request: (path: string, init: RequestInit) => Response | Promise<Response> }, body: unknown): Promise<PlanJobResponse> {
  const res = await app.request('/v1/jobs/plan', json('POST', { job: body }));
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as PlanJobResponse;
}

describe('POST /v1/jobs/plan', () => {
  it('for a new job: places every allocation, per node, and writes nothing', async () => {
    const { cp, app } = setup();
    cp.state.putNode(N1);
    const before = cp.state.revision;
    const res = await plan(app, spec(3));
    assert.equal(res.result, 'created');
    assert.equal(res.job.version, 1);
    assert.deepEqual(res.diff, [{ op: 'add', path: 'job[web]' }]);
    assert.deepEqual(res.place, [{ group: 'api', nodeId: N1.id, nodeName: 'n1', count: 3, indexes: [0, 1, 2] }]);
    assert.equal(res.fits, true);
    assert.deepEqual(res.failures, {});
    assert.equal(cp.calls.registerJob.length, 0);
    assert.equal(cp.state.revision, before);
  });

  it('for a changed job: the spec diff, and only what changes is placed', async () => {
    const { cp, app } = setup();
    cp.state.putNode(N1);
    const current = validateJobObject(spec(2));
    cp.state.putJob({ ...current, version: 4 });
    cp.state.putAlloc(anAlloc({ id: allocIdFor('a0'), jobVersion: 4, index: 0, clientStatus: 'running' }));
    cp.state.putAlloc(anAlloc({ id: allocIdFor('a1'), jobVersion: 4, index: 1, clientStatus: 'running' }));
    const res = await plan(app, spec(3));
    assert.equal(res.result, 'updated');
    assert.equal(res.currentVersion, 4);
    assert.equal(res.job.version, 5);
    assert.deepEqual(res.diff, [{ op: 'change', path: 'groups[api].count', before: 2, after: 3 }]);
    assert.deepEqual(
      res.place.map((p) => [p.nodeName, p.count, p.indexes]),
      [['n1', 1, [2]]],
    );
    // A count change needs no new containers for the two that run.
    assert.deepEqual(res.inPlaceUpdate.map((u) => u.name).sort(), ['web.api[0]', 'web.api[1]']);
    assert.deepEqual(res.stop, []);
  });

  it('the same spec again: unchanged, nothing to do', async () => {
    const { cp, app } = setup();
    cp.state.putNode(N1);
    cp.state.putJob({ ...validateJobObject(spec(1)), version: 2 });
    cp.state.putAlloc(anAlloc({ jobVersion: 2, clientStatus: 'running' }));
    const res = await plan(app, spec(1));
    assert.equal(res.result, 'unchanged');
    assert.deepEqual(res.diff, []);
    assert.deepEqual(res.place, []);
    assert.equal(res.fits, true);
  });

  it('placements that cannot fit are explained per filter, and fits is false', async () => {
    const { cp, app } = setup();
    cp.state.putNode(N1);
    cp.state.putNode({ ...N2, drain: true, eligibility: 'ineligible' });
    const res = await plan(app, { ...spec(2), groups: [{ ...spec(2).groups[0], tasks: [{ name: 'server', image: 'x:1', resources: { cpu: 100, memory: 6000 } }] }] });
    assert.equal(res.fits, false);
    assert.equal(res.place.length, 1);
    const f = res.failures.api!;
    assert.equal(f.unplaced, 1);
    assert.ok(f.explanations.some((e) => /memory/.test(e)), f.explanations.join('; '));
  });

  it('names a changed env variable but never shows its values', async () => {
    const { cp, app } = setup();
    cp.state.putNode(N1);
    const base = spec(1);
    cp.state.putJob({ ...validateJobObject({ ...base, groups: [{ ...base.groups[0], tasks: [{ ...base.groups[0]!.tasks[0], env: { TOKEN: 'a' } }] }] }), version: 1 });
    const next = { ...base, groups: [{ ...base.groups[0], tasks: [{ ...base.groups[0]!.tasks[0], env: { TOKEN: 'b' } }] }] };
    const res = await plan(app, next);
    assert.deepEqual(res.diff, [{ op: 'change', path: 'groups[api].tasks[server].env.TOKEN' }]);
  });

  it('rejects an invalid job with the same 400 and issues as a submit', async () => {
    const { app } = setup();
    const bad = { name: 'web', groups: [{ name: 'api', count: -1, tasks: [] }] };
    const planned = await app.request('/v1/jobs/plan', json('POST', { job: bad }));
    const submitted = await app.request('/v1/jobs', json('POST', { job: bad }));
    assert.equal(planned.status, 400);
    const a = (await planned.json()) as ApiErrorBody;
    const b = (await submitted.json()) as ApiErrorBody;
    assert.equal(a.code, 'INVALID');
    assert.deepEqual(a, b);
  });

  it('names preempted allocations with their job and priority (scheduler plan.preempt)', async () => {
    const { cp } = setup();
    cp.state.putNode(N1);
    const low = aJob({ name: 'batch', priority: 20 });
    cp.state.putJob(low);
    const victim = anAlloc({ id: allocIdFor('v0'), jobName: 'batch', group: 'api', index: 7 });
    cp.state.putAlloc(victim);
    // The scheduler fills plan.preempt (helper H7); here the view's mapping is what is tested.
    const { planView } = await import('./plan.js');
    const job = validateJobObject(spec(1));
    const placeId = allocIdFor('p0');
    const view = planView(cp.state, {
      job,
      result: 'created',
      diff: [],
      plan: {
        evalId: 'eval_x' as never,
        namespace: 'default',
        jobName: 'web',
        place: [{ ...anAlloc({ id: placeId, index: 0 }) }],
        stop: [],
        markLost: [],
        inPlaceUpdate: [],
        failures: {},
        preempt: [{ allocId: victim.id, namespace: 'default', jobName: 'batch', priority: 20, nodeId: N1.id, forAllocId: placeId }],
      },
    });
    assert.deepEqual(view.preempt, [{ allocId: victim.id, name: 'batch.api[7]', nodeName: 'n1', namespace: 'default', jobName: 'batch', priority: 20, nodeId: N1.id, forName: 'web.api[0]' }]);
  });

  it('takes the time from the injected clock', async () => {
    const cp = new FakeControlPlane();
    cp.state.putNode(N1);
    const clock = new FakeClock(1_800_000_000_000);
    const app = new Hono().onError(createErrorHandler(silentLogger())).route('/v1', planRoutes({ controlPlane: cp, validateJob: validateJobObject } as never, clock));
    const res = await plan(app, spec(1));
    assert.equal(res.job.submittedAt, 1_800_000_000_000);
  });
});
