import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import dns2 from 'dns2';
import { FakeClock } from '../../lib/clock.js';
import { seededRng } from '../../lib/rng.js';
import { addressName } from './dns-server.js';
import { ingressRoutesOf, NodeDataPlane, tcpIngressOf, type NodeDataPlaneOptions } from './node-dataplane.js';
import { aCatalogEndpoint, aCatalogService, FakeCatalogSource, FakeHostNetwork, freePortOn, randomLoopback, startTcpBackend, tcpRequest } from './testing.js';

const { UDPClient } = dns2;

/**
 * The data plane as the agent runs it, with a fake `ip` and a fake catalog query but real
 * sockets: VIPs, DNS and ingress are loopback addresses (127.77.0.0/16 is local on Linux,
 * as VIPs on karu0 are on a node), so each test takes addresses of its own.
 */

/** A service range on loopback: its first address is the DNS address. */
function loopbackRange(): { cidr: string; dns: string; vip: (n: number) => string } {
  const [, , c] = randomLoopback().split('.');
  return { cidr: `127.78.${c}.0/24`, dns: `127.78.${c}.1`, vip: (n) => `127.78.${c}.${10 + n}` };
}

/** Lets the follower and the sync queue run (sockets and promises; no time passes on the clock). */
async function flush(dp: NodeDataPlane, rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await new Promise<void>((r) => setImmediate(r));
    await dp.applied();
  }
}

async function until(what: string, fn: () => boolean | Promise<boolean>, dp: NodeDataPlane): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await fn()) return;
    await flush(dp, 1);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** An HTTP backend answering `<name> xff=<X-Forwarded-For>`. */
async function httpBackend(name: string): Promise<{ port: number; server: Server }> {
  const server = createServer((req, res) => res.end(`${name} xff=${req.headers['x-forwarded-for'] ?? ''}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, server };
}

/** GET /x with a Host header (fetch does not let one set it); bounded in time. */
function httpGet(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/x', headers: { host }, agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

describe('NodeDataPlane', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(over: Partial<NodeDataPlaneOptions> = {}) {
    const clock = new FakeClock();
    const catalog = new FakeCatalogSource(clock);
    const network = new FakeHostNetwork();
    const range = loopbackRange();
    const dp = new NodeDataPlane({ catalog: catalog.source, network, dns: { port: 0, upstream: null }, clock, rng: seededRng(1), graceMs: 0, ...over });
    cleanups.push(() => dp.stop());
    await dp.start({ serviceCidr: range.cidr });
    await flush(dp);
    return { clock, catalog, network, range, dp };
  }

  it('follows the catalog into the table, level-triggered', async () => {
    const { catalog, dp, range } = await setup();
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1), endpoints: [aCatalogEndpoint('10.77.1.12', 23000), aCatalogEndpoint('10.77.1.13', 23001, false)] })]);
    await until('web in the table', () => dp.table.get('default', 'web') !== undefined, dp);
    assert.deepEqual(
      dp.table.get('default', 'web')!.endpoints.map((e) => `${e.address}:${e.port}:${e.healthy}`),
      ['10.77.1.12:23000:true', '10.77.1.13:23001:false'],
    );
    catalog.set([aCatalogService({ name: 'api', vip: range.vip(2) })]);
    await until('web gone, api in', () => dp.table.get('default', 'web') === undefined && dp.table.get('default', 'api') !== undefined, dp);
    assert.equal(dp.status().catalogIndex, catalog.index);
  });

  it('puts the DNS address and every VIP on karu0, and removes VIPs no longer in the catalog', async () => {
    const { catalog, dp, network, range } = await setup();
    assert.deepEqual(network.list(), [range.dns]);
    assert.equal(dp.dnsServer, dp.status().dns!.host);
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1) }), aCatalogService({ name: 'db', vip: range.vip(2), port: 5432 })]);
    await until('two VIPs', () => network.list().length === 3, dp);
    assert.deepEqual(network.list(), [range.dns, range.vip(1), range.vip(2)].sort());
    // An address outside the service range is not ours to remove.
    network.interfaces.get('karu0')!.add('192.0.2.1');
    catalog.set([aCatalogService({ name: 'db', vip: range.vip(2), port: 5432 })]);
    await until('web VIP removed', () => network.list().length === 3, dp);
    assert.deepEqual(network.list(), ['192.0.2.1', range.dns, range.vip(2)].sort());
  });

  it('repairs karu0 on the periodic resync (an address deleted by hand comes back)', async () => {
    const { catalog, dp, network, range, clock } = await setup({ resyncMs: 1_000 });
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1) })]);
    await until('VIP added', () => network.list().includes(range.vip(1)), dp);
    network.interfaces.get('karu0')!.delete(range.vip(1));
    clock.advance(1_000);
    await until('VIP back', () => network.list().includes(range.vip(1)), dp);
  });

  it('proxies VIP:port to the healthy endpoints, following the table', async () => {
    const { catalog, dp, range } = await setup();
    const a = await startTcpBackend('a');
    const b = await startTcpBackend('b');
    cleanups.push(() => a.close(), () => b.close());
    const port = await freePortOn(range.vip(1));
    catalog.set([aCatalogService({ name: 'echo', vip: range.vip(1), port, endpoints: [aCatalogEndpoint('127.0.0.1', a.port), aCatalogEndpoint('127.0.0.1', b.port, false)] })]);
    await until('echo in the table', () => dp.table.get('default', 'echo') !== undefined, dp);
    assert.equal(await tcpRequest(range.vip(1), port, 'hi'), 'a\nhi');
    // b becomes healthy, a fails its check: new connections go to b only.
    catalog.set([aCatalogService({ name: 'echo', vip: range.vip(1), port, endpoints: [aCatalogEndpoint('127.0.0.1', a.port, false), aCatalogEndpoint('127.0.0.1', b.port)] })]);
    await until('b healthy', () => dp.table.get('default', 'echo')!.endpoints[1]!.healthy, dp);
    assert.equal(await tcpRequest(range.vip(1), port, 'x'), 'b\nx');
    assert.equal(await tcpRequest(range.vip(1), port, 'y'), 'b\ny');
  });

  it('answers NAME.NS.karu with the VIP and _NAME._tcp.NS.karu with SRV of the healthy endpoints', async () => {
    const { catalog, dp, range } = await setup();
    catalog.set([
      aCatalogService({ name: 'web', namespace: 'shop', vip: range.vip(1), endpoints: [aCatalogEndpoint('10.77.1.12', 23000), aCatalogEndpoint('10.77.1.13', 23001, false), aCatalogEndpoint('10.77.1.14', 23002)] }),
    ]);
    await until('web in the table', () => dp.table.get('shop', 'web') !== undefined, dp);
    const dns = dp.status().dns!;
    const query = UDPClient({ dns: dns.host, port: dns.port, timeout: 3000 });
    const a = await query('web.shop.karu', 'A');
    assert.deepEqual(a.answers.map((r) => r.address), [range.vip(1)]);
    const srv = await query('_web._tcp.shop.karu', 'SRV');
    assert.deepEqual(srv.answers.map((r) => `${r.target}:${r.port}`).sort(), [`${addressName('10.77.1.12')}:23000`, `${addressName('10.77.1.14')}:23002`]);
    const none = await query('nope.shop.karu', 'A');
    assert.equal(none.header.rcode, 3);
  });

  it('builds ingress routes from the catalog and rebuilds them when it changes', async () => {
    const ingressPort = await freePortOn('127.0.0.1');
    const { catalog, dp, range } = await setup({ ingress: { address: '127.0.0.1', httpPort: ingressPort } });
    const app = await httpBackend('app');
    cleanups.push(() => new Promise((r) => app.server.close(r)));
    catalog.set([aCatalogService({ name: 'app', vip: range.vip(1), ingress: [{ kind: 'http', host: 'shop.example', pathPrefix: '/' }], endpoints: [aCatalogEndpoint('127.0.0.1', app.port)] })]);
    await until('app in the table', () => dp.table.get('default', 'app') !== undefined, dp);
    const get = (host: string) => httpGet(ingressPort, host);
    const ok = await get('shop.example');
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'app xff=127.0.0.1');
    assert.equal((await get('other.example')).status, 404);
    // The route moves to another host: the old one stops matching at once.
    catalog.set([aCatalogService({ name: 'app', vip: range.vip(1), ingress: [{ kind: 'http', host: 'other.example', pathPrefix: '/' }], endpoints: [aCatalogEndpoint('127.0.0.1', app.port)] })]);
    await until('route moved', async () => (await get('other.example')).status === 200, dp);
    assert.equal((await get('shop.example')).status, 404);
  });

  it('with ingress workers: the catalog routes reach the worker processes, and stop takes them down', async () => {
    const { catalog, dp, range } = await setup({ ingress: { address: '127.0.0.1', httpPort: 0, workers: 2 } });
    const pids = dp.status().ingressWorkers ?? [];
    assert.equal(pids.length, 2);
    const port = dp.status().ingressHttp!.port;
    const app = await httpBackend('app');
    cleanups.push(() => new Promise((r) => app.server.close(r)));
    catalog.set([aCatalogService({ name: 'app', vip: range.vip(1), ingress: [{ kind: 'http', host: 'shop.example', pathPrefix: '/' }], endpoints: [aCatalogEndpoint('127.0.0.1', app.port)] })]);
    await until('the route served', async () => (await httpGet(port, 'shop.example')).status === 200, dp);
    // A connection per request: the agent hands them to the workers in turn, and every one routes.
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(port, 'shop.example')).body, 'app xff=127.0.0.1');
    await dp.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  it('opens TCP ingress ports (with PROXY v1 when asked) and closes them when the rule goes', async () => {
    const { catalog, dp, range } = await setup({ ingress: { address: '127.0.0.1', httpPort: 0 } });
    const backend = await startTcpBackend('db');
    cleanups.push(() => backend.close());
    const port = await freePortOn('127.0.0.1');
    catalog.set([aCatalogService({ name: 'db', vip: range.vip(1), ingress: [{ kind: 'tcp', port, proxyProtocol: true }], endpoints: [aCatalogEndpoint('127.0.0.1', backend.port)] })]);
    await until('tcp ingress listening', () => dp.status().tcpIngress.length === 1, dp);
    const out = await tcpRequest('127.0.0.1', port, 'q');
    assert.equal(out.split('\n')[0], 'db');
    assert.match(backend.received.at(-1)!, /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nq$/);
    catalog.set([aCatalogService({ name: 'db', vip: range.vip(1), endpoints: [aCatalogEndpoint('127.0.0.1', backend.port)] })]);
    await until('tcp ingress closed', () => dp.status().tcpIngress.length === 0, dp);
    await assert.rejects(tcpRequest('127.0.0.1', port, 'q', 1000));
  });

  it('keeps the last table while the server is unreachable, and follows again when it is back', async () => {
    const { catalog, dp, range, clock } = await setup();
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1), endpoints: [aCatalogEndpoint('10.77.1.12', 23000)] })]);
    await until('web in the table', () => dp.table.get('default', 'web') !== undefined, dp);
    catalog.setReachable(false);
    await flush(dp);
    for (let i = 0; i < 5; i++) {
      clock.advance(20_000); // backoff retries fail
      await flush(dp);
    }
    assert.ok(dp.table.get('default', 'web'), 'the table survives the outage');
    catalog.set([]);
    catalog.setReachable(true);
    clock.advance(20_000);
    await until('the empty catalog applied', () => dp.table.list().length === 0, dp);
  });

  it('without root: warns once, runs DNS on loopback, no VIPs, gives containers no DNS server, never throws', async () => {
    const network = new FakeHostNetwork();
    network.failWith = 'RTNETLINK answers: Operation not permitted';
    const warnings: string[] = [];
    const logger = { child: () => logger, warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined, debug: () => undefined, error: () => undefined } as never;
    const { catalog, dp, range } = await setup({ network, logger });
    assert.equal(dp.status().vips, false);
    assert.equal(dp.dnsServer, undefined);
    assert.equal(dp.status().dns?.host, '127.0.0.1');
    assert.equal(warnings.filter((w) => w.includes('cannot set up karu0')).length, 1);
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1) })]);
    await until('web in the table', () => dp.table.get('default', 'web') !== undefined, dp);
    assert.deepEqual(network.calls, ['link add karu0'], 'one failed attempt at start, none per catalog');
  });

  it('leaves the addresses on karu0 when it stops (containers keep working across an agent restart)', async () => {
    const { catalog, dp, network, range } = await setup();
    catalog.set([aCatalogService({ name: 'web', vip: range.vip(1) })]);
    await until('VIP added', () => network.list().includes(range.vip(1)), dp);
    await dp.stop();
    assert.deepEqual(network.list(), [range.dns, range.vip(1)].sort());
  });

  it('a port in use does not stop the rest: the ingress is skipped, DNS and VIPs run', async () => {
    const blocker = createTcpServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    cleanups.push(() => new Promise((r) => blocker.close(r)));
    const { dp } = await setup({ ingress: { address: '127.0.0.1', httpPort: (blocker.address() as AddressInfo).port } });
    assert.equal(dp.status().ingressHttp, undefined);
    assert.ok(dp.status().dns);
    assert.equal(dp.status().vips, true);
  });
});

describe('catalog → ingress', () => {
  it('makes one HTTP route per http rule, owned by the job, checked against the port label', () => {
    const routes = ingressRoutesOf({
      index: 3,
      services: [aCatalogService({ name: 'web', namespace: 'shop', vip: '10.99.0.7', job: 'store', ingress: [{ kind: 'http', host: 'shop.example', pathPrefix: '/' }, { kind: 'http', pathPrefix: '/api' }, { kind: 'tcp', port: 5432, proxyProtocol: false }] })],
    });
    assert.deepEqual(routes, [
      { host: 'shop.example', pathPrefix: '/', service: 'web', namespace: 'shop', port: 'http', owner: { job: 'store' } },
      { pathPrefix: '/api', service: 'web', namespace: 'shop', port: 'http', owner: { job: 'store' } },
    ]);
  });

  it('gives a TCP port to one service only and names the one left out', () => {
    const { routes, conflicts } = tcpIngressOf({
      index: 1,
      services: [
        aCatalogService({ name: 'b', vip: '10.99.0.8', ingress: [{ kind: 'tcp', port: 5432, proxyProtocol: false }] }),
        aCatalogService({ name: 'a', vip: '10.99.0.7', ingress: [{ kind: 'tcp', port: 5432, proxyProtocol: true }] }),
      ],
    });
    assert.deepEqual(routes, [{ port: 5432, proxyProtocol: true, namespace: 'default', name: 'a' }]);
    assert.equal(conflicts.length, 1);
    assert.match(conflicts[0]!, /default\/b ignored, default\/a has it/);
  });
});
