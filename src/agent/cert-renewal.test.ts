import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { silentLogger } from '../lib/logger.js';
import { seededRng } from '../lib/rng.js';
import { certValidity, createCa, createCsr, signCsr } from '../pki/certs.js';
import { CertRenewer } from './cert-renewal.js';
import { loadNodeTls, type NodeTls } from './node-tls.js';

/** Lets the renewal's promise chain (CSR, signing, file writes) run. */
async function settle(cond: () => boolean, turns = 2000): Promise<void> {
  for (let i = 0; i < turns && !cond(); i++) await new Promise((r) => setTimeout(r, 1));
}

test('CertRenewer renews when due (not before), stores the new identity and retries a failure', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-renew-'));
  try {
    const clock = new FakeClock(Date.parse('2030-01-01T00:00:00Z'));
    const ca = await createCa({ now: new Date(clock.now()) });
    const ttlMs = 90 * 24 * 3600_000;
    const first = await createCsr('n1');
    const tls: NodeTls = { caPem: ca.certPem, certPem: await signCsr(ca, first.csrPem, { nodeId: 'node_1', ttlMs, now: new Date(clock.now()) }), keyPem: first.keyPem };
    let failNext = true;
    const calls: string[] = [];
    const renewed: NodeTls[] = [];
    const renewer = new CertRenewer(tls, {
      dataDir,
      name: 'n1',
      clock,
      rng: seededRng(3),
      logger: silentLogger(),
      client: {
        async renewNodeCert(nodeId: NodeId, req: { csr: string }) {
          calls.push(nodeId);
          if (failNext) {
            failNext = false;
            throw new Error('server unreachable');
          }
          return { certificate: await signCsr(ca, req.csr, { nodeId, ttlMs, now: new Date(clock.now()) }), caCertificate: ca.certPem };
        },
      },
      onRenewed: (t) => renewed.push(t),
    });
    renewer.start();
    const { notBefore } = certValidity(tls.certPem);
    const share = (renewer.dueAt - notBefore) / (ttlMs + 5 * 60_000);
    assert.ok(share >= 0.5 && share <= 0.8, `due at ${share} of the lifetime`);

    clock.advance(renewer.dueAt - clock.now() - 1000);
    await settle(() => calls.length > 0, 50);
    assert.deepEqual(calls, [], 'nothing before it is due');
    clock.advance(1000);
    await settle(() => calls.length === 1);
    assert.deepEqual(calls, ['node_1']);
    assert.equal(renewed.length, 0, 'the failure changed nothing');
    // The retry comes after a backoff, and succeeds.
    clock.advance(15 * 60_000);
    await settle(() => renewed.length === 1);
    assert.equal(renewed.length, 1);
    assert.notEqual(renewed[0]!.certPem, tls.certPem);
    assert.deepEqual(await loadNodeTls(dataDir), renewed[0]);
    // The next renewal is planned on the new certificate.
    assert.ok(renewer.dueAt > clock.now() + 30 * 24 * 3600_000);
    renewer.stop();
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
