import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isKaruError } from '../core/errors.js';
import { silentLogger } from '../lib/logger.js';
import { startServer } from '../server/main.js';
import { runCli } from './program.js';
import { Capture } from './testing/harness.js';
import { clientCertFor } from './tls-client.js';

test('clientCertFor: flags, then env, then admin.pem/admin-key.pem beside the CA file when both exist', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'karu-clicert-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = join(dir, 'ca.pem');
  assert.equal(clientCertFor({}, {}, ca), undefined);
  assert.equal(clientCertFor({}, {}, undefined), undefined);
  await writeFile(join(dir, 'admin.pem'), 'x');
  assert.equal(clientCertFor({}, {}, ca), undefined, 'a certificate without its key is not picked up');
  await writeFile(join(dir, 'admin-key.pem'), 'x');
  assert.deepEqual(clientCertFor({}, {}, ca), { certFile: join(dir, 'admin.pem'), keyFile: join(dir, 'admin-key.pem') });
  const env = { KARU_CLIENT_CERT: '/e/c.pem', KARU_CLIENT_KEY: '/e/k.pem' };
  assert.deepEqual(clientCertFor({}, env, ca), { certFile: '/e/c.pem', keyFile: '/e/k.pem' });
  assert.deepEqual(clientCertFor({ cert: '/f/c.pem', key: '/f/k.pem' }, env, ca), { certFile: '/f/c.pem', keyFile: '/f/k.pem' });
  assert.throws(() => clientCertFor({ cert: '/f/c.pem' }, {}, ca), (e: unknown) => isKaruError(e) && e.code === 'INVALID' && /--cert FILE and --key FILE/.test(e.message));
});

test('karu token rotate over TLS: the default admin certificate is picked up; without it 403; --cert/--key work', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'karu-cliadmin-'));
  // The server's default data dir as the CLI sees it from `root`: .karu/server.
  const serverDir = join(root, '.karu', 'server');
  const server = await startServer({ dataDir: serverDir, listen: '127.0.0.1:0', tls: true, logLevel: 'silent' }, { logger: silentLogger() });
  const cwd = process.cwd();
  t.after(async () => {
    process.chdir(cwd);
    await server.stop();
    await rm(root, { recursive: true, force: true });
  });
  const karu = async (...argv: string[]) => {
    const stdout = new Capture();
    const stderr = new Capture();
    const code = await runCli(['--server', server.url, ...argv], { stdout, stderr, env: {} });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  // No --ca, no --cert: the defaults next to .karu/server/ca.pem, as on the server machine.
  process.chdir(root);
  const picked = await karu('token', 'rotate', '--json');
  assert.equal(picked.code, 0, picked.stderr);
  assert.equal((JSON.parse(picked.stdout) as { token: string }).token, server.tls!.joinToken);
  process.chdir(cwd);

  // Elsewhere, with only the CA: refused, and told what to do.
  const elsewhere = join(root, 'laptop');
  await mkdir(elsewhere);
  await copyFile(join(serverDir, 'ca.pem'), join(elsewhere, 'ca.pem'));
  const refused = await karu('--ca', join(elsewhere, 'ca.pem'), 'token', 'rotate');
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /cluster admin certificate.*admin\.pem.*--cert\/--key/);

  // Given explicitly, or through the environment.
  const given = await karu('--ca', join(elsewhere, 'ca.pem'), '--cert', join(serverDir, 'admin.pem'), '--key', join(serverDir, 'admin-key.pem'), 'token', 'rotate');
  assert.equal(given.code, 0, given.stderr);
  const stdout = new Capture();
  const stderr = new Capture();
  const viaEnv = await runCli(['--server', server.url, 'token', 'rotate'], {
    stdout,
    stderr,
    env: { KARU_CA_CERT: join(elsewhere, 'ca.pem'), KARU_CLIENT_CERT: join(serverDir, 'admin.pem'), KARU_CLIENT_KEY: join(serverDir, 'admin-key.pem') },
  });
  assert.equal(viaEnv, 0, stderr.text);
});
