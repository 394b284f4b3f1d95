import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { DnsUpstream } from './dns-server.js';

/**
 * The upstream resolver of the node's DNS server: the host's own, from resolv.conf.
 * Names outside `.karu` asked by containers go there, so they resolve exactly as they
 * would on the host.
 */

/**
 * The first `nameserver` of a resolv.conf text that is not one of `exclude` (the node's
 * DNS address itself: forwarding to ourselves would loop). Undefined when there is none.
 */
export function upstreamFromResolvConf(text: string, exclude: readonly string[] = []): DnsUpstream | undefined {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)$/.exec(line);
    if (!m) continue;
    // An IPv6 scope (`fe80::1%eth0`) is not something a socket address takes here.
    const address = m[1]!.split('%')[0]!;
    if (isIP(address) === 0 || exclude.includes(address)) continue;
    return { address };
  }
  return undefined;
}

/** Reads `path` (default /etc/resolv.conf); a missing or unreadable file means no upstream. */
export async function hostUpstream(exclude: readonly string[] = [], path = '/etc/resolv.conf'): Promise<DnsUpstream | undefined> {
  try {
    return upstreamFromResolvConf(await readFile(path, 'utf8'), exclude);
  } catch {
    return undefined;
  }
}
