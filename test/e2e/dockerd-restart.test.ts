/**
 * The Docker Engine goes away under a running agent and comes back: the node is
 * reported unhealthy meanwhile, and afterwards the app runs again exactly once.
 * Restarts the machine's dockerd, so it runs alone (e2e files run one at a time).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { openSync, readFileSync, existsSync } from 'node:fs';
import { DevCluster, docker, dockerAvailable, eventually, httpGet, NO_DATAPLANE } from './harness.js';

const JOB = `
name: e2e-survivor
groups:
  - name: web
    count: 1
    restart: { attempts: 10, interval: 5m, delay: 500ms, mode: fail }
    tasks:
      - name: server
        image: karu/hello:1
        resources: { cpu: 100, memory: 32 }
        ports: [{ label: http, to: 8080 }]
`;

function dockerdPid(): number | undefined {
  if (!existsSync('/var/run/docker.pid')) return undefined;
  const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}

async function stopDockerd(): Promise<void> {
  const pid = dockerdPid();
  if (!pid) throw new Error('no dockerd pid in /var/run/docker.pid');
  process.kill(pid, 'SIGTERM');
  await eventually('dockerd to exit', () => dockerdPid() === undefined, 60_000);
}

function startDockerd(): void {
  const log = openSync('/var/log/karu-dockerd.log', 'a');
  spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
}

const canRestartDockerd = dockerAvailable() && dockerdPid() !== undefined && process.getuid?.() === 0;

describe('dockerd stopped and restarted under the agent', { skip: !canRestartDockerd && 'needs root and a dockerd whose pid is in /var/run/docker.pid' }, () => {
  const dev = new DevCluster();
  before(async () => {
    await dev.start(NO_DATAPLANE);
  });
  after(async () => {
    if (!dockerdPid()) startDockerd();
    await eventually('dockerd to answer', () => docker.ping().then(() => true), 60_000);
    await dev.destroy();
  });

  test('node goes unhealthy, then the app runs again once, without duplicates', async () => {
    const file = dev.writeJob('survivor', JOB);
    assert.equal((await dev.karu(['deploy', file, '--timeout', '60s'])).code, 0);
    const [alloc] = await dev.client.listAllocations({ job: 'e2e-survivor' });

    await stopDockerd();
    await eventually('the node to report docker unhealthy', async () => {
      const [n] = await dev.client.listNodes();
      return n?.drivers.docker?.healthy === false;
    }, 30_000);

    startDockerd();
    await eventually('dockerd to answer', () => docker.ping().then(() => true), 60_000);
    await eventually('the node to report docker healthy again', async () => {
      const [n] = await dev.client.listNodes();
      return n?.drivers.docker?.healthy === true;
    }, 30_000);
    const back = await eventually('the allocation to run again', async () => {
      const a = await dev.client.getAllocation(alloc!.id);
      return a.clientStatus === 'running' && a.taskStates.server?.state === 'running' ? a : undefined;
    }, 60_000);
    await eventually('the app to answer', () => httpGet(`http://127.0.0.1:${back.ports[0]!.host}/`).then((r) => r.status === 200).catch(() => false), 15_000);
    await new Promise((r) => setTimeout(r, 1_500));
    const containers = await docker.listContainers({ all: true, filters: { label: [`karu.alloc=${alloc!.id}`] } });
    assert.equal(containers.filter((c) => c.State === 'running').length, 1, 'exactly one running container');
    const allocs = await dev.client.listAllocations({ job: 'e2e-survivor' });
    assert.equal(allocs.filter((a) => a.desiredStatus === 'run').length, 1, 'no replacement allocation was needed');
    await dev.karu(['stop', 'e2e-survivor', '--purge']);
  });
});
