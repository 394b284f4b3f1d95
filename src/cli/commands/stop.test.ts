import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aJob } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

describe('karu stop', () => {
  it('stops, or stops and purges, a job', async () => {
    const api = new FakeApi();
    api.jobs = [aJob()];
    const r = await runKaru(['stop', 'hello'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Job hello stopped, evaluation eval_/);
    const p = await runKaru(['stop', 'hello', '--purge'], { api });
    assert.match(p.stdout, /^Job hello stopped and purged/);
    assert.deepEqual(
      api.requests.map((q) => `${q.method} ${q.path}`),
      ['DELETE /v1/jobs/default/hello', 'DELETE /v1/jobs/default/hello?purge=true'],
    );
  });

  it('names the job it could not find', async () => {
    const r = await runKaru(['stop', 'nope'], { api: new FakeApi() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no job 'nope' in namespace 'default'/);
  });
});
