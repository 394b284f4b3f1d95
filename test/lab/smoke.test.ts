/**
 * Lab smoke: three hosts join, a job of six spreads over them, the app answers HTTP from
 * the root namespace on every host's address, the invariants hold; and after `stop()`
 * nothing of the lab is left on the machine.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkInvariants, invariantsHold } from './invariants.js';
import { Lab, LAB_ROOT, PREFIX } from './lab.js';
import { LAB_SKIP, runningAllocs, SETTLE_BOUND_MS, spreadOf, webJob, withLogs } from './scenario.js';
import { cgroupDirs, linkList, mountsUnder, netnsList, pidsMarked, sh } from './sys.js';

describe('lab smoke: 3 hosts, a spread job, HTTP on every host', { skip: LAB_SKIP }, () => {
  let lab: Lab | undefined;
  const JOBS = [{ name: 'smoke', count: 6 }];

  before(async () => {
    lab = await Lab.start({ hosts: 3, name: 'smoke' });
  });
  after(async () => {
    await lab?.stop();
  });

  test('all three hosts joined and are ready', async () => {
    const nodes = await lab!.client.listNodes();
    assert.deepEqual(nodes.map((n) => `${n.name}=${n.address}:${n.status}`).sort(), lab!.hosts.map((h) => `${h.name}=${h.address}:ready`));
  });

  test('count 6 with placement spread runs 2 per host, and each copy answers on its host address', async () => {
    try {
      await lab!.client.registerJob(webJob('smoke', 6, 'spread'));
      await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'smoke deployed');
      assert.deepEqual(await spreadOf(lab!, 'smoke'), { host1: 2, host2: 2, host3: 2 });
      const allocs = runningAllocs(await lab!.client.listAllocations({ job: 'smoke' }));
      for (const a of allocs) {
        const host = lab!.host(a.nodeName);
        const port = a.ports.find((p) => p.label === 'http')!.host;
        const res = await fetch(`http://${host.address}:${port}/`, { signal: AbortSignal.timeout(5_000) });
        assert.equal(res.status, 200);
        assert.match(await res.text(), /hello from karu/);
      }
      // Each host's own dockerd holds exactly its share.
      for (const h of lab!.hosts) assert.equal((await lab!.hostContainers(h)).length, 2, h.name);
    } catch (e) {
      throw withLogs(lab, e);
    }
  });

  test('the checker sees a planted orphan and a duplicate (it can fail)', async () => {
    const h = lab!.hosts[0]!;
    const [victim] = await lab!.hostContainers(h);
    const labels = { ...victim!.Labels };
    // Same alloc and task as a running copy: a duplicate; the agent must also remove it.
    const dup = await h.docker.createContainer({ Image: 'karu/busybox:1', Cmd: ['sleep', '300'], Labels: labels, HostConfig: { Init: true } });
    await dup.start();
    const failures = await checkInvariants(lab!, JOBS);
    assert.ok(failures.some((f) => f.startsWith('duplicate:')), failures.join('\n'));
    await dup.remove({ force: true });
    const orphan = await h.docker.createContainer({ Image: 'karu/busybox:1', Cmd: ['sleep', '300'], Labels: { ...labels, 'karu.alloc': 'alloc_planted', 'karu.job': 'nobody' }, HostConfig: { Init: true } });
    await orphan.start();
    const failures2 = await checkInvariants(lab!, JOBS);
    assert.ok(failures2.some((f) => f.startsWith('orphan:') && f.includes('alloc_planted')), failures2.join('\n'));
    await orphan.remove({ force: true });
    await invariantsHold(lab!, JOBS, SETTLE_BOUND_MS, 'after removing the planted containers');
  });

  test('stop() leaves nothing behind: processes, namespaces, links, mounts, cgroups, files, firewall rule', async () => {
    const l = lab!;
    const dir = l.dir;
    const netns = l.hosts.map((h) => h.netns);
    await l.stop();
    assert.deepEqual(pidsMarked({ cmdline: dir + '/', cgroup: `/${PREFIX}${l.id}-` }), []);
    assert.deepEqual(netnsList().filter((n) => netns.includes(n)), []);
    assert.deepEqual(linkList().filter((n) => n.startsWith(`${PREFIX}${l.id}`)), []);
    assert.deepEqual(mountsUnder(dir), []);
    assert.deepEqual(l.hosts.flatMap((h) => cgroupDirs(`${PREFIX}${l.id}-h${h.index}`)), []);
    assert.equal(existsSync(dir), false);
    assert.equal(existsSync(join(LAB_ROOT, l.id)), false);
    assert.doesNotMatch(sh('iptables', ['-S', 'FORWARD']), new RegExp(`${PREFIX}${l.id}`));
  });
});
