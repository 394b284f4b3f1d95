/**
 * The server is SIGKILLed and started again on the same data: jobs and allocations are
 * still there (the same allocation ids — a server restart must not reschedule), the nodes
 * become ready again, and nothing runs twice.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { invariantsHold } from './invariants.js';
import { eventually, Lab } from './lab.js';
import { LAB_SKIP, runningAllocs, SETTLE_BOUND_MS, webJob, withLogs } from './scenario.js';

describe('lab: server restarted', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  const JOBS = [
    { name: 'keep', count: 4 },
    { name: 'keep-one', count: 1 },
  ];

  before(async () => {
    lab = await Lab.start({ hosts: 2, name: 'server-restart' });
    await lab.client.registerJob(webJob('keep', 4, 'spread'));
    await lab.client.registerJob(webJob('keep-one', 1));
    await invariantsHold(lab, JOBS, SETTLE_BOUND_MS, 'deployed');
  });
  after(async () => {
    await lab?.stop();
  });

  test('SIGKILL and restart: same jobs and allocations, nodes ready, no duplicates', async () => {
    try {
      const before = runningAllocs(await lab!.client.listAllocations()).map((a) => a.id).sort();
      const containersBefore = (await Promise.all(lab!.hosts.map((h) => lab!.hostContainers(h)))).flat().map((c) => c.Id).sort();
      await lab!.restartServer();
      const jobs = (await lab!.client.listJobs()).map((j) => j.name).sort();
      assert.deepEqual(jobs, ['keep', 'keep-one']);
      await eventually('every node ready again', async () => (await lab!.client.listNodes()).every((n) => n.status === 'ready'), SETTLE_BOUND_MS);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the server restarted');
      const after = runningAllocs(await lab!.client.listAllocations()).map((a) => a.id).sort();
      assert.deepEqual(after, before, 'the same allocations run: nothing was rescheduled');
      const containersAfter = (await Promise.all(lab!.hosts.map((h) => lab!.hostContainers(h)))).flat().map((c) => c.Id).sort();
      assert.deepEqual(containersAfter, containersBefore, 'the same containers run: none was replaced');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
