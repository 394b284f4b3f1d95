import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../lib/rng.js';
import { certValidity, createCa, createCsr, signCsr } from './certs.js';
import { renewalDelay } from './renewal.js';

test('renewalDelay falls at a random 50–80% of the lifetime, and is 0 once past it', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const ca = await createCa({ now });
  const cert = await signCsr(ca, (await createCsr('n')).csrPem, { nodeId: 'node_1', ttlMs: 100 * 3600_000, now });
  const { notBefore, notAfter } = certValidity(cert);
  const life = notAfter - notBefore;
  const rng = seededRng(7);
  const shares = new Set<number>();
  for (let i = 0; i < 200; i++) {
    const at = now.getTime() + renewalDelay(cert, rng, now.getTime());
    const share = (at - notBefore) / life;
    assert.ok(share >= 0.5 - 1e-9 && share <= 0.8 + 1e-9, `share ${share}`);
    shares.add(Math.round(share * 100));
  }
  assert.ok(shares.size > 10, 'the moment is spread, not fixed');
  assert.equal(renewalDelay(cert, rng, notBefore + life * 0.81), 0);
  assert.equal(renewalDelay(cert, rng, notAfter + 1), 0);
});
