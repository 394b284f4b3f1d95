import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { KaruError } from '../core/errors.js';
import { EC_ALG, exportKeyPem, generateKeys, importKeyPem, x509, type KeyPair } from './crypto.js';

/** The cluster CA: its certificate and its private key, both PEM. */
export interface CaBundle {
  certPem: string;
  keyPem: string;
}

/** A certificate with its private key (PKCS#8), both PEM: what a TLS endpoint presents. */
export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

/** Who a certificate of this cluster speaks for, read from its URI SAN. */
export type PeerIdentity = { role: 'server' } | { role: 'node'; nodeId: string } | { role: 'admin' };

/** URI SANs that carry a certificate's role (the CN repeats it for humans). */
export const SERVER_URI = 'karu://server';
export const NODE_URI_PREFIX = 'karu://node/';
/** The cluster admin's client certificate (cluster-admin routes: tokens, node removal, drain…). */
export const ADMIN_URI = 'karu://admin';

const DAY = 24 * 3600_000;
/** The CA outlives everything it signs. */
export const CA_TTL_MS = 10 * 365 * DAY;
export const SERVER_CERT_TTL_MS = 365 * DAY;
/** Node certificates renew themselves at 50–80% of this. */
export const NODE_CERT_TTL_MS = 90 * DAY;
/** The admin certificate is a file an operator copies around: long-lived, re-issued by the server when near its end. */
export const ADMIN_CERT_TTL_MS = 2 * 365 * DAY;
/** Certificates start a little in the past so a peer with a slow clock accepts them. */
const BACKDATE_MS = 5 * 60_000;

/** Creates the cluster CA: a self-signed ECDSA P-256 certificate that may only sign leaf certificates. */
export async function createCa(opts: { now?: Date; ttlMs?: number; name?: string } = {}): Promise<CaBundle> {
  const now = opts.now ?? new Date();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${opts.name ?? 'Karu cluster CA'}`,
    keys: keys as unknown as CryptoKeyPairX,
    signingAlgorithm: EC_ALG,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (opts.ttlMs ?? CA_TTL_MS)),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as unknown as CryptoKeyX),
    ],
  });
  return { certPem: withNewline(cert.toString('pem')), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * The server's certificate, valid for every name and address agents and the CLI may dial
 * (`hosts` may mix DNS names and IPs). It is also the server's client certificate towards
 * agents, so it carries clientAuth too.
 */
export async function issueServerCert(ca: CaBundle, opts: { hosts: string[]; now?: Date; ttlMs?: number }): Promise<CertAndKey> {
  const keys = await generateKeys();
  const names = [...new Set(opts.hosts.filter((h) => h.length > 0))];
  const san: { type: 'dns' | 'ip' | 'url'; value: string }[] = [{ type: 'url', value: SERVER_URI }];
  for (const h of names) san.push({ type: isIP(h) ? 'ip' : 'dns', value: h });
  const certPem = await issue(ca, {
    subject: 'CN=karu-server',
    publicKey: keys.publicKey,
    san,
    now: opts.now ?? new Date(),
    ttlMs: opts.ttlMs ?? SERVER_CERT_TTL_MS,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * The cluster admin's client certificate (URI SAN `karu://admin`, clientAuth only, so it
 * cannot serve as anybody's server). Whoever holds it and its key may rotate join tokens,
 * remove and drain nodes.
 */
export async function issueAdminCert(ca: CaBundle, opts: { now?: Date; ttlMs?: number } = {}): Promise<CertAndKey> {
  const keys = await generateKeys();
  const certPem = await issue(ca, {
    subject: 'CN=karu-admin',
    publicKey: keys.publicKey,
    san: [{ type: 'url', value: ADMIN_URI }],
    now: opts.now ?? new Date(),
    ttlMs: opts.ttlMs ?? ADMIN_CERT_TTL_MS,
    clientOnly: true,
  });
  return { certPem, keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * The agent's side of joining: a new key pair and a certificate signing request for it.
 * Only the CSR goes to the server; the key never leaves the node.
 */
export async function createCsr(nodeName: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys: KeyPair = await generateKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [nodeName.replace(/[,=+<>#;"\\]/g, '_') || 'node'] }],
    keys: keys as unknown as CryptoKeyPairX,
    signingAlgorithm: EC_ALG,
  });
  return { csrPem: withNewline(csr.toString('pem')), keyPem: await exportKeyPem(keys.privateKey) };
}

/**
 * Signs a node's CSR: the certificate names the node id the server chose (CN and URI SAN
 * `karu://node/<id>`), whatever the CSR asked for, and is good for client and server auth
 * (agents serve their own API to the server). Throws INVALID for a malformed or
 * badly signed CSR, or one whose key is not ECDSA P-256.
 */
export async function signCsr(ca: CaBundle, csrPem: string, opts: { nodeId: string; ttlMs?: number; now?: Date }): Promise<string> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (e) {
    throw new KaruError('INVALID', `the certificate signing request is not a PEM PKCS#10 request: ${errorMessage(e)}`, { cause: e });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new KaruError('INVALID', `the CSR's key must be ECDSA P-256 (got ${alg.name ?? '?'} ${alg.namedCurve ?? ''})`.trim());
  }
  if (!(await csr.verify())) throw new KaruError('INVALID', 'the CSR is not signed by its own key (corrupt or tampered)');
  return issue(ca, {
    subject: `CN=${opts.nodeId}`,
    publicKey: await csr.publicKey.export(EC_ALG, ['verify']),
    san: [{ type: 'url', value: NODE_URI_PREFIX + opts.nodeId }],
    now: opts.now ?? new Date(),
    ttlMs: opts.ttlMs ?? NODE_CERT_TTL_MS,
  });
}

/** True when `certPem` was signed by the CA of `caPem` and is valid at `now`. */
export async function verifyCert(certPem: string, caPem: string, now: Date = new Date()): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(certPem);
    const ca = new x509.X509Certificate(caPem);
    if (cert.issuer !== ca.subject) return false;
    return await cert.verify({ publicKey: ca.publicKey, date: now });
  } catch {
    return false;
  }
}

/** SHA-256 of the certificate's DER, lower-case hex: what a join token pins. */
export function fingerprint(cert: string | Uint8Array): string {
  const der = typeof cert === 'string' ? new Uint8Array(new x509.X509Certificate(cert).rawData) : cert;
  return createHash('sha256').update(der).digest('hex');
}

/** Who the certificate speaks for, from its URI SAN; undefined for a certificate of no Karu role. */
export function certIdentity(cert: string | Uint8Array): PeerIdentity | undefined {
  const parsed = new x509.X509Certificate(typeof cert === 'string' ? cert : toArrayBuffer(cert));
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  return identityFromUris(uris);
}

/**
 * The identity in node:tls's `subjectaltname` string (`URI:karu://node/x, IP Address:…`):
 * cheap enough to run on every request of an authorised socket.
 */
export function identityFromSubjectAltName(subjectaltname: string | undefined): PeerIdentity | undefined {
  if (!subjectaltname) return undefined;
  const uris = subjectaltname
    .split(/,\s*/)
    .filter((p) => p.startsWith('URI:'))
    .map((p) => p.slice(4));
  return identityFromUris(uris);
}

function identityFromUris(uris: string[]): PeerIdentity | undefined {
  if (uris.includes(SERVER_URI)) return { role: 'server' };
  if (uris.includes(ADMIN_URI)) return { role: 'admin' };
  const node = uris.find((u) => u.startsWith(NODE_URI_PREFIX));
  if (node && node.length > NODE_URI_PREFIX.length) return { role: 'node', nodeId: node.slice(NODE_URI_PREFIX.length) };
  return undefined;
}

/** When the certificate starts and stops being valid, in ms since the epoch. */
export function certValidity(certPem: string): { notBefore: number; notAfter: number } {
  const c = new x509.X509Certificate(certPem);
  return { notBefore: c.notBefore.getTime(), notAfter: c.notAfter.getTime() };
}

// @peculiar/x509 is typed against the DOM's WebCrypto types; Node's are the same objects.
type CryptoKeyPairX = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
type CryptoKeyX = CryptoKeyPairX['publicKey'];

async function issue(
  ca: CaBundle,
  opts: { subject: string; publicKey: unknown; san: { type: 'dns' | 'ip' | 'url'; value: string }[]; now: Date; ttlMs: number; clientOnly?: boolean },
): Promise<string> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const signingKey = await importKeyPem(ca.keyPem);
  const publicKey = opts.publicKey as CryptoKeyX;
  const cert = await x509.X509CertificateGenerator.create({
    subject: opts.subject,
    issuer: caCert.subject,
    publicKey,
    signingKey: signingKey as unknown as CryptoKeyX,
    signingAlgorithm: EC_ALG,
    notBefore: new Date(opts.now.getTime() - BACKDATE_MS),
    notAfter: new Date(opts.now.getTime() + opts.ttlMs),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(opts.clientOnly ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(opts.san),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return withNewline(cert.toString('pem'));
}

/** PEM text ends with a newline, so bundles can be made by concatenation (node:tls needs it). */
export function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : pem + '\n';
}

function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
