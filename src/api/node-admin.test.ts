import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeDetail, RebalanceResponse } from '../client/types.js';
import { DEFAULT_DRAIN_DEADLINE_MS } from '../controllers/node-admin.js';
import { aJob, anAlloc, aNode } from './testing/fake-control-plane.js';
import { json, setup } from './testing/harness.js';

describe('API: node eligibility, drain, rebalance', () => {
  it('eligibility: by name, returns the node; a missing field is named', async () => {
    const { app, cp } = setup();
    const node = aNode();
    cp.state.putNode(node);
    const res = await app.request(`/v1/nodes/${node.name}/eligibility`, json('POST', { eligible: false }));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as NodeDetail).eligibility, 'ineligible');
    assert.deepEqual(cp.adminCalls, [{ method: 'setNodeEligibility', args: [node.id, false] }]);

    const bad = await app.request(`/v1/nodes/${node.name}/eligibility`, json('POST', {}));
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /'eligible' is required/);
  });

  it('drain: unknown node is 404, a bad deadline is 400 naming the field', async () => {
    const { app, cp } = setup();
    cp.state.putNode(aNode());
    const missing = await app.request('/v1/nodes/nope/drain', json('POST', { enable: true }));
    assert.equal(missing.status, 404);
    const bad = await app.request(`/v1/nodes/${aNode().id}/drain`, json('POST', { enable: true, deadlineMs: '1h' }));
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { code: string; message: string };
    assert.equal(body.code, 'INVALID');
    assert.equal(body.message, "request body field 'deadlineMs' must be a non-negative integer of milliseconds");
    const negative = await app.request(`/v1/nodes/${aNode().id}/drain`, json('POST', { deadlineMs: -5 }));
    assert.equal(negative.status, 400);
    assert.equal(cp.adminCalls.length, 0);
  });

  it('drain: defaults the deadline to 1h, shows progress with node-local allocations not movable', async () => {
    const { app, cp } = setup();
    const node = aNode();
    cp.state.putNode(node);
    const job = aJob();
    const local = { ...job, groups: [{ ...job.groups[0]!, tasks: [{ ...job.groups[0]!.tasks[0]!, mounts: [{ source: '/srv/x', target: '/x', readOnly: false }] }] }] };
    cp.state.putJob(local);
    cp.state.putAlloc(anAlloc({ nodeId: node.id, jobName: local.name, group: local.groups[0]!.name, clientStatus: 'running' }));
    const res = await app.request(`/v1/nodes/${node.id}/drain`, json('POST', { enable: true }));
    assert.equal(res.status, 200);
    assert.deepEqual(cp.adminCalls[0]!.args[1], { enable: true, deadlineMs: DEFAULT_DRAIN_DEADLINE_MS, ignoreSystem: false });
    const detail = (await res.json()) as NodeDetail;
    assert.equal(detail.drain, true);
    assert.equal(detail.drainProgress?.left, 1);
    assert.deepEqual(detail.drainProgress?.notMovable.map((n) => n.why), ['not movable (uses host path /srv/x)']);
    // And GET shows the same progress.
    const get = (await (await app.request(`/v1/nodes/${node.id}`)).json()) as NodeDetail;
    assert.equal(get.drainProgress?.notMovable.length, 1);
  });

  it('rebalance: dry run by default off, max-parallel checked, unknown job 404', async () => {
    const { app, cp } = setup();
    cp.state.putJob(aJob());
    const plan = await app.request('/v1/rebalance', json('POST', { dryRun: true }));
    assert.equal(plan.status, 200);
    const body = (await plan.json()) as RebalanceResponse;
    assert.equal(body.dryRun, true);
    assert.equal(body.batchId, undefined);
    assert.deepEqual(cp.adminCalls[0]!.args[0], { dryRun: true, maxParallel: 1 });
    const applied = (await (await app.request('/v1/rebalance', json('POST', { maxParallel: 3, job: aJob().name }))).json()) as RebalanceResponse;
    assert.equal(applied.batchId, 'rebalance_test');
    assert.deepEqual(cp.adminCalls[1]!.args[0], { dryRun: false, maxParallel: 3, job: { namespace: 'default', name: aJob().name } });
    const zero = await app.request('/v1/rebalance', json('POST', { maxParallel: 0 }));
    assert.equal(zero.status, 400);
    assert.match(((await zero.json()) as { message: string }).message, /'maxParallel' must be an integer ≥ 1/);
    const missing = await app.request('/v1/rebalance', json('POST', { job: 'nope' }));
    assert.equal(missing.status, 404);
  });
});
