import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KaruClient } from '../client/client.js';
import { isKaruError } from '../core/errors.js';
import type { NodeId } from '../core/ids.js';
import { silentLogger } from '../lib/logger.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { startAgent, type RunningAgent } from '../agent/main.js';
import { joinCluster, loadNodeTls, type NodeTls } from '../agent/node-tls.js';
import { createCa, createCsr, fingerprint, issueServerCert, signCsr } from '../pki/certs.js';
import { formatJoinToken, newJoinToken, parseJoinToken } from '../pki/join-token.js';
import { createTlsFetch, type TlsFetch } from '../pki/tls.js';
import { startServer } from './main.js';

/** The scheduler places only on nodes with a healthy `docker` driver: the fake stands in for it. */
function fakeDocker(): FakeDriver {
  return Object.defineProperty(new FakeDriver(), 'name', { value: 'docker' });
}

/**
 * The real PKI end to end, in one process: a TLS server on 127.0.0.1:0 and agents that
 * join it with tokens (FakeDriver, no Docker).
 */
test('cluster security: join, mutual TLS, renewal, restart, rotation, revocation', async (t) => {
  const dirs: string[] = [];
  const tmp = async (name: string) => {
    const d = await mkdtemp(join(tmpdir(), `karu-tls-${name}-`));
    dirs.push(d);
    return d;
  };
  const closers: (() => Promise<unknown>)[] = [];
  const logger = silentLogger();
  const serverDir = await tmp('server');
  const server = await startServer({ dataDir: serverDir, listen: '127.0.0.1:0', tls: true, logLevel: 'silent' }, { logger });
  closers.push(() => server.stop());
  const tls = server.tls!;
  const fetchWith = (creds: Parameters<typeof createTlsFetch>[0], expect: 'server' | 'node' = 'server'): TlsFetch => {
    const f = createTlsFetch(creds, expect);
    closers.push(() => f.close());
    return f;
  };
  // The operator on the server machine: the admin certificate the server wrote beside ca.pem.
  const adminCreds = { caPem: tls.caPem, certPem: await readFile(join(serverDir, 'admin.pem'), 'utf8'), keyPem: await readFile(join(serverDir, 'admin-key.pem'), 'utf8') };
  const admin = new KaruClient({ baseUrl: server.url, fetch: fetchWith(adminCreds).fetch });
  // Anybody else who reaches the API and trusts the CA, without a client certificate.
  const anon = new KaruClient({ baseUrl: server.url, fetch: fetchWith({ caPem: tls.caPem }).fetch });
  const asNode = (creds: NodeTls) => new KaruClient({ baseUrl: server.url, fetch: fetchWith(creds).fetch });
  const agentInput = (dataDir: string, extra: { joinToken?: string } = {}) => ({
    serverUrl: server.url,
    dataDir,
    name: 'worker-1',
    address: '127.0.0.1',
    httpPort: 0,
    httpHost: '127.0.0.1',
    ...extra,
  });
  const start = async (input: ReturnType<typeof agentInput>): Promise<RunningAgent> => {
    const a = await startAgent(input, { driver: fakeDocker(), logger });
    closers.push(() => a.stop());
    return a;
  };
  const refused = (code: string, re: RegExp) => (e: unknown) => isKaruError(e) && e.code === code && re.test(e.message);

  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(parseJoinToken(tls.joinToken).caFingerprint, fingerprint(tls.caPem));
    assert.equal(tls.joinCommand, `karu agent --join ${server.url} --token ${tls.joinToken}`);
    assert.equal(await readFile(join(dirs[0]!, 'ca.pem'), 'utf8'), tls.caPem);

    const agentDir = await tmp('agent');
    let agent = await start(agentInput(agentDir, { joinToken: tls.joinToken }));
    const nodeId = agent.agent.nodeId!;
    const firstCreds = (await loadNodeTls(agentDir))!;

    await t.test('a joined node is ready, and its agent API speaks mutual TLS', async () => {
      const node = await admin.getNode(nodeId);
      assert.equal(node.status, 'ready');
      assert.match(node.agentUrl ?? '', /^https:\/\//);
      // The agent API refuses a node's certificate: only the server may call it.
      const res = await fetchWith(firstCreds, 'node').fetch(`${agent.url}/v1/agent/health`);
      assert.equal(res.status, 401);
      // Without any client certificate the handshake itself fails.
      await assert.rejects(fetchWith({ caPem: tls.caPem }, 'node').fetch(`${agent.url}/v1/agent/health`));
    });

    await t.test('the server reaches the agent over mutual TLS (logs)', async () => {
      await admin.registerJob({
        name: 'hello',
        groups: [{ name: 'web', count: 1, tasks: [{ name: 'main', image: 'karu/busybox:1', command: 'sh', args: ['-c', 'echo hello-over-tls; sleep 3600'], resources: { cpu: 10, memory: 8 } }] }],
      });
      let lines: string[] = [];
      let lastError = '';
      for (let i = 0; i < 100 && !lines.includes('hello-over-tls'); i++) {
        const allocs = await admin.listAllocations({ job: 'hello' });
        const id = allocs.find((a) => a.nodeId === nodeId)?.id;
        if (id) {
          lines = [];
          try {
            for await (const l of admin.logs(id, { task: 'main' })) lines.push(l.line);
          } catch (e) {
            lastError = e instanceof Error ? e.message : String(e); // not started yet
          }
        }
        if (!lines.includes('hello-over-tls')) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(lines.includes('hello-over-tls'), `evals: ${JSON.stringify((await admin.listEvaluations()).map((e) => e.statusDescription))} logs: ${JSON.stringify(lines)}; last error: ${lastError}`);
    });

    await t.test('renewal gives a new certificate for a new key, and it works', async () => {
      await agent.renewer!.renewNow();
      const renewed = (await loadNodeTls(agentDir))!;
      assert.notEqual(renewed.certPem, firstCreds.certPem);
      assert.notEqual(renewed.keyPem, firstCreds.keyPem);
      assert.ok((await asNode(renewed).heartbeat(nodeId as NodeId)).heartbeatTtlMs > 0);
    });

    await t.test('a restarted agent re-uses its identity without the token', async () => {
      await agent.stop();
      agent = await start(agentInput(agentDir));
      assert.equal(agent.agent.nodeId, nodeId);
      assert.equal((await admin.listNodes()).length, 1);
      assert.equal((await admin.getNode(nodeId)).status, 'ready');
    });

    await t.test('a wrong token is refused with a clear error', async () => {
      const wrong = formatJoinToken({ ...newJoinToken(fingerprint(tls.caPem)) });
      await assert.rejects(
        joinCluster({ url: server.url, token: wrong, name: 'intruder', dataDir: await tmp('wrong'), logger }),
        refused('UNAUTHORIZED', /join token is wrong or has been rotated/),
      );
      await assert.rejects(
        startAgent(agentInput(await tmp('garbled'), { joinToken: 'karu1.nope' }), { driver: fakeDocker(), logger }),
        refused('INVALID', /invalid join token/),
      );
    });

    await t.test("a token pinning another CA is refused before any secret is sent", async () => {
      // A server in the middle, with a certificate from another CA: it must see no request at all.
      const otherCa = await createCa();
      const cert = await issueServerCert(otherCa, { hosts: ['127.0.0.1'] });
      const seen: string[] = [];
      const mitm = createHttpsServer({ key: cert.keyPem, cert: cert.certPem + otherCa.certPem }, (req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.end('{}');
      });
      mitm.listen(0, '127.0.0.1');
      await once(mitm, 'listening');
      closers.push(() => new Promise((r) => mitm.close(r)));
      const mitmUrl = `https://127.0.0.1:${(mitm.address() as AddressInfo).port}`;
      await assert.rejects(
        joinCluster({ url: mitmUrl, token: tls.joinToken, name: 'victim', dataDir: await tmp('mitm'), logger }),
        refused('UNAUTHORIZED', /does not present the CA the join token names.*Nothing was sent/),
      );
      assert.deepEqual(seen, []);
      // And the real server with a token for another CA.
      const foreignToken = formatJoinToken({ ...parseJoinToken(tls.joinToken), caFingerprint: fingerprint(otherCa.certPem) });
      await assert.rejects(joinCluster({ url: server.url, token: foreignToken, name: 'x', dataDir: await tmp('fp'), logger }), refused('UNAUTHORIZED', /another cluster/));
    });

    await t.test('after rotation the old token is refused, the new one joins and joined nodes carry on', async () => {
      const old = tls.joinToken;
      const rotated = await admin.rotateJoinToken();
      assert.notEqual(rotated.token, old);
      assert.equal(tls.joinToken, rotated.token);
      assert.equal(rotated.caFingerprint, fingerprint(tls.caPem));
      assert.match(rotated.joinCommand, new RegExp(`--join ${server.url} --token ${rotated.token.replace(/\./g, '\\.')}$`));
      await assert.rejects(joinCluster({ url: server.url, token: old, name: 'late', dataDir: await tmp('old'), logger }), refused('UNAUTHORIZED', /rotated/));
      const creds = await joinCluster({ url: server.url, token: rotated.token, name: 'worker-2', dataDir: await tmp('new'), logger });
      assert.ok(creds.certPem.includes('BEGIN CERTIFICATE'));
      const current = (await loadNodeTls(agentDir))!;
      assert.ok((await asNode(current).heartbeat(nodeId as NodeId)).heartbeatTtlMs > 0);
    });

    await t.test('cluster-admin routes: no certificate or a node certificate is 403, the admin certificate passes', async () => {
      for (const f of ['admin.pem', 'admin-key.pem']) assert.equal((await stat(join(serverDir, f))).mode & 0o777, 0o600, f);
      const forbidden = refused('FORBIDDEN', /cluster admin certificate \(<server data dir>\/admin\.pem\).*--cert\/--key/);
      const nodeCreds = (await loadNodeTls(agentDir))!;
      for (const who of [anon, asNode(nodeCreds)]) {
        await assert.rejects(who.rotateJoinToken(), forbidden);
        await assert.rejects(who.removeNode(nodeId), forbidden);
        await assert.rejects(who.drainNode(nodeId as NodeId, { enable: true }), forbidden);
        await assert.rejects(who.setNodeEligibility(nodeId as NodeId, false), forbidden);
        await assert.rejects(who.rebalance({ dryRun: true }), forbidden);
      }
      // Nothing happened, and reading stays open to anybody.
      const node = await anon.getNode(nodeId);
      assert.equal(node.status, 'ready');
      assert.equal(node.eligibility, 'eligible');
      // The admin certificate works (rotation and removal: the subtests below).
      assert.equal((await admin.drainNode(nodeId as NodeId, { enable: false })).drain, false);
      assert.equal((await admin.setNodeEligibility(nodeId as NodeId, true)).eligibility, 'eligible');
      assert.equal((await admin.rebalance({ dryRun: true })).dryRun, true);
    });

    await t.test('agent routes refuse no certificate, another CA, and another node', async () => {
      await assert.rejects(anon.heartbeat(nodeId as NodeId), refused('UNAUTHORIZED', /client certificate issued by this cluster/));
      await assert.rejects(anon.nodeAllocations(nodeId as NodeId, 0, 0), refused('UNAUTHORIZED', /client certificate/));
      // Same node id, signed by another CA: the TLS layer does not authorise it.
      const otherCa = await createCa();
      const { csrPem, keyPem } = await createCsr('forger');
      const forged = { caPem: tls.caPem, certPem: await signCsr(otherCa, csrPem, { nodeId }), keyPem };
      await assert.rejects(asNode(forged).heartbeat(nodeId as NodeId), refused('UNAUTHORIZED', /client certificate issued by this cluster/));
      // A real node certificate, but for another node.
      const other = await joinCluster({ url: server.url, token: tls.joinToken, name: 'worker-3', dataDir: await tmp('w3'), logger });
      await assert.rejects(asNode(other).heartbeat(nodeId as NodeId), refused('UNAUTHORIZED', /not node/));
      // A user cannot register a node over TLS without a certificate either.
      await assert.rejects(
        anon.registerNode({ name: 'x', address: '127.0.0.1', agentUrl: 'https://127.0.0.1:1', resources: { cpuMhz: 1, memoryMb: 1 }, attributes: {}, labels: {}, drivers: {} }),
        refused('UNAUTHORIZED', /client certificate/),
      );
    });

    await t.test('node rm revokes the certificate and marks the node down', async () => {
      const res = await admin.removeNode('worker-1');
      assert.equal(res.nodeId, nodeId);
      assert.equal((await admin.getNode(nodeId)).status, 'down');
      const current = (await loadNodeTls(agentDir))!;
      await assert.rejects(asNode(current).heartbeat(nodeId as NodeId), refused('UNAUTHORIZED', /removed from the cluster/));
      await assert.rejects(asNode(current).renewNodeCert(nodeId as NodeId, { csr: (await createCsr('x')).csrPem }), refused('UNAUTHORIZED', /revoked/));
    });
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});

test('plain HTTP (no TLS): no admin certificate is written and the cluster-admin routes stay open', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-plain-'));
  const server = await startServer({ dataDir, listen: '127.0.0.1:0', tls: false, logLevel: 'silent' }, { logger: silentLogger() });
  try {
    assert.match(server.url, /^http:\/\//);
    await assert.rejects(stat(join(dataDir, 'admin.pem')), /ENOENT/);
    const client = new KaruClient({ baseUrl: server.url });
    assert.equal((await client.rebalance({ dryRun: true })).dryRun, true);
    // Past the (absent) guard: the routes themselves answer.
    await assert.rejects(client.removeNode('nope'), (e: unknown) => isKaruError(e) && e.code === 'NOT_FOUND');
    await assert.rejects(client.drainNode('nope', { enable: true }), (e: unknown) => isKaruError(e) && e.code === 'NOT_FOUND');
    await assert.rejects(client.rotateJoinToken(), (e: unknown) => isKaruError(e) && e.code === 'INVALID' && /without TLS/.test(e.message));
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
