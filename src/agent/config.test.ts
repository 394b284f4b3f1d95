import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KaruError } from '../core/errors.js';
import { defaultAddress, defaultIngressWorkers, resolveAgentConfig } from './config.js';

test('defaults are filled in and the config is frozen', () => {
  const c = resolveAgentConfig({ serverUrl: 'http://127.0.0.1:4646', dataDir: '/tmp/k' });
  assert.equal(c.httpPort, 4647);
  assert.deepEqual(c.portRange, { min: 20_000, max: 32_000 });
  assert.equal(c.reservedMemoryMb, 256);
  assert.equal(c.cpuMhz, undefined);
  assert.ok(c.name.length > 0);
  assert.ok(Object.isFrozen(c));
});

test('invalid input names the field', () => {
  assert.throws(
    () => resolveAgentConfig({ serverUrl: 'nope', dataDir: '/tmp/k', portRange: { min: 30_000, max: 20_000 } }),
    (e: unknown) => e instanceof KaruError && e.code === 'INVALID' && /serverUrl/.test(e.message) && /portRange/.test(e.message),
  );
});

test('the default address is the first non-internal IPv4', () => {
  const lo = { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: null } as const;
  const v6 = { address: 'fe80::1', netmask: 'ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 1 } as const;
  const eth = { address: '192.0.2.7', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: null } as const;
  assert.equal(defaultAddress({ lo: [lo], eth0: [v6, eth] }), '192.0.2.7');
  assert.equal(defaultAddress({ lo: [lo] }), '127.0.0.1');
});

test('the data plane is off unless asked for (tests and sim never touch the host network); ingress defaults', () => {
  const base = { serverUrl: 'http://127.0.0.1:4646', dataDir: '/tmp/k' };
  const off = resolveAgentConfig(base);
  assert.equal(off.dataPlane, false);
  assert.equal(off.ingress, undefined);
  const on = resolveAgentConfig({ ...base, dataPlane: true, ingress: {} });
  assert.equal(on.dataPlane, true);
  assert.deepEqual(on.ingress, { address: '0.0.0.0', httpPort: 80, https: undefined, workers: defaultIngressWorkers() });
  const tls = resolveAgentConfig({ ...base, dataPlane: true, ingress: { httpsPort: 443, certFile: '/c.pem', keyFile: '/k.pem', address: '10.0.0.5' } });
  assert.deepEqual(tls.ingress?.https, { port: 443, certFile: '/c.pem', keyFile: '/k.pem' });
});

test('ingress workers: one per core by default, at most 4; 1 runs the ingress in the agent', () => {
  assert.deepEqual([1, 2, 4, 8, 64].map((cores) => defaultIngressWorkers(cores)), [1, 2, 4, 4, 4]);
  const base = { serverUrl: 'http://127.0.0.1:4646', dataDir: '/tmp/k', dataPlane: true };
  assert.equal(resolveAgentConfig({ ...base, ingress: { workers: 1 } }).ingress?.workers, 1);
  assert.throws(() => resolveAgentConfig({ ...base, ingress: { workers: 0 } }), /ingress\.workers/);
});

test('HTTPS ingress without a certificate and key (or the reverse) is refused, saying what to add', () => {
  const base = { serverUrl: 'http://127.0.0.1:4646', dataDir: '/tmp/k', dataPlane: true };
  assert.throws(() => resolveAgentConfig({ ...base, ingress: { httpsPort: 443 } }), /--ingress-cert FILE --ingress-key FILE/);
  assert.throws(() => resolveAgentConfig({ ...base, ingress: { certFile: '/c.pem', keyFile: '/k.pem' } }), /--ingress-https PORT/);
});
