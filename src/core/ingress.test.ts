import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKaruError } from './errors.js';
import { assertNoRouteConflicts, checkRouteConflicts, matchRoute, normalizeHost, type IngressRoute } from './ingress.js';

const route = (job: string, pathPrefix: string, host?: string, service = job): IngressRoute => ({
  pathPrefix,
  service,
  namespace: 'default',
  owner: { job },
  ...(host !== undefined ? { host } : {}),
});

describe('matchRoute', () => {
  const routes = [route('root', '/'), route('api', '/api'), route('v2', '/api/v2/'), route('shop', '/', 'Shop.Example.com'), route('shopapi', '/api', 'shop.example.com')];
  const svc = (host: string | undefined, path: string) => matchRoute(routes, host, path)?.service;

  it('takes the longest matching prefix, on whole segments', () => {
    assert.equal(svc('other', '/api'), 'api');
    assert.equal(svc('other', '/api/users?x=1'), 'api');
    assert.equal(svc('other', '/apix'), 'root');
    assert.equal(svc('other', '/api/v2'), 'v2');
    assert.equal(svc('other', '/api/v2/things'), 'v2');
    assert.equal(svc(undefined, '/'), 'root');
  });

  it("prefers the host's own routes, ignoring case and port", () => {
    assert.equal(svc('shop.example.com:8080', '/cart'), 'shop');
    assert.equal(svc('SHOP.example.com.', '/api/x'), 'shopapi');
  });

  it('finds nothing when no route matches', () => {
    assert.equal(matchRoute([route('a', '/a', 'a.example')], 'b.example', '/a'), undefined);
    assert.equal(matchRoute([route('a', '/a')], 'b.example', '/b'), undefined);
  });

  it('normalizes hosts', () => {
    assert.equal(normalizeHost('[::1]:80'), '[::1]');
    assert.equal(normalizeHost('Example.COM:443'), 'example.com');
    assert.equal(normalizeHost(undefined), '');
  });
});

describe('checkRouteConflicts', () => {
  const existing = [route('web', '/', 'example.com'), route('api', '/api', 'example.com')];

  it("refuses a host+path another job holds, naming the owner", () => {
    const c = checkRouteConflicts(existing, [route('intruder', '/api/', 'EXAMPLE.com'), route('intruder', '/new', 'example.com')]);
    assert.equal(c.length, 1);
    assert.equal(c[0]!.index, 0);
    assert.equal(c[0]!.ownerJob, 'api');
    assert.match(c[0]!.message, /host 'example\.com' path '\/api' is already routed by job 'api'/);
  });

  it("lets a job keep (update) its own routes", () => {
    assert.deepEqual(checkRouteConflicts(existing, [route('api', '/api', 'example.com')]), []);
  });

  it('refuses the same host+path twice in one job', () => {
    const c = checkRouteConflicts([], [route('a', '/x'), route('a', '/x/')]);
    assert.equal(c.length, 1);
    assert.match(c[0]!.message, /declared twice/);
  });

  it('treats a host-less route and a host route as different claims', () => {
    assert.deepEqual(checkRouteConflicts(existing, [route('other', '/api')]), []);
  });

  it('throws a non-retryable CONFLICT with field paths from assertNoRouteConflicts', () => {
    assert.throws(
      () => assertNoRouteConflicts(existing, [route('x', '/'), route('x', '/', 'example.com')]),
      (e: unknown) => isKaruError(e) && e.code === 'CONFLICT' && !e.retryable && e.details.issues?.[0]?.path === 'ingress[1]' && /job 'web'/.test(e.message),
    );
    assert.doesNotThrow(() => assertNoRouteConflicts(existing, [route('x', '/x')]));
  });
});
