/**
 * The invariant checker's judgement on hand-made observations: it must see each kind of
 * violation (so a scenario that passes means something), and pass a healthy cluster.
 * Pure: needs no lab, runs anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocView } from '../../src/core/alloc.js';
import { judge, type HostContainer, type Observation } from './invariants.js';

function alloc(id: string, node: string, over: Partial<AllocView> = {}): AllocView {
  return {
    id,
    namespace: 'default',
    jobName: 'web',
    jobVersion: 1,
    group: 'web',
    index: 0,
    nodeId: `node_${node}`,
    nodeName: node,
    evalId: 'eval_x',
    resources: { cpuMhz: 50, memoryMb: 16 },
    ports: [],
    desiredStatus: 'run',
    desiredDescription: '',
    rescheduleTimes: [],
    createdAt: 0,
    modifiedAt: 0,
    clientStatus: 'running',
    clientDescription: '',
    taskStates: {},
    ...over,
  } as AllocView;
}

const ctr = (host: string, allocId: string, id = `${host}-${allocId}`): HostContainer => ({ host, id, alloc: allocId, task: 'server', job: 'web', namespace: 'default' });

const healthy = (): Observation => ({
  allocs: [alloc('a1', 'host1'), alloc('a2', 'host2')],
  containers: [ctr('host1', 'a1'), ctr('host2', 'a2')],
  deadHosts: [],
});

test('a healthy cluster passes', () => {
  assert.deepEqual(judge(healthy(), [{ name: 'web', count: 2 }]), []);
});

test('too few copies: in the server view and on the hosts', () => {
  const o = healthy();
  o.allocs[1]!.clientStatus = 'lost';
  o.containers.pop();
  const f = judge(o, [{ name: 'web', count: 2 }]);
  assert.equal(f.filter((x) => x.startsWith('count:')).length, 2, f.join('\n'));
});

test('two copies of a count=1 job after a partition (Nomad #1269): count and orphan', () => {
  const o: Observation = {
    allocs: [alloc('old', 'host1', { desiredStatus: 'stop', desiredDescription: 'node lost', clientStatus: 'lost' }), alloc('new', 'host2')],
    containers: [ctr('host1', 'old'), ctr('host2', 'new')],
    deadHosts: [],
  };
  const f = judge(o, [{ name: 'web', count: 1 }]);
  assert.ok(f.some((x) => x.startsWith('count:') && x.includes('2 allocations with running containers')), f.join('\n'));
  assert.ok(f.some((x) => x.startsWith('orphan:') && x.includes('old')), f.join('\n'));
});

test('one allocation running on two hosts is a duplicate', () => {
  const o = healthy();
  o.containers.push(ctr('host3', 'a1'));
  assert.ok(judge(o, [{ name: 'web', count: 2 }]).some((x) => x.startsWith('duplicate: a1/server runs 2 times')));
});

test('a container of an unknown allocation is an orphan', () => {
  const o = healthy();
  o.containers.push({ ...ctr('host1', 'ghost'), job: 'other' });
  assert.ok(judge(o, [{ name: 'web', count: 2 }]).some((x) => x.startsWith('orphan:') && x.includes('ghost')));
});

test("a dead host's containers are not observed, so its allocations do not count", () => {
  const o = healthy();
  o.containers = o.containers.filter((c) => c.host !== 'host2');
  o.deadHosts = ['host2'];
  assert.ok(judge(o, [{ name: 'web', count: 2 }]).some((x) => x.includes('1 allocations with running containers')));
});
