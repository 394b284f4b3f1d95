import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../lib/clock.js';
import { DriverError, type TaskSpec } from '../driver.js';
import { runDriverSuite } from '../driver.suite.js';
import { FakeDriver } from './fake-driver.js';

const IMAGE = 'karu/busybox:1';

runDriverSuite('fake', async () => {
  const clock = new FakeClock();
  const driver = new FakeDriver({ images: [IMAGE], clock });
  return {
    driver,
    nodeId: 'node-fake',
    image: IMAGE,
    missingImage: 'karu/missing-image:0',
    volumeExists: async (name) => driver.volumes().includes(name),
    passTime: (ms) => clock.advance(ms),
    killFromOutside: async (handle) => driver.exit(handle, 137),
    cleanup: async () => undefined,
  };
});

function aSpec(over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    labels: { nodeId: 'n1', allocId: 'alloc_1', jobName: 'web', namespace: 'default', group: 'g', task: 'app' },
    name: 'alloc_1-app',
    image: IMAGE,
    args: [],
    env: {},
    resources: { cpuMhz: 100, memoryMb: 64 },
    ports: [],
    ...over,
  };
}

describe('FakeDriver test controls', () => {
  it('exit() ends a task found by alloc and task name', async () => {
    const d = new FakeDriver();
    const h = await d.start(aSpec());
    d.exit({ allocId: 'alloc_1', task: 'app' }, 2, { error: 'boom' });
    assert.deepEqual(await d.wait(h), { exitCode: 2, signaled: false, oomKilled: false, finishedAt: 0, error: 'boom' });
  });

  it('failNextStart fails exactly one start, with the retryability asked for', async () => {
    const d = new FakeDriver();
    d.failNextStart('engine hiccup', true);
    await assert.rejects(d.start(aSpec()), (e: unknown) => e instanceof DriverError && e.retryable && e.message === 'engine hiccup');
    assert.ok(await d.start(aSpec()));
  });

  it('setHealthy reports transitions only, and fails calls as retryable while down', async () => {
    const d = new FakeDriver();
    const seen: boolean[] = [];
    d.onHealthChange((healthy) => seen.push(healthy));
    d.setHealthy(true);
    d.setHealthy(false, 'dockerd stopped');
    d.setHealthy(false);
    await assert.rejects(d.start(aSpec()), (e: unknown) => e instanceof DriverError && e.retryable);
    assert.equal((await d.fingerprint()).healthy, false);
    d.setHealthy(true);
    assert.deepEqual(seen, [false, true]);
  });

  it('start delay and sleeps run on the injected clock', async () => {
    const clock = new FakeClock(0);
    const d = new FakeDriver({ clock, startDelayMs: 500 });
    let handle: Awaited<ReturnType<FakeDriver['start']>> | undefined;
    const starting = d.start(aSpec({ command: 'sh', args: ['-c', 'sleep 2; exit 4'] })).then((h) => (handle = h));
    await Promise.resolve();
    assert.equal(handle, undefined);
    clock.advance(500);
    await starting;
    assert.ok(handle);
    clock.advance(1_999);
    assert.equal((await d.inspect(handle))?.running, true);
    clock.advance(1);
    assert.deepEqual(await d.wait(handle), { exitCode: 4, signaled: false, oomKilled: false, finishedAt: 2_500 });
  });

  it('writeLog lines reach a follower', async () => {
    const d = new FakeDriver();
    const h = await d.start(aSpec());
    const lines: string[] = [];
    const following = (async () => {
      for await (const l of d.logs(h, { follow: true })) lines.push(`${l.stream}:${l.line}`);
    })();
    d.writeLog(h, 'hello');
    d.writeLog(h, 'warn', 'stderr');
    d.exit(h, 0);
    await following;
    assert.deepEqual(lines, ['stdout:hello', 'stderr:warn']);
  });

  it('keeps the spec it was started with for assertions', async () => {
    const d = new FakeDriver();
    await d.start(aSpec({ env: { A: '1' } }));
    assert.deepEqual(d.list().map((t) => t.spec.env), [{ A: '1' }]);
  });

  it('refuses a start delay without a clock, as it makes no real timers', () => {
    assert.throws(() => new FakeDriver({ startDelayMs: 10 }), /needs a clock/);
  });
});

describe('FakeDriver pods and exec', () => {
  it('records which task joins which network, and refuses a holder that is gone or stopped', async () => {
    const d = new FakeDriver();
    const pause = await d.start(aSpec({ name: 'alloc_1-pause', kind: 'pause', labels: { ...aSpec().labels, task: '.pause' } }));
    await d.start(aSpec({ joinNetworkOf: pause.id }));
    assert.equal(d.list().find((t) => t.spec.name === 'alloc_1-app')?.spec.joinNetworkOf, pause.id);
    await d.stop(pause, 10_000);
    assert.equal((await d.wait(pause)).exitCode, 0, 'a pause container exits 0 on SIGTERM');
    await assert.rejects(d.start(aSpec({ name: 'other', joinNetworkOf: pause.id })), /is not running/);
    await assert.rejects(d.start(aSpec({ name: 'other', joinNetworkOf: 'fake-999999' })), /does not exist/);
  });

  it('needs no image for a pause container', async () => {
    const d = new FakeDriver({ images: [] });
    assert.ok(await d.start(aSpec({ kind: 'pause', image: 'anything:0' })));
  });

  it('setExecResult programs exec by handle or by task name; a handle wins', async () => {
    const d = new FakeDriver();
    const h = await d.start(aSpec());
    assert.deepEqual(await d.exec(h, ['/bin/check'], { timeoutMs: 1_000 }), { exitCode: 0, output: '' }, 'default: success');
    d.setExecResult('app', { exitCode: 2, output: 'unhealthy' });
    assert.deepEqual(await d.exec(h, ['/bin/check'], { timeoutMs: 1_000 }), { exitCode: 2, output: 'unhealthy' });
    const seen: string[][] = [];
    d.setExecResult(h, (command) => (seen.push(command), { exitCode: 0, output: 'x'.repeat(5_000) }));
    const r = await d.exec(h, ['/bin/check', '--deep'], { timeoutMs: 1_000 });
    assert.equal(r.output.length, 4096, 'the last 4 KiB, as Docker');
    assert.deepEqual(seen, [['/bin/check', '--deep']]);
  });

  it('an exec that outlasts its timeout fails at once without a clock', async () => {
    const d = new FakeDriver();
    const h = await d.start(aSpec());
    await assert.rejects(d.exec(h, ['sleep', '5'], { timeoutMs: 1_000 }), (e: unknown) => e instanceof DriverError && e.retryable);
  });

  it('keeps volumes until removed, and refuses while a task that mounts one exists', async () => {
    const d = new FakeDriver();
    const h = await d.start(aSpec({ volumes: [{ name: 'alloc_1-data', target: '/data', readOnly: false }] }));
    assert.deepEqual(d.volumes(), ['alloc_1-data']);
    await d.stop(h, 0);
    await assert.rejects(d.removeVolume('alloc_1-data'), (e: unknown) => e instanceof DriverError && e.retryable && /in use/.test(e.message));
    await d.destroy(h);
    await d.removeVolume('alloc_1-data');
    assert.deepEqual(d.volumes(), []);
  });
});
