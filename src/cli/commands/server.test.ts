import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runCli } from '../program.js';
import { Capture } from '../testing/harness.js';

/** Resolves once `cond` holds, checking on every turn of the event loop (real IO is awaited here, not time). */
async function until(cond: () => boolean, what: string, limit = 200_000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('karu server (real control plane, in-process)', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('serves the API the other commands talk to, and stops cleanly on interrupt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'karu-cli-server-'));
    dirs.push(dir);
    const out = new Capture();
    const err = new Capture();
    const interrupt = new AbortController();
    const running = runCli(['server', '--data-dir', dir, '--listen', '127.0.0.1:0', '--log-level', 'silent'], { stdout: out, stderr: err, env: {}, interrupts: () => interrupt.signal });
    await until(() => /On each node run:\n.*\n/.test(out.text) || err.text !== '', 'the server to listen');
    const url = /listening on (https:\S+)/.exec(out.text)?.[1];
    assert.ok(url, err.text);
    // TLS by default: it prints the CA's fingerprint, the join token and the join command.
    const token = /Join token: (karu1\.\S+)/.exec(out.text)?.[1];
    assert.ok(token, out.text);
    assert.match(out.text, /CA fingerprint \(sha256\): [0-9a-f]{64}/);
    assert.ok(out.text.includes(`karu agent --join ${url} --token ${token}\n`), out.text);
    const ca = join(dir, 'ca.pem');

    const status = new Capture();
    const statusErr = new Capture();
    assert.equal(await runCli(['status', '--server', url, '--ca', ca], { stdout: status, stderr: statusErr, env: {} }), 0, statusErr.text);
    assert.match(status.text, /No jobs/);
    const nodes = new Capture();
    assert.equal(await runCli(['node', 'ls', '--json', '--server', url], { stdout: nodes, stderr: statusErr, env: { KARU_CA_CERT: ca } }), 0, statusErr.text);
    assert.deepEqual(JSON.parse(nodes.text), []);
    const rotated = new Capture();
    assert.equal(await runCli(['token', 'rotate', '--server', url, '--ca', ca], { stdout: rotated, stderr: statusErr, env: {} }), 0, statusErr.text);
    const fresh = /Join token: (karu1\.\S+)/.exec(rotated.text)?.[1];
    assert.ok(fresh && fresh !== token, rotated.text);
    assert.ok(rotated.text.includes(`karu agent --join ${url} --token ${fresh}\n`), rotated.text);

    interrupt.abort();
    assert.equal(await running, 0, err.text);
    assert.match(out.text, /Server stopped\.\n$/);
  });
});
