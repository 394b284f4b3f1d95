import type { ContainerCreateOptions, HostConfig } from 'dockerode';
import type { Resources } from '../../core/resources.js';
import type { TaskLabels, TaskSpec } from '../driver.js';
import { checkNetworkSpec } from '../spec-checks.js';

/** Label keys on every container Karu creates; `recover()` reads them back. */
export const LABEL = {
  managed: 'karu.managed',
  node: 'karu.node',
  alloc: 'karu.alloc',
  job: 'karu.job',
  namespace: 'karu.namespace',
  group: 'karu.group',
  task: 'karu.task',
} as const;

/** How a task's resources and ports become Docker settings. */
export interface ContainerConfigOptions {
  /** Host address published ports bind to. */
  hostIp: string;
  /** MHz counted as one core; the scheduler's MHz are converted with it. */
  mhzPerCore: number;
  /** Also cap CPU with a CFS quota (NanoCpus), not only weight it with shares. */
  cpuHardLimit: boolean;
  /** json-file log rotation: size of one file (Docker syntax, e.g. `10m`) and how many. */
  logMaxSize: string;
  logMaxFiles: number;
  /** Image of pause containers (`kind: 'pause'`), e.g. `karu/pause:1`. */
  pauseImage: string;
}

/** The labels a task's container carries (see LABEL). */
export function labelsFor(l: TaskLabels): Record<string, string> {
  return {
    [LABEL.managed]: 'true',
    [LABEL.node]: l.nodeId,
    [LABEL.alloc]: l.allocId,
    [LABEL.job]: l.jobName,
    [LABEL.namespace]: l.namespace,
    [LABEL.group]: l.group,
    [LABEL.task]: l.task,
  };
}

/** Reads our labels back; undefined when a container lacks any of them (not ours, or damaged). */
export function taskLabelsFrom(labels: Record<string, string> | undefined): TaskLabels | undefined {
  if (!labels || labels[LABEL.managed] !== 'true') return undefined;
  const nodeId = labels[LABEL.node];
  const allocId = labels[LABEL.alloc];
  const jobName = labels[LABEL.job];
  const namespace = labels[LABEL.namespace];
  const group = labels[LABEL.group];
  const task = labels[LABEL.task];
  if (nodeId === undefined || allocId === undefined || jobName === undefined) return undefined;
  if (namespace === undefined || group === undefined || task === undefined) return undefined;
  return { nodeId, allocId, jobName, namespace, group, task };
}

/**
 * CPU and memory as Docker limits.
 *
 * CPU: `mhzPerCore` MHz count as one core, and a task gets `CpuShares = MHz·1024/mhzPerCore`
 * (1024 is Docker's weight of one full share). Shares are a floor under contention, not a
 * ceiling: the scheduler has reserved those MHz on the node, so when the node is busy every
 * task gets at least its part, and when it is idle a task may burst. A hard CFS quota
 * (`cpuHardLimit`, as NanoCpus) throttles a bursting task even on an idle node, which shows
 * up as latency spikes, so it is opt-in (Nomad's `cpu_hard_limit` makes the same choice).
 *
 * Memory: a hard limit, with swap equal to it so the task cannot page past its reservation.
 */
export function resourceLimits(r: Resources, opts: Pick<ContainerConfigOptions, 'mhzPerCore' | 'cpuHardLimit'>): HostConfig {
  const out: HostConfig = {};
  if (r.cpuMhz > 0) {
    // Docker's smallest accepted share value is 2.
    out.CpuShares = Math.max(2, Math.round((r.cpuMhz * 1024) / opts.mhzPerCore));
    if (opts.cpuHardLimit) out.NanoCpus = Math.round((r.cpuMhz / opts.mhzPerCore) * 1e9);
  }
  if (r.memoryMb > 0) {
    out.Memory = Math.round(r.memoryMb * 1024 * 1024);
    out.MemorySwap = out.Memory;
  }
  return out;
}

/** Labels of an allocation-local volume, so leftovers can be found by node and alloc. */
export function volumeLabelsFor(l: TaskLabels): Record<string, string> {
  return { [LABEL.managed]: 'true', [LABEL.node]: l.nodeId, [LABEL.alloc]: l.allocId };
}

/** The create request for a task. Pure, so the mapping is tested without an engine. Throws a DriverError for a spec Docker cannot run. */
export function containerConfig(spec: TaskSpec, opts: ContainerConfigOptions): ContainerCreateOptions {
  checkNetworkSpec(spec);
  const pause = spec.kind === 'pause';
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of spec.ports) {
    const key = `${p.to}/${p.protocol ?? 'tcp'}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostIp: opts.hostIp, HostPort: String(p.host) });
  }

  const config: ContainerCreateOptions = {
    name: spec.name,
    Image: pause ? opts.pauseImage : spec.image,
    Labels: labelsFor(spec.labels),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    HostConfig: {
      // An init as PID 1 forwards SIGTERM and reaps zombies: many images (busybox sh,
      // httpd) ignore SIGTERM as PID 1, so every stop would otherwise wait out its timeout.
      // The pause program handles SIGTERM itself and starts nothing, so it runs alone.
      Init: !pause,
      // Karu decides restarts (restart policy, backoff, rescheduling); Docker must not.
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      LogConfig: { Type: 'json-file', Config: { 'max-size': opts.logMaxSize, 'max-file': String(opts.logMaxFiles) } },
      ...resourceLimits(spec.resources, opts),
    },
  };
  const hc = config.HostConfig!;
  if (spec.joinNetworkOf !== undefined) {
    // Shares the holder's interfaces, localhost, hostname, hosts and resolv.conf.
    hc.NetworkMode = `container:${spec.joinNetworkOf}`;
  } else {
    config.ExposedPorts = exposed;
    hc.PortBindings = bindings;
  }
  if (spec.dns !== undefined) {
    if (spec.dns.servers.length > 0) hc.Dns = spec.dns.servers;
    if (spec.dns.search.length > 0) hc.DnsSearch = spec.dns.search;
  }
  const mounts: NonNullable<HostConfig['Mounts']> = [];
  // Mounts rather than Binds: a missing source is an error here instead of Docker
  // silently creating an empty root-owned directory in its place.
  for (const m of spec.mounts ?? []) mounts.push({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly });
  // A named volume is created on first use with these labels (an existing one is reused
  // as is), so several tasks of an allocation share it and leftovers can be found.
  const volumeLabels = volumeLabelsFor(spec.labels);
  for (const v of spec.volumes ?? []) {
    mounts.push({
      Type: 'volume',
      Source: v.name,
      Target: v.target,
      ReadOnly: v.readOnly,
      VolumeOptions: { NoCopy: false, Labels: volumeLabels, DriverConfig: { Name: 'local', Options: {} } },
    });
  }
  if (mounts.length > 0) hc.Mounts = mounts;
  // The pause image's own CMD is the pause program. For a task, a command replaces the
  // image's entrypoint (and with it the image's CMD); without one the image's entrypoint
  // stays and args, when given, replace its CMD.
  if (pause) return config;
  if (spec.command !== undefined) {
    config.Entrypoint = [spec.command];
    config.Cmd = spec.args;
  } else if (spec.args.length > 0) {
    config.Cmd = spec.args;
  }
  return config;
}
