import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KaruClient } from '../client/client.js';
import { KaruError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import type { Logger } from '../lib/logger.js';
import { certIdentity, createCsr, fingerprint } from '../pki/certs.js';
import { parseJoinToken } from '../pki/join-token.js';
import { createTlsFetch, fetchPinnedCa } from '../pki/tls.js';
import type { AgentConfig } from './config.js';
import { saveIdentity } from './identity.js';

/** The node's TLS identity: the cluster CA, its certificate, and the key that never left this machine. */
export interface NodeTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Under the data dir, readable by the owner only. */
export const TLS_DIR = 'tls';
const FILES = { caPem: 'ca.pem', certPem: 'node.pem', keyPem: 'node-key.pem' } as const;

/** The stored identity, or undefined when this node never joined (or a file is missing). */
export async function loadNodeTls(dataDir: string): Promise<NodeTls | undefined> {
  try {
    const read = (f: string) => readFile(join(dataDir, TLS_DIR, f), 'utf8');
    return { caPem: await read(FILES.caPem), certPem: await read(FILES.certPem), keyPem: await read(FILES.keyPem) };
  } catch {
    return undefined;
  }
}

/** Writes each file atomically (temp + rename), mode 0600. */
export async function saveNodeTls(dataDir: string, tls: NodeTls): Promise<void> {
  const dir = join(dataDir, TLS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [field, file] of Object.entries(FILES) as [keyof NodeTls, string][]) {
    const path = join(dir, file);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, tls[field], { mode: 0o600 });
    await rename(tmp, path);
  }
}

/** The node id a certificate of this cluster names. */
export function nodeIdOf(certPem: string): NodeId {
  const who = certIdentity(certPem);
  if (who?.role !== 'node') throw new KaruError('INVALID', 'the stored certificate is not a Karu node certificate');
  return who.nodeId as NodeId;
}

/**
 * Joins the cluster: checks that the server at `url` presents the CA the token pins (before
 * anything secret is sent), then sends the token's secret with a CSR for a key made here,
 * and stores the certificate, the key and the CA (0600), and the node identity.
 */
export async function joinCluster(opts: { url: string; token: string; name: string; dataDir: string; logger: Logger }): Promise<NodeTls> {
  const token = parseJoinToken(opts.token);
  const caPem = await fetchPinnedCa(opts.url, token.caFingerprint);
  const { csrPem, keyPem } = await createCsr(opts.name);
  const tlsFetch = createTlsFetch({ caPem }, 'server');
  let res;
  try {
    res = await new KaruClient({ baseUrl: opts.url, fetch: tlsFetch.fetch }).join({ tokenId: token.id, secret: token.secret, csr: csrPem, name: opts.name });
  } finally {
    await tlsFetch.close();
  }
  if (fingerprint(res.caCertificate) !== token.caFingerprint) throw new KaruError('UNAUTHORIZED', 'the server answered with a CA other than the one the join token names');
  const tls = { caPem, certPem: res.certificate, keyPem };
  if (nodeIdOf(tls.certPem) !== res.nodeId) throw new KaruError('INTERNAL', `the server's certificate names another node than ${res.nodeId}`);
  await saveNodeTls(opts.dataDir, tls);
  // The node secret is kept for the registration call; with TLS the certificate is what counts.
  await saveIdentity(opts.dataDir, { nodeId: res.nodeId, secret: randomBytes(32).toString('hex') });
  opts.logger.info({ nodeId: res.nodeId, caFingerprint: token.caFingerprint }, 'joined the cluster: node certificate stored');
  return tls;
}

/**
 * The TLS identity the agent runs with: the stored one (a restart needs no token), else a
 * fresh join when a token is given, else none (plain HTTP, `karu dev`).
 */
export async function resolveNodeTls(cfg: AgentConfig, logger: Logger): Promise<NodeTls | undefined> {
  const https = cfg.serverUrl.startsWith('https:');
  const stored = await loadNodeTls(cfg.dataDir);
  if (stored) {
    if (!https) throw new KaruError('INVALID', `this node holds a cluster certificate (${join(cfg.dataDir, TLS_DIR)}): give the server as https://…, not ${cfg.serverUrl}`);
    if (cfg.joinToken) logger.info({ nodeId: nodeIdOf(stored.certPem) }, 'already joined: using the stored node certificate (the join token is not needed)');
    return stored;
  }
  if (cfg.joinToken) return joinCluster({ url: cfg.serverUrl, token: cfg.joinToken, name: cfg.name, dataDir: cfg.dataDir, logger });
  if (https) throw new KaruError('INVALID', `no node certificate in ${join(cfg.dataDir, TLS_DIR)}: join the cluster first with \`karu agent --join ${cfg.serverUrl} --token TOKEN\` (the token is printed by \`karu server\`)`);
  return undefined;
}
