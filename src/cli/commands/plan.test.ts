import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PlanJobResponse } from '../../client/plan-types.js';
import type { AllocId, NodeId } from '../../core/ids.js';
import { aGroup, aJob, anAlloc, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

const HELLO = `name: hello
groups:
  - name: web
    count: 3
    tasks:
      - name: server
        image: karu/hello:2
        resources:
          cpu: 100
          memory: 32
`;

const N1 = 'node_01hzzzzzzz1111aaaabbbbcccc' as NodeId;
const N2 = 'node_01hzzzzzzz2222aaaabbbbcccc' as NodeId;

function answer(o: Partial<PlanJobResponse> = {}): PlanJobResponse {
  return {
    job: aJob({ version: 3, groups: [aGroup({ count: 3 })] }),
    result: 'updated',
    currentVersion: 2,
    diff: [
      { op: 'change', path: 'groups[web].count', before: 2, after: 3 },
      { op: 'change', path: 'groups[web].tasks[server].image', before: 'karu/hello:1', after: 'karu/hello:2' },
      { op: 'add', path: 'groups[web].services[web]' },
      { op: 'change', path: 'groups[web].tasks[server].env.TOKEN' },
    ],
    place: [
      { group: 'web', nodeId: N1, nodeName: 'node1', count: 2, indexes: [0, 1] },
      { group: 'web', nodeId: N2, nodeName: 'node2', count: 1, indexes: [2] },
    ],
    stop: [
      { allocId: 'alloc_01hzzzzzzz0000aaaabbbbcccc' as AllocId, name: 'hello.web[0]', nodeName: 'node1', reason: 'job updated' },
      { allocId: 'alloc_01hzzzzzzz0001aaaabbbbcccc' as AllocId, name: 'hello.web[1]', nodeName: 'node2', reason: 'job updated' },
    ],
    inPlaceUpdate: [],
    markLost: [],
    preempt: [
      { allocId: 'alloc_01hzzzzzzz0009aaaabbbbcccc' as AllocId, name: 'batch.work[9]', nodeName: 'node2', namespace: 'default', jobName: 'batch', priority: 20, nodeId: N2, forName: 'hello.web[2]' },
    ],
    failures: {},
    fits: true,
    ...o,
  };
}

describe('karu plan', () => {
  it('sends the file as written and prints the diff and the dry run; exit 0 when everything fits', async () => {
    const api = new FakeApi();
    let sent: Record<string, unknown> | undefined;
    api.onPlan = (spec) => ((sent = spec), answer());
    const r = await runKaru(['plan', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(sent?.name, 'hello');
    assert.equal(api.requests.filter((q) => q.method === 'POST' && q.path === '/v1/jobs').length, 0, 'plan never registers');
    const out = r.stdout;
    assert.match(out, /^Job hello: version 2 → 3\n/);
    assert.match(out, /  ~ groups\[web\]\.count: 2 → 3\n/);
    assert.match(out, /  ~ groups\[web\]\.tasks\[server\]\.image: karu\/hello:1 → karu\/hello:2\n/);
    assert.match(out, /  \+ groups\[web\]\.services\[web\]\n/);
    assert.match(out, /  ~ groups\[web\]\.tasks\[server\]\.env\.TOKEN \(value hidden\)\n/);
    assert.match(out, /place +hello\.web ×2 on node1 \[0, 1\]/);
    assert.match(out, /place +hello\.web ×1 on node2 \[2\]/);
    assert.match(out, /stop +hello\.web\[1\] on node2: job updated/);
    assert.match(out, /preempt +batch\.work\[9\] on node2 \(job batch, priority 20\) for hello\.web\[2\]/);
    assert.match(out, /Everything fits: 3 allocations to place, 2 to stop, 1 to preempt\./);
  });

  it('exit 1 with the reasons when a placement would fail', async () => {
    const api = new FakeApi();
    api.onPlan = () =>
      answer({
        place: [],
        stop: [],
        preempt: [],
        fits: false,
        failures: { web: { unplaced: 3, nodesEvaluated: 2, nodesAvailable: 0, filtered: { 'not enough memory': 2 }, explanations: ['2 nodes: not enough memory (needs 9000 MB, most free 8000 MB)'] } },
      });
    const r = await runKaru(['plan', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Placement failed for group web: 3 allocations unplaced \(2 nodes evaluated, 0 available\)/);
    assert.match(r.stdout, /2 nodes: not enough memory/);
    assert.match(r.stderr, /would fail now/);
  });

  it('a new job and an unchanged one read as such', async () => {
    const api = new FakeApi();
    api.onPlan = () => answer({ result: 'created', currentVersion: undefined, job: aJob({ version: 1 }), diff: [{ op: 'add', path: 'job[hello]' }], stop: [], preempt: [] });
    let r = await runKaru(['plan', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.match(r.stdout, /^Job hello: new job \(would be version 1\)/);
    api.onPlan = () => answer({ result: 'unchanged', job: aJob({ version: 2 }), diff: [], place: [], stop: [], preempt: [] });
    r = await runKaru(['plan', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Job hello: unchanged \(version 2\)/);
    assert.match(r.stdout, /  nothing to change/);
  });

  it('--json prints the API answer; the exit code still says whether it fits', async () => {
    const api = new FakeApi();
    api.onPlan = () => answer({ fits: false, failures: { web: { unplaced: 1, nodesEvaluated: 1, nodesAvailable: 0, filtered: {}, explanations: [] } } });
    const r = await runKaru(['plan', 'hello.yaml', '--json'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.equal((JSON.parse(r.stdout) as PlanJobResponse).place.length, 2);
  });

  it('a file error is reported with its position and nothing is sent', async () => {
    const api = new FakeApi();
    const r = await runKaru(['plan', 'bad.yaml'], { api, files: { 'bad.yaml': 'name: hello\ngroups:\n  - name: web\n    count: -1\n' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad\.yaml:\d+:\d+/);
    assert.equal(api.requests.length, 0);
  });
});

describe('karu status JOB with preempted allocations', () => {
  it('says which job preempted them', async () => {
    const api = new FakeApi();
    api.jobs = [aJob()];
    api.allocations = [
      anAlloc({ index: 0 }),
      anAlloc({
        index: 1,
        desiredStatus: 'stop',
        clientStatus: 'complete',
        preemptedBy: { byAllocId: 'alloc_01hzzzzzzz0042aaaabbbbcccc' as AllocId, byJob: 'default/urgent', byPriority: 90, at: T0 - 120_000 },
      }),
    ];
    const r = await runKaru(['status', 'hello'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /stop \(preempted\)/);
    assert.match(r.stdout, /Preempted\n  \S+  hello\.web\[1\] on node1: preempted by job default\/urgent \(priority 90, allocation \S+\), 2m ago/);
  });
});
