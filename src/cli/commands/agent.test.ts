import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../errors.js';
import { agentInput } from './agent.js';

const URL = 'http://127.0.0.1:4646';

test('the data plane is on by default and --no-dataplane turns it off', () => {
  assert.equal(agentInput(URL, '/tmp/a', {}).dataPlane, true);
  assert.equal(agentInput(URL, '/tmp/a', { dataplane: false }).dataPlane, false);
  assert.equal(agentInput(URL, '/tmp/a', {}).ingress, undefined);
});

test('--ingress, or any --ingress-* option, makes an ingress node with what was given', () => {
  assert.deepEqual(agentInput(URL, '/tmp/a', { ingress: true }).ingress, {});
  assert.deepEqual(agentInput(URL, '/tmp/a', { ingressHttp: 8080, ingressAddress: '127.0.0.1' }).ingress, { address: '127.0.0.1', httpPort: 8080 });
  assert.deepEqual(agentInput(URL, '/tmp/a', { ingressHttps: 443, ingressCert: 'c.pem', ingressKey: 'k.pem' }).ingress, { httpsPort: 443, certFile: 'c.pem', keyFile: 'k.pem' });
  assert.deepEqual(agentInput(URL, '/tmp/a', { ingressWorkers: 1 }).ingress, { workers: 1 });
});

test('--ingress with --no-dataplane is a usage error', () => {
  assert.throws(() => agentInput(URL, '/tmp/a', { ingress: true, dataplane: false }), UsageError);
});
