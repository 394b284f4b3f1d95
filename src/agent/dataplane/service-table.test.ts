import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../lib/clock.js';
import { ServiceTable, endpointKey, type ServiceEntry, type ServiceTableChange } from './service-table.js';

function web(endpoints: ServiceEntry['endpoints'], over: Partial<ServiceEntry> = {}): ServiceEntry {
  return { namespace: 'default', name: 'web', vip: '127.77.0.1', port: 80, endpoints, ...over };
}
const ep = (port: number, healthy = true) => ({ address: '10.0.0.1', port, healthy });

describe('ServiceTable', () => {
  it('looks services up by bare name in a namespace and by NAME.NAMESPACE.karu', () => {
    const t = new ServiceTable();
    t.set([web([ep(1)]), web([ep(2)], { namespace: 'prod' })]);
    assert.equal(t.lookup('web', 'default')?.endpoints[0]?.port, 1);
    assert.equal(t.lookup('WEB.prod.karu.')?.endpoints[0]?.port, 2);
    assert.equal(t.lookup('web.default.karu')?.namespace, 'default');
    assert.equal(t.lookup('web'), undefined, 'a bare name needs a namespace');
    assert.equal(t.lookup('web', 'other'), undefined);
    assert.equal(t.lookup('web.prod.example'), undefined);
    assert.equal(t.lookup('a.web.prod.karu'), undefined);
  });

  it('reports added, updated and removed services, and nothing when nothing changed', () => {
    const t = new ServiceTable();
    const seen: ServiceTableChange[] = [];
    const sub = t.onChange((c) => seen.push(c));
    t.set([web([ep(1)]), web([], { name: 'db' })]);
    t.set([web([ep(1)]), web([], { name: 'db' })]);
    t.set([web([ep(1), ep(2)])]);
    sub.dispose();
    t.set([]);
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0]!.added.map((s) => s.name).sort(), ['db', 'web']);
    assert.deepEqual(seen[1]!.updated.map((s) => s.name), ['web']);
    assert.deepEqual(seen[1]!.removed.map((s) => s.name), ['db']);
  });

  it('round-robins over healthy endpoints only', () => {
    const t = new ServiceTable();
    t.set([web([ep(1), ep(2, false), ep(3)])]);
    const s = t.get('default', 'web')!;
    const picks = Array.from({ length: 4 }, () => t.pick(s)?.port);
    assert.deepEqual(picks, [1, 3, 1, 3]);
  });

  it('has no pick when no endpoint is healthy, or all were tried', () => {
    const t = new ServiceTable();
    t.set([web([ep(1, false)]), web([ep(2)], { name: 'db' })]);
    assert.equal(t.pick(t.get('default', 'web')!), undefined);
    const db = t.get('default', 'db')!;
    assert.equal(t.pick(db, { exclude: new Set([endpointKey(ep(2))]) }), undefined);
  });

  it('least-connections prefers the endpoint with fewer open connections', () => {
    const t = new ServiceTable({ strategy: 'least-connections' });
    t.set([web([ep(1), ep(2)])]);
    const s = t.get('default', 'web')!;
    const a = t.pick(s)!;
    const releaseA = t.acquire(s, a);
    const b = t.pick(s)!;
    assert.notEqual(b.port, a.port);
    const releaseB = t.acquire(s, b);
    t.acquire(s, b);
    assert.equal(t.pick(s)!.port, a.port, 'b has two open, a one');
    releaseA();
    releaseA(); // idempotent
    assert.equal(t.activeConnections(s, a), 0);
    releaseB();
    assert.equal(t.activeConnections(s, b), 1);
  });

  it('takes a failed endpoint out of rotation for the cooldown, then back', () => {
    const clock = new FakeClock();
    const t = new ServiceTable({ clock, failureCooldownMs: 5_000 });
    t.set([web([ep(1), ep(2)])]);
    const s = t.get('default', 'web')!;
    t.markFailed(s, s.endpoints[0]!);
    assert.deepEqual(Array.from({ length: 3 }, () => t.pick(s)?.port), [2, 2, 2]);
    assert.deepEqual(t.inRotation(s).map((e) => e.port), [2]);
    clock.advance(5_000);
    assert.deepEqual(new Set(Array.from({ length: 2 }, () => t.pick(s)?.port)), new Set([1, 2]));
  });

  it('tries cooling-down endpoints when every healthy one is cooling down', () => {
    const t = new ServiceTable({ clock: new FakeClock() });
    t.set([web([ep(1)])]);
    const s = t.get('default', 'web')!;
    t.markFailed(s, s.endpoints[0]!);
    assert.equal(t.pick(s)?.port, 1);
  });

  it('forgets an endpoint removed by set(): no new pick goes to it', () => {
    const t = new ServiceTable();
    t.set([web([ep(1), ep(2)])]);
    t.set([web([ep(2)])]);
    const s = t.get('default', 'web')!;
    assert.deepEqual(Array.from({ length: 3 }, () => t.pick(s)?.port), [2, 2, 2]);
  });
});
