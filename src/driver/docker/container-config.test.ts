import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DriverError, type TaskSpec } from '../driver.js';
import { containerConfig, resourceLimits, taskLabelsFrom, type ContainerConfigOptions } from './container-config.js';

const opts: ContainerConfigOptions = {
  hostIp: '0.0.0.0',
  mhzPerCore: 1000,
  cpuHardLimit: false,
  logMaxSize: '10m',
  logMaxFiles: 3,
  pauseImage: 'karu/pause:1',
};

function aSpec(over: Partial<TaskSpec> = {}): TaskSpec {
  return {
    labels: { nodeId: 'node_1', allocId: 'alloc_1', jobName: 'web', namespace: 'prod', group: 'g', task: 'app' },
    name: 'alloc_1-app',
    image: 'karu/hello:1',
    args: [],
    env: { A: '1' },
    resources: { cpuMhz: 250, memoryMb: 128 },
    ports: [],
    ...over,
  };
}

describe('containerConfig', () => {
  it('labels the container so recover() can read the task back', () => {
    const c = containerConfig(aSpec(), opts);
    assert.equal(c.Labels?.['karu.managed'], 'true');
    assert.deepEqual(taskLabelsFrom(c.Labels), aSpec().labels);
    assert.equal(taskLabelsFrom({ ...c.Labels, 'karu.managed': 'false' }), undefined);
    assert.equal(taskLabelsFrom({ 'karu.managed': 'true', 'karu.node': 'n' }), undefined);
  });

  it('lets a command replace the entrypoint, and args alone replace the image CMD', () => {
    const withCommand = containerConfig(aSpec({ command: 'sh', args: ['-c', 'exit 3'] }), opts);
    assert.deepEqual([withCommand.Entrypoint, withCommand.Cmd], [['sh'], ['-c', 'exit 3']]);
    const argsOnly = containerConfig(aSpec({ args: ['-p', '9090'] }), opts);
    assert.deepEqual([argsOnly.Entrypoint, argsOnly.Cmd], [undefined, ['-p', '9090']]);
    const neither = containerConfig(aSpec(), opts);
    assert.deepEqual([neither.Entrypoint, neither.Cmd], [undefined, undefined]);
  });

  it('publishes ports on the configured host address, several host ports per container port', () => {
    const c = containerConfig(
      aSpec({ ports: [{ host: 20000, to: 8080 }, { host: 20001, to: 8080 }, { host: 20002, to: 53, protocol: 'udp' }] }),
      { ...opts, hostIp: '127.0.0.1' },
    );
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {}, '53/udp': {} });
    assert.deepEqual(c.HostConfig?.PortBindings, {
      '8080/tcp': [
        { HostIp: '127.0.0.1', HostPort: '20000' },
        { HostIp: '127.0.0.1', HostPort: '20001' },
      ],
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '20002' }],
    });
  });

  it('runs with an init, no Docker restarts, and capped json-file logs', () => {
    const hc = containerConfig(aSpec(), opts).HostConfig!;
    assert.equal(hc.Init, true);
    assert.deepEqual(hc.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    assert.deepEqual(hc.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
    assert.deepEqual(containerConfig(aSpec(), opts).Env, ['A=1']);
  });
});

describe('resourceLimits', () => {
  it('maps MHz to CPU shares (1000 MHz = one core = 1024) without a quota by default', () => {
    assert.deepEqual(resourceLimits({ cpuMhz: 1000, memoryMb: 0 }, opts), { CpuShares: 1024 });
    assert.deepEqual(resourceLimits({ cpuMhz: 250, memoryMb: 0 }, opts), { CpuShares: 256 });
    assert.deepEqual(resourceLimits({ cpuMhz: 1, memoryMb: 0 }, opts), { CpuShares: 2 });
    assert.deepEqual(resourceLimits({ cpuMhz: 3000, memoryMb: 0 }, { mhzPerCore: 2000, cpuHardLimit: false }), { CpuShares: 1536 });
  });

  it('adds a CFS quota only when asked for a hard limit', () => {
    assert.deepEqual(resourceLimits({ cpuMhz: 500, memoryMb: 0 }, { mhzPerCore: 1000, cpuHardLimit: true }), { CpuShares: 512, NanoCpus: 5e8 });
  });

  it('caps memory in bytes with no swap beyond it, and sets nothing for zero', () => {
    assert.deepEqual(resourceLimits({ cpuMhz: 0, memoryMb: 64 }, opts), { Memory: 67108864, MemorySwap: 67108864 });
    assert.deepEqual(resourceLimits({ cpuMhz: 0, memoryMb: 0 }, opts), {});
  });
});

describe('containerConfig: host mounts', () => {
  it('passes host bind mounts through as Mounts (a missing source fails instead of being created)', () => {
    const c = containerConfig(aSpec({ mounts: [{ source: '/srv/data', target: '/data', readOnly: false }, { source: '/etc/app', target: '/config', readOnly: true }] }), opts);
    assert.deepEqual(c.HostConfig?.Mounts, [
      { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: false },
      { Type: 'bind', Source: '/etc/app', Target: '/config', ReadOnly: true },
    ]);
    assert.equal(containerConfig(aSpec(), opts).HostConfig?.Mounts, undefined);
  });
});

describe('containerConfig: pods, volumes, resolvers', () => {
  it('runs a pause container from the pause image, alone as PID 1, publishing the pod ports and taking its DNS', () => {
    const c = containerConfig(
      aSpec({
        kind: 'pause',
        command: 'ignored',
        args: ['ignored'],
        ports: [{ host: 20000, to: 8080 }],
        dns: { servers: ['10.99.0.1'], search: ['prod.karu'] },
      }),
      opts,
    );
    assert.equal(c.Image, 'karu/pause:1');
    assert.equal(c.HostConfig?.Init, false, 'the pause program handles SIGTERM itself');
    assert.deepEqual([c.Entrypoint, c.Cmd], [undefined, undefined], "the image's CMD runs");
    assert.deepEqual(c.ExposedPorts, { '8080/tcp': {} });
    assert.deepEqual(c.HostConfig?.Dns, ['10.99.0.1']);
    assert.deepEqual(c.HostConfig?.DnsSearch, ['prod.karu']);
    assert.equal(c.HostConfig?.NetworkMode, undefined);
  });

  it("joins a task to another container's network with no network settings of its own", () => {
    const c = containerConfig(aSpec({ joinNetworkOf: 'abc123' }), opts);
    assert.equal(c.HostConfig?.NetworkMode, 'container:abc123');
    assert.equal(c.ExposedPorts, undefined);
    assert.equal(c.HostConfig?.PortBindings, undefined);
    assert.equal(c.HostConfig?.Dns, undefined);
  });

  it('refuses ports, DNS or a pause kind together with joinNetworkOf, permanently and saying why', () => {
    const refused = (over: Partial<TaskSpec>, re: RegExp) =>
      assert.throws(() => containerConfig(aSpec({ joinNetworkOf: 'abc123', ...over }), opts), (e: unknown) => {
        assert.ok(e instanceof DriverError);
        assert.equal(e.retryable, false);
        assert.match(e.message, re);
        return true;
      });
    refused({ ports: [{ host: 1, to: 2 }] }, /cannot publish ports/);
    refused({ dns: { servers: ['10.99.0.1'], search: [] } }, /Docker refuses DNS options with a container network mode/);
    refused({ kind: 'pause' }, /namespace of its own/);
  });

  it('mounts named volumes labelled with node and alloc, after the bind mounts', () => {
    const c = containerConfig(
      aSpec({ mounts: [{ source: '/srv', target: '/srv', readOnly: true }], volumes: [{ name: 'alloc_1-data', target: '/data', readOnly: false }] }),
      opts,
    );
    assert.deepEqual(c.HostConfig?.Mounts, [
      { Type: 'bind', Source: '/srv', Target: '/srv', ReadOnly: true },
      {
        Type: 'volume',
        Source: 'alloc_1-data',
        Target: '/data',
        ReadOnly: false,
        VolumeOptions: {
          NoCopy: false,
          Labels: { 'karu.managed': 'true', 'karu.node': 'node_1', 'karu.alloc': 'alloc_1' },
          DriverConfig: { Name: 'local', Options: {} },
        },
      },
    ]);
  });

  it('sets only the resolver parts given', () => {
    const hc = containerConfig(aSpec({ dns: { servers: ['10.99.0.1'], search: [] } }), opts).HostConfig!;
    assert.deepEqual([hc.Dns, hc.DnsSearch], [['10.99.0.1'], undefined]);
  });
});
