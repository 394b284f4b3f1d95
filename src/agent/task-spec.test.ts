import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AllocId, NodeId } from '../core/ids.js';
import { PAUSE_TASK } from '../core/service.js';
import { buildPauseSpec, buildTaskSpec, containerName, volumeName } from './task-spec.js';
import { anAlloc, aTask } from './testing.js';

const alloc = anAlloc('node_1' as NodeId, {
  id: 'alloc_01hzzzzzzzabcdefgh12345678' as AllocId,
  jobName: 'my shop',
  index: 2,
  ports: [
    { task: 'web', label: 'http', host: 21000, to: 80 },
    { task: 'other', label: 'db', host: 21001, to: 5432 },
  ],
});

test('container names are docker-safe and unique per alloc and task', () => {
  assert.equal(containerName(alloc, 'web/1'), 'karu-my-shop-app-2-web-1-abcdefgh');
});

test('the spec carries labels, the task env plus KARU_* variables, and only this task\'s ports', () => {
  const spec = buildTaskSpec(alloc, aTask({ env: { A: '1' }, command: 'sh', args: ['-c', 'x'] }), { id: 'node_1', address: '127.0.0.1' });
  assert.deepEqual(spec.labels, { nodeId: 'node_1', allocId: alloc.id, jobName: 'my shop', namespace: 'default', group: 'app', task: 'web' });
  assert.equal(spec.command, 'sh');
  assert.deepEqual(spec.ports, [{ host: 21000, to: 80 }]);
  assert.deepEqual(spec.env, {
    A: '1',
    KARU_ALLOC_ID: alloc.id,
    KARU_ALLOC_NAME: 'my shop.app[2]',
    KARU_ALLOC_INDEX: '2',
    KARU_JOB: 'my shop',
    KARU_NAMESPACE: 'default',
    KARU_GROUP: 'app',
    KARU_TASK: 'web',
    KARU_NODE_ID: 'node_1',
    KARU_PORT_HTTP: '21000',
    KARU_HOST_PORT_HTTP: '21000',
    KARU_ADDR_HTTP: '127.0.0.1:21000',
  });
});

test('volumes are per allocation; DNS goes to the namespace holder only', () => {
  const node = { id: 'node_1', address: '127.0.0.1', dnsServer: '10.99.0.1' };
  const task = aTask({ volumeMounts: [{ volume: 'data', target: '/data', readOnly: true }] });
  assert.equal(volumeName(alloc.id, 'data'), 'karu-abcdefgh-data');
  const alone = buildTaskSpec(alloc, task, node);
  assert.deepEqual(alone.volumes, [{ name: 'karu-abcdefgh-data', target: '/data', readOnly: true }]);
  assert.deepEqual(alone.dns, { servers: ['10.99.0.1'], search: ['default.karu'] });
  assert.deepEqual(alone.ports, [{ host: 21000, to: 80 }]);
  const inPod = buildTaskSpec(alloc, task, node, true);
  assert.deepEqual(inPod.ports, []);
  assert.equal(inPod.dns, undefined);
  assert.equal(inPod.env.KARU_PORT_HTTP, '21000', 'a task still learns its own ports');
  assert.equal(buildTaskSpec(alloc, aTask(), { id: 'node_1', address: '127.0.0.1' }).dns, undefined, 'no DNS server: the engine default');
});

test('the pause spec holds every port of the allocation and the DNS config', () => {
  const spec = buildPauseSpec(alloc, { id: 'node_1', address: '127.0.0.1', dnsServer: '10.99.0.1' });
  assert.equal(spec.kind, 'pause');
  assert.equal(spec.labels.task, PAUSE_TASK);
  assert.equal(spec.name, 'karu-my-shop-app-2-.pause-abcdefgh');
  assert.deepEqual(spec.ports, [{ host: 21000, to: 80 }, { host: 21001, to: 5432 }]);
  assert.deepEqual(spec.dns, { servers: ['10.99.0.1'], search: ['default.karu'] });
  assert.equal(spec.joinNetworkOf, undefined);
});
