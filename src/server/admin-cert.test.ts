import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../lib/logger.js';
import { certIdentity, createCa, issueAdminCert, verifyCert } from '../pki/certs.js';
import { ensureAdminCert } from './admin-cert.js';

const now = new Date('2030-01-01T00:00:00Z');

test('ensureAdminCert writes admin.pem/admin-key.pem (0600) once, keeps them, re-issues for another CA or near the end', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-admin-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await createCa({ now });
  const files = await ensureAdminCert(dir, ca, now, silentLogger());
  assert.deepEqual(files, { certFile: join(dir, 'admin.pem'), keyFile: join(dir, 'admin-key.pem') });
  const first = await readFile(files.certFile, 'utf8');
  assert.deepEqual(certIdentity(first), { role: 'admin' });
  assert.ok(await verifyCert(first, ca.certPem, now));
  for (const f of [files.certFile, files.keyFile]) assert.equal((await stat(f)).mode & 0o777, 0o600);

  // A restart keeps them: copies handed out stay valid.
  await ensureAdminCert(dir, ca, now, silentLogger());
  assert.equal(await readFile(files.certFile, 'utf8'), first);

  // Another CA (the store was reset): re-issued for the current one.
  const other = await createCa({ now });
  await ensureAdminCert(dir, other, now, silentLogger());
  const second = await readFile(files.certFile, 'utf8');
  assert.ok(await verifyCert(second, other.certPem, now));

  // Within 30 days of its end: re-issued.
  await writeFile(files.certFile, (await issueAdminCert(other, { now, ttlMs: 10 * 24 * 3600_000 })).certPem);
  await ensureAdminCert(dir, other, now, silentLogger());
  const third = await readFile(files.certFile, 'utf8');
  assert.notEqual(third, second);
  assert.ok(await verifyCert(third, other.certPem, new Date(now.getTime() + 365 * 24 * 3600_000)));
});
