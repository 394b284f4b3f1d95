import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import type { AllocatedPort } from '../../core/alloc.js';
import type { AllocId } from '../../core/ids.js';
import type { Check, Service } from '../../core/job.js';
import type { CheckResult } from '../../core/service.js';
import type { Driver, ExecResult, TaskHandle } from '../../driver/driver.js';
import { DriverError } from '../../driver/driver.js';
import { FakeClock } from '../../lib/clock.js';
import { settle } from '../testing.js';
import { AllocChecks } from './alloc-checks.js';

const ALLOC_ID = 'alloc_01hzzzzzzzabcdefgh12345678' as AllocId;

const aService = (checks: Check[], over: Partial<Service> = {}): Service => ({ name: 'web', portLabel: 'http', task: 'app', tags: [], checks, ingress: [], ...over });
const aPort = (host: number): AllocatedPort => ({ task: 'app', label: 'http', host, to: 8080 });
const handle: TaskHandle = { id: 'c1', labels: { nodeId: 'node_1', allocId: ALLOC_ID, jobName: 'shop', namespace: 'default', group: 'app', task: 'app' } };

/** A Driver whose only working method is `exec`, answered by `fn`. */
function execDriver(fn: (command: string[]) => Promise<ExecResult>): Driver & { calls: string[][] } {
  const calls: string[][] = [];
  return { calls, exec: (_h: TaskHandle, command: string[]) => (calls.push(command), fn(command)) } as unknown as Driver & { calls: string[][] };
}
const noExec = execDriver(() => Promise.reject(new DriverError('exec is not supported', false)));

/** Collects onChange calls; `next()` resolves with the next one (real sockets answer in their own time). */
function changes() {
  const seen: Record<string, CheckResult>[] = [];
  let waiter: ((r: Record<string, CheckResult>) => void) | undefined;
  return {
    seen,
    onChange: (r: Record<string, CheckResult>) => {
      seen.push(r);
      const w = waiter;
      waiter = undefined;
      w?.(r);
    },
    next: () => new Promise<Record<string, CheckResult>>((resolve) => (waiter = resolve)),
  };
}

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createHttpServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function closedPort(): Promise<number> {
  const s: Server = createTcpServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('http: healthy on the expected status, unhealthy within one interval once it answers 503', async (t) => {
  let status = 200;
  const paths: string[] = [];
  const { server, port } = await httpServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(status).end('body that is read and discarded');
  });
  t.after(() => server.close());
  const clock = new FakeClock();
  const c = changes();
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [aPort(port)] },
    services: [aService([{ type: 'http', path: '/health', expectStatus: 200, intervalMs: 10_000, timeoutMs: 2_000 }])],
    node: { address: '127.0.0.1' },
    driver: noExec,
    clock,
    taskHandle: () => handle,
    onChange: c.onChange,
  });
  let next = c.next();
  checks.start();
  assert.deepEqual(await next, { web: { healthy: false, output: 'waiting for the first check', since: clock.now() } });
  next = c.next();
  assert.deepEqual((await next).web, { healthy: true, output: 'http GET /health: status 200', since: clock.now() });
  assert.deepEqual(paths, ['/health']);

  status = 503;
  next = c.next();
  clock.advance(10_000); // the next run is due within one interval (jitter only shortens it)
  const failed = (await next).web;
  assert.deepEqual(failed, { healthy: false, output: 'http GET /health: status 503 (want 200)', since: clock.now() });
  assert.deepEqual(checks.results, { web: failed });
  checks.stop();
  assert.equal(clock.pendingTimers, 0);
});

test('tcp: a closed port fails with the reason, an open one passes', async (t) => {
  const port = await closedPort();
  const clock = new FakeClock();
  const c = changes();
  const services = [aService([{ type: 'tcp', intervalMs: 5_000, timeoutMs: 1_000 }])];
  const checks = new AllocChecks({ alloc: { id: ALLOC_ID, ports: [aPort(port)] }, services, node: { address: '127.0.0.1' }, driver: noExec, clock, taskHandle: () => handle, onChange: c.onChange });
  checks.start();
  assert.deepEqual((await c.next()).web, { healthy: false, output: `tcp 127.0.0.1:${port}: ECONNREFUSED`, since: clock.now() });
  checks.stop();

  const listener = createTcpServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.after(() => listener.close());
  const open = (listener.address() as AddressInfo).port;
  const c2 = changes();
  const ok = new AllocChecks({ alloc: { id: ALLOC_ID, ports: [aPort(open)] }, services, node: { address: '127.0.0.1' }, driver: noExec, clock, taskHandle: () => handle, onChange: c2.onChange });
  ok.start();
  assert.deepEqual((await c2.next()).web, { healthy: true, output: `tcp 127.0.0.1:${open}: connected`, since: clock.now() });
  ok.stop();
});

test('exec: exit 0 passes; a non-zero exit, a stopped task and a driver error fail with one line', async () => {
  const clock = new FakeClock();
  let answer: ExecResult = { exitCode: 0, output: 'accepting connections\n' };
  const driver = execDriver(async () => answer);
  let running: TaskHandle | undefined = handle;
  const c = changes();
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [] },
    services: [aService([{ type: 'exec', task: 'db', command: ['pg_isready'], intervalMs: 1_000, timeoutMs: 500 }], { name: 'db' })],
    node: { address: '127.0.0.1' },
    driver,
    clock,
    taskHandle: (task) => (task === 'db' ? running : undefined),
    onChange: c.onChange,
  });
  checks.start();
  await settle();
  assert.deepEqual(checks.results.db, { healthy: true, output: 'exec [pg_isready]: exit 0', since: clock.now() });
  assert.deepEqual(driver.calls, [['pg_isready']]);

  answer = { exitCode: 1, output: '\n/tmp:5432 - no response\nsecond line' };
  clock.advance(1_000);
  await settle();
  assert.equal(checks.results.db?.output, 'exec [pg_isready]: exit 1: /tmp:5432 - no response');
  assert.equal(checks.results.db?.healthy, false);

  running = undefined;
  clock.advance(1_000);
  await settle();
  assert.equal(checks.results.db?.output, 'exec [pg_isready]: task db is not running');

  running = handle;
  answer = { exitCode: 0, output: '' };
  clock.advance(1_000);
  await settle();
  assert.equal(checks.results.db?.healthy, true);
  const changedAt = checks.results.db?.since;
  assert.equal(changedAt, clock.now(), 'since is when healthy flipped');
  clock.advance(1_000);
  await settle();
  assert.equal(checks.results.db?.since, changedAt, 'a passing run does not move since');
  assert.deepEqual(c.seen.map((r) => r.db?.healthy), [false, true, false, false, true], 'one notification per change, none for a repeat');
  checks.stop();
});

test('a service with no checks is healthy as soon as start() is called', () => {
  const clock = new FakeClock();
  const c = changes();
  const checks = new AllocChecks({ alloc: { id: ALLOC_ID, ports: [] }, services: [aService([])], node: { address: '127.0.0.1' }, driver: noExec, clock, taskHandle: () => handle, onChange: c.onChange });
  assert.equal(checks.results.web?.healthy, false, 'not before start');
  checks.start();
  assert.deepEqual(c.seen, [{ web: { healthy: true, output: 'no checks', since: clock.now() } }]);
  checks.stop();
});

test('a service is healthy only when all its checks last passed; the failing one is named', async () => {
  const clock = new FakeClock();
  let exitCode = 0;
  const driver = execDriver(async () => ({ exitCode, output: 'down' }));
  const c = changes();
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [] },
    services: [aService([
      { type: 'exec', task: '', command: ['a'], intervalMs: 1_000, timeoutMs: 500 },
      { type: 'exec', task: '', command: ['b'], intervalMs: 3_000, timeoutMs: 500 },
    ])],
    node: { address: '127.0.0.1' },
    driver,
    clock,
    taskHandle: (task) => (task === 'app' ? handle : undefined), // '' → the service's task
    onChange: c.onChange,
  });
  checks.start();
  await settle();
  assert.deepEqual(checks.results.web, { healthy: true, output: 'exec [a]: exit 0; exec [b]: exit 0', since: clock.now() });
  exitCode = 1;
  clock.advance(1_000); // only `a` is due
  await settle();
  assert.deepEqual(checks.results.web, { healthy: false, output: 'exec [a]: exit 1: down', since: clock.now() });
  checks.stop();
});

test('a check slower than its timeout fails with "timeout after"; runs never overlap', async () => {
  const clock = new FakeClock();
  const pending: ((r: ExecResult) => void)[] = [];
  const driver = execDriver(() => new Promise<ExecResult>((resolve) => pending.push(resolve)));
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [] },
    services: [aService([{ type: 'exec', task: 'app', command: ['slow'], intervalMs: 1_000, timeoutMs: 2_000 }])],
    node: { address: '127.0.0.1' },
    driver,
    clock,
    taskHandle: () => handle,
    onChange: () => {},
  });
  const started = clock.now();
  checks.start();
  await settle();
  clock.advance(1_999);
  await settle();
  assert.equal(driver.calls.length, 1, 'the next run waits for the one still out');
  clock.advance(1);
  await settle();
  clock.advance(0);
  assert.deepEqual(checks.results.web, { healthy: false, output: 'exec [slow]: timeout after 2s', since: started }, 'still unhealthy since start: since does not move');
  assert.equal(driver.calls.length, 2, 'overdue, so the next run starts at once');
  checks.stop();
});

test('an http check whose server never answers times out; stop() aborts it and cancels every timer', async (t) => {
  const open = new Set<IncomingMessage>();
  const closed: string[] = [];
  const { server, port } = await httpServer((req) => {
    open.add(req);
    req.socket.on('close', () => closed.push(req.url ?? ''));
  });
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const clock = new FakeClock();
  const c = changes();
  const services = [aService([{ type: 'http', path: '/slow', expectStatus: 200, intervalMs: 10_000, timeoutMs: 2_000 }])];
  const checks = new AllocChecks({ alloc: { id: ALLOC_ID, ports: [aPort(port)] }, services, node: { address: '127.0.0.1' }, driver: noExec, clock, taskHandle: () => handle, onChange: c.onChange });
  const started = clock.now();
  checks.start();
  while (open.size === 0) await new Promise((r) => setTimeout(r, 5));
  const next = c.next();
  clock.advance(2_000);
  assert.deepEqual((await next).web, { healthy: false, output: 'http GET /slow: timeout after 2s', since: started });
  while (closed.length === 0) await new Promise((r) => setTimeout(r, 5)); // the timed-out request was aborted

  // The second run is out when stop() comes: it is aborted, and nothing is reported after.
  clock.advance(8_000); // to 10 s: the second run is due (the jitter shortens the interval), its timeout not yet
  while (open.size < 2) await new Promise((r) => setTimeout(r, 5));
  const before = c.seen.length;
  checks.stop();
  assert.equal(clock.pendingTimers, 0);
  while (closed.length < 2) await new Promise((r) => setTimeout(r, 5));
  clock.advance(60_000);
  await settle();
  assert.equal(c.seen.length, before);
});

test('a missing port label fails the check with the reason', async () => {
  const clock = new FakeClock();
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [{ task: 'app', label: 'admin', host: 1, to: 2 }] },
    services: [aService([{ type: 'tcp', intervalMs: 1_000, timeoutMs: 500 }])],
    node: { address: '127.0.0.1' },
    driver: noExec,
    clock,
    taskHandle: () => handle,
    onChange: () => {},
  });
  checks.start();
  await settle();
  assert.deepEqual(checks.results.web, { healthy: false, output: 'tcp: the allocation has no port labelled http', since: clock.now() });
  checks.stop();
});

test('later runs come at most one interval apart, with seeded jitter', async () => {
  const clock = new FakeClock();
  const at: number[] = [];
  const driver = execDriver(async () => (at.push(clock.now()), { exitCode: 0, output: '' }));
  const checks = new AllocChecks({
    alloc: { id: ALLOC_ID, ports: [] },
    services: [aService([{ type: 'exec', task: 'app', command: ['true'], intervalMs: 5_000, timeoutMs: 1_000 }])],
    node: { address: '127.0.0.1' },
    driver,
    clock,
    taskHandle: () => handle,
    onChange: () => {},
  });
  const start = clock.now();
  checks.start();
  for (let i = 0; i < 60; i++) {
    await settle(5);
    clock.advance(500);
  }
  checks.stop();
  assert.equal(at[0], start, 'the first run at once');
  const gaps = at.slice(1).map((t, i) => t - at[i]!);
  assert.ok(gaps.length >= 5);
  for (const g of gaps) assert.ok(g > 4_000 && g <= 5_000, `gap ${g}`);
});
