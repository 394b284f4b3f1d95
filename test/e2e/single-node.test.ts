/**
 * End-to-end on a real Docker Engine: `karu dev` as a process, the CLI as a process,
 * the app answering HTTP, faults injected from outside.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocView } from '../../src/core/alloc.js';
import { DevCluster, docker, dockerAvailable, eventually, httpGet, NO_DATAPLANE } from './harness.js';

const WEB = `
name: e2e-web
type: service
groups:
  - name: web
    count: 2
    restart: { attempts: 5, interval: 5m, delay: 500ms, mode: fail }
    tasks:
      - name: server
        image: karu/hello:1
        resources: { cpu: 100, memory: 32 }
        ports:
          - label: http
            to: 8080
`;

const running = (allocs: AllocView[]) => allocs.filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');
const urlOf = (a: AllocView, address = '127.0.0.1') => `http://${address}:${a.ports.find((p) => p.label === 'http')!.host}/`;

describe('karu dev on a real Docker Engine', { skip: !dockerAvailable() && 'no Docker Engine at /var/run/docker.sock' }, () => {
  const dev = new DevCluster();

  before(async () => {
    await dev.start(NO_DATAPLANE);
  });

  after(async () => {
    await dev.destroy();
  });

  test('deploy: the CLI waits until every allocation runs, and the app answers HTTP', async () => {
    const file = dev.writeJob('web', WEB);
    const r = await dev.karu(['deploy', file, '--timeout', '90s']);
    assert.equal(r.code, 0);
    const allocs = running(await dev.client.listAllocations({ job: 'e2e-web' }));
    assert.equal(allocs.length, 2);
    for (const a of allocs) {
      const res = await eventually(`app of ${a.id} to answer`, () => httpGet(urlOf(a)).catch(() => undefined), 10_000);
      assert.equal(res.status, 200);
      assert.match(res.body, /hello from karu/);
    }
    const status = await dev.karu(['status', 'e2e-web']);
    assert.match(status.stdout, /e2e-web/);
    assert.match(status.stdout, /running/);
    const ps = JSON.parse((await dev.karu(['ps', '--json'])).stdout) as AllocView[];
    assert.equal(ps.filter((a) => a.jobName === 'e2e-web').length, 2);
  });

  test('a container killed from outside is restarted by the restart policy', async () => {
    const [victim] = running(await dev.client.listAllocations({ job: 'e2e-web' }));
    const before = victim!.taskStates.server!;
    await docker.getContainer(before.containerId!).kill();
    const after = await eventually('the task to be restarted', async () => {
      const a = await dev.client.getAllocation(victim!.id);
      const t = a.taskStates.server!;
      return t.restarts > before.restarts && t.state === 'running' ? a : undefined;
    }, 30_000);
    assert.equal(after.clientStatus, 'running');
    assert.ok(after.taskStates.server!.events.some((e) => e.type === 'restarting'));
    await eventually('the restarted app to answer', () => httpGet(urlOf(after)).then((r) => r.status === 200).catch(() => false), 10_000);
  });

  test('server and agent killed and restarted: jobs and allocations are still there, containers reattached, no duplicates', async () => {
    const beforeAllocs = running(await dev.client.listAllocations({ job: 'e2e-web' }));
    const beforeIds = (await dev.containers()).filter((c) => c.Labels['karu.job'] === 'e2e-web').map((c) => c.Id).sort();
    assert.equal(beforeIds.length, 2);
    await dev.kill();
    // An orphan: a Karu-labelled container no allocation owns. The agent must remove it.
    const nodeId = beforeAllocs[0]!.nodeId;
    const orphan = await docker.createContainer({
      Image: 'karu/busybox:1',
      Cmd: ['sleep', '300'],
      Labels: { 'karu.managed': 'true', 'karu.node': nodeId, 'karu.alloc': 'alloc_doesnotexist', 'karu.task': 'x', 'karu.job': 'ghost', 'karu.namespace': 'default', 'karu.group': 'g' },
      HostConfig: { Init: true },
    });
    await orphan.start();

    await dev.start(NO_DATAPLANE);
    const afterAllocs = await dev.client.listAllocations({ job: 'e2e-web' });
    assert.deepEqual(afterAllocs.map((a) => a.id).sort(), beforeAllocs.map((a) => a.id).sort(), 'same allocations after restart');
    await eventually('the orphan to be removed', async () => !(await docker.listContainers({ all: true })).some((c) => c.Id === orphan.id), 20_000);
    // Give the agent time to do anything wrong, then check nothing was started twice.
    await new Promise((r) => setTimeout(r, 1_500));
    const afterIds = (await dev.containers()).filter((c) => c.Labels['karu.job'] === 'e2e-web').map((c) => c.Id).sort();
    assert.deepEqual(afterIds, beforeIds, 'the same containers, reattached, none new');
    const reattached = await dev.client.listAllocations({ job: 'e2e-web' });
    assert.ok(reattached.every((a) => a.clientStatus === 'running'));
  });

  test('a job that cannot fit is blocked with the reason, and placed when room appears', async () => {
    const [node] = await dev.client.listNodes();
    const big = Math.floor(node!.resources.memoryMb * 0.6);
    const hog = dev.writeJob('hog', WEB.replace('e2e-web', 'e2e-hog').replace('count: 2', 'count: 1').replace('memory: 32', `memory: ${big}`));
    const late = dev.writeJob('late', WEB.replace('e2e-web', 'e2e-late').replace('count: 2', 'count: 1').replace('memory: 32', `memory: ${big}`));
    assert.equal((await dev.karu(['deploy', hog, '--timeout', '60s'])).code, 0);
    const r = await dev.karu(['deploy', late, '--timeout', '60s'], { allowFail: true });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /memory/);
    const status = await dev.karu(['status', 'e2e-late']);
    assert.match(status.stdout, /not enough memory|memory/);
    await dev.karu(['stop', 'e2e-hog']);
    await eventually('the blocked job to be placed once memory is freed', async () => running(await dev.client.listAllocations({ job: 'e2e-late' })).length === 1, 30_000);
    await dev.karu(['stop', 'e2e-late', '--purge']);
    await dev.karu(['stop', 'e2e-hog', '--purge']);
  });

  test('an image that cannot be pulled fails the task with the engine\'s message', async () => {
    const file = dev.writeJob('missing', WEB.replace('e2e-web', 'e2e-missing').replace('karu/hello:1', 'karu/does-not-exist:1').replace('count: 2', 'count: 1'));
    const r = await dev.karu(['deploy', file, '--timeout', '60s'], { allowFail: true });
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /does-not-exist/);
    const status = await dev.karu(['status', 'e2e-missing']);
    assert.match(status.stdout, /failed/);
    await dev.karu(['stop', 'e2e-missing', '--purge']);
  });

  test('a bad job file is refused with file:line:col, and nothing is written', async () => {
    const file = dev.writeJob('bad', WEB.replace('e2e-web', 'e2e-bad').replace('count: 2', 'count: -1'));
    const r = await dev.karu(['deploy', file], { allowFail: true });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:\d+:\d+/);
    assert.match(r.stderr, /count/);
    await assert.rejects(dev.client.getJob('default', 'e2e-bad'), { code: 'NOT_FOUND' });
  });

  test('logs of an allocation come back through the server', async () => {
    const file = dev.writeJob('echo', `
name: e2e-echo
type: batch
groups:
  - name: once
    tasks:
      - name: say
        image: karu/busybox:1
        command: sh
        args: ["-c", "echo hello-from-logs; echo oops >&2"]
        resources: { cpu: 50, memory: 16 }
`);
    assert.equal((await dev.karu(['deploy', file, '--timeout', '60s'])).code, 0);
    const [a] = await dev.client.listAllocations({ job: 'e2e-echo' });
    assert.equal(a!.clientStatus, 'complete');
    const r = await dev.karu(['logs', a!.id]);
    assert.match(r.stdout, /hello-from-logs/);
    assert.match(r.stderr, /oops/);
    await assert.rejects(dev.client.getAllocation('alloc_nope0000'), { code: 'NOT_FOUND' });
  });

  test('stop: every container of the job is gone', async () => {
    await dev.karu(['stop', 'e2e-web']);
    await eventually('containers to be removed', async () => (await dev.containers(true)).filter((c) => c.Labels['karu.job'] === 'e2e-web').length === 0, 30_000);
    // The agent reports the allocations complete just after it removed their containers.
    await eventually('the job to be dead', async () => (await dev.client.getJob('default', 'e2e-web')).status === 'dead', 10_000);
  });
});
