import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus } from '../core/alloc.js';
import { viewOf } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import type { Group, JobType, TaskLifecycle } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import { AllocRunner, POSTSTOP_DEADLINE_MS } from './alloc-runner.js';
import { DriverHealthTracker } from './driver-health.js';
import { restartJobType, taskRole } from './lifecycle.js';
import { advance, aGroup, anAlloc, aRestartPolicy, aTask, RecordingDriver } from './testing.js';

const NODE = 'node_1' as NodeId;
const PRESTART: TaskLifecycle = { hook: 'prestart', sidecar: false };
const SIDECAR: TaskLifecycle = { hook: 'prestart', sidecar: true };
const POSTSTOP: TaskLifecycle = { hook: 'poststop', sidecar: false };
const sh = (script: string) => ({ command: 'sh', args: ['-c', script] });

function setup(group: Group, opts: { jobType?: JobType; previous?: Pick<AllocStatus, 'clientStatus' | 'taskStates'>; driver?: RecordingDriver; clock?: FakeClock } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const driver = opts.driver ?? new RecordingDriver({ clock });
  const statuses: AllocStatus[] = [];
  const base = anAlloc(NODE);
  const alloc = viewOf(base, opts.previous ? { id: base.id, nodeId: NODE, clientDescription: '', updatedAt: 0, ...opts.previous } : undefined);
  const r = new AllocRunner({ alloc, group, jobType: opts.jobType ?? 'service', node: { id: NODE, address: '127.0.0.1' }, driver, health: new DriverHealthTracker(), clock, onStatus: (s) => statuses.push(s) });
  return { r, driver, clock, statuses, alloc, last: () => statuses.at(-1)! };
}

test('roles: hooks run to completion as batch tasks; sidecars and main tasks follow the job type', () => {
  assert.equal(taskRole({}), 'main');
  assert.equal(taskRole({ lifecycle: PRESTART }), 'prestart');
  assert.equal(taskRole({ lifecycle: SIDECAR }), 'sidecar');
  assert.equal(taskRole({ lifecycle: POSTSTOP }), 'poststop');
  assert.equal(restartJobType('prestart', 'service'), 'batch');
  assert.equal(restartJobType('poststop', 'service'), 'batch');
  assert.equal(restartJobType('sidecar', 'service'), 'service');
  assert.equal(restartJobType('main', 'batch'), 'batch');
});

test('a prestart hook runs to completion before any main task starts, and is never run again', async () => {
  const group = aGroup({ tasks: [aTask({ name: 'init', ...sh('sleep 2; exit 0'), lifecycle: PRESTART }), aTask({ name: 'web' })] });
  const { r, driver, clock, last } = setup(group);
  r.start();
  await advance(clock, 1_000);
  assert.deepEqual(driver.callsOf('start'), ['.pause', 'init']);
  assert.equal(last().clientStatus, 'pending');
  assert.equal(last().clientDescription, 'Running prestart tasks');
  await advance(clock, 1_500);
  assert.deepEqual(driver.callsOf('start'), ['.pause', 'init', 'web']);
  assert.equal(last().clientStatus, 'running', 'a completed hook does not hold the allocation pending');
  assert.equal(last().taskStates.init?.state, 'dead');
  assert.equal(last().taskStates.init?.exitCode, 0);
  // A service job restarts its tasks on any exit, but not a hook that completed.
  await advance(clock, 60_000, 1_000);
  assert.equal(driver.callsOf('start').filter((t) => t === 'init').length, 1);
  assert.equal(last().taskStates.init?.restarts, 0);
});

test('a prestart hook that keeps failing fails the allocation, naming the hook; main tasks never start', async () => {
  const group = aGroup({
    restart: aRestartPolicy({ attempts: 1, delayMs: 1_000 }),
    tasks: [aTask({ name: 'migrate', ...sh('exit 3'), lifecycle: PRESTART }), aTask({ name: 'web' })],
  });
  const { r, driver, clock, last } = setup(group);
  r.start();
  await advance(clock, 3_000);
  assert.equal(last().clientStatus, 'failed');
  assert.match(last().clientDescription, /^Failed: prestart task 'migrate' failed: Exit code 3; Exceeded allowed attempts/);
  assert.equal(last().taskStates.migrate?.restarts, 1, 'the restart policy applied to the hook');
  assert.equal(driver.callsOf('start').includes('web'), false);
  assert.ok(driver.callsOf('destroy').includes('.pause'), 'the pod network is released');
  assert.equal(driver.list().filter((t) => t.running).length, 0);
});

test('batch: sidecars start before the main task and stop after it; poststop hooks run last, then the pause goes', async () => {
  const group = aGroup({
    tasks: [
      aTask({ name: 'proxy', lifecycle: SIDECAR }),
      aTask({ name: 'job', ...sh('sleep 3; exit 0') }),
      aTask({ name: 'report', ...sh('sleep 1; exit 0'), lifecycle: POSTSTOP }),
    ],
  });
  const { r, driver, clock, last, statuses } = setup(group, { jobType: 'batch' });
  r.start();
  await advance(clock, 500);
  assert.deepEqual(driver.callsOf('start'), ['.pause', 'proxy', 'job']);
  assert.equal(last().clientStatus, 'running');
  await advance(clock, 3_000);
  // The main task completed: the sidecar was stopped after it, then the poststop hook started.
  const calls = driver.calls.filter((c) => /^(start|stop|destroy) /.test(c));
  assert.ok(calls.indexOf('stop proxy') < calls.indexOf('start report'), calls.join(', '));
  assert.equal(last().clientStatus, 'running', 'not complete while the poststop hook runs');
  await advance(clock, 2_000);
  assert.equal(last().clientStatus, 'complete');
  assert.equal(last().clientDescription, 'All tasks have completed');
  assert.equal(last().taskStates.proxy?.state, 'dead');
  assert.equal(last().taskStates.proxy?.failed, false);
  assert.equal(last().taskStates.report?.exitCode, 0);
  assert.ok(driver.callsOf('destroy').includes('.pause'));
  // Finished task containers stay for their logs until the server stops the allocation.
  assert.deepEqual(driver.list().map((t) => t.spec.labels.task).sort(), ['job', 'proxy', 'report']);
  assert.equal(statuses.filter((s) => s.clientStatus === 'complete').length >= 1, true);
  await r.stop();
  await advance(clock, 100);
  assert.equal(driver.list().length, 0);
  assert.equal(driver.callsOf('start').filter((t) => t === 'report').length, 1, 'the poststop hook ran once');
});

test('a poststop hook that never ends is killed at its deadline, and the stop goes on', async () => {
  const group = aGroup({
    volumes: [{ name: 'data' }],
    tasks: [
      aTask({ name: 'web', volumeMounts: [{ volume: 'data', target: '/data', readOnly: false }] }),
      aTask({ name: 'flush', ...sh('sleep 100000'), lifecycle: POSTSTOP, volumeMounts: [{ volume: 'data', target: '/data', readOnly: false }] }),
    ],
  });
  const { r, driver, clock, last } = setup(group);
  r.start();
  await advance(clock, 200);
  let stopped = false;
  void r.stop().then(() => (stopped = true));
  await advance(clock, POSTSTOP_DEADLINE_MS - 10_000, 10_000);
  assert.equal(stopped, false, 'the hook gets its time');
  assert.equal(last().taskStates.flush?.state, 'running');
  assert.ok(!driver.callsOf('destroy').includes('.pause'));
  await advance(clock, 20_000, 1_000);
  assert.equal(stopped, true, 'then the stop goes on');
  const flush = last().taskStates.flush!;
  assert.equal(flush.state, 'dead');
  assert.ok(
    flush.events.some((e) => e.type === 'killing' && e.message.startsWith('Poststop task still running after 5m (its deadline): sent stop signal')),
    flush.events.map((e) => e.message).join('\n'),
  );
  assert.deepEqual(driver.callsOf('destroy').slice(-1), ['.pause']);
  assert.equal(driver.list().length, 0);
  assert.deepEqual(driver.volumes(), []);
  assert.equal(last().clientStatus, 'complete');
});

test('batch: a poststop hook past its deadline is killed (kept for its logs) and the allocation completes', async () => {
  const group = aGroup({ tasks: [aTask({ name: 'job', ...sh('exit 0') }), aTask({ name: 'report', ...sh('sleep 100000'), lifecycle: POSTSTOP })] });
  const { r, driver, clock, last } = setup(group, { jobType: 'batch' });
  r.start();
  await advance(clock, 1_000);
  assert.equal(last().taskStates.report?.state, 'running');
  await advance(clock, POSTSTOP_DEADLINE_MS, 10_000);
  assert.equal(last().clientStatus, 'complete');
  assert.equal(last().taskStates.report?.state, 'dead');
  assert.deepEqual(driver.list().map((t) => t.spec.labels.task).sort(), ['job', 'report']);
});

test('main tasks start only once the prestart sidecars run', async () => {
  const clock = new FakeClock();
  const driver = new RecordingDriver({ clock, startDelayMs: 1_000 });
  const group = aGroup({ tasks: [aTask({ name: 'proxy', lifecycle: SIDECAR }), aTask({ name: 'web' })] });
  const { r, last } = setup(group, { driver, clock });
  r.start();
  await advance(clock, 1_500);
  assert.deepEqual(driver.callsOf('start'), ['.pause']);
  await advance(clock, 1_000);
  assert.deepEqual(driver.callsOf('start'), ['.pause', 'proxy']);
  assert.equal(last().clientStatus, 'pending');
  await advance(clock, 1_000);
  assert.deepEqual(driver.callsOf('start'), ['.pause', 'proxy', 'web']);
  assert.equal(last().clientStatus, 'running');
});

test('after an agent restart, a completed prestart hook is not run again', async () => {
  const clock = new FakeClock();
  const driver = new RecordingDriver({ clock });
  const group = aGroup({ tasks: [aTask({ name: 'init', ...sh('exit 0'), lifecycle: PRESTART }), aTask({ name: 'web' })] });
  const first = setup(group, { driver, clock });
  first.r.start();
  await advance(clock, 200);
  assert.equal(first.last().clientStatus, 'running');
  await first.r.detach();
  driver.calls.length = 0;
  const second = setup(group, { driver, clock, previous: first.last() });
  second.r.restore(await driver.recover(NODE));
  await advance(clock, 10_000, 500);
  assert.deepEqual(driver.callsOf('start'), []);
  assert.equal(second.last().clientStatus, 'running');
  assert.equal(second.last().taskStates.init?.state, 'dead');
});

test('a group with services reports its checks once its main tasks run, and stops them with the allocation', async () => {
  const group = aGroup({
    tasks: [aTask({ name: 'web', ports: [{ label: 'http', to: 80 }] })],
    services: [{ name: 'web', portLabel: 'http', task: 'web', tags: [], checks: [], ingress: [] }],
  });
  const { r, clock, last } = setup(group);
  r.start();
  await advance(clock, 200);
  assert.equal(last().clientStatus, 'running');
  assert.equal(last().checks?.web?.healthy, true);
  assert.equal(last().checks?.web?.output, 'no checks');
  await r.stop();
  assert.equal(last().clientStatus, 'complete');
});
