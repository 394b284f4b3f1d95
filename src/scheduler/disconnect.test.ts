import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DisconnectPolicy } from '../core/disconnect.js';
import type { Job } from '../core/job.js';
import type { Node } from '../core/node.js';
import { DISCONNECT_REASONS } from './disconnect.js';
import { STOP_REASONS } from './reconcile.js';
import { schedule } from './schedule.js';
import { aContext, aJob, anAlloc, anEval, aNode, aState, T0 } from './testing/builders.js';
import type { TestState } from './testing/builders.js';

const MIN = 60_000;
const policy = (o: Partial<DisconnectPolicy> = {}): DisconnectPolicy => ({ lostAfterMs: 10 * MIN, replace: true, stopOnClientAfterMs: null, reconcile: 'best_score', ...o });
const jobWith = (o: Partial<DisconnectPolicy> = {}, count = 1) => aJob({ group: { count, disconnect: policy(o) } });
const run = (state: TestState, job: Job, now = T0) => schedule(state, anEval(job), aContext({ now, seed: now }));
const cutOff = (node: Node, at = T0): Node => ({ ...node, status: 'disconnected', disconnectedAt: at, statusUpdatedAt: at });
const back = (node: Node): Node => ({ ...node, status: 'ready' });
/** Copies the server wants running. */
const wanted = (s: TestState, job: Job) => s.allocsByJob(job.namespace, job.name).filter((a) => a.desiredStatus === 'run');

describe('disconnect policy: while the node is cut off', () => {
  it('with the defaults (lostAfter 0) an allocation on a disconnected node is lost at once and replaced', () => {
    const away = cutOff(aNode());
    const up = aNode();
    const job = aJob();
    const a = anAlloc({ job, node: away });
    const plan = run(aState({ nodes: [away, up], jobs: [job], allocs: [a] }), job);
    assert.deepEqual(plan.markLost, [a.id]);
    assert.deepEqual(plan.stop, [{ allocId: a.id, reason: DISCONNECT_REASONS.lost('0s') }]);
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.nodeId, up.id);
    assert.equal(plan.place[0]!.previousAllocId, a.id);
  });

  it('replace: keeps the original running and places one replacement; later evaluations change nothing', () => {
    const away = cutOff(aNode());
    const up = aNode();
    const job = jobWith({ replace: true });
    const a = anAlloc({ job, node: away, rescheduleTimes: [T0 - 5] });
    const state = aState({ nodes: [away, up], jobs: [job], allocs: [a] });
    const plan = run(state, job, T0 + MIN);
    assert.deepEqual([plan.stop, plan.markLost], [[], []], 'the original is not stopped: it may still run');
    assert.equal(plan.place.length, 1);
    const r = plan.place[0]!;
    assert.deepEqual([r.nodeId, r.index, r.previousAllocId, r.rescheduleTimes], [up.id, 0, a.id, [T0 - 5]]);
    state.apply(plan);
    const again = run(state, job, T0 + 2 * MIN);
    assert.deepEqual([again.place, again.stop, again.markLost], [[], [], []]);
    assert.equal(wanted(state, job).length, 2, 'original (set aside) and replacement');
  });

  it('replace: false keeps the original holding its index until lostAfter, then replaces it', () => {
    const away = cutOff(aNode());
    const up = aNode();
    const job = jobWith({ replace: false, lostAfterMs: 10 * MIN });
    const a = anAlloc({ job, node: away });
    const state = aState({ nodes: [away, up], jobs: [job], allocs: [a] });
    const early = run(state, job, T0 + 10 * MIN - 1);
    assert.deepEqual([early.place, early.stop, early.markLost], [[], [], []]);
    const late = run(state, job, T0 + 10 * MIN);
    assert.deepEqual(late.stop, [{ allocId: a.id, reason: DISCONNECT_REASONS.lost('10m') }]);
    assert.deepEqual(late.markLost, [a.id]);
    assert.equal(late.place[0]?.previousAllocId, a.id);
  });

  it('past lostAfter with a replacement in place: the original is stopped and marked lost, nothing new is placed', () => {
    const away = cutOff(aNode());
    const up = aNode();
    const job = jobWith({ lostAfterMs: 10 * MIN });
    const a = anAlloc({ job, node: away });
    const state = aState({ nodes: [away, up], jobs: [job], allocs: [a] });
    state.apply(run(state, job, T0 + 1));
    const plan = run(state, job, T0 + 10 * MIN);
    assert.deepEqual(plan.markLost, [a.id]);
    assert.deepEqual(plan.stop.map((s) => s.allocId), [a.id]);
    assert.equal(plan.place.length, 0);
  });

  it('lostAfter is per group: the node disconnected at one time, groups expire at their own', () => {
    const away = cutOff(aNode());
    const up = aNode();
    const base = aJob();
    const job: Job = {
      ...base,
      groups: [
        { ...base.groups[0]!, name: 'short', disconnect: policy({ lostAfterMs: MIN, replace: false }) },
        { ...base.groups[0]!, name: 'long', disconnect: policy({ lostAfterMs: 10 * MIN, replace: false }) },
      ],
    };
    const s = anAlloc({ job, node: away, group: 'short' });
    const l = anAlloc({ job, node: away, group: 'long' });
    const plan = run(aState({ nodes: [away, up], jobs: [job], allocs: [s, l] }), job, T0 + 2 * MIN);
    assert.deepEqual(plan.markLost, [s.id]);
    assert.deepEqual(plan.place.map((p) => p.group), ['short']);
  });

  it('a replacement whose node is cut off too is replaced once, not once per cut-off copy', () => {
    const n1 = aNode();
    const n2 = aNode();
    const n3 = aNode();
    const job = jobWith();
    const a = anAlloc({ job, node: n1, createdAt: T0 - 100 });
    const state = aState({ nodes: [cutOff(n1), n2, n3], jobs: [job], allocs: [a] });
    state.apply(run(state, job, T0 + 1));
    const r = wanted(state, job).find((x) => x.id !== a.id)!;
    state.putNode(cutOff(state.node(r.nodeId)!, T0 + 2));
    const plan = run(state, job, T0 + 3);
    assert.equal(plan.place.length, 1);
    assert.equal(plan.place[0]!.previousAllocId, r.id);
    assert.deepEqual(plan.stop, []);
  });
});

describe('disconnect policy: when the node returns, exactly count copies stay', () => {
  /** a on n1 (original), cut off, replaced on n2; then n1 returns. */
  function partitionAndHeal(o: Partial<DisconnectPolicy>, setup: (state: TestState, n1: Node, n2: Node) => void = () => {}) {
    const n1 = aNode();
    const n2 = aNode();
    const job = jobWith(o);
    const a = anAlloc({ job, node: n1, createdAt: T0 - MIN });
    const state = aState({ nodes: [cutOff(n1), n2], jobs: [job], allocs: [a] });
    state.apply(run(state, job, T0 + 1), T0 + 1);
    const r = wanted(state, job).find((x) => x.id !== a.id)!;
    assert.equal(r.nodeId, n2.id);
    state.putNode(back(n1));
    setup(state, n1, n2);
    const plan = run(state, job, T0 + 2);
    state.apply(plan, T0 + 2);
    const left = wanted(state, job);
    assert.equal(left.length, 1, 'exactly count copies');
    assert.equal(plan.place.length, 0);
    assert.deepEqual(plan.stop.map((s) => s.reason), [STOP_REASONS.duplicate]);
    return { original: a, replacement: r, survivor: left[0]! };
  }

  it('keep_original stops the replacement', () => {
    const { original, survivor } = partitionAndHeal({ reconcile: 'keep_original' });
    assert.equal(survivor.id, original.id);
  });

  it('keep_replacement stops the original', () => {
    const { replacement, survivor } = partitionAndHeal({ reconcile: 'keep_replacement' });
    assert.equal(survivor.id, replacement.id);
  });

  it('best_score keeps the copy on the better-scoring node (binpack: the fuller one)', () => {
    const { replacement, survivor } = partitionAndHeal({ reconcile: 'best_score' }, (state, _n1, n2) => {
      const other = aJob({ name: 'filler' });
      state.putJob(other).putAlloc(anAlloc({ job: other, node: n2, resources: { cpuMhz: 2000, memoryMb: 2048 } }));
    });
    assert.equal(survivor.id, replacement.id);
  });

  it('best_score keeps the original when the scores tie (fewest moves)', () => {
    const { original, survivor } = partitionAndHeal({ reconcile: 'best_score' });
    assert.equal(survivor.id, original.id);
  });

  it('best_score prefers a running copy over one still starting', () => {
    const { replacement, survivor } = partitionAndHeal({ reconcile: 'best_score' }, (state) => {
      const orig = wanted(state, state.job('default', 'app')!).find((x) => x.previousAllocId === undefined)!;
      state.setClientStatus(orig.id, 'pending');
    });
    assert.equal(survivor.id, replacement.id);
  });

  it('keep_original does not keep a copy whose node went down instead of returning', () => {
    const n1 = aNode();
    const n2 = aNode();
    const job = jobWith({ reconcile: 'keep_original' });
    const a = anAlloc({ job, node: n1, createdAt: T0 - MIN });
    const state = aState({ nodes: [cutOff(n1), n2], jobs: [job], allocs: [a] });
    state.apply(run(state, job, T0 + 1));
    state.putNode({ ...n1, status: 'down' });
    const plan = run(state, job, T0 + 2);
    state.apply(plan);
    assert.deepEqual(plan.markLost, [a.id]);
    assert.equal(plan.place.length, 0);
    const left = wanted(state, job);
    assert.equal(left.length, 1);
    assert.equal(left[0]!.nodeId, n2.id);
  });

  it('regression (Nomad #1269, #2710): any sequence of cuts and heals ends with exactly count copies', () => {
    for (const reconcile of ['keep_original', 'keep_replacement', 'best_score'] as const) {
      for (let seed = 1; seed <= 20; seed++) {
        const nodes = [aNode(), aNode(), aNode(), aNode()];
        const job = jobWith({ reconcile }, 3);
        const state = aState({ nodes, jobs: [job] });
        let now = T0;
        state.apply(run(state, job, now), now);
        let x = seed;
        const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
        for (let step = 0; step < 8; step++) {
          now += 1000;
          const n = nodes[rnd(nodes.length)]!;
          const current = state.node(n.id)!;
          // Keep at least one node up so there is somewhere to place.
          const upCount = state.nodes().filter((m) => m.status === 'ready').length;
          state.putNode(current.status === 'ready' && upCount > 1 ? cutOff(current, now) : back(current));
          state.apply(run(state, job, now), now);
        }
        for (const n of nodes) state.putNode(back(state.node(n.id)!));
        now += 1000;
        state.apply(run(state, job, now), now);
        const left = wanted(state, job);
        assert.equal(left.length, 3, `${reconcile} seed ${seed}: ${left.length} copies`);
        assert.deepEqual(left.map((a) => a.index).sort(), [0, 1, 2], `${reconcile} seed ${seed}`);
        const settled = run(state, job, now + 1);
        assert.deepEqual([settled.place.length, settled.stop.length], [0, 0], `${reconcile} seed ${seed}: stable`);
      }
    }
  });
});
