/**
 * End-to-end with the node's data plane, as `karu dev` runs it by default: the quick
 * start's examples/hello.yaml (a service `hello` with an http check and an ingress `/`)
 * on a real Docker Engine. Shows the catalog (`karu service show`), the ingress, discovery
 * by name from a container Karu started, and a stopped copy leaving rotation.
 *
 * The data plane runs in the root namespace: `karu0` (kept after the test, as designed;
 * see networking.md §4), DNS on 10.99.0.1:53, the ingress on a port of its own here so a
 * quick start on 8080 is left alone. The VIPs this test adds go with its jobs.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { AllocView } from '../../src/core/alloc.js';
import type { CatalogService } from '../../src/core/service.js';
import { shortId } from '../../src/lib/ids.js';
import { DevCluster, docker, dockerAvailable, eventually, freePort, httpGet, ROOT } from './harness.js';

const exec = promisify(execFile);
const HELLO = join(ROOT, 'examples/hello.yaml');

/** A busybox shell that stays up (and stops at once on SIGTERM, which busybox as PID 1 ignores by default). */
const CLIENT = `
name: e2e-dp-client
type: service
groups:
  - name: c
    count: 1
    tasks:
      - name: sh
        image: karu/busybox:1
        command: sh
        args: ["-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
        resources: { cpu: 20, memory: 8 }
`;

const running = (allocs: AllocView[]) => allocs.filter((a) => a.desiredStatus === 'run' && a.clientStatus === 'running');

/** The addresses on karu0 (empty when there is none). */
async function karu0Addresses(): Promise<string[]> {
  const r = await exec('ip', ['-o', '-4', 'addr', 'show', 'dev', 'karu0']).catch(() => ({ stdout: '' }));
  return [...r.stdout.matchAll(/inet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1]!);
}

/** `docker exec` in a container: stdout+stderr, never rejects. */
async function execIn(container: string, script: string): Promise<string> {
  const r = await exec('docker', ['exec', container, 'sh', '-c', script], { timeout: 15_000 }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }));
  return `${r.stdout}${r.stderr}`;
}

const canRun = dockerAvailable() && process.getuid?.() === 0;

describe('karu dev with its data plane: services, ingress and names', { skip: !canRun && 'needs root (karu0, DNS on :53) and a Docker Engine at /var/run/docker.sock' }, () => {
  const dev = new DevCluster();
  let ingressPort = 0;
  let hello: CatalogService | undefined;

  const service = async () => (await dev.client.catalog()).services.find((s) => s.namespace === 'default' && s.name === 'hello');

  before(async () => {
    ingressPort = await freePort();
    await dev.start(['--ingress-http', String(ingressPort)]);
    // The data plane never stops the agent: a port it could not take is only a warning.
    assert.doesNotMatch(dev.output, /cannot (start|set up)/, `the data plane did not come up whole:\n${dev.output}`);
  });

  after(async () => {
    const vip = hello?.vip;
    await dev.karu(['stop', 'hello', '--purge'], { allowFail: true });
    await dev.karu(['stop', 'e2e-dp-client', '--purge'], { allowFail: true });
    // The agent takes a freed service's VIP off karu0 once the catalog says so.
    if (vip) await eventually(`VIP ${vip} off karu0`, async () => !(await karu0Addresses()).includes(vip), 30_000, 250).catch(() => undefined);
    await dev.destroy();
  });

  test('karu service show hello lists 2 healthy endpoints', async () => {
    assert.equal((await dev.karu(['deploy', HELLO, '--timeout', '90s'])).code, 0);
    // The check runs every 5 s: a copy is healthy after its first pass.
    await eventually('2 healthy hello endpoints', async () => (await service())?.endpoints.filter((e) => e.healthy).length === 2, 30_000, 250);
    hello = await service();
    assert.match(hello!.vip, /^10\.99\.\d+\.\d+$/);
    assert.ok((await karu0Addresses()).includes(hello!.vip), 'the VIP is on karu0');
    const out = (await dev.karu(['service', 'show', 'hello'])).stdout;
    assert.match(out, /Healthy\s+=?\s*2\/2 endpoints/, out);
    assert.match(out, new RegExp(`VIP\\s+=?\\s*${hello!.vip.replace(/\./g, '\\.')}:8080`), out);
    const endpoints = out.split('\n').filter((l) => /^\S+\s+\S+\s+127\.0\.0\.1:\d+\s+healthy\b/.test(l.trim()));
    assert.equal(endpoints.length, 2, out);
  });

  test('the ingress answers / with a copy of hello', async () => {
    const res = await eventually('the ingress to route /', () => httpGet(`http://127.0.0.1:${ingressPort}/`).then((r) => (r.status === 200 ? r : undefined)).catch(() => undefined), 20_000, 250);
    assert.match(res.body, /hello from karu/);
    const ingress = (await dev.karu(['ingress', 'ls'])).stdout;
    assert.match(ingress, /hello/, ingress);
  });

  test('a container Karu started reaches hello:8080 by name', async () => {
    const file = dev.writeJob('client', CLIENT);
    assert.equal((await dev.karu(['deploy', file, '--timeout', '90s'])).code, 0);
    const [alloc] = running(await dev.client.listAllocations({ job: 'e2e-dp-client' }));
    const container = alloc!.taskStates.sh!.containerId!;
    const conf = await execIn(container, 'cat /etc/resolv.conf');
    assert.match(conf, /nameserver 10\.99\.0\.1/, conf);
    assert.match(conf, /search .*default\.karu/, conf);
    const out = await eventually('hello:8080 to answer by name', async () => {
      const r = await execIn(container, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 hello 8080`);
      return r.includes('hello from karu') ? r : undefined;
    }, 20_000, 500);
    assert.match(out, /200 OK/);
    const full = await execIn(container, `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 hello.default.karu 8080`);
    assert.match(full, /hello from karu/, full);
  });

  test("stopping one copy's container shows it unhealthy in karu service show", async () => {
    const [victim] = running(await dev.client.listAllocations({ job: 'hello' }));
    await docker.getContainer(victim!.taskStates.server!.containerId!).kill();
    // The restart waits 15 s (the default policy): meanwhile the copy is out of rotation.
    const out = await eventually('the stopped copy unhealthy in karu service show', async () => {
      const text = (await dev.karu(['service', 'show', 'hello'])).stdout;
      return /Healthy\s+=?\s*1\/2 endpoints/.test(text) ? text : undefined;
    }, 20_000, 250);
    const line = out.split('\n').find((l) => /\bunhealthy\b/.test(l));
    assert.ok(line?.includes(shortId(victim!.id)), `the unhealthy endpoint is the stopped copy:\n${out}`);
    // The ingress keeps answering from the other copy.
    assert.equal((await httpGet(`http://127.0.0.1:${ingressPort}/`)).status, 200);
  });
});
