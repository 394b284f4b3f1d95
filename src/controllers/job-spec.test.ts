import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Job } from '../core/job.js';
import { sameIntent } from './job-spec.js';

const base: Job = {
  namespace: 'default',
  name: 'web',
  type: 'service',
  priority: 50,
  constraints: [],
  placement: 'binpack',
  groups: [],
  meta: { a: '1', b: '2' },
  stopped: false,
  version: 1,
  submittedAt: 5,
};

test('server-stamped fields do not change the intent', () => {
  assert.ok(sameIntent(base, { ...base, version: 7, submittedAt: 99, stopped: true }));
});

test('key order does not matter, values do', () => {
  assert.ok(sameIntent(base, { ...base, meta: { b: '2', a: '1' } }));
  assert.ok(!sameIntent(base, { ...base, meta: { a: '1', b: '3' } }));
  assert.ok(!sameIntent(base, { ...base, priority: 60 }));
});
