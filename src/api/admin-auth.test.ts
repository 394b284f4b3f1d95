import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerIdentity } from '../pki/certs.js';
import { createApi } from './app.js';
import type { ClusterPkiService } from './node-cert-auth.js';
import { aNode, FakeControlPlane } from './testing/fake-control-plane.js';
import { capturingLogger, json, stubValidateJob } from './testing/harness.js';

/** Stands in for the CA: only rotation is reached here. */
const fakePki: ClusterPkiService = {
  join: () => Promise.reject(new Error('not in this test')),
  renew: () => Promise.reject(new Error('not in this test')),
  rotateJoinToken: async () => ({ token: 'karu1.new', caFingerprint: 'ab', joinCommand: 'karu agent --join https://x --token karu1.new' }),
};

/**
 * The real guard and router; only "which certificate did the TLS layer verify" is
 * supplied by the test, through a header (the server reads it from the socket).
 */
function setup(tls: boolean) {
  const cp = new FakeControlPlane();
  const node = aNode();
  cp.state.putNode(node);
  const peers: Record<string, PeerIdentity> = { admin: { role: 'admin' }, node: { role: 'node', nodeId: node.id }, server: { role: 'server' } };
  const app = createApi({
    controlPlane: cp,
    logger: capturingLogger().logger,
    validateJob: stubValidateJob,
    ...(tls ? { pki: fakePki } : {}),
    peerOf: (c) => peers[c.req.header('x-test-peer') ?? ''],
  });
  return { app, cp, node };
}

const as = (peer: string | undefined, init: RequestInit = { method: 'POST' }): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string>), ...(peer ? { 'x-test-peer': peer } : {}) } });

describe('API: cluster-admin routes need the admin certificate with TLS', () => {
  const adminCalls = (id: string): [string, RequestInit][] => [
    ['/v1/acl/join-token/rotate', { method: 'POST' }],
    [`/v1/nodes/${id}/drain`, json('POST', { enable: true })],
    [`/v1/nodes/${id}/eligibility`, json('POST', { eligible: false })],
    ['/v1/rebalance', json('POST', { dryRun: true })],
    [`/v1/nodes/${id}`, { method: 'DELETE' }],
  ];

  it('no certificate, a node or the server certificate: 403 FORBIDDEN naming admin.pem and --cert/--key; nothing done', async () => {
    const { app, cp, node } = setup(true);
    for (const peer of [undefined, 'node', 'server']) {
      for (const [path, init] of adminCalls(node.id)) {
        const res = await app.request(path, as(peer, init));
        assert.equal(res.status, 403, `${init.method} ${path} as ${peer ?? 'nobody'}`);
        const body = (await res.json()) as { code: string; message: string };
        assert.equal(body.code, 'FORBIDDEN');
        assert.match(body.message, /^this needs the cluster admin certificate \(<server data dir>\/admin\.pem\); run it on the server machine or pass --cert\/--key/);
      }
    }
    assert.deepEqual(cp.adminCalls, []);
    assert.equal(cp.state.node(node.id)?.status, node.status);
    // Even an unknown node or a route that does not exist under /v1/acl is refused before anything else.
    assert.equal((await app.request('/v1/nodes/nope', as('node', { method: 'DELETE' }))).status, 403);
    assert.equal((await app.request('/v1/acl/whatever', as(undefined, { method: 'GET' }))).status, 403);
  });

  it('the admin certificate passes every one of them', async () => {
    const { app, cp, node } = setup(true);
    for (const [path, init] of adminCalls(node.id)) {
      const res = await app.request(path, as('admin', init));
      assert.equal(res.status, 200, `${init.method} ${path}: ${await res.clone().text()}`);
    }
    assert.deepEqual(
      cp.adminCalls.map((c) => c.method),
      ['drainNode', 'setNodeEligibility', 'rebalance'],
    );
  });

  it('other user routes stay open, and agent routes are not admin routes', async () => {
    const { app, node } = setup(true);
    assert.equal((await app.request('/v1/nodes')).status, 200);
    assert.equal((await app.request(`/v1/nodes/${node.id}`)).status, 200);
    assert.equal((await app.request('/v1/jobs', json('POST', { job: { name: 'web' } }))).status, 201);
    // The admin certificate is not a node's: agent routes still answer 401.
    assert.equal((await app.request(`/v1/nodes/${node.id}/heartbeat`, as('admin', json('POST', {})))).status, 401);
  });

  it('without TLS (karu dev, loopback) the admin routes stay open', async () => {
    const { app, cp, node } = setup(false);
    for (const [path, init] of adminCalls(node.id).slice(1)) {
      assert.equal((await app.request(path, init)).status, 200, `${init.method} ${path}`);
    }
    assert.equal(cp.adminCalls.length, 3);
    // No CA: rotation says so instead of 403.
    assert.equal((await app.request('/v1/acl/join-token/rotate', { method: 'POST' })).status, 400);
  });
});
