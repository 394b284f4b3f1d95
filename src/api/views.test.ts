import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocSummary, jobStatus, nodeView } from './views.js';
import { aJob, allocIdFor, anAlloc, aNode } from './testing/fake-control-plane.js';

test('job status: running beats everything, a stopped job with nothing live is dead, else pending', () => {
  const job = aJob();
  assert.equal(jobStatus(job, []), 'pending');
  assert.equal(jobStatus(job, [anAlloc({ clientStatus: 'pending' })]), 'pending');
  assert.equal(jobStatus(job, [anAlloc({ clientStatus: 'failed' }), anAlloc({ clientStatus: 'running' })]), 'running');
  const stopped = aJob({ stopped: true });
  assert.equal(jobStatus(stopped, []), 'dead');
  assert.equal(jobStatus(stopped, [anAlloc({ desiredStatus: 'stop', clientStatus: 'complete' })]), 'dead');
  // Still being stopped: its container is up.
  assert.equal(jobStatus(stopped, [anAlloc({ desiredStatus: 'stop', clientStatus: 'running' })]), 'running');
  assert.equal(
    jobStatus(stopped, [anAlloc({ desiredStatus: 'stop', clientStatus: 'pending', taskStates: { t: { state: 'starting', failed: false, restarts: 0, events: [] } } })]),
    'pending',
  );
});

test('a batch job whose allocations all finished is dead; a service job is not', () => {
  const done = [anAlloc({ clientStatus: 'complete' }), anAlloc({ clientStatus: 'failed' })];
  assert.equal(jobStatus(aJob({ type: 'batch' }), done), 'dead');
  assert.equal(jobStatus(aJob({ type: 'service' }), done), 'pending');
});

test('summary: pending/running count only allocations meant to run; terminal ones count all', () => {
  const s = allocSummary(aJob(), [
    anAlloc({ clientStatus: 'running' }),
    anAlloc({ clientStatus: 'running', desiredStatus: 'stop' }),
    anAlloc({ clientStatus: 'pending', desiredStatus: 'stop' }),
    anAlloc({ clientStatus: 'lost', desiredStatus: 'stop' }),
    anAlloc({ clientStatus: 'complete' }),
  ]);
  assert.deepEqual(s, { pending: 0, running: 1, complete: 1, failed: 0, lost: 1, desired: 2 });
  assert.equal(allocSummary(aJob({ stopped: true }), []).desired, 0);
});

test('node view: allocated sums live allocations only', () => {
  const v = nodeView(aNode(), [
    anAlloc({ id: allocIdFor('a'), clientStatus: 'running', resources: { cpuMhz: 200, memoryMb: 128 } }),
    anAlloc({ id: allocIdFor('b'), clientStatus: 'failed', resources: { cpuMhz: 999, memoryMb: 999 } }),
    anAlloc({ id: allocIdFor('c'), clientStatus: 'pending', desiredStatus: 'stop', resources: { cpuMhz: 999, memoryMb: 999 } }),
  ]);
  assert.deepEqual(v.allocated, { cpuMhz: 200, memoryMb: 128 });
  assert.deepEqual(v.allocations, { running: 1, total: 1 });
});
