/**
 * A host is cut off (its link goes down) and later healed. Regression for Nomad #1269
 * (two copies of a count=1 job after a network unplug) and #2710 (wrong count after a
 * split): once healed, exactly the desired count runs and no container is orphaned.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { invariantsHold, observe } from './invariants.js';
import { eventually, Lab, type LabHost } from './lab.js';
import { DETECT_BOUND_MS, LAB_SKIP, REPLACE_BOUND_MS, runningAllocs, SETTLE_BOUND_MS, webJob, withLogs } from './scenario.js';

describe('lab: host partitioned, then healed', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  let cut: LabHost | undefined;
  const JOBS = [
    { name: 'solo', count: 1 },
    { name: 'split', count: 4 },
  ];

  before(async () => {
    lab = await Lab.start({ hosts: 3, name: 'partition' });
    await lab.client.registerJob(webJob('solo', 1));
    await lab.client.registerJob(webJob('split', 4, 'spread'));
    await invariantsHold(lab, JOBS, SETTLE_BOUND_MS, 'deployed');
  });
  after(async () => {
    await lab?.stop();
  });

  test('the cut-off node is marked down and its work is placed on the others', async (t) => {
    try {
      const [solo] = runningAllocs(await lab!.client.listAllocations({ job: 'solo' }));
      cut = lab!.host(solo!.nodeName);
      const t0 = Date.now();
      lab!.partition(cut);
      await eventually(`${cut.name} to be marked down`, async () => (await lab!.node(cut!)).status === 'down', DETECT_BOUND_MS);
      await eventually(
        'every job at its count on the reachable hosts (server view)',
        async () => {
          const allocs = await lab!.client.listAllocations();
          return JOBS.every((j) => runningAllocs(allocs.filter((a) => a.jobName === j.name && a.nodeName !== cut!.name)).length === j.count);
        },
        REPLACE_BOUND_MS,
      );
      const obs = await observe(lab!);
      t.diagnostic(`${cut.name} cut off: replaced after ${Date.now() - t0} ms; containers still running on it: ${obs.containers.filter((c) => c.host === cut!.name).length}`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('healed: exactly the desired count runs, no duplicates, no orphans', async () => {
    try {
      assert.ok(cut, 'the previous test cut a host off');
      lab!.heal(cut);
      await eventually(`${cut.name} to be ready again`, async () => (await lab!.node(cut!)).status === 'ready', SETTLE_BOUND_MS);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the partition healed');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
