import assert from 'node:assert/strict';
import { test } from 'node:test';
import { upstreamFromResolvConf } from './resolv-conf.js';

test('the first usable nameserver of resolv.conf is the upstream', () => {
  const text = '# generated\nsearch example.org\nnameserver 10.0.0.2 ; primary\nnameserver 10.0.0.3\noptions ndots:2\n';
  assert.deepEqual(upstreamFromResolvConf(text), { address: '10.0.0.2' });
});

test("the node's own DNS address is skipped (forwarding to ourselves would loop)", () => {
  assert.deepEqual(upstreamFromResolvConf('nameserver 10.99.0.1\nnameserver 192.168.1.1\n', ['10.99.0.1']), { address: '192.168.1.1' });
});

test('IPv6 with a scope, comments and junk lines', () => {
  assert.deepEqual(upstreamFromResolvConf('#nameserver 1.1.1.1\nnameserver not-an-ip\nnameserver fe80::1%eth0\n'), { address: 'fe80::1' });
});

test('no nameserver: no upstream (names outside .karu are refused)', () => {
  assert.equal(upstreamFromResolvConf('search local\n'), undefined);
  assert.equal(upstreamFromResolvConf('nameserver 10.99.0.1\n', ['10.99.0.1']), undefined);
});
