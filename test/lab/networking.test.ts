/**
 * Lab networking (issue 4), two hosts. host1 runs the client containers and the ingress
 * (`karu agent --ingress --ingress-http 80`); the `echo` service runs only on host2. Checks,
 * through real agents, dockerds and network namespaces:
 *   (a) a container on host1 reaches `echo` on host2 by name (NAME and NAME.NS.karu);
 *   (b) a pod's two tasks talk over localhost and share a volume;
 *   (c) host1's ingress serves a request for the app on host2, and the app sees the
 *       client's IP in X-Forwarded-For;
 *   (d) an endpoint whose check fails, or whose container is killed, leaves rotation
 *       (VIP and ingress), and comes back when healthy;
 *   (e) the node's DNS answers A (the VIP) and SRV (every healthy endpoint);
 *   (f) a pod keeps running across a restart of its agent (reattached, not restarted),
 *       and is reachable by name again once the agent's data plane is back.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import type { CatalogService } from '../../src/core/service.js';
import { eventually, Lab, type LabHost } from './lab.js';
import { LAB_SKIP, runningAllocs, withLogs } from './scenario.js';

const DOCKER = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
/** Check interval 1 s + catalog propagation + the blocking query: generous. */
const ROTATION_BOUND_MS = 30_000;
const DEPLOY_BOUND_MS = 90_000;
const INGRESS_PORT = 80;
const ECHO_HOST = 'echo.lab.test';

/**
 * busybox httpd on 8080 with a CGI that answers `id=<alloc> xff=<X-Forwarded-For>`, and
 * /ok.txt for the health check (the test deletes it to fail the check).
 */
const ECHO_SCRIPT = [
  'mkdir -p /www/cgi-bin',
  'echo "$KARU_ALLOC_ID" > /www/id',
  'echo ok > /www/ok.txt',
  "printf '#!/bin/sh\\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n\"\\necho \"id=$(cat /www/id) xff=$HTTP_X_FORWARDED_FOR\"\\n' > /www/cgi-bin/echo",
  'chmod +x /www/cgi-bin/echo',
  'exec httpd -f -p 8080 -h /www',
].join(' && ');

const onHost = (name: string) => [{ attribute: '${node.name}', operator: '=', value: name }];

function echoJob(): Record<string, unknown> {
  return {
    name: 'echo',
    type: 'service',
    groups: [
      {
        name: 'web',
        count: 2,
        constraints: onHost('host2'),
        // A killed container waits before its restart: long enough to see it out of rotation.
        restart: { attempts: 3, interval: '10m', delay: '20s', mode: 'fail' },
        tasks: [{ name: 'server', image: 'karu/hello:1', command: 'sh', args: ['-c', ECHO_SCRIPT], resources: { cpu: 50, memory: 16 }, ports: [{ label: 'http', to: 8080 }] }],
        services: [
          {
            name: 'echo',
            port: 'http',
            checks: [{ type: 'http', path: '/ok.txt', interval: '1s', timeout: '500ms' }],
            ingress: [{ host: ECHO_HOST, path: '/' }],
          },
        ],
      },
    ],
  };
}

function clientJob(): Record<string, unknown> {
  return {
    name: 'client',
    type: 'service',
    groups: [{ name: 'c', count: 1, constraints: onHost('host1'), tasks: [{ name: 'sh', image: 'karu/busybox:1', command: 'sleep', args: ['3600'], resources: { cpu: 20, memory: 8 } }] }],
  };
}

/**
 * A pod: `server` serves /data on localhost:8080, `writer` writes /data/index.html; one
 * volume. Declared as the service `podweb`, so it is reachable by name from the client.
 */
function podJob(): Record<string, unknown> {
  return {
    name: 'pod',
    type: 'service',
    groups: [
      {
        name: 'p',
        count: 1,
        constraints: onHost('host1'),
        volumes: ['data'],
        tasks: [
          {
            name: 'server',
            image: 'karu/busybox:1',
            command: 'sh',
            args: ['-c', 'mkdir -p /data && exec httpd -f -p 8080 -h /data'],
            resources: { cpu: 20, memory: 8 },
            ports: [{ label: 'http', to: 8080 }],
            volumeMounts: [{ volume: 'data', target: '/data' }],
          },
          { name: 'writer', image: 'karu/busybox:1', command: 'sh', args: ['-c', 'echo from-the-writer > /data/index.html && exec sleep 3600'], resources: { cpu: 20, memory: 8 }, volumeMounts: [{ volume: 'data', target: '/data' }] },
        ],
        services: [{ name: 'podweb', port: 'http', checks: [{ type: 'http', path: '/index.html', interval: '1s', timeout: '500ms' }] }],
      },
    ],
  };
}

/** `docker exec` in a container of the host's own engine; resolves with stdout+stderr, never rejects. */
function execIn(host: LabHost, container: string, script: string, timeoutMs = 15_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(DOCKER, ['-H', `unix://${host.dockerSocket}`, 'exec', container, 'sh', '-c', script], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

/** The running container of a job's task on a host. */
async function containerOf(host: LabHost, job: string, task: string, allocId?: string): Promise<string> {
  const list = await host.docker.listContainers({ filters: { label: [`karu.job=${job}`, `karu.task=${task}`, ...(allocId ? [`karu.alloc=${allocId}`] : [])] } });
  if (!list[0]) throw new Error(`no running ${job}/${task} container on ${host.name}`);
  return list[0].Id;
}

/** GET through host1's ingress from the root namespace (Host header set by hand). */
function viaIngress(address: string, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port: INGRESS_PORT, path, headers: { host }, agent: false, timeout: 5_000 }, (res) => {
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

/** The alloc ids answering `n` requests in a row through the ingress. */
async function idsViaIngress(lab: Lab, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await viaIngress(lab.host(1).address, '/cgi-bin/echo', ECHO_HOST);
    assert.equal(r.status, 200, r.body);
    ids.push(/id=(\S+)/.exec(r.body)?.[1] ?? `?${r.body}`);
  }
  return ids;
}

/** The alloc ids answering `n` connections to `echo:8080` from the client container. */
async function idsViaVip(lab: Lab, client: string, n: number): Promise<string[]> {
  const r = await execIn(lab.host(1), client, `for i in $(seq ${n}); do printf 'GET /cgi-bin/echo HTTP/1.0\\r\\n\\r\\n' | nc -w 5 echo 8080 | grep '^id='; done`);
  return [...r.out.matchAll(/id=(\S+)/g)].map((m) => m[1]!);
}

async function echoService(lab: Lab): Promise<CatalogService | undefined> {
  const catalog = await lab.client.catalog();
  return catalog.services.find((s) => s.namespace === 'default' && s.name === 'echo');
}

describe('lab networking: discovery by name across hosts, pods, ingress with the client IP', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  let echoAllocs: string[] = [];
  let client = '';

  before(async () => {
    lab = await Lab.start({ hosts: 2, name: 'networking', agentArgs: (h) => (h.index === 1 ? ['--ingress', '--ingress-http', String(INGRESS_PORT)] : []) });
    try {
      await lab.client.registerJob(echoJob());
      await lab.client.registerJob(clientJob());
      await eventually(
        'echo (2 on host2) and client (1 on host1) running, echo healthy in the catalog',
        async () => {
          const echo = runningAllocs(await lab!.client.listAllocations({ job: 'echo' }));
          const cl = runningAllocs(await lab!.client.listAllocations({ job: 'client' }));
          const svc = await echoService(lab!);
          return echo.length === 2 && echo.every((a) => a.nodeName === 'host2') && cl.length === 1 && svc?.endpoints.filter((e) => e.healthy).length === 2;
        },
        DEPLOY_BOUND_MS,
        500,
      );
      echoAllocs = runningAllocs(await lab.client.listAllocations({ job: 'echo' })).map((a) => a.id);
      client = await containerOf(lab.host(1), 'client', 'sh');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
  after(async () => {
    await lab?.stop();
  });

  test('the catalog lists echo with a VIP and both endpoints on host2', async () => {
    const svc = (await echoService(lab!))!;
    assert.match(svc.vip, /^10\.99\.\d+\.\d+$/);
    assert.equal(svc.port, 8080);
    assert.deepEqual(svc.endpoints.map((e) => e.address), [lab!.host(2).address, lab!.host(2).address]);
    assert.deepEqual(svc.endpoints.map((e) => e.allocId).sort(), [...echoAllocs].sort());
  });

  test("(e) the node's DNS answers A with the VIP and SRV with every healthy endpoint", async () => {
    try {
      const svc = (await echoService(lab!))!;
      const conf = await execIn(lab!.host(1), client, 'cat /etc/resolv.conf');
      assert.match(conf.out, /nameserver 10\.99\.0\.1/, conf.out);
      assert.match(conf.out, /search .*default\.karu/, conf.out);
      const a = await execIn(lab!.host(1), client, 'nslookup echo.default.karu');
      assert.ok(a.out.includes(svc.vip), a.out);
      const srv = await execIn(lab!.host(1), client, 'nslookup -type=SRV _echo._tcp.default.karu');
      for (const ep of svc.endpoints) assert.ok(srv.out.includes(String(ep.port)), `SRV lacks port ${ep.port}:\n${srv.out}`);
      const nx = await execIn(lab!.host(1), client, 'nslookup nope.default.karu');
      assert.match(nx.out, /NXDOMAIN|can't find/i, nx.out);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('(a) a container on host1 reaches echo on host2 by NAME and NAME.NAMESPACE.karu, balanced over both', async () => {
    try {
      const full = await execIn(lab!.host(1), client, `printf 'GET /cgi-bin/echo HTTP/1.0\\r\\n\\r\\n' | nc -w 5 echo.default.karu 8080`);
      assert.match(full.out, /id=alloc_/, full.out);
      const ids = await idsViaVip(lab!, client, 6);
      assert.equal(ids.length, 6, `6 answers by bare name: ${ids.join(' ')}`);
      assert.deepEqual([...new Set(ids)].sort(), [...echoAllocs].sort(), 'both instances answer');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test("(c) host1's ingress serves the app on host2 and the app sees the client's IP", async () => {
    try {
      const r = await viaIngress(lab!.host(1).address, '/cgi-bin/echo', ECHO_HOST);
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, new RegExp(`xff=${lab!.bridgeIp.replace(/\./g, '\\.')}\\b`), r.body);
      const unknown = await viaIngress(lab!.host(1).address, '/', 'nobody.lab.test');
      assert.equal(unknown.status, 404);
      const ids = await idsViaIngress(lab!, 6);
      assert.deepEqual([...new Set(ids)].sort(), [...echoAllocs].sort(), 'both instances answer');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('(d) an endpoint failing its check leaves rotation (VIP and ingress) and comes back when it passes', async () => {
    try {
      const [sick, well] = echoAllocs as [string, string];
      const sickContainer = await containerOf(lab!.host(2), 'echo', 'server', sick);
      await execIn(lab!.host(2), sickContainer, 'rm /www/ok.txt');
      await eventually('the failing endpoint unhealthy in the catalog', async () => (await echoService(lab!))?.endpoints.find((e) => e.allocId === sick)?.healthy === false, ROTATION_BOUND_MS, 250);
      // Each node's table follows the catalog a moment later.
      await eventually('only the healthy instance answers through the ingress', async () => (await idsViaIngress(lab!, 6)).every((id) => id === well), ROTATION_BOUND_MS, 500);
      await eventually('only the healthy instance answers on the VIP', async () => {
        const ids = await idsViaVip(lab!, client, 6);
        return ids.length === 6 && ids.every((id) => id === well);
      }, ROTATION_BOUND_MS, 500);
      await execIn(lab!.host(2), sickContainer, 'echo ok > /www/ok.txt');
      await eventually('both instances answer again', async () => new Set(await idsViaIngress(lab!, 8)).size === 2, ROTATION_BOUND_MS, 500);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test("(d) killing an endpoint's container takes it out of rotation until it is back", async () => {
    try {
      const [, victim] = echoAllocs as [string, string];
      const container = await containerOf(lab!.host(2), 'echo', 'server', victim);
      await lab!.host(2).docker.getContainer(container).kill();
      // The restart waits 20 s: meanwhile no request may go to the dead instance.
      await eventually('the killed endpoint unhealthy in the catalog', async () => (await echoService(lab!))?.endpoints.find((e) => e.allocId === victim)?.healthy !== true, ROTATION_BOUND_MS, 250);
      await eventually('requests through the ingress all succeed on the other instance', async () => (await idsViaIngress(lab!, 6)).every((id) => id !== victim), ROTATION_BOUND_MS, 500);
      await eventually('the restarted instance back in rotation', async () => new Set(await idsViaIngress(lab!, 8)).size === 2, 60_000, 1_000);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test("(b) a pod's two tasks talk over localhost and share a volume", async () => {
    try {
      await lab!.client.registerJob(podJob());
      await eventually('the pod running', async () => runningAllocs(await lab!.client.listAllocations({ job: 'pod' })).length === 1, DEPLOY_BOUND_MS, 500);
      const writer = await containerOf(lab!.host(1), 'pod', 'writer');
      // The writer asks the server task on localhost for the file the writer itself put in the volume.
      const r = await eventually('the server task to answer on localhost', async () => {
        const res = await execIn(lab!.host(1), writer, `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080`);
        return res.out.includes('from-the-writer') ? res : undefined;
      }, 30_000, 500);
      assert.match(r.out, /200 OK/);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('(f) the pod keeps running across a restart of its agent, and is reachable by name again after it', async (t) => {
    try {
      const host = lab!.host(1);
      const byName = async () => (await execIn(host, client, `printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 podweb 8080`)).out.includes('from-the-writer');
      await eventually('the client to reach the pod by name', byName, ROTATION_BOUND_MS, 500);
      const podContainers = async () => (await host.docker.listContainers({ all: true, filters: { label: ['karu.job=pod'] } })).map((c) => `${c.Labels['karu.task']} ${c.Id} ${c.State}`).sort();
      const before = await podContainers();
      assert.equal(before.length, 3, `pause, server, writer: ${before.join(', ')}`);
      const [alloc] = runningAllocs(await lab!.client.listAllocations({ job: 'pod' }));

      await lab!.killAgent(host);
      await lab!.startAgent(host);
      // The data plane lives in the agent: names resolve again once it has followed the catalog.
      const start = Date.now();
      await eventually('the client to reach the pod by name after the agent restart', byName, ROTATION_BOUND_MS, 250);
      t.diagnostic(`reachable by name ${Date.now() - start} ms after the restarted agent was ready`);
      assert.deepEqual(await podContainers(), before, 'the same three containers, still running: reattached, not restarted');
      const after = (await lab!.client.listAllocations({ job: 'pod' })).find((a) => a.id === alloc!.id)!;
      assert.equal(after.clientStatus, 'running');
      for (const task of ['server', 'writer']) assert.equal(after.taskStates[task]?.restarts, 0, `${task} was not restarted`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
