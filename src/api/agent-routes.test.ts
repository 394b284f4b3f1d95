import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import { KaruClient } from '../client/client.js';
import type { ApiErrorBody, NodeAllocationsResponse, RegisterNodeResponse, SharedGroupsNodeAllocationsResponse } from '../client/types.js';
import { aJob, allocIdFor, anAlloc, type FakeControlPlane } from './testing/fake-control-plane.js';
import { json, nodeRegistration as registration, setup } from './testing/harness.js';

type ErrorBody = ApiErrorBody & { details: Record<string, unknown> };


async function registered(app: ReturnType<typeof setup>['app']): Promise<RegisterNodeResponse> {
  const res = await app.request('/v1/nodes/register', json('POST', registration));
  assert.equal(res.status, 201);
  return (await res.json()) as RegisterNodeResponse;
}

/** Yields to the event loop until `cond` holds (no timers: the request is parked on a promise). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition never became true');
}

const secretHeader = (secret: string) => ({ 'x-karu-node-secret': secret });

test('a new node registers without a secret and gets one (201)', async () => {
  const { app, cp } = setup();
  const res = await registered(app);
  assert.match(res.nodeId, /^node_/);
  assert.equal(res.secret, `secret-of-${res.nodeId}`);
  assert.equal(res.serverToken, 'server-token');
  assert.equal(cp.calls.registerNode[0]!.secret, undefined);
});

test('re-registering an identity needs its secret; the control plane rejects a wrong one', async () => {
  const { app, cp } = setup();
  const { nodeId, secret } = await registered(app);

  const again = await app.request('/v1/nodes/register', json('POST', { ...registration, nodeId }, secretHeader(secret)));
  assert.equal(again.status, 200);
  assert.equal(((await again.json()) as RegisterNodeResponse).nodeId, nodeId);
  assert.equal(cp.calls.registerNode[1]!.secret, secret, 'the header secret is passed on');

  const bodySecret = await app.request('/v1/nodes/register', json('POST', { ...registration, nodeId, secret }));
  assert.equal(bodySecret.status, 200);

  const without = await app.request('/v1/nodes/register', json('POST', { ...registration, nodeId }));
  assert.equal(without.status, 401);
  assert.equal(((await without.json()) as ErrorBody).code, 'UNAUTHORIZED');

  const wrong = await app.request('/v1/nodes/register', json('POST', { ...registration, nodeId }, secretHeader('nope')));
  assert.equal(wrong.status, 401);
});

test('a registration body missing a field is refused naming it', async () => {
  const { app, cp } = setup();
  const { agentUrl: _omit, ...partial } = registration;
  const res = await app.request('/v1/nodes/register', json('POST', partial));
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as ErrorBody).message, "request body field 'agentUrl' is required");
  const badRes = await app.request('/v1/nodes/register', json('POST', { ...registration, resources: { cpuMhz: -1, memoryMb: 1 } }));
  assert.match(((await badRes.json()) as ErrorBody).message, /'resources\.cpuMhz'/);
  assert.equal(cp.calls.registerNode.length, 0);
});

test('agent routes refuse a missing, wrong or other node’s secret with 401', async () => {
  const { app, cp } = setup();
  const a = await registered(app);
  const b = await registered(app);
  const beat = (nodeId: string, headers: Record<string, string>) => app.request(`/v1/nodes/${nodeId}/heartbeat`, json('POST', {}, headers));

  for (const res of [await beat(a.nodeId, {}), await beat(a.nodeId, secretHeader('wrong')), await beat(a.nodeId, secretHeader(b.secret))]) {
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as ErrorBody).code, 'UNAUTHORIZED');
  }
  const allocs = await app.request(`/v1/nodes/${a.nodeId}/allocations?index=0`, { headers: secretHeader(b.secret) });
  assert.equal(allocs.status, 401);
  const status = await app.request(`/v1/nodes/${a.nodeId}/allocations/status`, json('PUT', { updates: [] }, secretHeader('wrong')));
  assert.equal(status.status, 401);
  assert.equal(cp.calls.heartbeat.length, 0);
  assert.equal(cp.calls.updateAllocStatus.length, 0);

  const ok = await beat(a.nodeId, secretHeader(a.secret));
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { heartbeatTtlMs: 10_000 });
});

test('a heartbeat passes drivers on, and an empty body is fine', async () => {
  const { app, cp } = setup();
  const { nodeId, secret } = await registered(app);
  const drivers = { docker: { healthy: false, detail: 'socket gone' } };
  assert.equal((await app.request(`/v1/nodes/${nodeId}/heartbeat`, json('POST', { drivers }, secretHeader(secret)))).status, 200);
  assert.equal((await app.request(`/v1/nodes/${nodeId}/heartbeat`, { method: 'POST', headers: secretHeader(secret) })).status, 200);
  assert.deepEqual(
    cp.calls.heartbeat.map((h) => h.drivers),
    [drivers, undefined],
  );
});

async function agentWithAllocs(): Promise<{ app: ReturnType<typeof setup>['app']; cp: FakeControlPlane; nodeId: NodeId; headers: Record<string, string> }> {
  const { app, cp } = setup();
  const { nodeId, secret } = await registered(app);
  const v1 = aJob({ name: 'web', version: 1 });
  const v2 = aJob({ name: 'web', version: 2, groups: [{ ...v1.groups[0]!, count: 5 }] });
  cp.state.putJob(v2);
  cp.addVersion(v1);
  cp.addVersion(v2);
  cp.state.putJob(aJob({ name: 'jobby', type: 'batch', version: 1 }));
  const on = { nodeId, nodeName: 'n1' };
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('current'), jobVersion: 2, clientStatus: 'running' }));
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('older'), jobVersion: 1, clientStatus: 'running' }));
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('stopping'), jobVersion: 1, desiredStatus: 'stop', clientStatus: 'running' }));
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('stopped'), jobVersion: 1, desiredStatus: 'stop', clientStatus: 'complete' }));
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('finished'), jobName: 'jobby', clientStatus: 'complete' }));
  cp.state.putAlloc(anAlloc({ ...on, id: allocIdFor('purged'), jobName: 'gone', clientStatus: 'running' }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('elsewhere'), jobVersion: 2 }));
  return { app, cp, nodeId, headers: secretHeader(secret) };
}

test('the node allocations query returns what the agent must act on, each with its group at its version', async () => {
  const { app, nodeId, headers, cp } = await agentWithAllocs();
  const res = await app.request(`/v1/nodes/${nodeId}/allocations?index=0&waitMs=1000`, { headers });
  assert.equal(res.status, 200);
  const body = (await res.json()) as NodeAllocationsResponse;
  assert.ok(body.index > 0);
  const byId = new Map(body.allocations.map((a) => [a.alloc.id, a]));
  assert.deepEqual([...byId.keys()].sort(), [allocIdFor('current'), allocIdFor('finished'), allocIdFor('older'), allocIdFor('stopping')].sort());
  assert.equal(byId.get(allocIdFor('current'))!.group.count, 5, 'version 2 group');
  assert.equal(byId.get(allocIdFor('older'))!.group.count, 2, 'version 1 group, from the history');
  assert.equal(byId.get(allocIdFor('finished'))!.jobType, 'batch');
  assert.equal(byId.get(allocIdFor('current'))!.jobType, 'service');
  assert.deepEqual(cp.calls.waitForNodeAllocs, [{ nodeId, index: 0, waitMs: 1000 }]);
});

test('with groups=shared each group spec is sent once, and the client expands it back to the plain answer', async () => {
  const { app, nodeId, headers } = await agentWithAllocs();
  const plain = (await (await app.request(`/v1/nodes/${nodeId}/allocations?index=0`, { headers })).json()) as NodeAllocationsResponse;
  const shared = (await (await app.request(`/v1/nodes/${nodeId}/allocations?index=0&groups=shared`, { headers })).json()) as SharedGroupsNodeAllocationsResponse;
  // 'current' (v2), 'older' and 'stopping' (v1, one group object from the history), 'finished' (jobby).
  assert.equal(shared.allocations.length, 4);
  assert.equal(shared.groups.length, 3);
  assert.deepEqual(
    shared.allocations.map((a) => ({ alloc: a.alloc, group: shared.groups[a.groupRef], jobType: a.jobType })),
    plain.allocations,
  );
  const client = new KaruClient({ baseUrl: 'http://api', nodeSecret: headers['x-karu-node-secret']!, fetch: ((input: string, init?: RequestInit) => app.request(input, init)) as typeof fetch });
  const expanded = await client.nodeAllocations(nodeId, 0, 0);
  assert.deepEqual(expanded, plain);
});

test('with delta=true the answer carries only what changed since the index, listed ones in full and the rest as removed; without it, or when the server cannot vouch, the whole list', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  // 'current' and 'stopping' changed and are still listed; 'stopped' is terminal, 'purged' has no spec, 'vanished' is gone, 'elsewhere' is on another node.
  cp.allocChanges.set(nodeId, ['current', 'stopping', 'stopped', 'purged', 'vanished', 'elsewhere'].map((n) => allocIdFor(n)));
  cp.signalNode(nodeId); // past index 3: every query below answers at once
  assert.ok(cp.state.revision > 3);
  const ask = async (qs: string) => (await (await app.request(`/v1/nodes/${nodeId}/allocations?${qs}`, { headers })).json()) as NodeAllocationsResponse & { groups?: unknown[] };
  const delta = await ask('index=3&delta=true');
  assert.equal(delta.delta, true);
  assert.deepEqual(
    delta.allocations.map((a) => a.alloc.id),
    [allocIdFor('current'), allocIdFor('stopping')].sort(),
  );
  assert.deepEqual(delta.removed, ['stopped', 'purged', 'vanished', 'elsewhere'].map((n) => allocIdFor(n)));
  assert.deepEqual(cp.calls.nodeAllocChanges, [{ nodeId, since: 3 }]);
  const shared = await ask('index=3&delta=true&groups=shared');
  assert.equal(shared.delta, true);
  assert.equal(shared.groups!.length, 2);
  // The client expands the shared form and keeps the delta.
  const client = new KaruClient({ baseUrl: 'http://api', nodeSecret: headers['x-karu-node-secret']!, fetch: ((input: string, init?: RequestInit) => app.request(input, init)) as typeof fetch });
  assert.deepEqual(await client.nodeAllocations(nodeId, 3, 0, undefined, { delta: true }), delta);

  // Not asked (older agents), or asked at index 0: the whole list, whatever the server kept.
  for (const qs of ['index=3', 'index=0&delta=true']) {
    const whole = await ask(qs);
    assert.equal(whole.delta, undefined);
    assert.equal(whole.removed, undefined);
    assert.equal(whole.allocations.length, 4);
  }
  // Asked, but the server no longer covers the index: the whole list.
  cp.allocChanges.delete(nodeId);
  const fallback = await ask('index=3&delta=true');
  assert.equal(fallback.delta, undefined);
  assert.equal(fallback.allocations.length, 4);
});

test('the blocking query parks until the control plane signals a change', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  const first = (await (await app.request(`/v1/nodes/${nodeId}/allocations?index=0`, { headers })).json()) as NodeAllocationsResponse;

  let answered = false;
  const pending = Promise.resolve(app.request(`/v1/nodes/${nodeId}/allocations?index=${first.index}&waitMs=30000`, { headers })).then((r) => {
    answered = true;
    return r;
  });
  await until(() => cp.waiting(nodeId) === 1);
  assert.equal(answered, false, 'still waiting');

  cp.state.putAlloc(anAlloc({ nodeId, nodeName: 'n1', id: allocIdFor('newcomer'), jobVersion: 2 }));
  cp.signalNode(nodeId);
  const res = await pending;
  assert.equal(res.status, 200);
  const body = (await res.json()) as NodeAllocationsResponse;
  assert.ok(body.index > first.index);
  assert.ok(body.allocations.some((a) => a.alloc.id === allocIdFor('newcomer')));
});

test('the blocking query answers the same index when the wait runs out, and caps the wait at 60 s', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  const pending = app.request(`/v1/nodes/${nodeId}/allocations?index=1&waitMs=600000`, { headers });
  await until(() => cp.waiting(nodeId) === 1);
  assert.equal(cp.calls.waitForNodeAllocs[0]!.waitMs, 60_000);
  cp.clock.advance(60_000);
  const body = (await (await pending).json()) as NodeAllocationsResponse;
  assert.equal(body.index, 1);
});

test('a client that hangs up ends its blocking query', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  const ac = new AbortController();
  const pending = app.request(`/v1/nodes/${nodeId}/allocations?index=1&waitMs=30000`, { headers, signal: ac.signal });
  await until(() => cp.waiting(nodeId) === 1);
  ac.abort();
  await Promise.resolve(pending).catch(() => undefined);
  assert.equal(cp.waiting(nodeId), 0);
});

test('blocking query parameters must be non-negative integers', async () => {
  const { app, nodeId, headers } = await agentWithAllocs();
  for (const qs of ['index=-1', 'index=abc', 'index=1.5']) {
    const res = await app.request(`/v1/nodes/${nodeId}/allocations?${qs}`, { headers });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as ErrorBody).message, "query parameter 'index' must be a non-negative integer");
  }
  const res = await app.request(`/v1/nodes/${nodeId}/allocations?index=0&waitMs=soon`, { headers });
  assert.equal(((await res.json()) as ErrorBody).message, "query parameter 'waitMs' must be a non-negative integer");
});

function aStatus(nodeId: NodeId, over: Partial<AllocStatus> = {}): AllocStatus {
  return {
    id: allocIdFor('current'),
    nodeId,
    clientStatus: 'running',
    clientDescription: 'Tasks are running',
    taskStates: { server: { state: 'running', failed: false, restarts: 0, startedAt: 5, events: [{ type: 'started', time: 5, message: 'started' }] } },
    updatedAt: 5,
    ...over,
  };
}

test('status updates are validated and passed to the control plane (204)', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  const update = aStatus(nodeId);
  const ok = await app.request(`/v1/nodes/${nodeId}/allocations/status`, json('PUT', { updates: [update] }, headers));
  assert.equal(ok.status, 204);
  assert.deepEqual(cp.calls.updateAllocStatus, [{ nodeId, updates: [update] }]);

  const bad = await app.request(`/v1/nodes/${nodeId}/allocations/status`, json('PUT', { updates: [{ ...update, clientStatus: 'exploded' }] }, headers));
  assert.equal(bad.status, 400);
  const body = (await bad.json()) as ErrorBody;
  assert.match(body.message, /'updates\[0\]\.clientStatus'/);
  assert.equal((body.details.issues as { path: string }[])[0]!.path, 'updates[0].clientStatus');

  const foreign = await app.request(`/v1/nodes/${nodeId}/allocations/status`, json('PUT', { updates: [{ ...update, nodeId: 'node_someoneelse' }] }, headers));
  assert.equal(foreign.status, 400);
  assert.match(((await foreign.json()) as ErrorBody).message, /updates\[0\]\.nodeId/);
  assert.equal(cp.calls.updateAllocStatus.length, 1);
});

test('a status update with too many task events keeps the newest', async () => {
  const { app, cp, nodeId, headers } = await agentWithAllocs();
  const events = Array.from({ length: 30 }, (_, i) => ({ type: 'restarting' as const, time: i, message: `restart ${i}` }));
  const update = aStatus(nodeId, { taskStates: { server: { state: 'running', failed: false, restarts: 30, events } } });
  assert.equal((await app.request(`/v1/nodes/${nodeId}/allocations/status`, json('PUT', { updates: [update] }, headers))).status, 204);
  const kept = cp.calls.updateAllocStatus[0]!.updates[0]!.taskStates.server!.events;
  assert.equal(kept.length, 20);
  assert.equal(kept[0]!.time, 10);
});
