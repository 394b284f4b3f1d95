import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jobFileSchema } from './job-schema.js';

const base = (group: Record<string, unknown> = {}, task: Record<string, unknown> = {}) => ({
  name: 'db',
  groups: [{ name: 'main', ...group, tasks: [{ name: 'pg', image: 'karu/busybox:1', ...task }] }],
});

describe('job file: migrate policy and host mounts', () => {
  it('leaves both out when not given (defaults apply where used)', () => {
    const job = jobFileSchema.parse(base());
    assert.equal(job.groups[0]!.migrate, undefined);
    assert.equal(job.groups[0]!.tasks[0]!.mounts, undefined);
  });

  it('reads migrate with durations, defaults filled in', () => {
    const job = jobFileSchema.parse(base({ migrate: { maxParallel: 2, minHealthyTime: '10s' } }));
    assert.deepEqual(job.groups[0]!.migrate, { maxParallel: 2, minHealthyTimeMs: 10_000 });
    assert.deepEqual(jobFileSchema.parse(base({ migrate: {} })).groups[0]!.migrate, { maxParallel: 1, minHealthyTimeMs: 0 });
  });

  it('refuses maxParallel 0, naming the field', () => {
    const r = jobFileSchema.safeParse(base({ migrate: { maxParallel: 0 } }));
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0]!.path, ['groups', 0, 'migrate', 'maxParallel']);
  });

  it('reads mounts, readOnly defaulting to false; paths must be absolute', () => {
    const job = jobFileSchema.parse(base({}, { mounts: [{ source: '/srv/db', target: '/var/lib/db' }] }));
    assert.deepEqual(job.groups[0]!.tasks[0]!.mounts, [{ source: '/srv/db', target: '/var/lib/db', readOnly: false }]);
    for (const [source, target] of [['srv/db', '/x'], ['/srv/../etc', '/x'], ['/srv/db', 'data']]) {
      const r = jobFileSchema.safeParse(base({}, { mounts: [{ source, target }] }));
      assert.equal(r.success, false, `${source} → ${target}`);
      assert.match(r.error!.issues[0]!.message, /absolute path/);
    }
  });
});
