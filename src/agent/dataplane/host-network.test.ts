import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inIpv4Range } from './host-network.js';

test('inIpv4Range: the service range and nothing else', () => {
  assert.equal(inIpv4Range('10.99.0.1', '10.99.0.0/16'), true);
  assert.equal(inIpv4Range('10.99.255.254', '10.99.0.0/16'), true);
  assert.equal(inIpv4Range('10.100.0.1', '10.99.0.0/16'), false);
  assert.equal(inIpv4Range('127.0.0.1', '10.99.0.0/16'), false);
  assert.equal(inIpv4Range('127.78.3.9', '127.78.3.0/24'), true);
  assert.equal(inIpv4Range('1.2.3.4', '0.0.0.0/0'), true);
  assert.equal(inIpv4Range('fe80::1', '10.99.0.0/16'), false);
  assert.equal(inIpv4Range('10.99.0.1', 'garbage'), false);
});
