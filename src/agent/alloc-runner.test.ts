import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus } from '../core/alloc.js';
import { viewOf } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { AllocRunner, deriveClientStatus } from './alloc-runner.js';
import { DriverHealthTracker } from './driver-health.js';
import { advance, aGroup, anAlloc, aRestartPolicy, aTask } from './testing.js';

const NODE = 'node_1' as NodeId;

function runner(driver: FakeDriver, clock: FakeClock, group = aGroup(), previous?: Pick<AllocStatus, 'clientStatus' | 'taskStates'>) {
  const statuses: AllocStatus[] = [];
  const alloc = viewOf(anAlloc(NODE), previous ? { id: anAlloc(NODE).id, nodeId: NODE, clientDescription: '', updatedAt: 0, ...previous } : undefined);
  const r = new AllocRunner({ alloc, group, jobType: 'service', node: { id: NODE, address: '127.0.0.1' }, driver, health: new DriverHealthTracker(), clock, onStatus: (s) => statuses.push(s) });
  return { r, statuses, alloc };
}

test('when one task fails for good, the alloc is failed and its other tasks are stopped', async () => {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock });
  const group = aGroup({ restart: aRestartPolicy({ attempts: 0 }), tasks: [aTask({ name: 'main' }), aTask({ name: 'sidecar' })] });
  const { r, statuses, alloc } = runner(driver, clock, group);
  r.start();
  await advance(clock, 100);
  assert.equal(statuses.at(-1)?.clientStatus, 'running');
  driver.exit({ allocId: alloc.id, task: 'main' }, 3);
  await advance(clock, 100);
  const last = statuses.at(-1)!;
  assert.equal(last.clientStatus, 'failed');
  assert.equal(last.taskStates.sidecar?.state, 'dead');
  assert.equal(last.taskStates.sidecar?.failed, false);
  assert.equal(driver.list().filter((t) => t.running).length, 0);
});

test('restoring a terminal allocation starts nothing', async () => {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock });
  const { r, statuses } = runner(driver, clock, aGroup(), { clientStatus: 'complete', taskStates: {} });
  r.restore([]);
  await advance(clock, 100);
  assert.equal(driver.list().length, 0);
  assert.equal(statuses.at(-1)?.clientStatus, 'complete');
});

test('client status follows the tasks', () => {
  const s = (state: 'pending' | 'running' | 'dead', extra = {}) => ({ state, failed: false, restarts: 0, events: [], ...extra });
  assert.equal(deriveClientStatus([['a', s('running')], ['b', s('pending')]], false).clientStatus, 'pending');
  assert.equal(deriveClientStatus([['a', s('running')], ['b', s('pending', { startedAt: 1 })]], false).clientStatus, 'running');
  assert.equal(deriveClientStatus([['a', s('dead')], ['b', s('dead')]], false).clientStatus, 'complete');
  assert.equal(deriveClientStatus([['a', s('dead', { failed: true })], ['b', s('running')]], false).clientStatus, 'failed');
});
