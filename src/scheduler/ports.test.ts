import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { seededRng } from '../lib/rng.js';
import { PortOverlay } from './overlay.js';
import { assignPorts, freeDynamicPorts, staticPortConflict } from './ports.js';
import { aGroup, aNode, aTask } from './testing/builders.js';

describe('ports', () => {
  const node = aNode({ portRange: { min: 100, max: 104 } });

  it('gives static ports as asked and refuses taken ones', () => {
    const group = aGroup({ tasks: [aTask({ ports: [{ label: 'http', to: 80, static: 8080 }] })] });
    assert.deepEqual(assignPorts(group, node, new Set(), seededRng(1)), [{ task: 'main', label: 'http', host: 8080, to: 80 }]);
    assert.equal(assignPorts(group, node, new Set([8080]), seededRng(1)), undefined);
    assert.equal(staticPortConflict(group, new Set([8080])), 8080);
  });

  it('refuses a group that asks for the same static port twice', () => {
    const group = aGroup({ tasks: [aTask({ name: 'a', ports: [{ label: 'x', to: 1, static: 9 }] }), aTask({ name: 'b', ports: [{ label: 'y', to: 2, static: 9 }] })] });
    assert.equal(staticPortConflict(group, new Set()), 9);
  });

  it('finds the last free dynamic port of a crowded range, and fails when none is left', () => {
    const group = aGroup({ tasks: [aTask({ ports: [{ label: 'http', to: 80 }] })] });
    for (const seed of [1, 2, 3, 4]) {
      const ports = assignPorts(group, node, new Set([100, 101, 102, 104]), seededRng(seed));
      assert.deepEqual(ports?.map((p) => p.host), [103]);
    }
    assert.equal(assignPorts(group, node, new Set([100, 101, 102, 103, 104]), seededRng(1)), undefined);
    assert.equal(freeDynamicPorts(node, new PortOverlay(new Set([100, 101, 8080]))), 3);
  });

  it('does not give the same dynamic port to two ports of one allocation, nor a static one', () => {
    const group = aGroup({
      tasks: [aTask({ ports: [{ label: 'a', to: 1 }, { label: 'b', to: 2 }, { label: 'c', to: 3, static: 102 }, { label: 'd', to: 4 }] })],
    });
    for (let seed = 0; seed < 20; seed++) {
      const hosts = assignPorts(group, node, new Set([100]), seededRng(seed))!.map((p) => p.host);
      assert.equal(new Set(hosts).size, 4);
      assert.ok(!hosts.includes(100));
    }
  });
});
