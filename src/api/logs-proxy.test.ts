import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../core/ids.js';
import type { ApiErrorBody } from '../client/types.js';
import { allocIdFor, anAlloc, aNode } from './testing/fake-control-plane.js';
import { setup } from './testing/harness.js';

type ErrorBody = ApiErrorBody & { details: Record<string, unknown> };

const NODE = 'node_01hx0000000000000000000001' as NodeId;
const ALLOC = allocIdFor('logme');

/** A fake agent: records each call and answers with a stream the test writes to. */
function fakeAgent() {
  const calls: { url: string; headers: Headers; signal: AbortSignal | undefined }[] = [];
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  const fetchAgent = (async (input: string | URL | Request, init?: RequestInit) => {
    calls.push({ url: String(input), headers: new Headers(init?.headers), signal: init?.signal ?? undefined });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        stream = c;
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'application/x-ndjson' } });
  }) as typeof fetch;
  const enc = new TextEncoder();
  return {
    calls,
    fetchAgent,
    write: (line: object) => stream.enqueue(enc.encode(JSON.stringify(line) + '\n')),
    end: () => stream.close(),
  };
}

function withAlloc(fetchAgent: typeof fetch, endpoint: { url: string; token: string } | null = { url: 'http://10.0.0.1:4647/', token: 'tok' }) {
  const s = setup({ fetchAgent });
  s.cp.state.putNode(aNode());
  s.cp.state.putAlloc(anAlloc({ id: ALLOC, nodeId: NODE, clientStatus: 'running' }));
  if (endpoint) s.cp.endpoints.set(NODE, endpoint);
  return s;
}

async function readChunk(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  const { value } = await reader.read();
  return new TextDecoder().decode(value);
}

test('logs are streamed from the agent unchanged, with the server token and the query passed on', async () => {
  const agent = fakeAgent();
  const { app } = withAlloc(agent.fetchAgent);
  const res = await app.request(`/v1/allocations/logme/logs?task=server&follow=true&tail=50`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /ndjson/);
  assert.equal(agent.calls.length, 1);
  const call = agent.calls[0]!;
  const url = new URL(call.url);
  assert.equal(url.origin + url.pathname, `http://10.0.0.1:4647/v1/agent/allocations/${ALLOC}/logs`);
  assert.deepEqual(Object.fromEntries(url.searchParams), { task: 'server', follow: 'true', tail: '50' });
  assert.equal(call.headers.get('x-karu-server-token'), 'tok');

  agent.write({ stream: 'stdout', line: 'hello' });
  agent.write({ stream: 'stderr', line: 'oops' });
  agent.end();
  assert.equal(await res.text(), '{"stream":"stdout","line":"hello"}\n{"stream":"stderr","line":"oops"}\n');
});

test('when the client disconnects, the upstream request to the agent is aborted', async () => {
  const agent = fakeAgent();
  const { app } = withAlloc(agent.fetchAgent);
  const ac = new AbortController();
  const res = await app.request(`/v1/allocations/${ALLOC}/logs?follow=true`, { signal: ac.signal });
  const reader = res.body!.getReader();
  agent.write({ stream: 'stdout', line: 'first' });
  assert.match(await readChunk(reader), /first/);
  const upstream = agent.calls[0]!.signal!;
  assert.equal(upstream.aborted, false);
  ac.abort();
  assert.equal(upstream.aborted, true);
});

test('cancelling the response body also aborts the upstream request', async () => {
  const agent = fakeAgent();
  const { app } = withAlloc(agent.fetchAgent);
  const res = await app.request(`/v1/allocations/${ALLOC}/logs?follow=true`);
  const reader = res.body!.getReader();
  agent.write({ stream: 'stdout', line: 'first' });
  await readChunk(reader);
  await reader.cancel();
  assert.equal(agent.calls[0]!.signal!.aborted, true);
});

test('an unreachable agent answers 503 UNAVAILABLE naming the node', async () => {
  const refused = (async () => {
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
  }) as typeof fetch;
  const { app } = withAlloc(refused);
  const res = await app.request(`/v1/allocations/${ALLOC}/logs`);
  assert.equal(res.status, 503);
  const body = (await res.json()) as ErrorBody;
  assert.equal(body.code, 'UNAVAILABLE');
  assert.match(body.message, new RegExp(NODE));
  assert.match(body.message, /ECONNREFUSED/);
});

test('a node without an agent endpoint answers 503; an unknown alloc 404s without calling any agent', async () => {
  const agent = fakeAgent();
  const { app } = withAlloc(agent.fetchAgent, null);
  const res = await app.request(`/v1/allocations/${ALLOC}/logs`);
  assert.equal(res.status, 503);
  assert.match(((await res.json()) as ErrorBody).message, new RegExp(NODE));

  const missing = await app.request('/v1/allocations/nothere/logs');
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as ErrorBody).message, /nothere/);
  assert.equal(agent.calls.length, 0);
});

test("the agent's own 404 (no such task) passes through; its other failures become 503", async () => {
  let answer = new Response(JSON.stringify({ code: 'NOT_FOUND', message: "task 'nope' not found in allocation", details: {} }), { status: 404 });
  const { app } = withAlloc((async () => answer) as typeof fetch);
  const notFound = await app.request(`/v1/allocations/${ALLOC}/logs?task=nope`);
  assert.equal(notFound.status, 404);
  assert.match(((await notFound.json()) as ErrorBody).message, /task 'nope'/);

  answer = new Response(JSON.stringify({ code: 'UNAUTHORIZED', message: 'bad server token', details: {} }), { status: 401 });
  const refused = await app.request(`/v1/allocations/${ALLOC}/logs`);
  assert.equal(refused.status, 503, "the agent refusing the server is not the user's fault");
});

test('logs query parameters are validated', async () => {
  const { app } = withAlloc(fakeAgent().fetchAgent);
  const res = await app.request(`/v1/allocations/${ALLOC}/logs?tail=-5`);
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as ErrorBody).message, "query parameter 'tail' must be a non-negative integer");
});
