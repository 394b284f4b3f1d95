import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../lib/clock.js';
import { seededRng } from '../lib/rng.js';
import { silentLogger } from '../lib/logger.js';
import { WorkQueue } from './work-queue.js';

const deps = (clock = new FakeClock()) => ({ clock, rng: seededRng(1), logger: silentLogger() });

test('a key added many times before it runs is processed once', async () => {
  const seen: string[] = [];
  const q = new WorkQueue('t', async (k) => void seen.push(k), { ...deps(), workers: 1 });
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  await q.idle();
  assert.deepEqual(seen, ['a', 'b']);
});

test('a key is never processed by two workers at once, and is re-run when added meanwhile', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(
    't',
    async () => {
      running++;
      runs++;
      maxRunning = Math.max(maxRunning, running);
      if (runs === 1) await gate;
      running--;
    },
    { ...deps(), workers: 4 },
  );
  q.add('job');
  await new Promise((r) => setImmediate(r));
  q.add('job');
  q.add('job');
  release();
  await q.idle();
  await new Promise((r) => setImmediate(r));
  await q.idle();
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2);
});

test('a failing key is retried with backoff on the clock', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue(
    't',
    async () => {
      calls++;
      if (calls < 3) throw new Error('boom');
    },
    { ...deps(clock), workers: 1 },
  );
  q.add('k');
  await q.idle();
  assert.equal(calls, 1);
  clock.advance(1_000);
  await q.idle();
  clock.advance(1_000);
  await q.idle();
  assert.equal(calls, 3);
  clock.advance(60_000);
  await q.idle();
  assert.equal(calls, 3, 'no retry after success');
});

test('a non-retryable error is not retried', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue(
    't',
    async () => {
      calls++;
      throw Object.assign(new Error('terminal'), { retryable: false });
    },
    { ...deps(clock), workers: 1 },
  );
  q.add('k');
  await q.idle();
  clock.advance(60_000);
  await q.idle();
  assert.equal(calls, 1);
});

test('requeueAfterMs brings the key back after that time', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue('t', async () => (++calls === 1 ? { requeueAfterMs: 500 } : undefined), { ...deps(clock), workers: 1 });
  q.add('k');
  await q.idle();
  clock.advance(499);
  await q.idle();
  assert.equal(calls, 1);
  clock.advance(1);
  await q.idle();
  assert.equal(calls, 2);
});

test('keys are handed out highest priority first, first come first served among equals', async () => {
  const seen: string[] = [];
  const priority: Record<string, number> = { low: 10, mid: 50, mid2: 50, high: 90 };
  const q = new WorkQueue('t', async (k) => void seen.push(k), { ...deps(), workers: 1, priorityOf: (k) => priority[k] ?? 0 });
  for (const k of ['low', 'mid', 'high', 'mid2', 'low']) q.add(k);
  assert.equal(q.length, 4);
  await q.idle();
  assert.deepEqual(seen, ['high', 'mid', 'mid2', 'low']);
});

test('priorities keep coalescing: a key re-added at a higher priority moves up and runs once', async () => {
  const seen: string[] = [];
  const priority: Record<string, number> = { a: 10, b: 50 };
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new WorkQueue(
    't',
    async (k) => {
      seen.push(k);
      if (k === 'first') await gate;
    },
    { ...deps(), workers: 1, priorityOf: (k) => priority[k] ?? 100 },
  );
  q.add('first');
  await new Promise((r) => setImmediate(r)); // 'first' holds the only worker
  q.add('a');
  q.add('b');
  priority.a = 90; // the job's priority was raised meanwhile
  q.add('a');
  q.add('b');
  assert.equal(q.length, 2);
  release();
  await q.idle();
  assert.deepEqual(seen, ['first', 'a', 'b']);
});
