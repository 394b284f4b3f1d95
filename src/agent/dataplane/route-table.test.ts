import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchRoute, type IngressRoute } from '../../core/ingress.js';
import { compileRoutes } from './route-table.js';

const route = (service: string, pathPrefix: string, host?: string): IngressRoute => ({ service, namespace: 'default', pathPrefix, owner: { job: service }, ...(host ? { host } : {}) });

const ROUTES: IngressRoute[] = [
  route('root', '/'),
  route('api', '/api'),
  route('api-v2', '/api/v2/'),
  route('shop', '/', 'Shop.Example'),
  route('shop-cart', 'cart', 'shop.example.'),
  route('v6', '/', '[::1]'),
  route('first', '/dup'),
  route('second', '/dup/'),
  route('only-host', '/x', 'only.example'),
];

const HOSTS = [undefined, '', 'shop.example', 'SHOP.example:8080', 'shop.example.', 'other.example', '[::1]:443', '[::1]', 'only.example', 'only.example:80', ' shop.example '];
const PATHS = ['/', '/api', '/api/', '/apix', '/api/users?id=1', '/api/v2', '/api/v2/x', '/cart', '/cart/1?x=/y', '/cartx', '/dup', '/dup/a', '/x', '/x/y', '?q=1', ''];

test('compiled routes answer exactly as matchRoute, for every host and path', () => {
  const match = compileRoutes(ROUTES);
  for (const host of HOSTS) {
    for (const path of PATHS) {
      assert.equal(match(host, path)?.service, matchRoute(ROUTES, host, path)?.service, `host ${JSON.stringify(host)} path ${JSON.stringify(path)}`);
    }
  }
});

test('a host with routes that do not match falls back to the host-less ones; no routes: nothing', () => {
  const match = compileRoutes(ROUTES);
  assert.equal(match('only.example', '/other')?.service, 'root');
  assert.equal(match('only.example', '/x/1')?.service, 'only-host');
  assert.equal(compileRoutes([])('a.example', '/'), undefined);
  assert.equal(compileRoutes([route('h', '/', 'h.example')])('other.example', '/'), undefined);
});
