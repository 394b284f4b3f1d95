import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Semaphore } from './semaphore.js';

test('never more than the limit at once, all complete, FIFO', async () => {
  const sem = new Semaphore(3);
  let active = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      sem.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setImmediate(r));
        order.push(i);
        active--;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(sem.inUse, 0);
});

test('a failing operation releases its slot', async () => {
  const sem = new Semaphore(1);
  await assert.rejects(sem.run(async () => Promise.reject(new Error('x'))));
  assert.equal(await sem.run(async () => 42), 42);
});

test('a limit below 1 is refused', () => {
  assert.throws(() => new Semaphore(0), /≥ 1/);
});
