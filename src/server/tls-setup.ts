import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Store } from '../store/store.js';
import { ensureAdminCert } from './admin-cert.js';
import { ClusterPki } from './cluster-pki.js';
import type { ServerConfig } from './config.js';

/** The CA certificate the CLI trusts by default (`<dataDir>/ca.pem`). */
export const CA_FILE = 'ca.pem';

/**
 * Every name the server may be dialled by, for its certificate: the listen host (unless a
 * wildcard), loopback, the hostname, every address of this machine, and `--advertise`.
 */
export function serverHosts(config: ServerConfig, interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string[] {
  const hosts = [...config.advertise, '127.0.0.1', '::1', 'localhost', os.hostname()];
  if (config.host !== '0.0.0.0' && config.host !== '::') hosts.push(config.host);
  for (const list of Object.values(interfaces)) for (const i of list ?? []) hosts.push(i.address.replace(/%.*$/, ''));
  return [...new Set(hosts)];
}

/** Host for the join command: the first `--advertise`, else the listen host, else the machine's first external IPv4. */
export function advertiseHost(config: ServerConfig, interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces()): string {
  if (config.advertise[0]) return config.advertise[0];
  if (config.host !== '0.0.0.0' && config.host !== '::') return config.host;
  for (const name of Object.keys(interfaces).sort()) for (const i of interfaces[name] ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}

/**
 * Opens the CA (creating it on first start), writes its certificate to `<dataDir>/ca.pem`
 * for the CLI and the cluster admin's certificate beside it (admin.pem, admin-key.pem).
 */
export async function openClusterPki(config: ServerConfig, store: Store, clock: Clock, logger: Logger, joinUrl: () => string): Promise<ClusterPki> {
  const pki = await ClusterPki.open({ store, clock, logger, hosts: serverHosts(config), joinUrl });
  writeFileSync(join(config.dataDir, CA_FILE), pki.ca.certPem, { mode: 0o644 });
  await ensureAdminCert(config.dataDir, pki.ca, new Date(clock.now()), logger);
  return pki;
}
