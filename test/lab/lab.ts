/**
 * The multi-host lab: N "hosts" on one machine, each a network namespace with a veth into
 * a bridge, its own dockerd and a real `karu agent` process, plus a real `karu server` in
 * the root namespace listening on the bridge address. Faults are injected from outside
 * (SIGKILL, link down), as they happen to real machines. See docs/design/lab.md.
 *
 * Everything a lab makes carries its run id: names (`klab<id>…`), its directory
 * (/tmp/klab/<id>), its dockerds' cgroup parent. `stop()` (or the exit handler, or
 * `Lab.cleanupStale()` after a crash) removes exactly those things, ending processes by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';
import { KaruClient } from '../../src/client/client.js';
import type { NodeView } from '../../src/client/types.js';
import {
  cgroupDirs,
  ipv4InUse,
  killMarked,
  linkList,
  netnsInode,
  netnsList,
  pidAlive,
  removeCgroup,
  sh,
  shQuiet,
  unmountUnder,
} from './sys.js';
import { eventually } from '../eventually.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const KARU_BIN = join(ROOT, 'bin/karu.js');
/** Where every lab keeps its files; one directory per run id. */
export const LAB_ROOT = '/tmp/klab';
/** Prefix of every name a lab gives (bridge, veths, namespaces, cgroups). */
export const PREFIX = 'klab';
/** The images every host's dockerd gets, copied from the machine's engine. */
export const LAB_IMAGES = ['karu/hello:1', 'karu/busybox:1'];
const HOST_DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export interface LabOptions {
  hosts: number;
  /** Shown in logs and the state file; names stay run-scoped whatever it is. */
  name?: string;
  /**
   * Agents join with `--join URL --token T` and talk mutual TLS to an https server (the
   * default); false: a plain-HTTP server (`--no-tls`) and `--server URL`. Env KARU_LAB_JOIN=0
   * turns it off.
   */
  join?: boolean;
  /** Leave it running when this process exits (the CLI's `up`); `Lab.destroy(id)` removes it. */
  persistent?: boolean;
  /** Log level of server and agents (their logs are in the lab directory). Default: info. */
  logLevel?: string;
  /** Extra flags for `karu server`, kept across restarts. */
  serverArgs?: string[];
  /** Extra flags for one host's `karu agent` (e.g. `--ingress` on host1), kept across restarts. */
  agentArgs?: (host: LabHost) => string[];
}

/** One host of the lab. */
export interface LabHost {
  /** 1-based. */
  readonly index: number;
  /** Its Karu node name: host1, host2… */
  readonly name: string;
  readonly netns: string;
  /** The root-namespace end of its veth (what `partition` takes down). */
  readonly veth: string;
  readonly address: string;
  readonly dir: string;
  readonly dockerSocket: string;
  /** Its own dockerd, through its socket. */
  readonly docker: Docker;
  dockerd?: ChildProcess;
  agent?: ChildProcess;
  /** Set once the agent registered. */
  nodeId?: string;
}

/** What survives the process: enough to tear the lab down from anywhere. */
interface LabState {
  id: string;
  name: string;
  ownerPid: number;
  persistent: boolean;
  subnet: number;
  bridge: string;
  netns: string[];
  veths: string[];
  cgroups: string[];
  forwardRule: boolean;
  serverUrl?: string;
  hosts?: { name: string; address: string; dockerSocket: string }[];
}



export class Lab {
  readonly hosts: LabHost[] = [];
  readonly bridgeIp: string;
  serverUrl = '';
  client!: KaruClient;
  /** The join token printed by `karu server`, in join mode. */
  joinToken: string | undefined;
  server?: ChildProcess;
  private serverListen: string;
  private tlsFetch: { fetch: typeof fetch; close(): Promise<void> } | undefined;
  /** Extra flags for `karu server` (e.g. `--heartbeat-ttl 5s`), kept across restarts. */
  serverArgs: string[] = [];
  /** Extra flags per host for `karu agent`, kept across restarts. */
  agentArgs: (host: LabHost) => string[] = () => [];
  private stopped = false;
  private readonly onExit = () => Lab.destroySync(this.state);
  private readonly onSignal = (sig: NodeJS.Signals) => {
    Lab.destroySync(this.state);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };

  private constructor(
    readonly id: string,
    readonly dir: string,
    private readonly state: LabState,
    private readonly opts: Required<Omit<LabOptions, 'name' | 'serverArgs' | 'agentArgs'>>,
  ) {
    this.bridgeIp = `10.77.${state.subnet}.1`;
    this.serverListen = `${this.bridgeIp}:0`;
  }

  get bridge(): string {
    return this.state.bridge;
  }

  /** Brings up the bridge, the hosts (netns, dockerd, images), the server and the agents. */
  static async start(options: LabOptions): Promise<Lab> {
    Lab.cleanupStale();
    const opts = {
      hosts: options.hosts,
      join: options.join ?? process.env.KARU_LAB_JOIN !== '0',
      persistent: options.persistent ?? false,
      logLevel: options.logLevel ?? process.env.KARU_LAB_LOG_LEVEL ?? 'info',
    };
    if (opts.hosts < 1 || opts.hosts > 9) throw new Error(`hosts must be 1–9, got ${opts.hosts}`);
    mkdirSync(LAB_ROOT, { recursive: true });
    let id = '';
    let dir = '';
    for (;;) {
      id = randomBytes(2).toString('hex');
      dir = join(LAB_ROOT, id);
      try {
        mkdirSync(dir); // atomic claim of the id
        break;
      } catch {
        /* taken: draw again */
      }
    }
    const state: LabState = {
      id,
      name: options.name ?? 'lab',
      ownerPid: process.pid,
      persistent: opts.persistent,
      subnet: pickSubnet(),
      bridge: `${PREFIX}${id}`,
      netns: [],
      veths: [],
      cgroups: [],
      forwardRule: false,
    };
    const lab = new Lab(id, dir, state, opts);
    lab.serverArgs = options.serverArgs ?? [];
    lab.agentArgs = options.agentArgs ?? (() => []);
    lab.saveState();
    if (!opts.persistent) {
      process.on('exit', lab.onExit);
      process.once('SIGINT', lab.onSignal);
      process.once('SIGTERM', lab.onSignal);
    }
    try {
      lab.createNetwork();
      const tar = join(dir, 'images.tar');
      sh(HOST_DOCKER, ['save', '-o', tar, ...LAB_IMAGES]);
      await Promise.all(
        lab.hosts.map(async (h) => {
          await lab.startDockerd(h);
          sh(HOST_DOCKER, ['-H', `unix://${h.dockerSocket}`, 'load', '-q', '-i', tar]);
        }),
      );
      await lab.startServer();
      await Promise.all(lab.hosts.map((h) => lab.startAgent(h)));
      return lab;
    } catch (e) {
      const logs = lab.tailLogs();
      await lab.stop();
      throw new Error(`the lab did not come up: ${(e as Error).message}\n${logs}`, { cause: e });
    }
  }

  // ---- topology

  private createNetwork(): void {
    const s = this.state;
    sh('ip', ['link', 'add', s.bridge, 'type', 'bridge']);
    sh('ip', ['addr', 'add', `${this.bridgeIp}/24`, 'dev', s.bridge]);
    sh('ip', ['link', 'set', s.bridge, 'up']);
    // br_netfilter sends bridged frames through the root FORWARD chain, whose policy
    // Docker sets to DROP: allow host-to-host traffic on our bridge only.
    sh('iptables', ['-I', 'FORWARD', '-i', s.bridge, '-o', s.bridge, '-j', 'ACCEPT']);
    s.forwardRule = true;
    this.saveState();
    for (let i = 1; i <= this.opts.hosts; i++) {
      const netns = `${PREFIX}${this.id}-h${i}`;
      const veth = `${PREFIX}${this.id}h${i}`;
      s.netns.push(netns);
      s.veths.push(veth);
      s.cgroups.push(`${PREFIX}${this.id}-h${i}`);
      this.saveState();
      const address = `10.77.${s.subnet}.${10 + i}`;
      sh('ip', ['netns', 'add', netns]);
      sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
      sh('ip', ['link', 'set', `${veth}p`, 'netns', netns]);
      sh('ip', ['link', 'set', veth, 'master', s.bridge]);
      sh('ip', ['link', 'set', veth, 'up']);
      sh('ip', ['-n', netns, 'link', 'set', `${veth}p`, 'name', 'eth0']);
      sh('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
      // No default route on purpose: the connected /24 reaches the server and the other
      // hosts, and nothing a host does can leave the lab.
      const dir = join(this.dir, `h${i}`);
      mkdirSync(dir, { recursive: true });
      const dockerSocket = join(dir, 'docker.sock');
      this.hosts.push({ index: i, name: `host${i}`, netns, veth, address, dir, dockerSocket, docker: new Docker({ socketPath: dockerSocket }) });
    }
    s.hosts = this.hosts.map((h) => ({ name: h.name, address: h.address, dockerSocket: h.dockerSocket }));
    this.saveState();
  }

  host(nameOrIndex: string | number): LabHost {
    const h = typeof nameOrIndex === 'number' ? this.hosts[nameOrIndex - 1] : this.hosts.find((x) => x.name === nameOrIndex || x.nodeId === nameOrIndex);
    if (!h) throw new Error(`no lab host ${nameOrIndex}`);
    return h;
  }

  // ---- processes

  private spawnLogged(logName: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const fd = openSync(join(this.dir, logName), 'a');
    try {
      const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', fd, fd], detached: true });
      if (this.opts.persistent) child.unref();
      child.on('error', () => undefined);
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Starts the host's dockerd inside its namespace and waits until it answers. */
  async startDockerd(host: LabHost): Promise<void> {
    // An engine restarted under load sometimes gives up waiting for its containerd: retry.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startDockerdOnce(host);
      } catch (e) {
        if (attempt >= 3 || (host.dockerd && host.dockerd.exitCode === null && host.dockerd.signalCode === null)) throw e;
      }
    }
  }

  private async startDockerdOnce(host: LabHost): Promise<void> {
    const d = host.dir;
    writeFileSync(join(d, 'daemon.json'), '{}\n');
    host.dockerd = this.spawnLogged('dockerd-' + host.name + '.log', 'nsenter', [
      `--net=/var/run/netns/${host.netns}`,
      '--',
      'dockerd',
      '--config-file', join(d, 'daemon.json'),
      '--data-root', join(d, 'data'),
      '--exec-root', join(d, 'exec'),
      '-H', `unix://${host.dockerSocket}`,
      '--pidfile', join(d, 'docker.pid'),
      '--bip', `172.31.${100 + host.index}.1/24`,
      '--cgroup-parent', `${PREFIX}${this.id}-h${host.index}`,
      '--iptables=true',
      '--log-level', 'warn',
    ]);
    const proc = host.dockerd;
    await eventually(`dockerd of ${host.name} to answer on ${host.dockerSocket}`, async () => {
      if (proc.exitCode !== null) throw new Error(`dockerd of ${host.name} exited with ${proc.exitCode}: ${this.tail('dockerd-' + host.name + '.log')}`);
      return (await host.docker.ping()) !== undefined;
    }, 60_000);
  }

  /**
   * SIGKILLs the host's dockerd and the containerd it manages (which would die with it a
   * moment later anyway): the engine is gone, its containers' shims live on.
   */
  async killDockerd(host: LabHost): Promise<void> {
    const containerdPid = Number(readFileIfAny(join(host.dir, 'exec/containerd/containerd.pid')).trim());
    await killChild(host.dockerd);
    if (containerdPid > 0 && pidAlive(containerdPid) && readFileIfAny(`/proc/${containerdPid}/cmdline`).includes(host.dir)) {
      process.kill(containerdPid, 'SIGKILL');
    }
    // A new containerd cannot open the old one's database while it still holds it.
    await eventually(`the old containerd of ${host.name} to exit`, () => !(containerdPid > 0 && pidAlive(containerdPid) && readFileIfAny(`/proc/${containerdPid}/cmdline`).includes(host.dir)), 10_000, 50);
  }

  private async startServer(): Promise<void> {
    const dataDir = join(this.dir, 'server');
    const tls = this.opts.join ? ['--advertise', this.bridgeIp] : ['--no-tls'];
    const args = [KARU_BIN, 'server', '--data-dir', dataDir, '--listen', this.serverListen, ...tls, '--log-level', this.opts.logLevel, ...this.serverArgs];
    const log = 'server.log';
    const before = this.tail(log, Infinity).length;
    this.server = this.spawnLogged(log, process.execPath, args);
    const proc = this.server;
    const url = await eventually('karu server to print its URL', () => {
      if (proc.exitCode !== null) throw new Error(`karu server exited with ${proc.exitCode}: ${this.tail(log)}`);
      const out = this.tail(log, Infinity).slice(before);
      return /listening on (https?:\/\/\S+?)\s/.exec(out)?.[1];
    }, 60_000);
    const out = this.tail(log, Infinity).slice(before);
    this.joinToken = /--token\s+(\S+)/.exec(out)?.[1] ?? this.joinToken;
    // Restarts listen on the same address, so the agents find the server again.
    this.serverUrl = url;
    this.serverListen = new URL(url).host;
    this.client = await this.adminClient(url);
    this.state.serverUrl = url;
    this.saveState();
    await eventually('karu server to answer', async () => Array.isArray(await this.client.listNodes()), 30_000);
  }

  /** Path of the cluster CA certificate the server wrote (join mode). */
  get caFile(): string {
    return join(this.dir, 'server', 'ca.pem');
  }

  /**
   * An API client as an operator's CLI on the server machine has it: over TLS trusting the
   * cluster CA and presenting the admin certificate beside it in join mode.
   */
  private async adminClient(url: string): Promise<KaruClient> {
    if (!url.startsWith('https:')) return new KaruClient({ baseUrl: url, timeoutMs: 10_000 });
    const caPem = await eventually('the server to write its CA certificate', () => readFileIfAny(this.caFile) || undefined, 30_000);
    const serverDir = join(this.dir, 'server');
    // The server writes the admin certificate right after ca.pem; key before certificate.
    const certPem = await eventually('the server to write its admin certificate', () => readFileIfAny(join(serverDir, 'admin.pem')) || undefined, 30_000);
    const keyPem = readFileIfAny(join(serverDir, 'admin-key.pem'));
    const { createTlsFetch } = await import('../../src/pki/tls.js');
    this.tlsFetch?.close().catch(() => undefined);
    this.tlsFetch = createTlsFetch({ caPem, certPem, keyPem }, 'server');
    return new KaruClient({ baseUrl: url, timeoutMs: 10_000, fetch: this.tlsFetch.fetch });
  }

  /** SIGKILL and start again on the same data dir and address. */
  async restartServer(): Promise<void> {
    await killChild(this.server);
    await this.startServer();
  }

  async killServer(): Promise<void> {
    await killChild(this.server);
  }

  /** Starts (or restarts) the host's agent in its namespace and waits until its node is ready. */
  async startAgent(host: LabHost): Promise<void> {
    host.agent = this.spawnAgent(host);
    const proc = host.agent;
    const node = await eventually(`agent of ${host.name} to register and be ready`, async () => {
      if (proc.exitCode !== null) throw new Error(`agent of ${host.name} exited with ${proc.exitCode}: ${this.tail(`agent-${host.name}.log`)}`);
      const nodes = await this.client.listNodes();
      return nodes.find((n) => n.name === host.name && n.status === 'ready');
    }, 90_000);
    host.nodeId = node.id;
  }

  /**
   * A `karu agent` process in the host's namespace, not waited for. By default the host's
   * own agent; `name`/`token` make another one (a second identity on the same machine,
   * with its own data dir and log `agent-<name>.log`), e.g. to try joining with a bad token.
   */
  spawnAgent(host: LabHost, other: { name?: string; token?: string } = {}): ChildProcess {
    const name = other.name ?? host.name;
    const token = other.token ?? this.joinToken ?? '';
    const connect = this.opts.join ? ['agent', '--join', this.serverUrl, '--token', token] : ['--server', this.serverUrl, 'agent'];
    const args = [
      `--net=/var/run/netns/${host.netns}`,
      '--',
      process.execPath,
      KARU_BIN,
      ...connect,
      '--data-dir', join(host.dir, name === host.name ? 'agent' : `agent-${name}`),
      '--name', name,
      '--address', host.address,
      '--docker-socket', host.dockerSocket,
      '--http-port', name === host.name ? '4647' : '0',
      '--log-level', this.opts.logLevel,
      ...(name === host.name ? this.agentArgs(host) : []),
    ];
    return this.spawnLogged(`agent-${name}.log`, 'nsenter', args);
  }

  /** SIGKILL: no clean shutdown; its containers keep running. */
  async killAgent(host: LabHost): Promise<void> {
    await killChild(host.agent);
  }

  /** Cuts the host off: its link into the bridge goes down. */
  partition(host: LabHost): void {
    sh('ip', ['link', 'set', host.veth, 'down']);
  }

  heal(host: LabHost): void {
    sh('ip', ['link', 'set', host.veth, 'up']);
  }

  /** The machine dies: agent and dockerd SIGKILLed, link down. */
  async killHost(host: LabHost): Promise<void> {
    this.partition(host);
    await Promise.all([this.killAgent(host), this.killDockerd(host)]);
  }

  /** The machine comes back: dockerd, link, agent. */
  async reviveHost(host: LabHost): Promise<void> {
    await this.startDockerd(host);
    this.heal(host);
    await this.startAgent(host);
  }

  // ---- observation

  /** Karu containers on the host, from its own dockerd (running only unless `all`). */
  async hostContainers(host: LabHost, all = false): Promise<Docker.ContainerInfo[]> {
    return host.docker.listContainers({ all, filters: { label: ['karu.managed=true'] } });
  }

  async node(host: LabHost): Promise<NodeView> {
    const nodes = await this.client.listNodes();
    const n = nodes.find((x) => x.id === host.nodeId) ?? nodes.find((x) => x.name === host.name);
    if (!n) throw new Error(`${host.name} is not a node of the cluster`);
    return n;
  }

  /** The last `max` characters of one of the lab's logs (server.log, agent-host1.log, dockerd-host1.log). */
  tail(file: string, max = 3000): string {
    try {
      const t = readFileSync(join(this.dir, file), 'utf8');
      return max === Infinity ? t : t.slice(-max);
    } catch {
      return '';
    }
  }

  /** The tails of every log, for a failure message. */
  tailLogs(max = 1500): string {
    let files: string[] = [];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.log'));
    } catch {
      return '';
    }
    return files.map((f) => `--- ${f}\n${this.tail(f, max)}`).join('\n');
  }

  // ---- teardown

  /** Tears everything down in reverse order. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await Promise.all(this.hosts.map((h) => killChild(h.agent)));
    await killChild(this.server);
    await this.tlsFetch?.close().catch(() => undefined);
    // Containers through their engines while they still run; a dead engine's are swept below.
    await Promise.all(
      this.hosts.map(async (h) => {
        if (!h.dockerd || h.dockerd.exitCode !== null || h.dockerd.signalCode !== null) return;
        try {
          const list = await h.docker.listContainers({ all: true });
          await Promise.all(list.map((c) => h.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
        } catch {
          /* engine not answering: the sweep ends it */
        }
        await stopChild(h.dockerd, 20_000);
      }),
    );
    const keep = process.env.KARU_LAB_KEEP_LOGS;
    if (keep) {
      // For a post-mortem: the logs only, outside the lab's directory.
      const to = join(keep, this.id);
      mkdirSync(to, { recursive: true });
      for (const f of readdirSync(this.dir).filter((x) => x.endsWith('.log'))) copyFileSync(join(this.dir, f), join(to, f));
    }
    Lab.destroySync(this.state);
  }

  /** Removes what a lab made, from its state alone: usable from an exit handler or another process. */
  static destroySync(state: LabState): void {
    const dir = join(LAB_ROOT, state.id);
    const netns = new Set<number>();
    for (const ns of state.netns) {
      const ino = netnsInode(`/var/run/netns/${ns}`);
      if (ino !== undefined) netns.add(ino);
    }
    killMarked({ cmdline: dir + '/', netns, cgroup: `/${PREFIX}${state.id}-` });
    unmountUnder(dir);
    for (const cg of state.cgroups) for (const d of cgroupDirs(cg)) removeCgroup(d);
    if (state.forwardRule) shQuiet('iptables', ['-D', 'FORWARD', '-i', state.bridge, '-o', state.bridge, '-j', 'ACCEPT']);
    for (const ns of state.netns) shQuiet('ip', ['netns', 'del', ns]);
    const links = new Set(linkList());
    for (const v of state.veths) if (links.has(v)) shQuiet('ip', ['link', 'del', v]);
    if (links.has(state.bridge)) shQuiet('ip', ['link', 'del', state.bridge]);
    rmSync(dir, { recursive: true, force: true });
  }

  /** Tears down one lab by id (a persistent one from the CLI, or a leftover). */
  static destroy(id: string): boolean {
    const state = readState(id);
    if (!state) return false;
    Lab.destroySync(state);
    return true;
  }

  /** Labs on this machine, with whether their owner still runs. */
  static list(): { id: string; name: string; persistent: boolean; ownerAlive: boolean; serverUrl?: string; hosts?: LabState['hosts'] }[] {
    let ids: string[] = [];
    try {
      ids = readdirSync(LAB_ROOT);
    } catch {
      return [];
    }
    return ids
      .map((id) => readState(id))
      .filter((s): s is LabState => !!s)
      .map((s) => ({ id: s.id, name: s.name, persistent: s.persistent, ownerAlive: pidAlive(s.ownerPid) && !s.persistent, serverUrl: s.serverUrl, hosts: s.hosts }));
  }

  /**
   * Removes leftovers of crashed runs: labs whose owner process is gone (persistent ones
   * from the CLI stay unless `all`), and `klab…` namespaces and links no live lab owns.
   * Returns the ids removed.
   */
  static cleanupStale(opts: { all?: boolean } = {}): string[] {
    const removed: string[] = [];
    const live = new Set<string>();
    let ids: string[] = [];
    try {
      ids = readdirSync(LAB_ROOT);
    } catch {
      /* none yet */
    }
    for (const id of ids) {
      const state = readState(id);
      if (!state && !opts.all && youngerThan(join(LAB_ROOT, id), 60_000)) {
        live.add(id); // being created right now: its state is not written yet
        continue;
      }
      if (state && !opts.all && (state.persistent || pidAlive(state.ownerPid))) {
        live.add(id);
        continue;
      }
      Lab.destroySync(state ?? emptyState(id));
      removed.push(id);
    }
    // Names whose directory is gone (a crash between creating them and writing state).
    const orphanIds = new Set<string>();
    for (const n of [...netnsList(), ...linkList()]) {
      const m = new RegExp(`^${PREFIX}([0-9a-f]{4})`).exec(n);
      if (m && !live.has(m[1]!)) orphanIds.add(m[1]!);
    }
    for (const id of orphanIds) {
      const state = emptyState(id);
      state.netns = netnsList().filter((n) => n.startsWith(`${PREFIX}${id}-`));
      state.veths = linkList().filter((n) => n.startsWith(`${PREFIX}${id}h`));
      Lab.destroySync(state);
      if (!removed.includes(id)) removed.push(id);
    }
    return removed;
  }

  private saveState(): void {
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify(this.state, null, 2));
  }
}

function readState(id: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(join(LAB_ROOT, id, 'state.json'), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

function readFileIfAny(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function youngerThan(path: string, ms: number): boolean {
  try {
    return Date.now() - statSync(path).mtimeMs < ms;
  } catch {
    return false;
  }
}

function emptyState(id: string): LabState {
  return { id, name: 'unknown', ownerPid: 0, persistent: false, subnet: 0, bridge: `${PREFIX}${id}`, netns: [], veths: [], cgroups: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `${PREFIX}${id}-h${i}`), forwardRule: true };
}

/** A 10.77.K.0/24 no address or route of this machine and no other lab uses. */
function pickSubnet(): number {
  const used = ipv4InUse();
  const taken = new Set(Lab.list().map((l) => readState(l.id)?.subnet));
  const candidates: number[] = [];
  for (let k = 100; k < 250; k++) if (!taken.has(k) && !used.includes(`10.77.${k}.`)) candidates.push(k);
  if (candidates.length === 0) throw new Error('no free 10.77.K.0/24 subnet for the lab');
  return candidates[randomBytes(1)[0]! % candidates.length]!;
}

async function killChild(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGKILL');
  await exited;
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(p: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export { eventually };
