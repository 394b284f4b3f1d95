import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { isKaruError } from '../core/errors.js';
import { certIdentity, certValidity, createCa, createCsr, fingerprint, identityFromSubjectAltName, issueAdminCert, issueServerCert, signCsr, verifyCert } from './certs.js';

const now = new Date('2030-01-01T00:00:00Z');

test('createCa makes a self-signed P-256 CA that verifies itself and nothing of another CA', async () => {
  const ca = await createCa({ now });
  const other = await createCa({ now });
  const c = new X509Certificate(ca.certPem);
  assert.equal(c.ca, true);
  assert.equal(c.publicKey.asymmetricKeyType, 'ec');
  assert.equal(c.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(await verifyCert(ca.certPem, ca.certPem, now));
  assert.equal(await verifyCert(other.certPem, ca.certPem, now), false);
});

test('issueAdminCert issues a client-only certificate with the admin role', async () => {
  const ca = await createCa({ now });
  const { certPem, keyPem } = await issueAdminCert(ca, { now });
  assert.ok(await verifyCert(certPem, ca.certPem, now));
  assert.deepEqual(certIdentity(certPem), { role: 'admin' });
  const c = new X509Certificate(certPem);
  assert.match(c.subjectAltName ?? '', /^URI:karu:\/\/admin$/);
  assert.deepEqual(identityFromSubjectAltName(c.subjectAltName), { role: 'admin' });
  // clientAuth only: the admin certificate cannot pose as a TLS server.
  assert.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.ok(c.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)));
});

test('signCsr issues a node certificate naming the node id, for client and server auth', async () => {
  const ca = await createCa({ now });
  const { csrPem, keyPem } = await createCsr('worker-1');
  const certPem = await signCsr(ca, csrPem, { nodeId: 'node_abc', ttlMs: 3600_000, now });
  assert.ok(await verifyCert(certPem, ca.certPem, now));
  assert.deepEqual(certIdentity(certPem), { role: 'node', nodeId: 'node_abc' });
  const c = new X509Certificate(certPem);
  assert.equal(c.ca, false);
  assert.match(c.subject, /CN=node_abc/);
  assert.match(c.subjectAltName ?? '', /URI:karu:\/\/node\/node_abc/);
  assert.equal(identityFromSubjectAltName(c.subjectAltName)?.role, 'node');
  assert.deepEqual(c.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  // The certificate is for the agent's own key: the private key stays with the agent.
  assert.ok(c.checkPrivateKey((await import('node:crypto')).createPrivateKey(keyPem)));
  const { notBefore, notAfter } = certValidity(certPem);
  assert.equal(notAfter - now.getTime(), 3600_000);
  assert.ok(notBefore < now.getTime());
  // Expired later, and not valid for another CA.
  assert.equal(await verifyCert(certPem, ca.certPem, new Date(now.getTime() + 2 * 3600_000)), false);
  const other = await createCa({ now });
  assert.equal(await verifyCert(certPem, other.certPem, now), false);
});

test('signCsr refuses garbage and a tampered CSR', async () => {
  const ca = await createCa({ now });
  await assert.rejects(signCsr(ca, 'not a csr', { nodeId: 'n' }), (e) => isKaruError(e) && e.code === 'INVALID' && /PKCS#10/.test(e.message));
  const { csrPem } = await createCsr('worker-1');
  // Flip one byte inside the signed part: the self-signature no longer holds.
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[40] = der[40]! ^ 0xff;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  await assert.rejects(signCsr(ca, tampered, { nodeId: 'n' }), (e) => isKaruError(e) && e.code === 'INVALID');
});

test('issueServerCert names the server role and every host and IP', async () => {
  const ca = await createCa({ now });
  const { certPem } = await issueServerCert(ca, { hosts: ['127.0.0.1', '10.0.0.5', 'karu.example', '::1'], now });
  assert.deepEqual(certIdentity(certPem), { role: 'server' });
  const c = new X509Certificate(certPem);
  assert.ok(c.checkHost('karu.example'));
  assert.ok(c.checkIP('10.0.0.5'));
  assert.ok(c.checkIP('::1'));
  assert.equal(c.checkIP('10.0.0.6'), undefined);
  assert.ok(await verifyCert(certPem, ca.certPem, now));
});

test('fingerprint is the SHA-256 of the DER, hex, and differs between CAs', async () => {
  const a = await createCa({ now });
  const b = await createCa({ now });
  const fp = fingerprint(a.certPem);
  assert.match(fp, /^[0-9a-f]{64}$/);
  assert.equal(fp, new X509Certificate(a.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
  assert.notEqual(fp, fingerprint(b.certPem));
  assert.equal(fingerprint(new Uint8Array(new X509Certificate(a.certPem).raw)), fp);
});
