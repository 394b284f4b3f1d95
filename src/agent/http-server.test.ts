import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AllocId } from '../core/ids.js';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { FakeDriver } from '../driver/fake/fake-driver.js';
import { Agent } from './agent.js';
import { resolveAgentConfig } from './config.js';
import { startAgentHttpServer } from './http-server.js';
import { advance, aGroup, anAlloc, aTask, FakeAgentServer } from './testing.js';

const ONE = 'alloc_01hzzzzzzzaaaaaaaaaaaaaaaa' as AllocId;
const TWO = 'alloc_01hzzzzzzzbbbbbbbbbbbbbbbb' as AllocId;

async function setup() {
  const clock = new FakeClock();
  const driver = new FakeDriver({ clock });
  const server = new FakeAgentServer(clock);
  const dataDir = await mkdtemp(join(tmpdir(), 'karu-agent-http-'));
  const config = resolveAgentConfig({ serverUrl: 'http://127.0.0.1:1', dataDir, address: '127.0.0.1' });
  const agent = new Agent({ config, driver, server, agentUrl: 'http://127.0.0.1:2', clock, rng: seededRng(1) });
  await agent.start();
  await agent.whenSynced();
  const chatty = aTask({ name: 'web', command: 'sh', args: ['-c', 'echo one; echo two >&2; echo three; sleep 1000'] });
  server.place(anAlloc(agent.nodeId!, { id: ONE }), aGroup({ tasks: [chatty] }));
  server.place(anAlloc(agent.nodeId!, { id: TWO }), aGroup({ tasks: [aTask({ name: 'a' }), aTask({ name: 'b' })] }));
  await advance(clock, 200);
  const http = await startAgentHttpServer({ source: agent, port: 0 });
  const get = (path: string, token: string | undefined = server.serverToken, signal?: AbortSignal) =>
    fetch(http.url + path, { headers: token ? { 'x-karu-server-token': token } : {}, ...(signal ? { signal } : {}) });
  return {
    driver,
    get,
    async done() {
      await http.close();
      await agent.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

type Json = { code?: string; message?: string; driver?: unknown };
const json = async (res: Response) => (await res.json()) as Json;
const ndjson = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));

test('logs stream as NDJSON, with tail, for the only task by default', async () => {
  const s = await setup();
  try {
    const res = await s.get(`/v1/agent/allocations/${ONE}/logs`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    assert.deepEqual(ndjson(await res.text()), [
      { stream: 'stdout', line: 'one' },
      { stream: 'stderr', line: 'two' },
      { stream: 'stdout', line: 'three' },
    ]);
    const tail = await s.get(`/v1/agent/allocations/${ONE}/logs?tail=1`);
    assert.deepEqual(ndjson(await tail.text()), [{ stream: 'stdout', line: 'three' }]);
  } finally {
    await s.done();
  }
});

test('follow keeps streaming new lines until the reader goes away', async () => {
  const s = await setup();
  try {
    const abort = new AbortController();
    const res = await s.get(`/v1/agent/allocations/${ONE}/logs?follow=true&tail=0`, undefined, abort.signal);
    const reader = res.body!.getReader();
    s.driver.writeLog({ allocId: ONE, task: 'web' }, 'later');
    const { value } = await reader.read();
    assert.deepEqual(ndjson(new TextDecoder().decode(value)), [{ stream: 'stdout', line: 'later' }]);
    abort.abort();
  } finally {
    await s.done();
  }
});

test('a wrong or missing token is refused; unknown allocs are 404; several tasks need ?task=', async () => {
  const s = await setup();
  try {
    assert.equal((await s.get(`/v1/agent/allocations/${ONE}/logs`, 'wrong')).status, 401);
    assert.equal((await s.get('/v1/agent/health', '')).status, 401);
    const health = await s.get('/v1/agent/health');
    assert.equal(health.status, 200);
    assert.deepEqual((await json(health)).driver, { healthy: true, detail: 'fake driver healthy' });
    const missing = await s.get('/v1/agent/allocations/alloc_nope/logs');
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).code, 'NOT_FOUND');
    const ambiguous = await s.get(`/v1/agent/allocations/${TWO}/logs`);
    assert.equal(ambiguous.status, 400);
    assert.match((await json(ambiguous)).message ?? '', /a, b/);
    assert.equal((await s.get(`/v1/agent/allocations/${TWO}/logs?task=b`)).status, 200);
  } finally {
    await s.done();
  }
});
