import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EvalId } from '../../core/ids.js';
import { aJob, anAlloc, anEval, aTaskState, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

function cluster(): FakeApi {
  const api = new FakeApi();
  api.jobs = [aJob(), aJob({ name: 'api', version: 3, submittedAt: T0 - 7_200_000 }), aJob({ namespace: 'team-a', name: 'cron', type: 'batch' })];
  api.allocations = [
    anAlloc({ index: 0 }),
    anAlloc({ index: 1, clientStatus: 'pending', taskStates: {} }),
    anAlloc({ jobName: 'api', jobVersion: 3, index: 0, clientStatus: 'failed', id: 'alloc_01hzzzzzzzffff0000bbbbcccc' as never }),
  ];
  return api;
}

describe('karu status', () => {
  it('lists jobs in a table with their allocation counts', async () => {
    const r = await runKaru(['status'], { api: cluster() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^NAME\s+TYPE\s+VERSION\s+STATUS\s+DESIRED\s+RUNNING\s+PENDING\s+FAILED\s+SUBMITTED$/);
    assert.match(lines[1]!, /^api\s+service\s+3\s+dead\s+2\s+0\s+0\s+1\s+2h ago$/);
    assert.match(lines[2]!, /^hello\s+service\s+1\s+running\s+2\s+1\s+1\s+0\s+1m ago$/);
    assert.match(lines[3]!, /^team-a\/cron\s+batch\s+1\s+pending\s+2\s+0\s+0\s+0\s+1m ago$/);
    assert.ok(lines.every((l) => l === l.trimEnd()), 'no trailing blanks');
  });

  it('passes --namespace to the server', async () => {
    const api = cluster();
    await runKaru(['status', '--namespace', 'team-a'], { api });
    assert.equal(api.requests[0]?.path, '/v1/jobs?namespace=team-a');
  });

  it('prints the list as JSON with --json', async () => {
    const r = await runKaru(['status', '--json'], { api: cluster() });
    const parsed = JSON.parse(r.stdout) as { name: string; summary: { running: number } }[];
    assert.deepEqual(
      parsed.map((j) => j.name),
      ['hello', 'api', 'cron'],
    );
    assert.equal(parsed[0]?.summary.running, 1);
  });

  it('says how to start when there are no jobs', async () => {
    const r = await runKaru(['status'], { api: new FakeApi() });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /No jobs\. Deploy one with `karu deploy FILE`/);
  });

  it('shows one job: header, allocations, placement failures and recent task errors', async () => {
    const api = cluster();
    api.allocations.push(
      anAlloc({
        index: 1,
        id: 'alloc_01hzzzzzzzdead0000bbbbcccc' as never,
        desiredStatus: 'stop',
        clientStatus: 'failed',
        clientDescription: 'task server failed',
        createdAt: T0 - 600_000,
        taskStates: { server: aTaskState({ state: 'dead', failed: true, events: [{ type: 'terminated', time: T0 - 500_000, message: 'exited with code 1', exitCode: 1 }] }) },
      }),
    );
    api.evaluations = [
      anEval({
        id: 'eval_01hzzzzzzz0003aaaabbbbcccc' as EvalId,
        status: 'blocked',
        createdAt: T0,
        failedPlacements: { web: { unplaced: 1, nodesEvaluated: 1, nodesAvailable: 1, filtered: { PORTS: 1 }, explanations: ['1 node: port 8080 already in use'] } },
      }),
      anEval(),
    ];
    const r = await runKaru(['status', 'hello'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name {8}= hello$/m);
    assert.match(r.stdout, /^Allocations = 2 desired, 1 running, 1 pending, 1 failed/m);
    assert.match(r.stdout, /^ID\s+NAME\s+NODE\s+VERSION\s+DESIRED\s+STATUS\s+AGE$/m);
    assert.match(r.stdout, /^0000aaaa\s+hello\.web\[0\]\s+node1\s+1\s+run\s+running\s+30s ago$/m);
    assert.match(r.stdout, /^dead0000\s+hello\.web\[1\]\s+node1\s+1\s+stop\s+failed\s+10m ago$/m);
    assert.match(r.stdout, /^Placement failed for group web: 1 allocation unplaced \(1 node evaluated, 1 available\)\n {2}1 node: port 8080 already in use$/m);
    assert.match(r.stdout, /^Allocation dead0000 \(hello\.web\[1\]\) on node1 failed: task server failed\n {2}server .* terminated: exited with code 1 \(exit code 1\)$/m);
  });

  it('does not show a placement failure that a newer evaluation resolved', async () => {
    const api = cluster();
    api.evaluations = [anEval({ createdAt: T0 }), anEval({ id: 'eval_old' as EvalId, status: 'blocked', createdAt: T0 - 1000, failedPlacements: { web: { unplaced: 1, nodesEvaluated: 0, nodesAvailable: 0, filtered: {}, explanations: [] } } })];
    const r = await runKaru(['status', 'hello'], { api });
    assert.doesNotMatch(r.stdout, /Placement failed/);
  });

  it('prints the job detail as JSON with --json', async () => {
    const r = await runKaru(['status', 'hello', '--json'], { api: cluster() });
    const detail = JSON.parse(r.stdout) as { job: { name: string }; allocations: unknown[] };
    assert.equal(detail.job.name, 'hello');
    assert.equal(detail.allocations.length, 2);
  });

  it('names the job it could not find', async () => {
    const r = await runKaru(['status', 'nope'], { api: cluster() });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error: no job 'nope' in namespace 'default' (list them with `karu status`)\n");
  });

  it('accepts NAMESPACE/NAME', async () => {
    const api = cluster();
    const r = await runKaru(['status', 'team-a/cron'], { api });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.requests[0]?.path, '/v1/jobs/team-a/cron');
  });

  it('says how to start a server when none answers', async () => {
    const api = cluster();
    api.down = true;
    const r = await runKaru(['--server', 'http://10.1.2.3:4646', 'status'], { api });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^Error: cannot reach the Karu server at http:\/\/10\.1\.2\.3:4646/);
    assert.match(r.stderr, /Start one with `karu dev`/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('shows the stack trace with KARU_DEBUG=1', async () => {
    const api = cluster();
    api.down = true;
    const r = await runKaru(['status'], { api, env: { KARU_DEBUG: '1' } });
    assert.match(r.stderr, /\n\s+at /);
  });

  it('takes the server from KARU_SERVER', async () => {
    const api = cluster();
    api.down = true;
    const r = await runKaru(['status'], { api, env: { KARU_SERVER: 'http://karu.internal:9999' } });
    assert.match(r.stderr, /karu\.internal:9999/);
  });

  it('colours only on a TTY without NO_COLOR', async () => {
    const tty = await runKaru(['status'], { api: cluster(), tty: true });
    assert.match(tty.stdout, /\x1b\[32mrunning/);
    const noColor = await runKaru(['status'], { api: cluster(), tty: true, env: { NO_COLOR: '1' } });
    assert.doesNotMatch(noColor.stdout, /\x1b\[/);
  });
});
