import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { KaruClient } from '../../src/client/client.js';
import { eventually } from '../eventually.js';

const exec = promisify(execFile);
export const ROOT = resolve(import.meta.dirname, '../..');
export const KARU_BIN = join(ROOT, 'bin/karu.js');
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

export function dockerAvailable(): boolean {
  return existsSync('/var/run/docker.sock');
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolvePort(port));
    });
    s.on('error', reject);
  });
}


/**
 * `karu dev` without its data plane: for tests that reach apps on their host ports. The
 * data plane binds the node's DNS address (10.99.0.1:53) and an ingress port, which one
 * process at a time can hold: only the tests about it (dataplane.test.ts) run it.
 */
export const NO_DATAPLANE = ['--no-dataplane'];

/** `karu dev` as a real process: server + agent, its own data dir and port. */
export class DevCluster {
  readonly dataDir: string;
  port = 0;
  proc: ChildProcess | undefined;
  output = '';
  client!: KaruClient;

  constructor(dataDir?: string) {
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'karu-e2e-'));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(extraArgs: string[] = []): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.client = new KaruClient({ baseUrl: this.url, timeoutMs: 10_000 });
    this.output = '';
    const proc = spawn(process.execPath, [KARU_BIN, 'dev', '--data-dir', this.dataDir, '--listen', `127.0.0.1:${this.port}`, ...extraArgs], {
      cwd: ROOT,
      env: { ...process.env, KARU_LOG_LEVEL: process.env.KARU_LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.output += d.toString()));
    proc.stderr!.on('data', (d) => (this.output += d.toString()));
    await eventually(`karu dev to answer on ${this.url}\n${this.output}`, async () => {
      if (proc.exitCode !== null) throw new Error(`karu dev exited with ${proc.exitCode}:\n${this.output}`);
      const nodes = await this.client.listNodes();
      return nodes.some((n) => n.status === 'ready');
    }, 60_000);
  }

  /** SIGKILL: no clean shutdown, as when a machine loses power. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM: the clean stop. */
  async stop(): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill('SIGTERM');
    return exited;
  }

  /** Runs a karu CLI command against this cluster. */
  async karu(args: string[], opts: { allowFail?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await exec(process.execPath, [KARU_BIN, '--server', this.url, ...args], { cwd: ROOT, timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      if (!opts.allowFail) throw new Error(`karu ${args.join(' ')} failed (${err.code}):\n${err.stdout}\n${err.stderr}`);
      return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
    }
  }

  /** Karu containers of this cluster's node(s), from the engine itself. */
  async containers(all = false): Promise<Docker.ContainerInfo[]> {
    const nodes = await this.client.listNodes();
    const out: Docker.ContainerInfo[] = [];
    for (const n of nodes) {
      out.push(...(await docker.listContainers({ all, filters: { label: [`karu.node=${n.id}`] } })));
    }
    return out;
  }

  /** Stops the process and removes every container, volume and file it made. */
  async destroy(): Promise<void> {
    let nodeIds: string[] = [];
    try {
      nodeIds = (await this.client.listNodes()).map((n) => n.id);
    } catch {
      /* server already gone */
    }
    await this.kill();
    for (const id of nodeIds) {
      const list = await docker.listContainers({ all: true, filters: { label: [`karu.node=${id}`] } });
      await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
      const { Volumes: volumes } = await docker.listVolumes({ filters: { label: [`karu.node=${id}`] } });
      await Promise.all((volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)));
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  writeJob(name: string, yaml: string): string {
    const file = join(this.dataDir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return file;
  }
}

export async function httpGet(url: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

export { eventually };
