import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aNode, anAlloc, aTaskState, T0 } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

function cluster(): FakeApi {
  const api = new FakeApi();
  api.nodes = [aNode()];
  api.allocations = [
    anAlloc({
      index: 0,
      taskStates: {
        server: aTaskState({
          restarts: 1,
          containerId: '0123456789abcdef0123',
          events: [
            { type: 'started', time: T0 - 20_000, message: 'task started' },
            { type: 'terminated', time: T0 - 10_000, message: 'exited', exitCode: 137 },
            { type: 'restarting', time: T0 - 9_000, message: 'restarting in 1s' },
          ],
        }),
      },
    }),
  ];
  return api;
}

describe('karu alloc status', () => {
  it('shows placement, task states and events', async () => {
    const r = await runKaru(['alloc', 'status', '0000aa'], { api: cluster() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name {7}= hello\.web\[0\]$/m);
    assert.match(r.stdout, /^Job {8}= default\/hello version 1$/m);
    assert.match(r.stdout, /^Ports {6}= server\.http 10\.0\.0\.5:20000→8080$/m);
    assert.match(r.stdout, /^server\s+running\s+1\s+-\s+30s ago\s+-\s+0123456789ab$/m);
    assert.match(r.stdout, /^Events of server\n/m);
    assert.match(r.stdout, /terminated\s+exited \(exit code 137\)$/m);
  });

  it('prints JSON with --json', async () => {
    const r = await runKaru(['alloc', 'status', '0000aa', '--json'], { api: cluster() });
    assert.equal((JSON.parse(r.stdout) as { taskStates: { server: { restarts: number } } }).taskStates.server.restarts, 1);
  });

  it('names the allocation it could not find', async () => {
    const r = await runKaru(['alloc', 'status', 'zzzz9999'], { api: cluster() });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error: no allocation 'zzzz9999' (list them with `karu ps --all`)\n");
  });
});
