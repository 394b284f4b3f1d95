import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { Agent, fetch as undiciFetch } from 'undici';
import { KaruError } from '../core/errors.js';
import { x509 } from './crypto.js';
import { fingerprint, identityFromSubjectAltName, type PeerIdentity } from './certs.js';

/**
 * Node-only TLS plumbing shared by the agent, the server and the CLI (never imported by
 * src/client, which must stay browser-safe).
 */

export interface TlsCredentials {
  /** The cluster CA: the only root trusted. */
  caPem: string;
  /** Client certificate and key (mutual TLS); absent for a CLI without a user certificate. */
  certPem?: string;
  keyPem?: string;
}

/** The peer must be the Karu server (URI SAN karu://server), or a node (karu://node/<id>). */
export type ExpectedPeer = 'server' | 'node';

/**
 * A `fetch` over TLS that trusts only the cluster CA and checks the peer's Karu role
 * instead of its host name: the CA signs for this cluster alone, and the role stops a node
 * certificate from posing as the server. `update` swaps the credentials (renewal)
 * for new connections.
 */
export interface TlsFetch {
  fetch: typeof fetch;
  update(creds: TlsCredentials): void;
  close(): Promise<void>;
}

export function createTlsFetch(creds: TlsCredentials, expect: ExpectedPeer): TlsFetch {
  let agent = makeAgent(creds, expect);
  const retired: Agent[] = [];
  return {
    fetch: ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
      undiciFetch(input as never, { ...(init as object), dispatcher: agent } as never)) as unknown as typeof fetch,
    update(next) {
      // Requests in flight (a blocking query) finish on the old connections.
      retired.push(agent);
      agent = makeAgent(next, expect);
    },
    async close() {
      await Promise.all([agent, ...retired.splice(0)].map((a) => a.close().catch(() => undefined)));
    },
  };
}

function makeAgent(creds: TlsCredentials, expect: ExpectedPeer): Agent {
  return new Agent({
    connect: {
      ca: creds.caPem,
      ...(creds.certPem && creds.keyPem ? { cert: creds.certPem, key: creds.keyPem } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) => checkPeerRole(cert, expect),
    },
  });
}

/** For tls `checkServerIdentity`: an Error unless the (already chain-verified) peer has the expected role. */
export function checkPeerRole(cert: PeerCertificate, expect: ExpectedPeer): Error | undefined {
  const who = identityFromSubjectAltName(cert.subjectaltname);
  if (who?.role === expect) return undefined;
  return new Error(`the peer's certificate is not a Karu ${expect} certificate (it names ${describe(who)})`);
}

/** The verified peer's identity on a TLS socket, or undefined when it presented no valid certificate of this cluster. */
export function peerIdentity(socket: { authorized?: boolean; getPeerCertificate?: () => PeerCertificate }): PeerIdentity | undefined {
  if (!socket.authorized || !socket.getPeerCertificate) return undefined;
  return identityFromSubjectAltName(socket.getPeerCertificate().subjectaltname);
}

/**
 * Trust on first use, pinned: connects to `url` without verifying its certificate, finds
 * the certificate in the chain it presents whose SHA-256 is `expectedFingerprint`, and
 * returns it as PEM. Nothing secret is sent on this connection. Throws UNAUTHORIZED when no
 * certificate matches (a different cluster, or someone in the middle), UNAVAILABLE when the
 * server cannot be reached.
 */
export async function fetchPinnedCa(url: string, expectedFingerprint: string, timeoutMs = 10_000): Promise<string> {
  const u = new URL(url);
  if (u.protocol !== 'https:') throw new KaruError('INVALID', `the join URL must be https:// (got ${url})`);
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port || 443), rejectUnauthorized: false, servername: undefined });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const c = socket.getPeerCertificate(true);
      socket.end();
      resolve(c);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new KaruError('UNAVAILABLE', `cannot reach the Karu server at ${url}: ${e.message}`, { cause: e, retryable: true }));
    });
  });
  const seen: string[] = [];
  for (let c: DetailedPeerCertificate | undefined = chain; c && c.raw; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) {
    const fp = fingerprint(new Uint8Array(c.raw));
    if (fp === expectedFingerprint) return x509.PemConverter.encode(new Uint8Array(c.raw).buffer.slice(c.raw.byteOffset, c.raw.byteOffset + c.raw.byteLength) as ArrayBuffer, 'CERTIFICATE') + '\n';
    if (seen.includes(fp)) break;
    seen.push(fp);
  }
  throw new KaruError(
    'UNAUTHORIZED',
    `the server at ${url} does not present the CA the join token names (expected sha256 ${expectedFingerprint}, saw ${seen.join(', ') || 'no certificate'}): this is another cluster, or someone is in the middle. Nothing was sent; check the URL and the token`,
  );
}

function describe(who: PeerIdentity | undefined): string {
  if (!who) return 'no Karu role';
  if (who.role === 'node') return `node ${who.nodeId}`;
  return who.role === 'server' ? 'the server' : 'the cluster admin';
}
