import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeJobChange } from './job-diff.js';
import { aGroup, aJob, aTask } from './testing/builders.js';

describe('summarizeJobChange', () => {
  it('names the first version', () => {
    assert.equal(summarizeJobChange(undefined, aJob()), 'first version');
  });

  it('reads short for a one-task job', () => {
    const a = aJob();
    const b = aJob({ version: 2, groups: [aGroup({ count: 3, tasks: [aTask({ image: 'karu/hello:2', resources: { cpuMhz: 100, memoryMb: 64 } })] })] });
    assert.equal(summarizeJobChange(a, b), 'count 2 → 3, image karu/hello:1 → karu/hello:2, memory 32 MB → 64 MB');
  });

  it('names groups and tasks when there are several', () => {
    const a = aJob({ groups: [aGroup({ tasks: [aTask(), aTask({ name: 'log' })] }), aGroup({ name: 'db' })] });
    const b = aJob({ groups: [aGroup({ tasks: [aTask(), aTask({ name: 'log', image: 'fluent:2' })] }), aGroup({ name: 'cache' })] });
    assert.equal(summarizeJobChange(a, b), 'group db removed, web.log image karu/hello:1 → fluent:2, group cache added');
  });

  it('names changed env variables but not their values', () => {
    const a = aJob({ groups: [aGroup({ tasks: [aTask({ env: { TOKEN: 'old', KEEP: '1' } })] })] });
    const b = aJob({ groups: [aGroup({ tasks: [aTask({ env: { TOKEN: 'new', KEEP: '1', ADDED: 'x' } })] })] });
    const s = summarizeJobChange(a, b);
    assert.equal(s, 'env ADDED, TOKEN changed');
    assert.doesNotMatch(s, /new|old/);
  });

  it('says when nothing in the spec changed', () => {
    assert.equal(summarizeJobChange(aJob(), aJob({ version: 2, submittedAt: 5 })), 'no change to the spec');
  });
});
