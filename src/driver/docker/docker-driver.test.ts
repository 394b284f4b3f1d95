import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import Dockerode from 'dockerode';
import type { TaskSpec } from '../driver.js';
import { runDriverSuite } from '../driver.suite.js';
import { PAUSE_TASK } from '../../core/service.js';
import { FakeClock } from '../../lib/clock.js';
import { createLogger } from '../../lib/logger.js';
import { DriverError } from '../driver.js';
import { DockerDriver } from './docker-driver.js';
import { buildPauseImage } from './pause-image.js';

const SOCKET = process.env.KARU_DOCKER_SOCKET ?? '/var/run/docker.sock';
const IMAGE = 'karu/busybox:1';
const HTTP_IMAGE = 'karu/hello:1';
// Unique per run: leftovers of an earlier run never count, and cleanup finds exactly ours.
const RUN = `karutest${process.pid}${Date.now().toString(36)}`;

/** Why the Docker tests cannot run here, or false. Builds the local images when missing. */
async function skipReason(): Promise<string | false> {
  if (!existsSync(SOCKET)) return `no Docker socket at ${SOCKET}: Docker driver tests skipped`;
  const docker = new Dockerode({ socketPath: SOCKET });
  try {
    await docker.ping();
  } catch (e) {
    return `Docker Engine at ${SOCKET} does not answer (${String(e)}): Docker driver tests skipped`;
  }
  const missing = async () =>
    (await Promise.all([IMAGE, HTTP_IMAGE].map((i) => docker.getImage(i).inspect().then(() => false, () => true)))).some(Boolean);
  if (await missing()) {
    const script = new URL('../../../scripts/images.sh', import.meta.url).pathname;
    spawnSync('bash', [script], { stdio: 'inherit', env: { ...process.env, DOCKER_HOST: `unix://${SOCKET}` } });
    if (await missing()) return `images ${IMAGE} / ${HTTP_IMAGE} are missing and scripts/images.sh could not build them`;
  }
  return false;
}

const skip = await skipReason();
const outside = new Dockerode({ socketPath: SOCKET });

/** Removes every container and volume this run made (by its node label), whatever the driver did. */
async function removeRunContainers(nodeId: string): Promise<void> {
  const list = await outside.listContainers({ all: true, filters: { label: [`karu.node=${nodeId}`] } });
  await Promise.all(list.map((c) => outside.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const { Volumes: volumes } = await outside.listVolumes({ filters: { label: [`karu.node=${nodeId}`] } });
  await Promise.all((volumes ?? []).map((v) => outside.getVolume(v.Name).remove().catch(() => undefined)));
}

async function volumeExists(name: string): Promise<boolean> {
  return outside.getVolume(name).inspect().then(
    () => true,
    (e: { statusCode?: number }) => {
      if (e.statusCode === 404) return false;
      throw e;
    },
  );
}

runDriverSuite(
  'docker',
  async () => {
    const nodeId = `${RUN}-suite`;
    const driver = new DockerDriver({ socketPath: SOCKET, hostIp: '127.0.0.1', healthIntervalMs: 0 });
    return {
      driver,
      nodeId,
      image: IMAGE,
      missingImage: `karu/missing-image-${RUN}:0`,
      httpImage: HTTP_IMAGE,
      realProcesses: true,
      volumeExists,
      killFromOutside: async (handle) => {
        await outside.getContainer(handle.id).kill({ signal: 'SIGKILL' });
      },
      cleanup: () => removeRunContainers(nodeId),
    };
  },
  { skip },
);

function aSpec(nodeId: string, name: string, over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    labels: { nodeId, allocId: `alloc_${name}`, jobName: 'web', namespace: 'default', group: 'g', task: 'app' },
    name: `${nodeId}-${name}`,
    image: IMAGE,
    args: [],
    env: {},
    resources: { cpuMhz: 500, memoryMb: 64 },
    ports: [],
    ...over,
  };
}

/**
 * A unix socket that forwards to the real engine and can be cut, standing in for a
 * dockerd that stops and comes back (the shared engine itself must not be stopped).
 */
class CuttableProxy {
  readonly path: string;
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();
  private readonly dir = mkdtempSync(join(tmpdir(), 'karu-proxy-'));
  private eventsWaiters: (() => void)[] = [];

  constructor(private readonly target: string) {
    this.path = join(this.dir, 'docker.sock');
  }

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target);
      this.conns.add(client).add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.conns.delete(client);
        this.conns.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
      // Notice when an events stream is established: its request went up and the engine
      // answered. Connections are kept alive, so any request on one may be the events one.
      client.on('data', (chunk: Buffer) => {
        if (!/^GET \S*\/events/.test(chunk.toString('latin1'))) return;
        upstream.once('data', () => {
          for (const w of this.eventsWaiters.splice(0)) w();
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  /** Resolves when the next events stream through the proxy has its response. */
  eventsStreamOpen(): Promise<void> {
    return new Promise((resolve) => this.eventsWaiters.push(resolve));
  }

  /** Cuts every connection and stops listening: clients see the stream drop and ENOENT. */
  async down(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async dispose(): Promise<void> {
    await this.down();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('DockerDriver without an engine', () => {
  const nowhere = join(tmpdir(), `${RUN}-nothing.sock`);

  it('reports an unreachable engine as unhealthy and its errors as retryable', async () => {
    const d = new DockerDriver({ socketPath: nowhere, healthIntervalMs: 0 });
    const fp = await d.fingerprint();
    assert.equal(fp.healthy, false);
    assert.match(fp.detail, /unreachable/);
    await assert.rejects(d.start(aSpec('node-x', 'unreach')), (e: unknown) => (e as { retryable?: boolean }).retryable === true);
    await d.close();
  });

  it('health ping reports the engine down on the injected clock', async () => {
    const clock = new FakeClock();
    const d = new DockerDriver({ socketPath: nowhere, healthIntervalMs: 1_000, clock });
    const seen: [boolean, string][] = [];
    const down = new Promise<void>((resolve) => d.onHealthChange((healthy, detail) => (seen.push([healthy, detail]), resolve())));
    assert.equal(clock.pendingTimers, 1);
    clock.advance(1_000);
    await down;
    assert.equal(seen.length, 1);
    assert.equal(seen[0]![0], false);
    assert.match(seen[0]![1], /unreachable/);
    await d.close();
    assert.equal(clock.pendingTimers, 0, 'close() cancels the health timer');
  });

  it('refuses to build the pause image for an architecture it has no program for, saying how to make one', async () => {
    await assert.rejects(buildPauseImage(outside, 'karu/pause-x:1', 'ppc64'), (e: unknown) => {
      assert.ok(e instanceof DriverError);
      assert.equal(e.retryable, false);
      assert.match(e.message, /karu\/pause-x:1 is missing .* not ppc64/);
      assert.match(e.message, /docker import -c 'CMD \["\/pause"\]' - karu\/pause-x:1/);
      return true;
    });
  });
});

describe('DockerDriver pods against a real engine', { skip, timeout: 60_000 }, () => {
  const nodeId = `${RUN}-pod`;
  // A pause image of this run only, so its build is observed without touching karu/pause:1.
  const pauseImage = `karu/pause-test-${RUN}:1`;
  after(async () => {
    await removeRunContainers(nodeId);
    await outside.getImage(pauseImage).remove({ force: true }).catch(() => undefined);
  });

  it('builds the missing pause image once for concurrent pod starts; the pause container uses almost no memory', async (t) => {
    const logged: { msg: string; ms?: number }[] = [];
    const logger = createLogger({
      name: 'test',
      destination: new (await import('node:stream')).Writable({
        write(chunk: Buffer, _enc, done) {
          logged.push(JSON.parse(chunk.toString()) as { msg: string; ms?: number });
          done();
        },
      }),
    });
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0, pauseImage, logger });
    try {
      const pause = (name: string) => ({
        ...aSpec(nodeId, name, { kind: 'pause' as const }),
        labels: { ...aSpec(nodeId, name).labels, task: PAUSE_TASK },
      });
      const [a, b] = await Promise.all([d.start(pause('pa')), d.start(pause('pb'))]);
      const builds = logged.filter((l) => l.msg === 'built the pause image');
      assert.equal(builds.length, 1, JSON.stringify(logged));
      t.diagnostic(`pause image built in ${builds[0]!.ms} ms`);

      const image = await outside.getImage(pauseImage).inspect();
      assert.deepEqual(image.Config.Cmd, ['/pause']);
      assert.ok(image.Size < 1024, `image is ${image.Size} bytes`);
      const info = await outside.getContainer(a.id).inspect();
      assert.equal(info.Config.Image, pauseImage);
      assert.equal(info.HostConfig.Init, false);
      assert.equal(info.Config.Labels['karu.task'], PAUSE_TASK);
      assert.equal(info.State.Running, true);

      const stats = (await outside.getContainer(b.id).stats({ stream: false })) as { memory_stats?: { usage?: number } };
      const usage = stats.memory_stats?.usage ?? 0;
      assert.ok(usage > 0 && usage < 1024 * 1024, `pause container uses ${usage} bytes`);

      // A later pod start finds the image and builds nothing.
      await d.start(pause('pc'));
      assert.equal(logged.filter((l) => l.msg === 'built the pause image').length, 1);
    } finally {
      await d.close();
    }
  });

  it('labels the volumes it creates with node and alloc', async () => {
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0 });
    const volume = `${nodeId}-labelled`;
    try {
      const h = await d.start(aSpec(nodeId, 'vol', { command: 'true', volumes: [{ name: volume, target: '/data', readOnly: false }] }));
      const v = await outside.getVolume(volume).inspect();
      assert.equal(v.Labels?.['karu.node'], nodeId);
      assert.equal(v.Labels?.['karu.alloc'], 'alloc_vol');
      await d.wait(h);
      await d.destroy(h);
      await d.removeVolume(volume);
    } finally {
      await d.close();
    }
  });

  it('exec keeps the last 4 KiB of a long output', async () => {
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0 });
    try {
      const h = await d.start(aSpec(nodeId, 'longexec', { command: 'sleep', args: ['100'] }));
      const r = await d.exec(h, ['sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done'], { timeoutMs: 10_000 });
      assert.equal(r.exitCode, 0);
      assert.ok(r.output.length <= 4096 && r.output.length > 4000, `${r.output.length} chars`);
      // (stdout alone: Docker does not keep the order between stdout and stderr)
      assert.ok(r.output.endsWith('line1998\nline1999\n'), JSON.stringify(r.output.slice(-40)));
    } finally {
      await d.close();
    }
  });
});

describe('DockerDriver against a real engine', { skip, timeout: 30_000 }, () => {
  const nodeId = `${RUN}-own`;
  after(() => removeRunContainers(nodeId));

  it('applies labels, resources, init and restart policy to the container', async () => {
    const d = new DockerDriver({ socketPath: SOCKET, hostIp: '127.0.0.1', healthIntervalMs: 0 });
    try {
      const h = await d.start(aSpec(nodeId, 'cfg', { command: 'sleep', args: ['100'], env: { A: 'b=c' } }));
      const info = await outside.getContainer(h.id).inspect();
      assert.equal(info.Config.Labels['karu.managed'], 'true');
      assert.equal(info.Config.Labels['karu.alloc'], 'alloc_cfg');
      assert.ok(info.Config.Env.includes('A=b=c'));
      assert.deepEqual(info.Config.Entrypoint, ['sleep']);
      assert.deepEqual(info.Config.Cmd, ['100']);
      assert.equal(info.HostConfig.Init, true);
      assert.equal(info.HostConfig.RestartPolicy?.Name, 'no');
      assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.CpuShares, 512);
      assert.equal(info.HostConfig.LogConfig?.Type, 'json-file');
      await d.destroy(h);
    } finally {
      await d.close();
    }
  });

  it('fingerprints the engine', async () => {
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0 });
    const fp = await d.fingerprint();
    await d.close();
    assert.equal(fp.healthy, true);
    for (const key of ['docker.version', 'docker.api_version', 'os.name', 'kernel.version', 'cpu.cores', 'memory.total_mb', 'arch']) {
      assert.ok(fp.attributes[key], `attribute ${key} missing`);
    }
  });

  it('misses no exit while the engine is away: unhealthy, reconnect, re-inspect', async () => {
    const proxy = new CuttableProxy(SOCKET);
    await proxy.up();
    const d = new DockerDriver({ socketPath: proxy.path, healthIntervalMs: 0, reconnect: { baseMs: 50, maxMs: 200, jitter: 0 } });
    const health: boolean[] = [];
    const changed = (want: boolean) =>
      new Promise<void>((resolve) => {
        const off = d.onHealthChange((healthy) => {
          health.push(healthy);
          if (healthy === want) {
            off();
            resolve();
          }
        });
      });
    try {
      const h = await d.start(aSpec(nodeId, 'blind', { command: 'sleep', args: ['100'] }));
      // The drop must hit an open stream, so wait until the engine has answered it.
      const open = proxy.eventsStreamOpen();
      const exited = d.wait(h);
      await open;

      const down = changed(false);
      await proxy.down();
      await down;
      // The exit happens while the driver cannot see events.
      await outside.getContainer(h.id).kill({ signal: 'SIGKILL' });

      const up = changed(true);
      await proxy.up();
      await up;
      const exit = await exited;
      assert.equal(exit.exitCode, 137);
      assert.deepEqual(health, [false, true]);
    } finally {
      await d.close();
      await proxy.dispose();
    }
  });

  it('resolves wait with an error exit when the container is removed behind its back', async () => {
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0 });
    try {
      const h = await d.start(aSpec(nodeId, 'gone', { command: 'sleep', args: ['100'] }));
      const exited = d.wait(h);
      await outside.getContainer(h.id).remove({ force: true });
      const exit = await exited;
      // Docker kills before removing: the die event usually wins, else the container is gone.
      assert.ok(exit.exitCode === 137 || (exit.exitCode === -1 && /disappeared/.test(exit.error ?? '')), JSON.stringify(exit));
    } finally {
      await d.close();
    }
  });

  it('reports a command that does not exist as exit 127, with the reason in the log', async () => {
    // With an init as PID 1 the container starts, and the init fails to exec the command.
    const d = new DockerDriver({ socketPath: SOCKET, healthIntervalMs: 0 });
    try {
      const h = await d.start(aSpec(nodeId, 'nocmd', { command: 'no-such-binary', args: [] }));
      assert.equal((await d.wait(h)).exitCode, 127);
      const lines: string[] = [];
      for await (const l of d.logs(h, { follow: false })) lines.push(l.line);
      assert.match(lines.join('\n'), /no-such-binary/);
    } finally {
      await d.close();
    }
  });
});
