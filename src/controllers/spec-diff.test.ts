import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aGroup, aServiceJob, aTask } from '../core/testing.js';
import type { Service } from '../core/job.js';
import { diffJobSpecs } from './spec-diff.js';

const web: Service = { name: 'web', portLabel: 'http', task: 'server', tags: [], checks: [], ingress: [] };

describe('diffJobSpecs', () => {
  it('a new job is one added entry', () => {
    assert.deepEqual(diffJobSpecs(undefined, aServiceJob()), [{ op: 'add', path: 'job[web]' }]);
  });

  it('ignores what the server stamps (version, submission time, stopped)', () => {
    const a = aServiceJob({ version: 1, submittedAt: 1 });
    assert.deepEqual(diffJobSpecs(a, { ...a, version: 2, submittedAt: 2, stopped: true }), []);
  });

  it('matches named lists by name: added, removed and changed members, order ignored', () => {
    const prev = aServiceJob({ groups: [aGroup({ name: 'a', count: 2 }), aGroup({ name: 'b' })] });
    const next = aServiceJob({ priority: 70, groups: [aGroup({ name: 'c' }), aGroup({ name: 'a', count: 3, services: [web], tasks: [aTask({ image: 'karu/hello:2' })] })] });
    assert.deepEqual(diffJobSpecs(prev, next), [
      { op: 'remove', path: 'groups[b]' },
      { op: 'add', path: 'groups[c]' },
      { op: 'change', path: 'groups[a].count', before: 2, after: 3 },
      { op: 'add', path: 'groups[a].services[web]' },
      { op: 'change', path: 'groups[a].tasks[server].image', before: 'karu/hello:1', after: 'karu/hello:2' },
      { op: 'change', path: 'priority', before: 50, after: 70 },
    ]);
  });

  it('a service added next to others is named; a list emptied lists what went', () => {
    const api: Service = { ...web, name: 'api' };
    const prev = aServiceJob({}, { services: [web] });
    assert.deepEqual(diffJobSpecs(prev, aServiceJob({}, { services: [web, api] })), [{ op: 'add', path: 'groups[app].services[api]' }]);
    assert.deepEqual(diffJobSpecs(prev, aServiceJob({}, { services: [] })), [{ op: 'remove', path: 'groups[app].services[web]' }]);
  });

  it('never shows environment values, added, removed or changed', () => {
    const prev = aServiceJob({}, { tasks: [aTask({ env: { A: 'secret1', B: 'x' } })] });
    const next = aServiceJob({}, { tasks: [aTask({ env: { A: 'secret2', C: 'y' } })] });
    assert.deepEqual(diffJobSpecs(prev, next), [
      { op: 'change', path: 'groups[app].tasks[server].env.A' },
      { op: 'remove', path: 'groups[app].tasks[server].env.B' },
      { op: 'add', path: 'groups[app].tasks[server].env.C' },
    ]);
  });
});
