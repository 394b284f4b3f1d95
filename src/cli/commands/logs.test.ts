import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { anAlloc } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

describe('karu logs', () => {
  it('writes stdout lines to stdout and stderr lines to stderr, passing task, tail and follow', async () => {
    const api = new FakeApi();
    const alloc = anAlloc();
    api.allocations = [alloc];
    api.logs.set(alloc.id, [
      { stream: 'stdout', line: 'listening on :8080' },
      { stream: 'stderr', line: 'warning: no index.html' },
      { stream: 'stdout', line: 'GET /' },
    ]);
    const r = await runKaru(['logs', '0000aaaa/server', '-f', '--tail', '50'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'listening on :8080\nGET /\n');
    assert.equal(r.stderr, 'warning: no index.html\n');
    assert.equal(api.requests[0]?.path, '/v1/allocations/0000aaaa/logs?task=server&follow=true&tail=50');
  });

  it('names the allocation it could not find', async () => {
    const r = await runKaru(['logs', 'nope1234'], { api: new FakeApi() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: no allocation 'nope1234' \(list them with `karu ps --all`\)$/m);
  });

  it('rejects a bad --tail as a usage error', async () => {
    const r = await runKaru(['logs', 'x', '--tail', 'lots'], { api: new FakeApi() });
    assert.equal(r.code, 2);
  });
});
