import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aNode, anAlloc } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

function cluster(): FakeApi {
  const api = new FakeApi();
  api.nodes = [aNode()];
  api.allocations = [
    anAlloc({ index: 1, clientStatus: 'pending', taskStates: {} }),
    anAlloc({ index: 0 }),
    anAlloc({ index: 2, clientStatus: 'complete', desiredStatus: 'stop', ports: [] }),
    anAlloc({ index: 3, clientStatus: 'failed', ports: [] }),
  ];
  return api;
}

describe('karu ps', () => {
  it('lists running and pending allocations with node address ports', async () => {
    const r = await runKaru(['ps'], { api: cluster() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+NODE\s+VERSION\s+STATUS\s+PORTS\s+AGE$/);
    assert.match(lines[1]!, /^0000aaaa\s+hello\.web\[0\]\s+node1\s+1\s+running\s+10\.0\.0\.5:20000→8080\s+30s ago$/);
    assert.match(lines[2]!, /^0001aaaa\s+hello\.web\[1\]\s+node1\s+1\s+pending\s+10\.0\.0\.5:20001→8080\s+30s ago$/);
    assert.equal(lines.length, 3);
  });

  it('includes finished allocations with --all', async () => {
    const r = await runKaru(['ps', '--all'], { api: cluster() });
    assert.equal(r.stdout.trimEnd().split('\n').length, 5);
    assert.match(r.stdout, /hello\.web\[2\]\s+node1\s+1\s+complete\s+-/);
  });

  it('prints JSON with --json', async () => {
    const r = await runKaru(['ps', '--json'], { api: cluster() });
    const allocs = JSON.parse(r.stdout) as { index: number; ports: { host: number }[] }[];
    assert.deepEqual(
      allocs.map((a) => a.index),
      [0, 1],
    );
    assert.equal(allocs[0]?.ports[0]?.host, 20000);
  });

  it('says when nothing runs', async () => {
    const r = await runKaru(['ps'], { api: new FakeApi() });
    assert.match(r.stdout, /No running allocations/);
  });
});
