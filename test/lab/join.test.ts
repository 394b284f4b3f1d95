/**
 * Joining over mutual TLS: a wrong token, a token pinning another CA and a rotated token
 * are refused (the node never registers) while joined nodes carry on; the new token joins;
 * a node certificate from another CA is refused by the server although the same call with
 * the node's real certificate is accepted.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KaruClient } from '../../src/client/client.js';
import type { NodeId } from '../../src/core/ids.js';
import { createCa, createCsr, fingerprint, signCsr } from '../../src/pki/certs.js';
import { createTlsFetch } from '../../src/pki/tls.js';
import { eventually, Lab } from './lab.js';
import { LAB_SKIP, SETTLE_BOUND_MS, withLogs } from './scenario.js';

/** How long a refused agent gets to (wrongly) show up before we call it refused. */
const REFUSAL_WINDOW_MS = 15_000;

describe('lab: joining with a bad token or a foreign certificate is refused', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;

  before(async () => {
    lab = await Lab.start({ hosts: 2, name: 'join', join: true });
  });
  after(async () => {
    await lab?.stop();
  });

  /** Runs an extra agent with `token`; resolves once it exited or the window passed, killing it then. */
  async function tryJoin(name: string, token: string): Promise<{ registered: boolean; exitCode: number | null; log: string }> {
    const proc: ChildProcess = lab!.spawnAgent(lab!.hosts[1]!, { name, token });
    const deadline = Date.now() + REFUSAL_WINDOW_MS;
    let registered = false;
    while (Date.now() < deadline && proc.exitCode === null && !registered) {
      registered = (await lab!.client.listNodes()).some((n) => n.name === name);
      await new Promise((r) => setTimeout(r, 250));
    }
    registered ||= (await lab!.client.listNodes()).some((n) => n.name === name);
    const exitCode = proc.exitCode;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
    return { registered, exitCode, log: lab!.tail(`agent-${name}.log`, 800) };
  }

  const allReady = async () => (await lab!.client.listNodes()).filter((n) => n.status === 'ready').map((n) => n.name).sort();

  test('the hosts joined with the printed token and are ready', async () => {
    assert.ok(lab!.serverUrl.startsWith('https://'), lab!.serverUrl);
    assert.match(lab!.joinToken ?? '', /^karu1\./);
    assert.deepEqual(await allReady(), ['host1', 'host2']);
  });

  test('a token with the wrong secret is refused', async () => {
    try {
      const [p, id, , fp] = lab!.joinToken!.split('.');
      const r = await tryJoin('wrong-secret', [p, id, 'A'.repeat(32), fp].join('.'));
      assert.equal(r.registered, false, r.log);
      assert.notEqual(r.exitCode, 0, r.log);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test("a token pinning another CA: the agent refuses the server before sending its secret", async () => {
    const other = await createCa({ name: 'not-this-cluster' });
    const [p, id, secret] = lab!.joinToken!.split('.');
    const r = await tryJoin('other-ca-token', [p, id, secret, fingerprint(other.certPem)].join('.'));
    assert.equal(r.registered, false, r.log);
    assert.notEqual(r.exitCode, 0, r.log);
  });

  test('after `token rotate` the old token is refused, joined nodes carry on, the new token joins', async () => {
    try {
      const rotated = await lab!.client.rotateJoinToken();
      const fresh = rotated.token;
      assert.match(fresh, /^karu1\./);
      assert.notEqual(fresh, lab!.joinToken);
      const r = await tryJoin('old-token', lab!.joinToken!);
      assert.equal(r.registered, false, r.log);
      assert.deepEqual(await allReady(), ['host1', 'host2']);
      const newcomer = lab!.spawnAgent(lab!.hosts[0]!, { name: 'newcomer', token: fresh });
      try {
        await eventually('the newcomer to join with the new token', async () => (await allReady()).includes('newcomer'), SETTLE_BOUND_MS);
      } finally {
        const exited = new Promise((res) => newcomer.once('exit', res));
        newcomer.kill('SIGKILL');
        await exited;
      }
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test("a node certificate from another CA is refused; the node's own is accepted", async () => {
    const h = lab!.hosts[0]!;
    const nodeId = h.nodeId as NodeId;
    const caPem = readFileSync(lab!.caFile, 'utf8');
    const tlsDir = join(h.dir, 'agent', 'tls');
    const own = createTlsFetch({ caPem, certPem: readFileSync(join(tlsDir, 'node.pem'), 'utf8'), keyPem: readFileSync(join(tlsDir, 'node-key.pem'), 'utf8') }, 'server');
    const other = await createCa({ name: 'not-this-cluster' });
    const csr = await createCsr(h.name);
    const forged = createTlsFetch({ caPem, certPem: await signCsr(other, csr.csrPem, { nodeId }), keyPem: csr.keyPem }, 'server');
    try {
      // The control: the same call with the node's real certificate goes through.
      await new KaruClient({ baseUrl: lab!.serverUrl, fetch: own.fetch, timeoutMs: 10_000 }).heartbeat(nodeId);
      await assert.rejects(new KaruClient({ baseUrl: lab!.serverUrl, fetch: forged.fetch, timeoutMs: 10_000 }).heartbeat(nodeId));
    } finally {
      await own.close();
      await forged.close();
    }
  });
});
