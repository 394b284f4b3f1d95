import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobDetail } from '../client/types.js';
import type { EvalId } from '../core/ids.js';
import { blockingEvaluation, judgeRollout } from './rollout.js';
import { aJob, anAlloc, anEval, T0 } from './testing/builders.js';

const summary = { pending: 0, running: 0, complete: 0, failed: 0, lost: 0, desired: 2 };
const detail = (o: Partial<JobDetail>): JobDetail => ({ job: aJob({ version: 2 }), status: 'running', summary, allocations: [], evaluations: [], ...o });
const failure = { web: { unplaced: 1, nodesEvaluated: 1, nodesAvailable: 1, filtered: {}, explanations: ['1 node: out of ports'] } };

describe('judgeRollout', () => {
  it('waits for the new version only: old running allocations do not count', () => {
    const r = judgeRollout(detail({ allocations: [anAlloc({ index: 0, jobVersion: 1 }), anAlloc({ index: 1, jobVersion: 1 }), anAlloc({ index: 0, jobVersion: 2 })] }), { version: 2 });
    assert.equal(r.phase, 'waiting');
    assert.equal(r.phase === 'waiting' && r.done, 1);
    assert.equal(r.allocs.length, 1);
  });

  it('is done when every wanted allocation of the version runs', () => {
    const r = judgeRollout(detail({ allocations: [anAlloc({ index: 0, jobVersion: 2 }), anAlloc({ index: 1, jobVersion: 2 })] }), { version: 2 });
    assert.equal(r.phase, 'done');
  });

  it('does not count a running allocation that is being stopped', () => {
    const r = judgeRollout(detail({ allocations: [anAlloc({ index: 0, jobVersion: 2 }), anAlloc({ index: 1, jobVersion: 2, desiredStatus: 'stop' })] }), { version: 2 });
    assert.equal(r.phase, 'waiting');
  });

  it('fails when an allocation of the version failed', () => {
    const r = judgeRollout(detail({ allocations: [anAlloc({ index: 0, jobVersion: 2, clientStatus: 'failed' })] }), { version: 2 });
    assert.equal(r.phase, 'failed');
  });

  it('ignores failures of older versions', () => {
    const r = judgeRollout(detail({ allocations: [anAlloc({ index: 0, jobVersion: 1, clientStatus: 'failed' })] }), { version: 2 });
    assert.equal(r.phase, 'waiting');
  });

  it('leaves out allocations of the same version that ended before this submission', () => {
    const old = [0, 1].map((index) => anAlloc({ index, jobVersion: 2, desiredStatus: 'stop', clientStatus: 'complete', createdAt: T0 - 5000 }));
    const evaluations = [anEval({ id: 'eval_ours' as EvalId, createdAt: T0 })];
    const fresh = anAlloc({ index: 0, jobVersion: 2, clientStatus: 'pending', createdAt: T0 + 10, id: 'alloc_new' as never });
    const r = judgeRollout(detail({ allocations: [...old, fresh], evaluations }), { version: 2, evalId: 'eval_ours' });
    assert.equal(r.phase, 'waiting');
    assert.deepEqual(
      r.allocs.map((a) => a.id),
      ['alloc_new'],
    );
  });

  it('notices a newer version', () => {
    assert.equal(judgeRollout(detail({ job: aJob({ version: 3 }) }), { version: 2 }).phase, 'superseded');
  });
});

describe('blockingEvaluation', () => {
  const ours = 'eval_ours' as EvalId;
  it('is the newest evaluation since ours, when it failed to place', () => {
    const evals = [anEval({ id: 'eval_next' as EvalId, status: 'blocked', createdAt: T0 + 5, failedPlacements: failure }), anEval({ id: ours, createdAt: T0 })];
    assert.equal(blockingEvaluation(evals, ours)?.id, 'eval_next');
  });

  it('counts a complete evaluation that left placements undone', () => {
    assert.equal(blockingEvaluation([anEval({ id: ours, createdAt: T0, failedPlacements: failure })], ours)?.id, ours);
  });

  it('is nothing while ours is not visible, or once a newer one placed everything', () => {
    assert.equal(blockingEvaluation([anEval({ status: 'blocked', failedPlacements: failure })], ours), undefined);
    const evals = [anEval({ id: 'eval_new' as EvalId, createdAt: T0 + 5 }), anEval({ id: ours, status: 'blocked', createdAt: T0, failedPlacements: failure })];
    assert.equal(blockingEvaluation(evals, ours), undefined);
  });

  it('skips cancelled evaluations', () => {
    const evals = [anEval({ id: 'eval_c' as EvalId, status: 'cancelled', createdAt: T0 + 5 }), anEval({ id: ours, status: 'blocked', createdAt: T0, failedPlacements: failure })];
    assert.equal(blockingEvaluation(evals, ours)?.id, ours);
  });
});
