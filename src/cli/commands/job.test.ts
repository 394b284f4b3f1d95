import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aGroup, aJob, aTask, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

describe('karu job', () => {
  it('history: newest first, each with what changed', async () => {
    const api = new FakeApi();
    const v1 = aJob({ version: 1, submittedAt: T0 - 7_200_000 });
    const v2 = aJob({ version: 2, submittedAt: T0 - 3_600_000, groups: [aGroup({ count: 3, tasks: [aTask({ image: 'karu/hello:2' })] })] });
    const v3 = aJob({ version: 3, submittedAt: T0 - 60_000, groups: [aGroup({ count: 3, tasks: [aTask({ image: 'karu/hello:2', env: { MODE: 'x' } })] })] });
    api.jobs = [v3];
    api.versions.set('default/hello', [v1, v2]);
    const r = await runKaru(['job', 'history', 'hello'], { api });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^VERSION\s+SUBMITTED\s+CHANGES$/);
    assert.match(lines[1]!, /^3\s+.*\(1m ago\)\s+env MODE changed$/);
    assert.match(lines[2]!, /^2\s+.*\(1h ago\)\s+count 2 → 3, image karu\/hello:1 → karu\/hello:2$/);
    assert.match(lines[3]!, /^1\s+.*\(2h ago\)\s+first version$/);
  });

  it('history --json parses', async () => {
    const api = new FakeApi();
    api.jobs = [aJob()];
    const r = await runKaru(['job', 'history', 'hello', '--json'], { api });
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
  });

  it('schema prints a JSON Schema', async () => {
    const r = await runKaru(['job', 'schema'], { api: new FakeApi() });
    const schema = JSON.parse(r.stdout) as { type: string; properties: Record<string, unknown> };
    assert.equal(schema.type, 'object');
    assert.ok('groups' in schema.properties);
  });

  it('validate: OK for a good file, problems with file:line:col and exit 1 for a bad one', async () => {
    const api = new FakeApi();
    const good = 'name: hello\ngroups:\n  - name: web\n    tasks:\n      - name: s\n        image: busybox:1\n';
    const ok = await runKaru(['job', 'validate', 'good.yaml'], { api, files: { 'good.yaml': good } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^good\.yaml: OK — service job 'hello'/);

    const bad = await runKaru(['job', 'validate', 'bad.yaml'], { api, files: { 'bad.yaml': good.replace('image: busybox:1', 'image: 7') + '    count: two\n' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error: bad\.yaml is not valid \(\d+ problems?\):$/m);
    assert.match(bad.stderr, /^ {2}bad\.yaml:7:12 {2}groups\[0\]\.count: /m);

    const json = await runKaru(['job', 'validate', 'bad.yaml', '--json'], { api, files: { 'bad.yaml': 'name: 1' } });
    assert.equal((JSON.parse(json.stdout) as { ok: boolean }).ok, false);
    assert.equal(api.requests.length, 0, 'validation is local');
  });
});
