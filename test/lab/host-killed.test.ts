/**
 * A host dies (agent and dockerd SIGKILLed, link down): the server marks its node down
 * and the allocations it ran are replaced on the other hosts; when the host comes back,
 * its old containers are not counted twice — the invariants hold again.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { invariantsHold } from './invariants.js';
import { eventually, Lab, type LabHost } from './lab.js';
import { busiestHost, DETECT_BOUND_MS, LAB_SKIP, REPLACE_BOUND_MS, SETTLE_BOUND_MS, spreadOf, webJob, withLogs } from './scenario.js';

describe('lab: host killed', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  let victim: LabHost | undefined;
  const JOBS = [{ name: 'survivor', count: 6 }];

  before(async () => {
    lab = await Lab.start({ hosts: 3, name: 'host-killed' });
    await lab.client.registerJob(webJob('survivor', 6, 'spread'));
    await invariantsHold(lab, JOBS, SETTLE_BOUND_MS, 'deployed');
  });
  after(async () => {
    await lab?.stop();
  });

  test("the dead host's allocations run again on the other hosts", async (t) => {
    try {
      const v = (victim = await busiestHost(lab!, 'survivor'));
      const t0 = Date.now();
      await lab!.killHost(v);
      await eventually(`${v.name} to be marked down`, async () => (await lab!.node(v)).status === 'down', DETECT_BOUND_MS);
      const detect = Date.now() - t0;
      await invariantsHold(lab!, JOBS, REPLACE_BOUND_MS, 'replacements running');
      const spread = await spreadOf(lab!, 'survivor');
      assert.equal(spread[v.name], 0);
      t.diagnostic(`${v.name} killed: marked down after ${detect} ms, all 6 running again after ${Date.now() - t0} ms`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('the host comes back: still exactly 6, no duplicates, its stale containers removed', async () => {
    try {
      assert.ok(victim, 'the previous test killed a host');
      await lab!.reviveHost(victim);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the host returned');
      assert.equal((await lab!.node(victim)).status, 'ready');
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
