/**
 * A host's dockerd is SIGKILLed and started again (the agent stays up): the engine comes
 * back without its containers running, and the agent brings its allocations back through
 * the restart policy — same count, nothing doubled, nothing orphaned.
 */
import { describe, test, before, after } from 'node:test';
import { invariantsHold } from './invariants.js';
import { Lab } from './lab.js';
import { LAB_SKIP, SETTLE_BOUND_MS, webJob, withLogs } from './scenario.js';

describe('lab: a host\'s dockerd killed and restarted', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  const JOBS = [{ name: 'engine', count: 4 }];

  before(async () => {
    lab = await Lab.start({ hosts: 2, name: 'dockerd-killed' });
    await lab.client.registerJob(webJob('engine', 4, 'spread'));
    await invariantsHold(lab, JOBS, SETTLE_BOUND_MS, 'deployed');
  });
  after(async () => {
    await lab?.stop();
  });

  test('the job is back at its count, no duplicates, no orphans', async (t) => {
    try {
      const h = lab!.hosts[0]!;
      await lab!.killDockerd(h);
      await lab!.startDockerd(h);
      const ms = await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the engine restarted');
      t.diagnostic(`settled ${ms} ms after dockerd answered again`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
