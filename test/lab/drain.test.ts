/**
 * Draining a host, make-before-break: under HTTP load, every allocation moves off the
 * host and the running count never drops below the desired count; and a server restarted
 * in the middle of a drain resumes it to the end — no allocation lost or doubled.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeId } from '../../src/core/ids.js';
import { invariantsHold } from './invariants.js';
import { eventually, Lab, type LabHost } from './lab.js';
import { LAB_SKIP, runningAllocs, SETTLE_BOUND_MS, spreadOf, webJob, withLogs } from './scenario.js';

/** A drain of a few allocations, one at a time, ends well within this. */
const DRAIN_BOUND_MS = 120_000;

describe('lab: drain', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  const JOBS = [{ name: 'busy', count: 6 }];

  before(async () => {
    lab = await Lab.start({ hosts: 3, name: 'drain' });
    await lab.client.registerJob(webJob('busy', 6, 'spread'));
    await invariantsHold(lab, JOBS, SETTLE_BOUND_MS, 'deployed');
  });
  after(async () => {
    await lab?.stop();
  });

  /** Requests to every running copy in a loop until stopped; counts answers. */
  function load(): { stop(): Promise<{ ok: number; failed: number }> } {
    let running = true;
    const tally = { ok: 0, failed: 0 };
    const loop = (async () => {
      while (running) {
        const allocs = runningAllocs(await lab!.client.listAllocations({ job: 'busy' }).catch(() => []));
        await Promise.all(
          allocs.map(async (a) => {
            const port = a.ports.find((p) => p.label === 'http')?.host;
            const res = await fetch(`http://${lab!.host(a.nodeName).address}:${port}/`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
            if (res?.ok) tally.ok++;
            else tally.failed++;
            await res?.text().catch(() => undefined);
          }),
        );
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return tally;
      },
    };
  }

  /** Samples the server's running count of `busy` until `done` resolves; returns the lowest seen. */
  async function lowestRunningUntil(done: Promise<unknown>): Promise<number> {
    let finished = false;
    void done.finally(() => (finished = true)).catch(() => undefined);
    let lowest = Infinity;
    while (!finished) {
      const n = runningAllocs(await lab!.client.listAllocations({ job: 'busy' }).catch(() => [])).length;
      if (n > 0) lowest = Math.min(lowest, n);
      await new Promise((r) => setTimeout(r, 100));
    }
    await done;
    return lowest;
  }

  const drained = (h: LabHost) =>
    eventually(`${h.name} to be drained`, async () => {
      const node = await lab!.client.getNode(h.nodeId!);
      const left = runningAllocs(await lab!.client.listAllocations({ node: h.nodeId! })).length;
      return left === 0 && (node.drainProgress === undefined || node.drainProgress.left === 0);
    }, DRAIN_BOUND_MS);

  test('drain under load: everything moves off, never fewer than 6 running, no duplicates', async (t) => {
    try {
      const h = lab!.hosts[0]!;
      const traffic = load();
      await lab!.client.drainNode(h.nodeId as NodeId, { enable: true, deadlineMs: DRAIN_BOUND_MS });
      const lowest = await lowestRunningUntil(drained(h));
      const tally = await traffic.stop();
      t.diagnostic(`lowest running count during the drain: ${lowest}; requests ok ${tally.ok}, failed ${tally.failed}`);
      assert.ok(lowest >= 6, `running count dropped to ${lowest} during a make-before-break drain`);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the drain');
      assert.equal((await spreadOf(lab!, 'busy'))[h.name], 0);
      assert.equal((await lab!.hostContainers(h)).length, 0, `${h.name} still runs containers after its drain`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('server restarted during a drain: the drain goes on to the end, nothing lost or doubled', async () => {
    try {
      const [drainedBefore, h] = [lab!.hosts[0]!, lab!.hosts[1]!];
      // Give host1 back so host2's work has somewhere to go, then drain host2.
      await lab!.client.drainNode(drainedBefore.nodeId as NodeId, { enable: false });
      await lab!.client.setNodeEligibility(drainedBefore.nodeId as NodeId, true);
      await lab!.client.drainNode(h.nodeId as NodeId, { enable: true, deadlineMs: DRAIN_BOUND_MS });
      await eventually('the drain to have started moving', async () => (await lab!.client.getNode(h.nodeId!)).drainProgress !== undefined, SETTLE_BOUND_MS, 50);
      await lab!.restartServer();
      await drained(h);
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after the drain across a server restart');
      assert.equal((await lab!.hostContainers(h)).length, 0, `${h.name} still runs containers after its drain`);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });
});
