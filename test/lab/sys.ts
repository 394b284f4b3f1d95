/**
 * The lab's system plumbing: `ip`, process sweeps and mounts, all synchronous so the same
 * code can run from an exit handler. Processes are always ended by pid, chosen by a
 * run-scoped marker (the lab's directory in their command line, the lab's network
 * namespaces, the lab's cgroup parent), never by a program name.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Runs a command; throws with its stderr when it fails. */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command and ignores a failure (teardown of things that may already be gone). */
export function shQuiet(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Whether a binary is on PATH (or an absolute path exists). */
export function haveBinary(name: string): boolean {
  if (name.startsWith('/')) return existsSync(name);
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => existsSync(join(d, name)));
}

/** Why the lab cannot run on this machine, or undefined when it can. */
export function labUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'the lab needs root (network namespaces, veths, its own dockerd)';
  for (const b of ['ip', 'nsenter', 'dockerd', 'iptables']) if (!haveBinary(b)) return `the lab needs \`${b}\` on PATH`;
  if (!existsSync('/var/run/docker.sock')) return 'the lab copies its images from the Docker Engine at /var/run/docker.sock, which is not running';
  return undefined;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readProc(pid: string, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
}

/** Inode of a network namespace file (/var/run/netns/X or /proc/PID/ns/net). */
export function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export interface SweepMarkers {
  /** A string that appears in the command line of every process of the run (its directory). */
  cmdline?: string;
  /** Network namespace inodes of the run. */
  netns?: Set<number>;
  /** A string in the cgroup path of the run's containers (dockerd's --cgroup-parent). */
  cgroup?: string;
}

/** Pids (never ours) that carry one of the run's markers. */
export function pidsMarked(m: SweepMarkers): number[] {
  const out: number[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let hit = false;
    if (m.cmdline && readProc(pid, 'cmdline').split('\0').join(' ').includes(m.cmdline)) hit = true;
    if (!hit && m.cgroup && readProc(pid, 'cgroup').includes(m.cgroup)) hit = true;
    if (!hit && m.netns?.size) {
      try {
        const link = readlinkSync(`/proc/${pid}/ns/net`); // net:[4026532]
        const ino = Number(/\[(\d+)\]/.exec(link)?.[1]);
        if (m.netns.has(ino)) hit = true;
      } catch {
        /* exited, or a kernel thread */
      }
    }
    if (hit) out.push(Number(pid));
  }
  return out;
}

/** SIGKILLs every marked process, repeating until none is left (children appear as parents die). */
export function killMarked(m: SweepMarkers): number {
  let killed = 0;
  for (let round = 0; round < 20; round++) {
    const pids = pidsMarked(m);
    if (pids.length === 0) return killed;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed++;
      } catch {
        /* gone already */
      }
    }
    // A killed process lingers as a zombie until reaped; give the kernel a moment.
    spawnSync('sleep', ['0.2']);
  }
  return killed;
}

/** Mount points at or below `dir`, deepest first (the order to unmount them in). */
export function mountsUnder(dir: string): string[] {
  const text = readProc('self', 'mountinfo');
  const points = text
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p && (p === dir || p.startsWith(dir + '/')))
    .map((p) => p.replace(/\\040/g, ' '));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

export function unmountUnder(dir: string): void {
  for (let round = 0; round < 3; round++) {
    const points = mountsUnder(dir);
    if (points.length === 0) return;
    for (const p of points) shQuiet('umount', ['-l', p]);
  }
}

/** cgroup v1/v2 directories named `name` directly under each controller's root. */
export function cgroupDirs(name: string): string[] {
  const root = '/sys/fs/cgroup';
  const out: string[] = [];
  if (existsSync(join(root, name))) out.push(join(root, name));
  try {
    for (const c of readdirSync(root)) {
      const d = join(root, c, name);
      if (existsSync(d)) out.push(d);
    }
  } catch {
    /* no cgroupfs */
  }
  return out;
}

/** Removes a cgroup directory tree (only empty cgroups can go; call after the sweep). */
export function removeCgroup(dir: string): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const e of entries) removeCgroup(join(dir, e));
  try {
    rmdirSync(dir);
  } catch {
    /* still busy or gone */
  }
}

/** Names of network namespaces (`ip netns list`). */
export function netnsList(): string[] {
  try {
    return sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter(Boolean);
  } catch {
    return [];
  }
}

/** Names of links in the root namespace. */
export function linkList(): string[] {
  try {
    return sh('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
      .filter((n): n is string => !!n);
  } catch {
    return [];
  }
}

/** Every IPv4 address and route in the root namespace, as text (to spot a subnet in use). */
export function ipv4InUse(): string {
  return `${sh('ip', ['-4', '-o', 'addr'])}\n${sh('ip', ['-4', 'route'])}`;
}
