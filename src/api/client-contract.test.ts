import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KaruError } from '../core/errors.js';
import type { EvalId } from '../core/ids.js';
import { KaruClient } from '../client/client.js';
import { aJob, allocIdFor, anAlloc, anEval } from './testing/fake-control-plane.js';
import { setup } from './testing/harness.js';

/**
 * The real client against the real routes (no socket): proves that paths, verbs, query
 * parameters, bodies and error shapes agree on both sides.
 */
function clientFor(opts: { fetchAgent?: typeof fetch } = {}) {
  const s = setup(opts);
  const client = new KaruClient({ baseUrl: 'http://karu.test', fetch: async (input, init) => s.app.request(input, init) });
  return { ...s, client };
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<KaruError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof KaruError, `expected a KaruError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test('client ⇄ routes: jobs', async () => {
  const { client, cp } = clientFor();
  const created = await client.registerJob({ name: 'web' });
  assert.equal(created.result, 'created');
  assert.equal((await client.registerJob({ name: 'web' })).result, 'updated');

  const invalid = await rejectsWith(client.registerJob({ count: 0 }), 'INVALID');
  assert.deepEqual(
    (invalid.details.issues as { path: string }[]).map((i) => i.path),
    ['name', 'groups[0].count'],
  );
  assert.equal(invalid.details.status, 400);

  cp.state.putAlloc(anAlloc({ id: allocIdFor('one'), clientStatus: 'running' }));
  const list = await client.listJobs('default');
  assert.deepEqual(
    list.map((j) => [j.name, j.status, j.version]),
    [['web', 'running', 2]],
  );
  const detail = await client.getJob('default', 'web');
  assert.equal(detail.allocations[0]!.id, allocIdFor('one'));
  assert.deepEqual(
    (await client.jobVersions('default', 'web')).map((j) => j.version),
    [2, 1],
  );
  await rejectsWith(client.getJob('default', 'nope'), 'NOT_FOUND', /default\/nope/);

  assert.deepEqual(await client.stopJob('default', 'web', { purge: true }), { evalId: 'eval_stop', purged: true });
  assert.deepEqual(cp.calls.stopJob.at(-1), { namespace: 'default', name: 'web', purge: true });
  await client.stopJob('default', 'web');
  assert.equal(cp.calls.stopJob.at(-1)!.purge, false);
});

test('client ⇄ routes: allocations, nodes, evaluations', async () => {
  const { client, cp } = clientFor();
  cp.state.putJob(aJob());
  cp.state.putAlloc(anAlloc({ id: allocIdFor('abc111') }));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('abc222'), jobName: 'other' }));
  cp.state.putEval(anEval({ id: 'eval_01hx000000eeee000000000000' as EvalId }));

  assert.equal((await client.listAllocations({ namespace: 'default', job: 'web' })).length, 1);
  assert.equal((await client.getAllocation('abc2')).id, allocIdFor('abc222'));
  await rejectsWith(client.getAllocation('zzz'), 'NOT_FOUND', /zzz/);
  const amb = await rejectsWith(client.getAllocation('abc'), 'INVALID', /ambiguous/);
  assert.equal((amb.details.candidates as string[]).length, 2);

  const { nodeId, secret } = await client.registerNode({
    name: 'n1',
    address: '10.0.0.1',
    agentUrl: 'http://10.0.0.1:4647',
    resources: { cpuMhz: 1000, memoryMb: 1024 },
    attributes: {},
    labels: {},
    drivers: {},
  });
  assert.ok(secret);
  assert.equal((await client.listNodes()).length, 1);
  assert.equal((await client.getNode(nodeId)).name, 'n1');

  assert.equal((await client.listEvaluations({ namespace: 'default', job: 'web' })).length, 1);
  assert.equal((await client.getEvaluation('eval_01hx000000eeee000000000000')).jobName, 'web');
});

test('client ⇄ routes: the agent session (register, heartbeat, blocking query, status)', async () => {
  const { client, cp } = clientFor();
  const reg = await client.registerNode({
    name: 'n1',
    address: '10.0.0.1',
    agentUrl: 'http://10.0.0.1:4647',
    resources: { cpuMhz: 1000, memoryMb: 1024 },
    attributes: {},
    labels: {},
    drivers: {},
  });
  const agent = client.withNodeSecret(reg.secret);
  assert.deepEqual(await agent.heartbeat(reg.nodeId, { drivers: { docker: { healthy: true, detail: 'ok' } } }), { heartbeatTtlMs: 10_000 });
  await rejectsWith(client.withNodeSecret('wrong').heartbeat(reg.nodeId), 'UNAUTHORIZED');

  cp.state.putJob(aJob());
  cp.addVersion(aJob());
  cp.state.putAlloc(anAlloc({ id: allocIdFor('mine'), nodeId: reg.nodeId }));
  const first = await agent.nodeAllocations(reg.nodeId, 0, 5_000);
  assert.deepEqual(
    first.allocations.map((a) => [a.alloc.id, a.group.name, a.jobType]),
    [[allocIdFor('mine'), 'api', 'service']],
  );

  const next = agent.nodeAllocations(reg.nodeId, first.index, 30_000);
  for (let i = 0; i < 1000 && cp.waiting(reg.nodeId) === 0; i++) await new Promise((r) => setImmediate(r));
  cp.state.putAlloc(anAlloc({ id: allocIdFor('mine'), nodeId: reg.nodeId, desiredStatus: 'stop' }));
  cp.signalNode(reg.nodeId);
  const changed = await next;
  assert.ok(changed.index > first.index);
  assert.equal(changed.allocations[0]!.alloc.desiredStatus, 'stop');

  const result = await agent.updateAllocStatus(reg.nodeId, [
    { id: allocIdFor('mine'), nodeId: reg.nodeId, clientStatus: 'complete', clientDescription: 'stopped', taskStates: {}, updatedAt: 1 },
  ]);
  assert.equal(result, undefined);
  assert.equal(cp.calls.updateAllocStatus[0]!.updates[0]!.clientStatus, 'complete');
});

test('client ⇄ routes: logs stream as parsed lines', async () => {
  const fetchAgent = (async () =>
    new Response('{"stream":"stdout","line":"a"}\n{"stream":"stderr","line":"b"}\n', { headers: { 'content-type': 'application/x-ndjson' } })) as typeof fetch;
  const { client, cp } = clientFor({ fetchAgent });
  const alloc = anAlloc({ id: allocIdFor('logs') });
  cp.state.putAlloc(alloc);
  cp.endpoints.set(alloc.nodeId, { url: 'http://10.0.0.1:4647', token: 't' });
  const lines = [];
  for await (const l of client.logs('logs', { tail: 10 })) lines.push(l);
  assert.deepEqual(lines, [
    { stream: 'stdout', line: 'a' },
    { stream: 'stderr', line: 'b' },
  ]);
});
