import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KaruError } from '../core/errors.js';
import { DEFAULT_SERVICE_CIDR } from '../core/service.js';
import { resolveServerConfig } from './config.js';

test('the service range defaults to DEFAULT_SERVICE_CIDR; a bad one is refused naming the field', () => {
  assert.equal(resolveServerConfig({ dataDir: '/tmp/x' }).serviceCidr, DEFAULT_SERVICE_CIDR);
  assert.equal(resolveServerConfig({ dataDir: '/tmp/x', serviceCidr: '172.30.0.0/24' }).serviceCidr, '172.30.0.0/24');
  assert.throws(
    () => resolveServerConfig({ dataDir: '/tmp/x', serviceCidr: '10.99.0.0/32' }),
    (e: unknown) => e instanceof KaruError && e.code === 'INVALID' && e.details.issues?.[0]?.path === 'serviceCidr',
  );
});
