import { KaruError } from '../core/errors.js';
import { newNodeId, type NodeId } from '../core/ids.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { ClusterPkiService } from '../api/node-cert-auth.js';
import type { JoinRequest, JoinResponse, RenewCertResponse, RotateJoinTokenResponse } from '../client/types.js';
import { createCa, fingerprint, issueServerCert, NODE_CERT_TTL_MS, signCsr, type CaBundle, type CertAndKey } from '../pki/certs.js';
import { formatJoinToken, newJoinToken, secretsEqual, type JoinToken } from '../pki/join-token.js';
import { keys, prefixes } from '../store/state.js';
import type { Store } from '../store/store.js';

export interface ClusterPkiOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Names and addresses the server certificate is valid for. */
  hosts: string[];
  /** `https://ADVERTISE:PORT`, for the join command (known once the listener is bound). */
  joinUrl: () => string;
  /** Lifetime of node certificates. Default 90 days. */
  nodeCertTtlMs?: number;
  /** Join attempts allowed per remote address per minute. Default 30. */
  joinsPerMinute?: number;
}

/**
 * The cluster's certificate authority, kept in the store (so servers sharing an etcd share
 * it): the CA under /pki/ca, the join token under /pki/join-tokens/<id>. The first server
 * to start creates both (compare-and-swap: a racing second one adopts the first's).
 */
export class ClusterPki implements ClusterPkiService {
  private token!: JoinToken;
  private readonly attempts = new Map<string, { windowStart: number; count: number }>();

  private constructor(
    private readonly opts: ClusterPkiOptions,
    readonly ca: CaBundle,
    /** The server's certificate (and key) for its HTTPS listener and its calls to agents. */
    readonly serverCert: CertAndKey,
  ) {}

  static async open(opts: ClusterPkiOptions): Promise<ClusterPki> {
    const now = new Date(opts.clock.now());
    let ca = await readJson<CaBundle>(opts.store, keys.pkiCa);
    if (!ca) {
      const fresh = await createCa({ now });
      const r = await opts.store.txn({ compares: [{ key: keys.pkiCa, target: 'exists', value: false }], success: [{ type: 'put', key: keys.pkiCa, value: JSON.stringify(fresh) }] });
      ca = r.succeeded ? fresh : await readJson<CaBundle>(opts.store, keys.pkiCa);
      if (!ca) throw new KaruError('INTERNAL', 'the cluster CA vanished from the store while it was being created');
      if (r.succeeded) opts.logger.info({ caFingerprint: fingerprint(ca.certPem) }, 'created the cluster CA');
    }
    const pki = new ClusterPki(opts, ca, await issueServerCert(ca, { hosts: opts.hosts, now }));
    const { items } = await opts.store.list(prefixes.joinTokens);
    const stored = items.map((kv) => JSON.parse(kv.value) as JoinToken).find((t) => t.caFingerprint === pki.caFingerprint);
    pki.token = stored ?? (await pki.replaceToken());
    return pki;
  }

  get caFingerprint(): string {
    return fingerprint(this.ca.certPem);
  }

  /** The current join token, as printed. */
  get joinToken(): string {
    return formatJoinToken(this.token);
  }

  get joinCommand(): string {
    return `karu agent --join ${this.opts.joinUrl()} --token ${this.joinToken}`;
  }

  async join(req: JoinRequest, remote: string): Promise<JoinResponse> {
    this.limit(remote);
    // Read from the store, not memory: a token rotated by another server is honoured at once.
    const stored = await readJson<JoinToken>(this.opts.store, keys.joinToken(req.tokenId));
    // Compare even for an unknown id, so the answer takes as long either way.
    const ok = secretsEqual(stored?.secret ?? '\0no such token', req.secret) && stored !== undefined;
    if (!ok) {
      this.opts.logger.warn({ remote, name: req.name }, 'join refused: wrong or rotated join token');
      throw new KaruError('UNAUTHORIZED', 'the join token is wrong or has been rotated: get the current one from `karu token rotate` (or the server\'s start-up output)');
    }
    const now = this.opts.clock.now();
    const nodeId = newNodeId(now);
    const certificate = await signCsr(this.ca, req.csr, { nodeId, ttlMs: this.opts.nodeCertTtlMs ?? NODE_CERT_TTL_MS, now: new Date(now) });
    this.opts.logger.info({ node: nodeId, name: req.name, remote }, 'node joined: certificate issued');
    return { nodeId, certificate, caCertificate: this.ca.certPem };
  }

  async renew(nodeId: NodeId, csr: string): Promise<RenewCertResponse> {
    const now = this.opts.clock.now();
    const certificate = await signCsr(this.ca, csr, { nodeId, ttlMs: this.opts.nodeCertTtlMs ?? NODE_CERT_TTL_MS, now: new Date(now) });
    this.opts.logger.info({ node: nodeId }, 'node certificate renewed');
    return { certificate, caCertificate: this.ca.certPem };
  }

  async rotateJoinToken(): Promise<RotateJoinTokenResponse> {
    this.token = await this.replaceToken();
    this.opts.logger.warn('join token rotated: the previous token no longer joins anybody');
    return { token: this.joinToken, caFingerprint: this.caFingerprint, joinCommand: this.joinCommand };
  }

  /** Drops every join token and stores a new one, in one transaction. */
  private async replaceToken(): Promise<JoinToken> {
    const token = newJoinToken(this.caFingerprint);
    await this.opts.store.txn({
      compares: [],
      success: [
        { type: 'deletePrefix', prefix: prefixes.joinTokens },
        { type: 'put', key: keys.joinToken(token.id), value: JSON.stringify(token) },
      ],
    });
    return token;
  }

  /** A light brake on guessing: at most N join attempts per remote address per minute. */
  private limit(remote: string): void {
    const now = this.opts.clock.now();
    const max = this.opts.joinsPerMinute ?? 30;
    const a = this.attempts.get(remote);
    if (!a || now - a.windowStart >= 60_000) {
      if (this.attempts.size > 10_000) this.attempts.clear();
      this.attempts.set(remote, { windowStart: now, count: 1 });
      return;
    }
    if (++a.count > max) throw new KaruError('UNAVAILABLE', `too many join attempts from ${remote}: at most ${max} a minute; try again shortly`, { retryable: true });
  }
}

async function readJson<T>(store: Store, key: string): Promise<T | undefined> {
  const kv = await store.get(key);
  return kv ? (JSON.parse(kv.value) as T) : undefined;
}
