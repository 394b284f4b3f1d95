import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeId } from '../../core/ids.js';
import { aNode, anAlloc } from '../testing/builders.js';
import { FakeApi } from '../testing/fake-api.js';
import { runKaru } from '../testing/harness.js';

function cluster(): FakeApi {
  const api = new FakeApi();
  api.nodes = [
    aNode(),
    aNode({ id: 'node_01hzzzzzzz2222aaaabbbbcccc' as NodeId, name: 'node2', address: '10.0.0.6', status: 'down', drain: true, eligibility: 'ineligible', allocations: { running: 0, total: 0 }, allocated: { cpuMhz: 0, memoryMb: 0 } }),
  ];
  api.allocations = [anAlloc({ index: 0 }), anAlloc({ index: 1, clientStatus: 'complete' })];
  return api;
}

describe('karu node', () => {
  it('ls: a row per node with usage', async () => {
    const r = await runKaru(['node', 'ls'], { api: cluster() });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^ID\s+NAME\s+ADDRESS\s+STATUS\s+ELIGIBILITY\s+DRAIN\s+ALLOCS\s+CPU\s+MEMORY$/);
    assert.match(lines[1]!, /^1111aaaa\s+node1\s+10\.0\.0\.5\s+ready\s+eligible\s+no\s+2\s+200 MHz\/4 GHz\s+64 MB\/8 GB$/);
    assert.match(lines[2]!, /^2222aaaa\s+node2\s+10\.0\.0\.6\s+down\s+ineligible\s+yes\s+0\s+0 MHz\/4 GHz\s+0 MB\/8 GB$/);
  });

  it('ls --json parses', async () => {
    const r = await runKaru(['node', 'ls', '--json'], { api: cluster() });
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 2);
  });

  it('status: finds a node by name and shows its live allocations', async () => {
    const r = await runKaru(['node', 'status', 'node1'], { api: cluster() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Drivers {5}= docker: healthy \(Docker 20\.10\.24\)$/m);
    assert.match(r.stdout, /^Labels {6}= zone=a$/m);
    assert.match(r.stdout, /^cpu\.cores = 4$/m);
    assert.match(r.stdout, /^0000aaaa\s+hello\.web\[0\]\s+1\s+running\s+10\.0\.0\.5:20000→8080\s+30s ago$/m);
    assert.doesNotMatch(r.stdout, /hello\.web\[1\]/, 'finished allocations are left out');
  });

  it('status: names the node it could not find', async () => {
    const r = await runKaru(['node', 'status', 'node9'], { api: cluster() });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "Error: no node 'node9' (list them with `karu node ls`)\n");
  });
});
