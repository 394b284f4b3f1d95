import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskExit } from '../driver/driver.js';
import { decideRestart, describeExit, formatDuration } from './restart-policy.js';
import { aRestartPolicy } from './testing.js';

const exit = (exitCode: number, extra: Partial<TaskExit> = {}): TaskExit => ({ exitCode, signaled: false, oomKilled: false, finishedAt: 0, ...extra });
const now = 1_000_000;

test('a batch task that exits 0 is complete; one that fails is restarted', () => {
  const policy = aRestartPolicy();
  assert.deepEqual(decideRestart({ policy, jobType: 'batch', exit: exit(0), now, recentRestarts: [] }), { kind: 'complete' });
  assert.equal(decideRestart({ policy, jobType: 'batch', exit: exit(2), now, recentRestarts: [] }).kind, 'restart');
  assert.equal(decideRestart({ policy, jobType: 'batch', exit: exit(0, { signaled: true }), now, recentRestarts: [] }).kind, 'restart');
});

test('a service task is restarted whatever its exit code, until attempts within the interval run out', () => {
  const policy = aRestartPolicy({ attempts: 2, intervalMs: 60_000, delayMs: 5_000, mode: 'fail' });
  assert.deepEqual(decideRestart({ policy, jobType: 'service', exit: exit(0), now, recentRestarts: [] }), { kind: 'restart', delayMs: 5_000, message: 'Restarting in 5s' });
  assert.equal(decideRestart({ policy, jobType: 'service', exit: exit(1), now, recentRestarts: [now - 10] }).kind, 'restart');
  const d = decideRestart({ policy, jobType: 'service', exit: exit(1), now, recentRestarts: [now - 20, now - 10] });
  assert.equal(d.kind, 'fail');
  // Restarts older than the interval no longer count.
  assert.equal(decideRestart({ policy, jobType: 'service', exit: exit(1), now, recentRestarts: [now - 60_000, now - 10] }).kind, 'restart');
});

test('mode delay waits until the oldest counted restart leaves the interval', () => {
  const policy = aRestartPolicy({ attempts: 2, intervalMs: 60_000, delayMs: 1_000, mode: 'delay' });
  const d = decideRestart({ policy, jobType: 'service', exit: exit(1), now, recentRestarts: [now - 50_000, now - 10_000] });
  assert.equal(d.kind, 'restart');
  assert.equal(d.kind === 'restart' && d.delayMs, 10_000);
  const zero = decideRestart({ policy: aRestartPolicy({ attempts: 0, mode: 'delay' }), jobType: 'service', exit: exit(1), now, recentRestarts: [] });
  assert.equal(zero.kind, 'fail', 'no attempts at all means no restart');
});

test('exit and duration descriptions', () => {
  assert.equal(describeExit(exit(137, { oomKilled: true, signaled: true })), 'Exit code 137 (OOM killed)');
  assert.equal(describeExit(exit(143, { signaled: true })), 'Exit code 143 (signaled)');
  assert.equal(describeExit(exit(0)), 'Exit code 0');
  assert.equal(formatDuration(1_500), '1.5s');
  assert.equal(formatDuration(90_000), '1m30s');
  assert.equal(formatDuration(1_800_000), '30m');
  assert.equal(formatDuration(250), '250ms');
});
