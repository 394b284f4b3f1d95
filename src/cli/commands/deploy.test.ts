import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EvalId } from '../../core/ids.js';
import { aJob, anAlloc, anEval, aTaskState, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

const HELLO = `name: hello
type: service
groups:
  - name: web
    count: 2
    tasks:
      - name: server
        image: karu/hello:1
        resources:
          cpu: 100
          memory: 32
        ports:
          - label: http
            to: 8080
`;

const EVAL = 'eval_01hzzzzzzz0002aaaabbbbcccc' as EvalId;

/** An API where registering `hello` creates version 1 and evaluation EVAL. */
function apiWithRegister(job = aJob()): FakeApi {
  const api = new FakeApi();
  api.onRegister = (spec) => {
    assert.equal(spec.name, 'hello');
    api.jobs = [job];
    api.evaluations = [anEval({ id: EVAL, status: 'pending', createdAt: T0 })];
    return { job, result: 'created', evalId: EVAL };
  };
  return api;
}

describe('karu deploy', () => {
  it('sends the file as written, follows the allocations to running and exits 0', async () => {
    const api = apiWithRegister();
    api.onGetJob = (call) => {
      if (call === 0) api.allocations = [0, 1].map((index) => anAlloc({ index, clientStatus: 'pending', taskStates: {} }));
      if (call === 1) api.allocations = [anAlloc({ index: 0 }), anAlloc({ index: 1, clientStatus: 'pending', taskStates: { server: aTaskState({ state: 'starting' }) } })];
      if (call === 2) api.allocations = [anAlloc({ index: 0 }), anAlloc({ index: 1 })];
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });

    assert.equal(r.code, 0, r.stderr);
    const register = api.requests.find((q) => q.method === 'POST');
    assert.deepEqual((register?.body as { job: { groups: { count: number }[] } }).job.groups[0]?.count, 2);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], `Job hello registered (version 1), evaluation ${EVAL}`);
    // Not a TTY: a line per change of an allocation, nothing repeated.
    const web1 = lines.filter((l) => l.includes('hello.web[1]'));
    assert.deepEqual(
      web1.map((l) => l.trim().split(/\s+/).slice(3).join(' ')),
      ['pending -', 'pending server: starting', 'running server: running'],
    );
    assert.equal(lines.filter((l) => l.includes('hello.web[0]')).length, 2);
    assert.match(r.stdout, /Deployed hello version 1: 2\/2 allocations running/);
    assert.doesNotMatch(r.stdout, /\x1b\[/, 'no escapes when not a TTY');
  });

  it('redraws in place on a terminal', async () => {
    const api = apiWithRegister();
    api.onGetJob = (call) => {
      api.allocations = [0, 1].map((index) => anAlloc({ index, clientStatus: call === 0 ? 'pending' : 'running' }));
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO }, tty: true });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('\x1b[2A\x1b[J'), 'moves up over the two rows drawn before');
  });

  it('exits 1 with the scheduler’s reasons when the job cannot be placed', async () => {
    const api = apiWithRegister();
    api.onGetJob = () => {
      api.evaluations = [
        anEval({
          id: EVAL,
          status: 'blocked',
          createdAt: T0,
          failedPlacements: {
            web: { unplaced: 2, nodesEvaluated: 3, nodesAvailable: 3, filtered: { MEMORY: 3 }, explanations: ['3 nodes: not enough memory (needs 64 GB, most free 7.5 GB)'] },
          },
        }),
      ];
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Placement failed for group web: 2 allocations unplaced \(3 nodes evaluated, 3 available\)/);
    assert.match(r.stderr, /^ {2}3 nodes: not enough memory \(needs 64 GB, most free 7\.5 GB\)$/m);
    assert.match(r.stderr, new RegExp(`evaluation ${EVAL} is blocked`));
  });

  it('ignores a blocked evaluation older than its own', async () => {
    const api = apiWithRegister();
    api.onGetJob = () => {
      api.evaluations = [
        anEval({ id: EVAL, status: 'complete', createdAt: T0 }),
        anEval({ id: 'eval_old' as EvalId, status: 'blocked', createdAt: T0 - 10_000, failedPlacements: { web: { unplaced: 1, nodesEvaluated: 0, nodesAvailable: 0, filtered: {}, explanations: ['no nodes'] } } }),
      ];
      api.allocations = [0, 1].map((index) => anAlloc({ index }));
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 0, r.stderr);
  });

  it('exits 1 and shows the task events when an allocation fails', async () => {
    const api = apiWithRegister();
    api.onGetJob = () => {
      api.allocations = [
        anAlloc({ index: 0, clientStatus: 'pending' }),
        anAlloc({
          index: 1,
          clientStatus: 'failed',
          clientDescription: 'task server failed',
          taskStates: {
            server: aTaskState({
              state: 'dead',
              failed: true,
              events: [
                { type: 'received', time: T0, message: 'task received by the agent' },
                { type: 'driver-failure', time: T0 + 1, message: 'No such image: karu/hello:1' },
                { type: 'not-restarting', time: T0 + 2, message: 'the image is missing: not retried' },
              ],
            }),
          },
        }),
      ];
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Allocation \w+ \(hello\.web\[1\]\) on node1 failed: task server failed/);
    assert.match(r.stderr, /driver-failure: No such image: karu\/hello:1/);
    assert.match(r.stderr, /karu alloc status \w{8}/);
  });

  it('reports an invalid file with file:line:col and sends nothing', async () => {
    const api = apiWithRegister();
    const bad = HELLO.replace('count: 2', 'count: -1');
    const r = await runKaru(['deploy', 'bad.yaml'], { api, files: { 'bad.yaml': bad } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: /);
    assert.match(r.stderr, /^ {2}bad\.yaml:5:12 {2}groups\[0\]\.count: /m);
    assert.equal(api.requests.length, 0);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  it('gives up after --timeout with exit 1', async () => {
    const api = apiWithRegister();
    api.onGetJob = () => {
      api.allocations = [anAlloc({ index: 0 }), anAlloc({ index: 1, clientStatus: 'pending' })];
    };
    const r = await runKaru(['deploy', 'hello.yaml', '--timeout', '10s'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Timed out after 10s: 1\/2 allocations of hello version 1 running/);
    const polls = api.requests.filter((q) => q.method === 'GET').length;
    assert.ok(polls >= 20 && polls <= 30, `polled every ~400 ms for 10 s (${polls})`);
  });

  it('rejects a bad --timeout as a usage error', async () => {
    const r = await runKaru(['deploy', 'hello.yaml', '--timeout', 'soon'], { api: new FakeApi(), files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /'soon' is not a duration/);
  });

  it('waits for a batch job to complete', async () => {
    const job = aJob({ type: 'batch', groups: [aJob().groups[0]!] });
    const api = apiWithRegister(job);
    api.onGetJob = (call) => {
      const status = call < 2 ? 'running' : 'complete';
      api.allocations = [0, 1].map((index) => anAlloc({ index, clientStatus: status, desiredStatus: call < 2 ? 'run' : 'stop', createdAt: T0 + 100 }));
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO.replace('service', 'batch') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2\/2 allocations complete/);
    assert.equal(api.requests.filter((q) => q.method === 'GET').length, 3);
  });

  it('returns after registering with --detach', async () => {
    const api = apiWithRegister();
    const r = await runKaru(['deploy', '--detach', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 0);
    assert.deepEqual(
      api.requests.map((q) => q.method),
      ['POST'],
    );
  });

  it('says so when the spec is unchanged', async () => {
    const api = new FakeApi();
    const job = aJob();
    api.jobs = [job];
    api.allocations = [0, 1].map((index) => anAlloc({ index }));
    api.onRegister = () => ({ job, result: 'unchanged' });
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Job hello unchanged \(version 1\)$/m);
  });

  it('stops watching on ^C with exit 130', async () => {
    const api = apiWithRegister();
    const interrupt = new AbortController();
    api.onGetJob = (call) => {
      api.allocations = [anAlloc({ index: 0, clientStatus: 'pending' })];
      if (call === 1) interrupt.abort();
    };
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO }, interrupt });
    assert.equal(r.code, 130);
    assert.match(r.stderr, /Stopped watching; the rollout goes on/);
  });

  it('says how to start a server when none answers', async () => {
    const api = apiWithRegister();
    api.down = true;
    const r = await runKaru(['deploy', 'hello.yaml'], { api, files: { 'hello.yaml': HELLO } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: cannot reach the Karu server at http:\/\/127\.0\.0\.1:4646: ECONNREFUSED/);
    assert.match(r.stderr, /`karu dev`/);
    assert.match(r.stderr, /`karu server`/);
  });
});
