import { execFile } from 'node:child_process';

/**
 * The node's own network configuration that the data plane needs: one dummy interface
 * (`karu0`; a port-less bridge where the kernel has no dummy driver) holding the DNS address and every service VIP as a /32, so they are local
 * addresses on every node and never routed between hosts. Behind an interface so the
 * data plane is unit-tested with `FakeHostNetwork` and only the real one runs `ip`.
 */
export interface HostNetwork {
  /** Creates the interface if missing and brings it up. Idempotent. */
  ensureInterface(name: string): Promise<void>;
  /** The IPv4 addresses on the interface now (without prefix length). */
  addresses(name: string): Promise<string[]>;
  /** Adds `address/32`. Already present is not an error. */
  addAddress(name: string, address: string): Promise<void>;
  /** Removes `address/32`. Already gone is not an error. */
  removeAddress(name: string, address: string): Promise<void>;
}

/** The interface the agent keeps its VIPs and DNS address on. */
export const DATAPLANE_INTERFACE = 'karu0';

/** Runs `ip` with `args`; rejects with its stderr. */
function ip(args: string[], bin: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || err.message).trim();
        reject(Object.assign(new Error(`ip ${args.join(' ')}: ${detail}`), { stderr: detail, cause: err }));
      } else resolve(stdout);
    });
  });
}

const unknownType = (e: unknown) => /Unknown device type/i.test((e as { stderr?: string }).stderr ?? '');
const alreadyExists = (e: unknown) => /File exists|already assigned/i.test((e as { stderr?: string }).stderr ?? '');
const alreadyGone = (e: unknown) => /Cannot assign requested address|does not exist|not found/i.test((e as { stderr?: string }).stderr ?? '');

/**
 * The real one: iproute2's `ip` in the agent's network namespace. Needs CAP_NET_ADMIN
 * (root); without it every call rejects and the data plane degrades (see NodeDataPlane).
 */
export function ipHostNetwork(bin = 'ip'): HostNetwork {
  return {
    async ensureInterface(name) {
      try {
        await ip(['link', 'add', name, 'type', 'dummy'], bin);
      } catch (e) {
        if (alreadyExists(e)) {
          // fine: made by us earlier (or by the previous agent)
        } else if (unknownType(e)) {
          // Kernels without the dummy module (some VMs): a bridge with no ports holds
          // local addresses just as well and is never attached to anything.
          try {
            await ip(['link', 'add', name, 'type', 'bridge'], bin);
          } catch (e2) {
            if (!alreadyExists(e2)) throw e2;
          }
        } else throw e;
      }
      await ip(['link', 'set', name, 'up'], bin);
    },
    async addresses(name) {
      const out = await ip(['-j', '-4', 'addr', 'show', 'dev', name], bin);
      const links = JSON.parse(out || '[]') as { addr_info?: { family?: string; local?: string }[] }[];
      return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => a.local!));
    },
    async addAddress(name, address) {
      try {
        await ip(['addr', 'add', `${address}/32`, 'dev', name], bin);
      } catch (e) {
        if (!alreadyExists(e)) throw e;
      }
    },
    async removeAddress(name, address) {
      try {
        await ip(['addr', 'del', `${address}/32`, 'dev', name], bin);
      } catch (e) {
        if (!alreadyGone(e)) throw e;
      }
    },
  };
}

/** Whether IPv4 `address` lies in `cidr` (`10.99.0.0/16`); false for anything unparsable. */
export function inIpv4Range(address: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? '32');
  const toInt = (a: string) => {
    const p = a.split('.').map(Number);
    return p.length === 4 && p.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0 : undefined;
  };
  const a = toInt(address);
  const b = toInt(base ?? '');
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (a & mask) === (b & mask);
}
