/**
 * An agent is SIGKILLed in the middle of a deployment (its node already has containers
 * being created) and started again: it finds its containers by their labels and carries
 * on — no allocation ends up running twice, and the job reaches its count.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { invariantsHold } from './invariants.js';
import { eventually, Lab } from './lab.js';
import { LAB_SKIP, SETTLE_BOUND_MS, spreadOf, webJob, withLogs } from './scenario.js';

describe('lab: agent restarted mid-deployment', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  const JOBS = [{ name: 'midway', count: 8 }];

  before(async () => {
    lab = await Lab.start({ hosts: 2, name: 'agent-restart' });
  });
  after(async () => {
    await lab?.stop();
  });

  test('killed while its first containers are being created, restarted: no duplicates, count reached', async (t) => {
    try {
      const h = lab!.hosts[0]!;
      await lab!.client.registerJob(webJob('midway', 8, 'spread'));
      // The moment the first container exists on host1 (created, maybe not started yet).
      const seen = await eventually('a first container on host1', async () => {
        const list = await lab!.hostContainers(h, true);
        return list.length > 0 ? list.length : undefined;
      }, SETTLE_BOUND_MS, 20);
      await lab!.killAgent(h);
      const running = (await lab!.hostContainers(h)).length;
      t.diagnostic(`agent of ${h.name} killed with ${seen} container(s) created, ${running} running`);
      await lab!.startAgent(h);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the agent restarted');
      const spread = await spreadOf(lab!, 'midway');
      assert.equal(spread.host1! + spread.host2!, 8);
      // Exactly one container per allocation on the host, stopped ones included (no leftovers of the first attempt running).
      const all = await lab!.hostContainers(h, true);
      const runningIds = new Set((await lab!.hostContainers(h)).map((c) => c.Labels['karu.alloc']));
      t.diagnostic(`host1 runs ${runningIds.size} allocations with ${all.length} containers in total (stopped ones included)`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
