import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocStatus, AllocView } from '../core/alloc.js';
import type { Check, Job, Service } from '../core/job.js';
import type { Catalog, CatalogService, CheckResult } from '../core/service.js';
import { aServiceJob, aTask } from '../core/testing.js';
import { KaruError } from '../core/errors.js';
import { createStateStore } from '../store/index.js';
import { prefixes } from '../store/state.js';
import { newEvaluation } from './evals.js';
import { CHECKS_NOT_RUN } from './catalog.js';
import { parseServiceCidr, ipToNumber } from './catalog-vips.js';
import { ControllerHarness, aRegistration } from './testing.js';

/**
 * The catalog and VIP controllers against a real store: endpoints follow allocations,
 * check results and nodes; VIPs survive restarts and are freed with their service; the
 * blocking query wakes on real changes only.
 */

const HTTP_CHECK: Check = { type: 'http', path: '/health', expectStatus: 200, intervalMs: 1_000, timeoutMs: 500 };

function aService(over: Partial<Service> = {}): Service {
  return { name: 'web', portLabel: 'http', task: 'server', tags: ['v1'], checks: [], ingress: [], ...over };
}

function aJob(services: Service[], over: Partial<Job> = {}, count = 1): Job {
  return aServiceJob(over, {
    count,
    tasks: [aTask({ ports: [{ label: 'http', to: 8080 }] })],
    services,
    disconnect: { lostAfterMs: 60_000, replace: false, stopOnClientAfterMs: null, reconcile: 'best_score' },
  });
}

function running(a: AllocView, checks?: Record<string, CheckResult>): AllocStatus {
  return {
    id: a.id,
    nodeId: a.nodeId,
    clientStatus: 'running',
    clientDescription: '',
    taskStates: { server: { state: 'running', failed: false, restarts: 0, events: [] } },
    ...(checks ? { checks } : {}),
    updatedAt: 0,
  };
}

describe('the service catalog against a real store', () => {
  let h: ControllerHarness;

  beforeEach(async () => {
    h = await new ControllerHarness({ nodeMonitor: { minTtlMs: 2_000, graceMs: 1_000 } }).start();
  });

  afterEach(() => h.stop());

  const settle = async () => {
    await h.settle(0);
    await h.ctl.vips.idle();
    await h.settle(0);
  };
  const catalog = (): Promise<Catalog> => h.ctl.cluster.catalog();
  const service = async (name = 'web'): Promise<CatalogService | undefined> => (await catalog()).services.find((s) => s.name === name);
  const wanted = (job = 'web') => h.cache.allocsByJob('default', job).filter((x) => x.desiredStatus === 'run');

  async function oneRunningCopy(services: Service[] = [aService()]) {
    const { node } = await h.ctl.cluster.registerNode(aRegistration({ name: 'a', address: '10.0.0.5' }));
    await h.ctl.cluster.registerJob(aJob(services));
    await settle();
    const [alloc] = wanted();
    assert.ok(alloc, 'the job was placed');
    return { node, alloc };
  }

  test('an allocation is an endpoint (node address, host port) that turns healthy once it runs', async () => {
    const { node, alloc } = await oneRunningCopy();
    let web = (await service())!;
    assert.equal(web.namespace, 'default');
    assert.equal(web.job, 'web');
    assert.equal(web.group, 'app');
    assert.equal(web.port, 8080);
    assert.deepEqual(web.tags, ['v1']);
    const range = parseServiceCidr('10.99.0.0/16');
    const vip = ipToNumber(web.vip)!;
    assert.ok(vip >= range.first && vip <= range.last, `VIP ${web.vip} is in the range and not the DNS address`);
    const hostPort = alloc.ports.find((p) => p.label === 'http')!.host;
    assert.deepEqual(web.endpoints, [{ allocId: alloc.id, nodeId: node.id, nodeName: 'a', address: '10.0.0.5', port: hostPort, healthy: false, output: 'allocation is pending' }]);

    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc)]);
    web = (await service())!;
    assert.equal(web.endpoints[0]!.healthy, true, 'no checks: healthy once it runs');
    assert.equal(web.endpoints[0]!.output, '');
  });

  test('checks: unhealthy until they ran, then as the agent reports them', async () => {
    const { node, alloc } = await oneRunningCopy([aService({ checks: [HTTP_CHECK] })]);
    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc)]);
    let e = (await service())!.endpoints[0]!;
    assert.deepEqual([e.healthy, e.output], [false, CHECKS_NOT_RUN]);

    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc, { web: { healthy: false, output: 'http GET /health: 503', since: 1 } })]);
    e = (await service())!.endpoints[0]!;
    assert.deepEqual([e.healthy, e.output], [false, 'http GET /health: 503']);

    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc, { web: { healthy: true, output: 'http GET /health: 200', since: 2 } })]);
    e = (await service())!.endpoints[0]!;
    assert.deepEqual([e.healthy, e.output], [true, 'http GET /health: 200']);
  });

  test('a stopped job keeps its service and VIP but loses its endpoints', async () => {
    const { node, alloc } = await oneRunningCopy();
    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc)]);
    const vip = (await service())!.vip;
    await h.ctl.cluster.stopJob('default', 'web', { purge: false });
    await settle();
    const web = (await service())!;
    assert.deepEqual(web.endpoints, []);
    assert.equal(web.vip, vip);
  });

  test('a node that stops heartbeating takes its endpoints out at once', async () => {
    const { node, alloc } = await oneRunningCopy();
    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc)]);
    assert.equal((await service())!.endpoints[0]!.healthy, true);
    h.clock.advance(3_500);
    await h.ctl.monitor.tick();
    await settle();
    assert.equal(h.cache.node(node.id)!.status, 'disconnected');
    const e = (await service())!.endpoints[0]!;
    assert.equal(e.allocId, alloc.id, 'still wanted (the disconnect policy waits for it)');
    assert.deepEqual([e.healthy, e.output], [false, 'node a is disconnected']);
  });

  test('VIPs are stable across a server restart and freed when the job is purged', async () => {
    await oneRunningCopy([aService(), aService({ name: 'admin' })]);
    const before = (await catalog()).services.map((s) => [s.name, s.vip]);
    assert.equal(new Set(before.map(([, v]) => v)).size, 2, 'two services, two VIPs');
    await h.restart();
    await settle();
    assert.deepEqual(
      (await catalog()).services.map((s) => [s.name, s.vip]),
      before,
    );

    await h.ctl.cluster.stopJob('default', 'web', { purge: true });
    await settle();
    assert.deepEqual((await catalog()).services, []);
    assert.deepEqual((await h.store.list(prefixes.serviceVips)).items, [], 'the VIP records are gone from the store');
  });

  test('an exhausted range leaves a service without a VIP, and it gets one once another is freed', async () => {
    await h.stop();
    // /29: .0 network, .1 DNS, .7 broadcast: five VIPs.
    h = await new ControllerHarness({ catalog: { serviceCidr: '10.99.0.0/29' } }).start();
    await h.ctl.cluster.registerNode(aRegistration());
    const names = ['s1', 's2', 's3', 's4', 's5', 's6'];
    await h.ctl.cluster.registerJob(aJob(names.slice(0, 5).map((name) => aService({ name }))));
    await h.ctl.cluster.registerJob(aJob([aService({ name: 's6' })], { name: 'late' }));
    await settle();
    const vips = new Map((await catalog()).services.map((s) => [s.name, s.vip]));
    assert.deepEqual([...vips.keys()].sort(), names);
    assert.equal(vips.get('s6'), '', 'no address left');
    assert.deepEqual([...vips.values()].filter(Boolean).sort(), ['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);

    await h.ctl.cluster.registerJob(aJob(names.slice(0, 4).map((name) => aService({ name }))));
    await settle();
    const s6 = (await service('s6'))!;
    assert.equal(s6.vip, vips.get('s5'), 's5 was dropped: s6 takes its address');
  });

  test('the blocking query wakes on a catalog change, not on an unrelated write', async () => {
    const { node, alloc } = await oneRunningCopy();
    const first = await h.ctl.cluster.waitForCatalog(0, 30_000);
    assert.ok(first.index > 0);

    let answered: Catalog | undefined;
    const pending = h.ctl.cluster.waitForCatalog(first.index, 30_000).then((c) => (answered = c));
    // Unrelated: a job without services, a second node, a heartbeat.
    await h.ctl.cluster.registerJob(aServiceJob({ name: 'batchy' }));
    await h.ctl.cluster.registerNode(aRegistration({ name: 'b' }));
    await h.ctl.cluster.heartbeat(node.id);
    await settle();
    assert.equal(answered, undefined, 'still parked');
    assert.ok(h.cache.revision > first.index, 'the store did move on');

    await h.ctl.cluster.updateAllocStatus(node.id, [running(alloc)]);
    await settle();
    await pending;
    assert.ok(answered!.index > first.index);
    assert.equal(answered!.services[0]!.endpoints[0]!.healthy, true);

    // Nothing changes: the wait runs out and answers the same index.
    const idle = h.ctl.cluster.waitForCatalog(answered!.index, 1_000);
    h.clock.advance(1_000);
    assert.equal((await idle).index, answered!.index);
  });

  test('an empty catalog still has an index of at least 1 (0 means "answer at once")', async () => {
    const c = await h.ctl.cluster.waitForCatalog(0, 1_000);
    assert.deepEqual(c.services, []);
    assert.ok(c.index >= 1);
    // An index this server never gave out (its state was replaced) is answered at once.
    assert.equal((await h.ctl.cluster.waitForCatalog(c.index + 1_000, 30_000)).index, c.index);
  });

  test('a second job declaring the same name does not replace the first in the catalog', async () => {
    await oneRunningCopy();
    // registerJob refuses it, atomically with its write (catalog-claims.ts)...
    const zzz = aJob([aService()], { name: 'zzz' });
    await assert.rejects(h.ctl.cluster.registerJob(zzz), (e: unknown) => e instanceof KaruError && e.code === 'CONFLICT' && /already declared by job 'web'/.test(e.message));
    // ...but a conflict written anyway (before that check existed) must still give a deterministic catalog.
    const rev = await createStateStore(h.store).commit([
      { kind: 'job', value: { ...zzz, version: 1, stopped: false, submittedAt: 0 }, expectedModRevision: 0 },
      { kind: 'eval', value: newEvaluation('default', 'zzz', 'job-register', 0) },
    ]);
    await h.cache.waitFor(rev);
    await settle();
    const all = (await catalog()).services.filter((s) => s.name === 'web');
    assert.equal(all.length, 1);
    assert.equal(all[0]!.job, 'web');
  });
});

test('parseServiceCidr: DNS and broadcast are never VIPs; bad ranges name the field', () => {
  const r = parseServiceCidr('10.99.0.0/16');
  assert.equal(r.dns, ipToNumber('10.99.0.1'));
  assert.equal(r.first, ipToNumber('10.99.0.2'));
  assert.equal(r.last, ipToNumber('10.99.255.254'));
  for (const bad of ['10.99.0.0', '10.99.0.0/31', '10.99.0.300/16', '10.99.0.5/16', 'ten/8']) {
    assert.throws(() => parseServiceCidr(bad), /invalid service CIDR/, bad);
  }
});
