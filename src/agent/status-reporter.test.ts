import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus, ClientStatus } from '../core/alloc.js';
import type { AllocId, NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { StatusReporter } from './status-reporter.js';
import { advance, settle } from './testing.js';

const status = (id: string, clientStatus: ClientStatus, at = 0): AllocStatus => ({ id: id as AllocId, nodeId: 'node_1' as NodeId, clientStatus, clientDescription: '', taskStates: {}, updatedAt: at });

test('a new client status goes out at once, coalesced per allocation; same-status updates wait for the batch window', async () => {
  const clock = new FakeClock();
  const sent: AllocStatus[][] = [];
  const r = new StatusReporter({ send: async (u) => void sent.push(u), clock });
  r.report(status('a', 'pending'));
  await settle();
  assert.deepEqual(sent.map((b) => b.map((s) => s.clientStatus)), [['pending']]);
  // Two changes in one tick: one send, with the newest.
  r.report(status('a', 'running'));
  r.report(status('a', 'failed'));
  await settle();
  assert.deepEqual(sent[1]?.map((s) => s.clientStatus), ['failed']);
  // Task-event chatter under an unchanged client status is batched.
  r.report(status('a', 'failed'));
  await settle();
  assert.equal(sent.length, 2, 'waits for the batch window');
  await advance(clock, 100);
  assert.equal(sent.length, 3);
});

test('a failed send is retried without overwriting a newer status', async () => {
  const clock = new FakeClock();
  const sent: AllocStatus[][] = [];
  let fail = true;
  const r = new StatusReporter({ send: async (u) => {
    if (fail) throw new Error('ECONNREFUSED');
    sent.push(u);
  }, clock });
  r.report(status('a', 'pending'));
  r.report(status('b', 'running'));
  await settle();
  assert.equal(r.backlog, 2, 'kept after the failure');
  r.report(status('a', 'complete'));
  fail = false;
  await advance(clock, 15_000, 500);
  assert.equal(r.backlog, 0);
  const last = new Map(sent.flat().map((s) => [s.id, s.clientStatus]));
  assert.deepEqual(Object.fromEntries(last), { a: 'complete', b: 'running' });
});

test('a change of a service check\'s healthy flag goes out at once; its output alone waits for the batch', async () => {
  const clock = new FakeClock();
  const sent: AllocStatus[][] = [];
  const r = new StatusReporter({ send: async (u) => void sent.push(u), clock });
  const withChecks = (healthy: Record<string, boolean>, output = ''): AllocStatus => ({
    ...status('a', 'running'),
    checks: Object.fromEntries(Object.entries(healthy).map(([name, h]) => [name, { healthy: h, output, since: 0 }])),
  });
  r.report(status('a', 'running'));
  await settle();
  assert.equal(sent.length, 1);
  // The first check results: `web` becomes known (unhealthy) — news.
  r.report(withChecks({ web: false }, 'waiting for the first check'));
  await settle();
  assert.equal(sent.length, 2);
  r.report(withChecks({ web: true }));
  await settle();
  assert.equal(sent.length, 3, 'healthy at once');
  assert.equal(sent[2]?.[0]?.checks?.web?.healthy, true);
  // Same health, other output: batched.
  r.report(withChecks({ web: true }, 'http GET /health: status 200'));
  await settle();
  assert.equal(sent.length, 3);
  await advance(clock, 100);
  assert.equal(sent.length, 4);
  // A second service turning unhealthy while the first stays healthy: at once.
  r.report(withChecks({ web: true, db: true }));
  await settle();
  r.report(withChecks({ web: true, db: false }));
  await settle();
  assert.equal(sent.length, 6);
  assert.equal(sent[5]?.[0]?.checks?.db?.healthy, false);
});
