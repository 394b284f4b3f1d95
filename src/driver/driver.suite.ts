import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PAUSE_TASK } from '../core/service.js';
import { DriverError, type Driver, type LogLine, type TaskHandle, type TaskSpec } from './driver.js';

/**
 * What one implementation brings to the conformance suite. The suite's tasks are written
 * as shell commands that both Docker (busybox) and the fake (fake-script.ts) understand.
 */
export interface DriverHarness {
  driver: Driver;
  /** Node id for the suite's tasks; unique per run so leftovers of other runs never count. */
  nodeId: string;
  /** An image that exists and has busybox's `sh`, `sleep`, `echo`. */
  image: string;
  /** An image that does not exist and cannot be pulled. */
  missingImage: string;
  /** An image serving HTTP 200 on container port 8080; absent when the driver has no real network. */
  httpImage?: string;
  /** True when tasks are real processes (files, sockets, localhost); the fake leaves it out. */
  realProcesses?: boolean;
  /** Whether the named volume exists, looked at from outside the driver. */
  volumeExists(name: string): Promise<boolean>;
  /** Lets `ms` of task time pass (a fake clock); absent when real time passes by itself. */
  passTime?(ms: number): void;
  /** Kills the task (SIGKILL) behind the driver's back, as an operator or the kernel would. */
  killFromOutside(handle: TaskHandle): Promise<void>;
  /** Removes whatever the run left behind. */
  cleanup(): Promise<void>;
}

export interface DriverSuiteOptions {
  /** Skip the whole suite, with the reason shown in the test report. */
  skip?: string | false;
  /** Deadline per test. Default 30 s. */
  timeoutMs?: number;
}

/** Collects lines until `pred` matches one (follow mode), then stops following. */
async function readUntil(driver: Driver, handle: TaskHandle, pred: (l: LogLine) => boolean): Promise<LogLine[]> {
  const abort = new AbortController();
  const seen: LogLine[] = [];
  try {
    for await (const line of driver.logs(handle, { follow: true, signal: abort.signal })) {
      seen.push(line);
      if (pred(line)) return seen;
    }
  } finally {
    abort.abort();
  }
  throw new Error(`log ended without the expected line; saw ${JSON.stringify(seen)}`);
}

/** Asserts a non-retryable DriverError whose message matches `re`. */
function permanent(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof DriverError, `expected a DriverError, got ${String(e)}`);
    assert.equal(e.retryable, false, e.message);
    assert.match(e.message, re);
    return true;
  };
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

/** A free TCP port on the loopback, for port-binding tests. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** GET with bounded retries: the server in a just-started container needs a moment to listen. */
async function fetchWhenUp(url: string, attempts = 50): Promise<Response> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) });
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${url} never answered: ${String(last)}`);
}

/**
 * The behaviour every Driver must have (start, labels, exits, stop grace, logs, env,
 * ports, missing images, idempotence), run against each implementation.
 */
export function runDriverSuite(name: string, factory: () => Promise<DriverHarness>, opts: DriverSuiteOptions = {}): void {
  describe(`Driver conformance: ${name}`, { skip: opts.skip ?? false, timeout: opts.timeoutMs ?? 30_000 }, () => {
    let h: DriverHarness;
    let n = 0;
    const started: TaskHandle[] = [];

    before(async () => {
      h = await factory();
    });

    after(async () => {
      if (!h) return;
      for (const handle of started) await h.driver.destroy(handle).catch(() => undefined);
      await h.cleanup();
      await h.driver.close();
    });

    function spec(over: Partial<TaskSpec> & Pick<TaskSpec, 'args'>): TaskSpec {
      n++;
      return {
        labels: { nodeId: h.nodeId, allocId: `alloc_suite${n}`, jobName: 'suite', namespace: 'default', group: 'g', task: `t${n}` },
        name: `${h.nodeId}-t${n}`,
        image: h.image,
        env: {},
        resources: { cpuMhz: 100, memoryMb: 32 },
        ports: [],
        ...over,
      };
    }

    async function start(s: TaskSpec): Promise<TaskHandle> {
      const handle = await h.driver.start(s);
      started.push(handle);
      return handle;
    }

    it('starts a task that inspect sees running and recover finds by its labels', async () => {
      const s = spec({ command: 'sleep', args: ['100'] });
      const handle = await start(s);
      assert.deepEqual(handle.labels, s.labels);

      const seen = await h.driver.inspect(handle);
      assert.equal(seen?.running, true);
      assert.equal(seen?.exit, undefined);
      assert.equal(typeof seen?.startedAt, 'number');

      const recovered = await h.driver.recover(h.nodeId);
      const mine = recovered.find((r) => r.handle.id === handle.id);
      assert.ok(mine, `recover(${h.nodeId}) did not return ${handle.id}`);
      assert.deepEqual(mine.handle.labels, s.labels);
      assert.equal(mine.running, true);
      assert.equal((await h.driver.recover(`${h.nodeId}-other`)).length, 0);
    });

    it('wait resolves with the exit code, and again at once once exited', async () => {
      const handle = await start(spec({ command: 'sh', args: ['-c', 'exit 3'] }));
      const exit = await h.driver.wait(handle);
      assert.equal(exit.exitCode, 3);
      assert.equal(exit.signaled, false);
      assert.equal(exit.oomKilled, false);
      assert.equal(typeof exit.finishedAt, 'number');

      assert.equal((await h.driver.wait(handle)).exitCode, 3);
      const seen = await h.driver.inspect(handle);
      assert.equal(seen?.running, false);
      assert.equal(seen?.exit?.exitCode, 3);
    });

    it('stop ends a task with SIGTERM', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'] }));
      const exited = h.driver.wait(handle);
      await h.driver.stop(handle, 10_000);
      const exit = await exited;
      assert.equal(exit.exitCode, 143);
      assert.equal(exit.signaled, true);
    });

    it('stop kills a task that ignores SIGTERM once the timeout is over', async () => {
      const handle = await start(spec({ command: 'sh', args: ['-c', 'trap "" TERM; echo ready; sleep 100'] }));
      // The trap must be in place before the signal, or the shell would just die of it.
      await readUntil(h.driver, handle, (l) => l.line === 'ready');
      const stopping = h.driver.stop(handle, 1_000);
      h.passTime?.(1_000);
      await stopping;
      const exit = await h.driver.wait(handle);
      assert.equal(exit.exitCode, 137);
      assert.equal(exit.signaled, true);
      assert.equal((await h.driver.inspect(handle))?.running, false);
    });

    it('destroy removes the task', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'] }));
      await h.driver.destroy(handle);
      assert.equal(await h.driver.inspect(handle), undefined);
      const recovered = await h.driver.recover(h.nodeId);
      assert.equal(recovered.some((r) => r.handle.id === handle.id), false);
    });

    it('passes env to the task and separates stdout from stderr in the logs', async () => {
      const handle = await start(
        spec({ command: 'sh', args: ['-c', 'echo "value=$KARU_TEST_VAR"; echo oops >&2'], env: { KARU_TEST_VAR: 'banana 42' } }),
      );
      assert.equal((await h.driver.wait(handle)).exitCode, 0);
      const lines = await collect(h.driver.logs(handle, { follow: false }));
      assert.deepEqual(
        lines.map((l) => [l.stream, l.line]).sort(),
        [
          ['stderr', 'oops'],
          ['stdout', 'value=banana 42'],
        ],
      );
      const last = await collect(h.driver.logs(handle, { follow: false, tail: 1 }));
      assert.equal(last.length, 1);
    });

    it('follows logs as lines are written, and ends when the task exits', async () => {
      const handle = await start(spec({ command: 'sh', args: ['-c', 'echo one; sleep 0.3; echo two'] }));
      const lines: string[] = [];
      for await (const l of h.driver.logs(handle, { follow: true })) {
        lines.push(l.line);
        // "two" is written only after the sleep: it must arrive on the same open stream.
        if (l.line === 'one') h.passTime?.(300);
      }
      assert.deepEqual(lines, ['one', 'two']);
    });

    it('stops following logs when the signal aborts', async () => {
      const handle = await start(spec({ command: 'sh', args: ['-c', 'echo up; sleep 100'] }));
      const abort = new AbortController();
      const lines: string[] = [];
      for await (const l of h.driver.logs(handle, { follow: true, signal: abort.signal })) {
        lines.push(l.line);
        abort.abort();
      }
      assert.deepEqual(lines, ['up']);
      assert.equal((await h.driver.inspect(handle))?.running, true);
    });

    it('rejects a missing image with a permanent error naming it', async () => {
      const s = spec({ image: h.missingImage, command: 'sleep', args: ['100'] });
      await assert.rejects(h.driver.start(s), (e: unknown) => {
        assert.ok(e instanceof DriverError, `expected a DriverError, got ${String(e)}`);
        assert.equal(e.retryable, false);
        assert.match(e.message, new RegExp(h.missingImage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        return true;
      });
      const recovered = await h.driver.recover(h.nodeId);
      assert.equal(recovered.some((r) => r.handle.labels.allocId === s.labels.allocId), false);
    });

    it('publishes a port reachable from the host', async (t) => {
      if (!h.httpImage) return t.skip('this driver has no real network');
      const port = await freePort();
      const handle = await start(spec({ image: h.httpImage, args: [], ports: [{ host: port, to: 8080 }] }));
      const res = await fetchWhenUp(`http://127.0.0.1:${port}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /hello from karu/);
      await h.driver.stop(handle, 1_000);
    });

    it('sees a task killed from outside through wait', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'] }));
      const exited = h.driver.wait(handle);
      await h.killFromOutside(handle);
      const exit = await exited;
      assert.equal(exit.exitCode, 137);
      assert.equal(exit.signaled, true);
    });

    it('stop and destroy are idempotent', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'] }));
      await h.driver.stop(handle, 1_000);
      await h.driver.stop(handle, 1_000);
      await h.driver.destroy(handle);
      await h.driver.destroy(handle);
      await h.driver.stop(handle, 1_000);
      assert.equal(await h.driver.inspect(handle), undefined);
    });

    it('adopts its own running task on a repeated start, and replaces a stopped one', async () => {
      const s = spec({ command: 'sleep', args: ['100'] });
      const first = await start(s);
      const again = await start(s);
      assert.equal(again.id, first.id, 'a running task of the same alloc and name is adopted');

      await h.driver.stop(first, 1_000);
      const third = await start(s);
      assert.notEqual(third.id, first.id, 'a stopped task is replaced by a new one');
      assert.equal(await h.driver.inspect(first), undefined);
      assert.equal((await h.driver.inspect(third))?.running, true);
    });

    it('refuses a name taken by another task', async () => {
      const s = spec({ command: 'sleep', args: ['100'] });
      await start(s);
      const other = { ...s, labels: { ...s.labels, allocId: `${s.labels.allocId}x` } };
      await assert.rejects(h.driver.start(other), (e: unknown) => e instanceof DriverError && !e.retryable);
    });

    // --- pods: pause containers, joined networks, volumes, resolvers, exec -------------

    /** A pod's namespace holder; the image is the driver's own, whatever the spec says. */
    function pauseSpec(over: Partial<TaskSpec> = {}): TaskSpec {
      const s = spec({ kind: 'pause', image: 'karu/ignored-by-pause:0', args: [], ...over });
      return { ...s, labels: { ...s.labels, task: PAUSE_TASK } };
    }

    /** A task of the same allocation as `holder`, joined to its network. */
    function joined(holder: { spec: TaskSpec; handle: TaskHandle }, over: Partial<TaskSpec> & Pick<TaskSpec, 'args'>): TaskSpec {
      const s = spec({ joinNetworkOf: holder.handle.id, ...over });
      return { ...s, labels: { ...s.labels, allocId: holder.spec.labels.allocId } };
    }

    it('runs a pause container that recover finds and that exits 0 at once on SIGTERM', async () => {
      const s = pauseSpec();
      const handle = await start(s);
      assert.equal((await h.driver.inspect(handle))?.running, true);
      const mine = (await h.driver.recover(h.nodeId)).find((r) => r.handle.id === handle.id);
      assert.deepEqual(mine?.handle.labels, s.labels);
      assert.equal(mine?.handle.labels.task, PAUSE_TASK);

      const exited = h.driver.wait(handle);
      const asked = Date.now();
      await h.driver.stop(handle, 10_000);
      const exit = await exited;
      assert.equal(exit.exitCode, 0);
      assert.equal(exit.signaled, false);
      assert.ok(Date.now() - asked < 5_000, `stop took ${Date.now() - asked} ms: the pause program ignored SIGTERM`);
    });

    it('joins tasks to a pause container: they share its localhost and its published ports', async (t) => {
      if (!h.realProcesses || !h.httpImage) return t.skip('this driver has no real network');
      const port = await freePort();
      const ps = pauseSpec({ ports: [{ host: port, to: 8080 }] });
      const pod = { spec: ps, handle: await start(ps) };
      // A server on the pod's loopback only, one on all its addresses, and a client.
      await start(joined(pod, { command: 'sh', args: ['-c', 'echo pod-local > /tmp/index.html; exec httpd -f -p 127.0.0.1:9000 -h /tmp'] }));
      await start(joined(pod, { image: h.httpImage, args: [] }));
      const client = await start(joined(pod, { command: 'sleep', args: ['100'] }));

      let last = '';
      for (let i = 0; i < 50 && !last.includes('pod-local'); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        const r = await h.driver.exec(client, ['sh', '-c', 'printf "GET /index.html HTTP/1.0\\r\\n\\r\\n" | nc 127.0.0.1 9000'], { timeoutMs: 5_000 });
        last = r.output;
      }
      assert.match(last, /pod-local/);
      const res = await fetchWhenUp(`http://127.0.0.1:${port}/`);
      assert.match(await res.text(), /hello from karu/, 'the port published by the pause container reaches a task of the pod');
    });

    it('refuses to join a task that does not exist or is not running', async () => {
      const gone = pauseSpec();
      const goneHandle = await start(gone);
      await h.driver.destroy(goneHandle);
      const toGone = joined({ spec: gone, handle: goneHandle }, { command: 'sleep', args: ['100'] });
      await assert.rejects(h.driver.start(toGone), permanent(/network/));

      const stopped = pauseSpec();
      const stoppedHandle = await start(stopped);
      await h.driver.stop(stoppedHandle, 1_000);
      const toStopped = joined({ spec: stopped, handle: stoppedHandle }, { command: 'sleep', args: ['100'] });
      await assert.rejects(h.driver.start(toStopped), permanent(/not running/));

      const left = await h.driver.recover(h.nodeId);
      assert.equal(left.some((r) => r.handle.labels.task === toGone.labels.task || r.handle.labels.task === toStopped.labels.task), false);
    });

    it('refuses ports or DNS settings on a task that joins another network', async () => {
      const withPorts = spec({ command: 'sleep', args: ['100'], joinNetworkOf: 'some-holder', ports: [{ host: 40000, to: 80 }] });
      await assert.rejects(h.driver.start(withPorts), permanent(/publish them on the pause container/));
      const withDns = spec({ command: 'sleep', args: ['100'], joinNetworkOf: 'some-holder', dns: { servers: ['10.99.0.1'], search: [] } });
      await assert.rejects(h.driver.start(withDns), permanent(/DNS/));
    });

    it('writes the DNS servers and search domains into resolv.conf, which joined tasks share', async () => {
      const dns = { servers: ['10.99.0.1'], search: ['default.karu', 'karu'] };
      const alone = await start(spec({ command: 'sleep', args: ['100'], dns }));
      const ps = pauseSpec({ dns });
      const pod = { spec: ps, handle: await start(ps) };
      const member = await start(joined(pod, { command: 'sleep', args: ['100'] }));
      for (const handle of [alone, member]) {
        const r = await h.driver.exec(handle, ['cat', '/etc/resolv.conf'], { timeoutMs: 5_000 });
        assert.equal(r.exitCode, 0);
        assert.match(r.output, /^nameserver 10\.99\.0\.1$/m);
        assert.match(r.output, /^search default\.karu karu$/m);
      }
    });

    it('exec runs a command in the task: exit code and both output streams', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'], env: { WHO: 'karu' } }));
      const r = await h.driver.exec(handle, ['sh', '-c', 'echo "out $WHO"; echo err >&2; exit 3'], { timeoutMs: 5_000 });
      assert.equal(r.exitCode, 3);
      assert.deepEqual(r.output.trim().split('\n').sort(), ['err', 'out karu']);
      assert.deepEqual(await h.driver.exec(handle, ['true'], { timeoutMs: 5_000 }), { exitCode: 0, output: '' });
    });

    it('exec rejects when the task is not running or is gone', async () => {
      const handle = await start(spec({ command: 'sh', args: ['-c', 'exit 0'] }));
      await h.driver.wait(handle);
      await assert.rejects(h.driver.exec(handle, ['true'], { timeoutMs: 5_000 }), permanent(/not running/));
      await h.driver.destroy(handle);
      await assert.rejects(h.driver.exec(handle, ['true'], { timeoutMs: 5_000 }), permanent(/no longer exists/));
    });

    it('exec rejects once its timeout passes', async () => {
      const handle = await start(spec({ command: 'sleep', args: ['100'] }));
      const running = h.driver.exec(handle, ['sleep', '30'], { timeoutMs: 300 });
      h.passTime?.(300);
      await assert.rejects(running, (e: unknown) => e instanceof DriverError && /within 300 ms/.test(e.message));
      assert.equal((await h.driver.inspect(handle))?.running, true, 'the task itself goes on');
    });

    it('shares a named volume between tasks, and removes it once no task uses it', async () => {
      const volume = `${h.nodeId}-vol${n}`;
      const writer = await start(
        spec({ command: 'sh', args: ['-c', 'echo shared-data > /data/f'], volumes: [{ name: volume, target: '/data', readOnly: false }] }),
      );
      assert.equal((await h.driver.wait(writer)).exitCode, 0);
      const reader = await start(spec({ command: 'sh', args: ['-c', 'cat /data/f'], volumes: [{ name: volume, target: '/data', readOnly: true }] }));
      assert.equal((await h.driver.wait(reader)).exitCode, 0);
      if (h.realProcesses) assert.deepEqual((await collect(h.driver.logs(reader, { follow: false }))).map((l) => l.line), ['shared-data']);
      assert.equal(await h.volumeExists(volume), true);

      // Containers that still exist, even stopped, hold the volume: a passing condition.
      await assert.rejects(h.driver.removeVolume(volume), (e: unknown) => e instanceof DriverError && e.retryable);
      await h.driver.destroy(writer);
      await h.driver.destroy(reader);
      await h.driver.removeVolume(volume);
      assert.equal(await h.volumeExists(volume), false);
      await h.driver.removeVolume(volume);
      await h.driver.removeVolume(`${h.nodeId}-never-created`);
    });

    it('lists the volumes it made for a node, with their allocation, until they are removed', async () => {
      const volume = `${h.nodeId}-listed${n}`;
      const task = await start(spec({ command: 'true', args: [], volumes: [{ name: volume, target: '/data', readOnly: false }] }));
      await h.driver.wait(task);
      const mine = (await h.driver.listVolumes(h.nodeId)).filter((v) => v.name === volume);
      assert.deepEqual(mine, [{ name: volume, allocId: task.labels.allocId }]);
      assert.deepEqual(await h.driver.listVolumes(`${h.nodeId}-other`), [], 'another node sees none of them');
      await h.driver.destroy(task);
      await h.driver.removeVolume(volume);
      assert.deepEqual((await h.driver.listVolumes(h.nodeId)).filter((v) => v.name === volume), []);
    });
  });
}
