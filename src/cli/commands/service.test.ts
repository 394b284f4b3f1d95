import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CatalogService } from '../../client/catalog-types.js';
import type { AllocId, NodeId } from '../../core/ids.js';
import { aGroup, aJob } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

function aService(o: Partial<CatalogService> = {}): CatalogService {
  return {
    namespace: 'default',
    name: 'web',
    vip: '10.99.0.7',
    port: 8080,
    portLabel: 'http',
    tags: ['v1', 'public'],
    job: 'hello',
    group: 'web',
    ingress: [{ kind: 'http', host: 'shop.example.com', pathPrefix: '/' }],
    endpoints: [
      { allocId: 'alloc_01hzzzzzzz0000aaaabbbbcccc' as AllocId, nodeId: 'node_01hzzzzzzz1111aaaabbbbcccc' as NodeId, nodeName: 'node1', address: '10.0.0.5', port: 23412, healthy: true, output: 'http GET /health: 200' },
      { allocId: 'alloc_01hzzzzzzz0001aaaabbbbcccc' as AllocId, nodeId: 'node_01hzzzzzzz2222aaaabbbbcccc' as NodeId, nodeName: 'node2', address: '10.0.0.6', port: 23413, healthy: false, output: 'http GET /health: 503' },
    ],
    ...o,
  };
}

function catalog(): FakeApi {
  const api = new FakeApi();
  api.services = [aService(), aService({ namespace: 'prod', name: 'db', vip: '', port: 5432, job: 'pg', group: 'db', ingress: [], endpoints: [] })];
  api.jobs = [
    aJob({
      groups: [aGroup({ services: [{ name: 'web', portLabel: 'http', task: 'server', tags: [], checks: [{ type: 'http', path: '/health', expectStatus: 200, intervalMs: 10_000, timeoutMs: 2_000 }], ingress: [] }] })],
    }),
  ];
  return api;
}

describe('karu service', () => {
  it('ls: a row per service with its VIP, healthy endpoints and job; warns about a service without VIP', async () => {
    const r = await runKaru(['service', 'ls'], { api: catalog() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+NAMESPACE\s+VIP\s+HEALTHY\s+JOB$/);
    assert.match(lines[1]!, /^web\s+default\s+10\.99\.0\.7:8080\s+1\/2\s+hello\.web$/);
    assert.match(lines[2]!, /^db\s+prod\s+-:5432\s+0\/0\s+pg\.db$/);
    assert.match(r.stderr, /prod\/db has no VIP: the service range is full/);
  });

  it('ls -n filters by namespace; --json parses', async () => {
    const api = catalog();
    const r = await runKaru(['service', 'ls', '-n', 'prod', '--json'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as CatalogService[]).map((s) => s.name),
      ['db'],
    );
    assert.equal(api.requests.at(-1)!.path, '/v1/services?namespace=prod');
    const none = await runKaru(['service', 'ls', '-n', 'empty'], { api });
    assert.equal(none.stdout, "No services in namespace 'empty'. A job declares them in a group's `services` block.\n");
  });

  it('show: VIP, tags, declared checks and every endpoint with its health and output', async () => {
    const r = await runKaru(['service', 'show', 'web'], { api: catalog() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^VIP {8}= 10\.99\.0\.7:8080$/m);
    assert.match(r.stdout, /^Tags {7}= v1, public$/m);
    assert.match(r.stdout, /^Checks {5}= http GET \/health → 200 every 10s$/m);
    assert.match(r.stdout, /^Ingress {4}= http shop\.example\.com\/$/m);
    assert.match(r.stdout, /^0000aaaa\s+node1\s+10\.0\.0\.5:23412\s+healthy\s+http GET \/health: 200$/m);
    assert.match(r.stdout, /^0001aaaa\s+node2\s+10\.0\.0\.6:23413\s+unhealthy\s+http GET \/health: 503$/m);
  });

  it('show NS/NAME --json includes the declared checks', async () => {
    const r = await runKaru(['service', 'show', 'prod/db', '--json'], { api: catalog() });
    assert.equal(r.code, 0, r.stderr);
    const body = JSON.parse(r.stdout) as CatalogService & { checks?: unknown[] };
    assert.equal(body.name, 'db');
    assert.equal(body.checks, undefined, 'its job is not known to this fake: checks unknown');
  });

  it('show: names the service it could not find', async () => {
    const r = await runKaru(['service', 'show', 'nope', '-n', 'prod'], { api: catalog() });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error: no service 'nope' in namespace 'prod' (list them with `karu service ls`)\n");
  });
});

describe('karu ingress', () => {
  it('ls: host and path or TCP port, service, owner, backing', async () => {
    const api = new FakeApi();
    api.ingress = [
      { kind: 'http', pathPrefix: '/api', namespace: 'default', service: 'api', job: 'shop', group: 'api', healthy: 2, total: 2, nodes: 2 },
      { kind: 'http', host: 'shop.example.com', pathPrefix: '/', namespace: 'prod', service: 'web', job: 'shop', group: 'web', healthy: 1, total: 2, nodes: 1 },
      { kind: 'tcp', port: 5432, proxyProtocol: true, namespace: 'default', service: 'db', job: 'pg', group: 'db', healthy: 0, total: 1, nodes: 0 },
    ];
    const r = await runKaru(['ingress', 'ls'], { api });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^HOST\s+PATH \/ PORT\s+SERVICE\s+JOB\s+HEALTHY$/);
    assert.match(lines[1]!, /^\*\s+\/api\s+api\s+shop\.api\s+2\/2$/);
    assert.match(lines[2]!, /^shop\.example\.com\s+\/\s+prod\/web\s+shop\.web\s+1\/2$/);
    assert.match(lines[3]!, /^tcp\s+:5432 \(PROXY\)\s+db\s+pg\.db\s+0\/1$/);
    const json = await runKaru(['ingress', 'ls', '--json'], { api });
    assert.equal((JSON.parse(json.stdout) as unknown[]).length, 3);
  });

  it('ls: says so when there is none', async () => {
    const r = await runKaru(['ingress', 'ls'], { api: new FakeApi() });
    assert.equal(r.stdout, 'No ingress routes. A service declares them in its `ingress` block.\n');
  });
});
