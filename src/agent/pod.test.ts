import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocatedPort, AllocStatus } from '../core/alloc.js';
import { viewOf } from '../core/alloc.js';
import type { NodeId } from '../core/ids.js';
import type { Group, JobType } from '../core/job.js';
import { FakeClock } from '../lib/clock.js';
import { AllocRunner } from './alloc-runner.js';
import { DriverHealthTracker } from './driver-health.js';
import { advance, aGroup, anAlloc, aRestartPolicy, aTask, RecordingDriver } from './testing.js';

const NODE = 'node_1' as NodeId;
const PORTS: AllocatedPort[] = [
  { task: 'web', label: 'http', host: 21000, to: 80 },
  { task: 'side', label: 'admin', host: 21001, to: 9000 },
];
const DNS = '10.99.0.1';

function setup(group: Group, opts: { jobType?: JobType; ports?: AllocatedPort[]; previous?: Pick<AllocStatus, 'clientStatus' | 'taskStates'>; driver?: RecordingDriver; clock?: FakeClock } = {}) {
  const clock = opts.clock ?? new FakeClock();
  const driver = opts.driver ?? new RecordingDriver({ clock });
  const statuses: AllocStatus[] = [];
  const base = anAlloc(NODE, { ports: opts.ports ?? PORTS });
  const alloc = viewOf(base, opts.previous ? { id: base.id, nodeId: NODE, clientDescription: '', updatedAt: 0, ...opts.previous } : undefined);
  const r = new AllocRunner({
    alloc,
    group,
    jobType: opts.jobType ?? 'service',
    node: { id: NODE, address: '127.0.0.1', dnsServer: DNS },
    driver,
    health: new DriverHealthTracker(),
    clock,
    onStatus: (s) => statuses.push(s),
  });
  const spec = (task: string) => driver.list().find((t) => t.spec.labels.task === task)?.spec;
  const handle = (task: string) => driver.list().find((t) => t.spec.labels.task === task && t.running)?.handle;
  return { r, driver, clock, statuses, alloc, spec, handle, last: () => statuses.at(-1)! };
}

const pod = (over: Partial<Group> = {}) => aGroup({ tasks: [aTask({ name: 'web' }), aTask({ name: 'side' })], ...over });

test('a pod starts its pause container first, with all the ports and the DNS; its tasks join it with neither', async () => {
  const { r, driver, clock, spec, handle, last } = setup(pod());
  r.start();
  await advance(clock, 100);
  assert.equal(driver.calls[0], 'start .pause');
  assert.deepEqual(driver.callsOf('start').slice(1).sort(), ['side', 'web']);
  const pause = spec('.pause')!;
  assert.equal(pause.kind, 'pause');
  assert.equal(pause.name, 'karu-shop-app-0-.pause-abcdefgh');
  assert.deepEqual(pause.ports, [{ host: 21000, to: 80 }, { host: 21001, to: 9000 }]);
  assert.deepEqual(pause.dns, { servers: [DNS], search: ['default.karu'] });
  for (const task of ['web', 'side']) {
    assert.equal(spec(task)!.joinNetworkOf, handle('.pause')!.id);
    assert.deepEqual(spec(task)!.ports, []);
    assert.equal(spec(task)!.dns, undefined);
  }
  // Tasks still learn their own ports.
  assert.equal(spec('web')!.env.KARU_PORT_HTTP, '21000');
  assert.equal(last().clientStatus, 'running');
  assert.deepEqual(Object.keys(last().taskStates).sort(), ['side', 'web'], 'the pause container is no task of the allocation');
  assert.equal(r.pauseHandle?.id, handle('.pause')!.id);
});

test('a single-task group is no pod: the task holds its own ports and DNS', async () => {
  const { r, driver, clock, spec } = setup(aGroup({ tasks: [aTask({ name: 'web' })] }), { ports: [PORTS[0]!] });
  r.start();
  await advance(clock, 100);
  assert.deepEqual(driver.callsOf('start'), ['web']);
  assert.deepEqual(spec('web')!.ports, [{ host: 21000, to: 80 }]);
  assert.deepEqual(spec('web')!.dns, { servers: [DNS], search: ['default.karu'] });
  assert.equal(spec('web')!.joinNetworkOf, undefined);
  assert.equal(r.pauseHandle, undefined);
});

test('a task restart keeps the pod\'s pause container (same namespace, same ports)', async () => {
  const { r, driver, clock, spec, handle, alloc, last } = setup(pod());
  r.start();
  await advance(clock, 100);
  const pauseId = handle('.pause')!.id;
  driver.exit({ allocId: alloc.id, task: 'web' }, 1);
  await advance(clock, 6_000, 500);
  assert.equal(last().taskStates.web?.restarts, 1);
  assert.equal(last().taskStates.web?.state, 'running');
  assert.equal(handle('.pause')?.id, pauseId);
  assert.equal(spec('web')!.joinNetworkOf, pauseId);
  assert.deepEqual(driver.callsOf('start').filter((t) => t === '.pause'), ['.pause'], 'one pause container, ever');
});

test('a pause container that dies is restarted, and the tasks restart in its new namespace', async () => {
  const { r, driver, clock, handle, spec, alloc, last } = setup(pod());
  r.start();
  await advance(clock, 100);
  const before = handle('.pause')!.id;
  driver.exit({ allocId: alloc.id, task: '.pause' }, 137, { signaled: true });
  await advance(clock, 6_000, 500);
  const after = handle('.pause')!.id;
  assert.notEqual(after, before);
  for (const task of ['web', 'side']) {
    assert.equal(spec(task)!.joinNetworkOf, after);
    assert.equal(last().taskStates[task]?.state, 'running');
    assert.ok(last().taskStates[task]!.events.some((e) => e.type === 'restarting' && /network container was replaced/.test(e.message)));
  }
  assert.equal(last().clientStatus, 'running');
  assert.equal(driver.list().filter((t) => t.running).length, 3, 'the old containers are gone');
});

test('a pause container that cannot start fails the allocation, saying so', async () => {
  const { r, driver, clock, last } = setup(pod({ restart: aRestartPolicy({ attempts: 0 }) }));
  driver.failNextStart('port is already allocated', false);
  r.start();
  await advance(clock, 100);
  assert.equal(last().clientStatus, 'failed');
  assert.match(last().clientDescription, /pod's network \(pause container\) failed: port is already allocated/);
  assert.equal(driver.list().filter((t) => t.running).length, 0);
});

test('stopping a pod: tasks, then poststop hooks, then the pause container, then the volumes', async () => {
  const group = pod({
    volumes: [{ name: 'data' }],
    tasks: [
      aTask({ name: 'web', volumeMounts: [{ volume: 'data', target: '/data', readOnly: false }] }),
      aTask({ name: 'side', volumeMounts: [{ volume: 'data', target: '/srv', readOnly: true }] }),
      aTask({ name: 'cleanup', command: 'sh', args: ['-c', 'sleep 1; exit 0'], lifecycle: { hook: 'poststop', sidecar: false } }),
    ],
  });
  const { r, driver, clock, spec, last } = setup(group);
  r.start();
  await advance(clock, 100);
  assert.deepEqual(spec('web')!.volumes, [{ name: 'karu-abcdefgh-data', target: '/data', readOnly: false }]);
  assert.deepEqual(spec('side')!.volumes, [{ name: 'karu-abcdefgh-data', target: '/srv', readOnly: true }]);
  assert.deepEqual(driver.volumes(), ['karu-abcdefgh-data']);
  assert.deepEqual(driver.callsOf('start').sort(), ['.pause', 'side', 'web'], 'the poststop hook waits');
  driver.calls.length = 0;
  const stopped = r.stop();
  await advance(clock, 2_000);
  await stopped;
  const order = driver.calls.filter((c) => c.startsWith('destroy') || c.startsWith('start') || c.startsWith('removeVolume'));
  assert.deepEqual(order.slice(0, 2).sort(), ['destroy side', 'destroy web']);
  assert.deepEqual(order.slice(2), ['start cleanup', 'destroy cleanup', 'destroy .pause', 'removeVolume karu-abcdefgh-data']);
  assert.equal(last().clientStatus, 'complete');
  assert.equal(last().taskStates.cleanup?.exitCode, 0);
  assert.equal(driver.list().length, 0);
  assert.deepEqual(driver.volumes(), []);
});

test('complete is reported only once the pause container (holding the ports) is gone', async () => {
  const { r, clock, statuses, driver } = setup(pod());
  r.start();
  await advance(clock, 100);
  const stopped = r.stop();
  await advance(clock, 100);
  await stopped;
  const firstComplete = statuses.findIndex((s) => s.clientStatus === 'complete');
  assert.ok(firstComplete >= 0);
  assert.ok(driver.calls.includes('destroy .pause'));
  // Every status before it that had all tasks dead says why it is not complete yet.
  for (const s of statuses.slice(0, firstComplete)) {
    if (Object.values(s.taskStates).every((t) => t.state === 'dead')) assert.match(s.clientDescription, /removing the pod's network/);
  }
});

test('a volume that cannot be removed yet is retried', async () => {
  const group = aGroup({ volumes: [{ name: 'cache' }], tasks: [aTask({ name: 'web', volumeMounts: [{ volume: 'cache', target: '/c', readOnly: false }] })] });
  const { r, driver, clock } = setup(group, { ports: [] });
  r.start();
  await advance(clock, 100);
  driver.failVolumeRemovals(2);
  const stopped = r.stop();
  await advance(clock, 10_000, 500);
  await stopped;
  assert.deepEqual(driver.callsOf('removeVolume'), ['karu-abcdefgh-cache', 'karu-abcdefgh-cache', 'karu-abcdefgh-cache']);
  assert.deepEqual(driver.volumes(), []);
});

test('after an agent restart the pause container is reattached, not recreated, and tasks keep their namespace', async () => {
  const clock = new FakeClock();
  const driver = new RecordingDriver({ clock });
  const first = setup(pod(), { driver, clock });
  first.r.start();
  await advance(clock, 100);
  const pauseId = first.handle('.pause')!.id;
  const webId = first.handle('web')!.id;
  await first.r.detach();
  driver.calls.length = 0;

  const second = setup(pod(), { driver, clock, previous: first.last() });
  second.r.restore(await driver.recover(NODE));
  await advance(clock, 100);
  assert.deepEqual(driver.callsOf('start'), [], 'nothing started anew');
  assert.equal(second.r.pauseHandle?.id, pauseId);
  assert.equal(second.r.taskHandle('web')?.id, webId);
  assert.equal(second.last().clientStatus, 'running');
  assert.ok(second.last().taskStates.web!.events.some((e) => e.type === 'reattached'));
});

test('after an agent restart, a pod whose pause container is gone is restarted cleanly', async () => {
  const clock = new FakeClock();
  const driver = new RecordingDriver({ clock });
  const first = setup(pod(), { driver, clock });
  first.r.start();
  await advance(clock, 100);
  const oldPause = first.handle('.pause')!;
  await first.r.detach();
  await driver.destroy(oldPause);
  driver.calls.length = 0;

  const second = setup(pod(), { driver, clock, previous: first.last() });
  second.r.restore(await driver.recover(NODE));
  await advance(clock, 1_000);
  const pause = second.handle('.pause')!;
  assert.notEqual(pause.id, oldPause.id);
  assert.equal(driver.callsOf('start')[0], '.pause', 'the pause container comes first');
  for (const task of ['web', 'side']) {
    assert.equal(second.spec(task)!.joinNetworkOf, pause.id);
    assert.equal(second.last().taskStates[task]?.state, 'running');
  }
  assert.equal(driver.list().filter((t) => t.running).length, 3);
});

test('restoring a terminal pod starts nothing and removes its leftover pause container', async () => {
  const clock = new FakeClock();
  const driver = new RecordingDriver({ clock });
  const first = setup(pod(), { driver, clock, jobType: 'batch' });
  first.r.start();
  await advance(clock, 100);
  await first.r.detach();
  // The tasks ended while the agent was away; the server had them complete.
  for (const task of ['web', 'side']) driver.exit({ allocId: first.alloc.id, task }, 0);
  driver.calls.length = 0;
  const second = setup(pod(), { driver, clock, jobType: 'batch', previous: { clientStatus: 'complete', taskStates: {} } });
  second.r.restore(await driver.recover(NODE));
  await advance(clock, 100);
  assert.deepEqual(driver.callsOf('start'), []);
  assert.deepEqual(driver.callsOf('destroy'), ['.pause']);
  assert.equal(second.last().clientStatus, 'complete');
});
