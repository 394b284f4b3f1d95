import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus } from '../core/alloc.js';
import { viewOf } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import type { TaskLifecycle } from '../core/job.js';
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
  const t = (name: string, state: ReturnType<typeof s>, lifecycle?: TaskLifecycle) => ({ name, state, lifecycle });
  assert.equal(deriveClientStatus([t('a', s('running')), t('b', s('pending'))], false).clientStatus, 'pending');
  assert.equal(deriveClientStatus([t('a', s('running')), t('b', s('pending', { startedAt: 1 }))], false).clientStatus, 'running');
  assert.equal(deriveClientStatus([t('a', s('dead')), t('b', s('dead'))], false).clientStatus, 'complete');
  assert.equal(deriveClientStatus([t('a', s('dead', { failed: true })), t('b', s('running'))], false).clientStatus, 'failed');
});

test('client status with lifecycle hooks: completed hooks and poststop hooks not yet run do not hold it back', () => {
  const s = (state: 'pending' | 'running' | 'dead', extra = {}) => ({ state, failed: false, restarts: 0, events: [], ...extra });
  const t = (name: string, state: ReturnType<typeof s>, lifecycle?: TaskLifecycle) => ({ name, state, lifecycle });
  const pre = { hook: 'prestart', sidecar: false } as const;
  const side = { hook: 'prestart', sidecar: true } as const;
  const post = { hook: 'poststop', sidecar: false } as const;
  const running = [t('init', s('dead', { exitCode: 0 }), pre), t('proxy', s('running'), side), t('web', s('running')), t('cleanup', s('pending'), post)];
  assert.deepEqual(deriveClientStatus(running, false), { clientStatus: 'running', description: 'Tasks are running' });
  // A prestart hook still running: the main task has not started yet.
  assert.deepEqual(deriveClientStatus([t('init', s('running'), pre), t('web', s('pending'))], false), { clientStatus: 'pending', description: 'Running prestart tasks' });
  // The sidecar has not started: not running yet.
  assert.equal(deriveClientStatus([t('proxy', s('starting' as 'pending'), side), t('web', s('running'))], false).clientStatus, 'pending');
  // Main done, poststop running: still running (complete only once the hook has run).
  assert.equal(deriveClientStatus([t('web', s('dead')), t('cleanup', s('running'), post)], false).clientStatus, 'running');
  assert.equal(deriveClientStatus([t('web', s('dead')), t('cleanup', s('dead'), post)], false).clientStatus, 'complete');
  // A failed hook is named as one, with why it gave up.
  const failedHook = s('dead', {
    failed: true,
    events: [
      { type: 'terminated', time: 1, message: 'Exit code 3', exitCode: 3 },
      { type: 'not-restarting', time: 1, message: 'Exceeded allowed attempts (0 restarts in 1m) and mode is "fail"' },
    ],
  });
  assert.deepEqual(deriveClientStatus([t('migrate', failedHook, pre), t('web', s('pending'))], false), {
    clientStatus: 'failed',
    description: `Failed: prestart task 'migrate' failed: Exit code 3; Exceeded allowed attempts (0 restarts in 1m) and mode is "fail"`,
  });
});
