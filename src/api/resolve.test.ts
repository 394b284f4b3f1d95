import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KaruError } from '../core/errors.js';
import { matchesIdPrefix, resolveOne } from './resolve.js';
import { formatPath } from './schemas.js';

const ID = 'alloc_01hx5z3k9qab12cd34ef56gh78';

test('an id matches a prefix of itself, of its ULID, or of its short (random) part', () => {
  assert.ok(matchesIdPrefix(ID, 'alloc_01hx'));
  assert.ok(matchesIdPrefix(ID, '01hx5z'));
  assert.ok(matchesIdPrefix(ID, 'ab12cd'));
  assert.ok(!matchesIdPrefix(ID, 'cd34'));
  assert.ok(!matchesIdPrefix(ID, ''));
});

test('resolveOne: exact id, exact name, unique prefix; none → NOT_FOUND; several → INVALID with candidates', () => {
  const items = [
    { id: 'node_01hx000000aaaa000000000000', name: 'web-1' },
    { id: 'node_01hx000000aabb000000000000', name: 'web-2' },
    { id: 'node_01hx000000cccc000000000000', name: 'aaaa' },
  ];
  const r = (typed: string) => resolveOne('node', typed, items, (n) => n.id, (n) => n.name);
  assert.equal(r('node_01hx000000aabb000000000000').name, 'web-2');
  assert.equal(r('web-1').name, 'web-1');
  assert.equal(r('cc').name, 'aaaa');
  // A name wins over an id prefix that happens to look the same.
  assert.equal(r('aaaa').name, 'aaaa');
  assert.throws(() => r('zz'), (e: unknown) => e instanceof KaruError && e.code === 'NOT_FOUND' && /node 'zz'/.test(e.message));
  assert.throws(
    () => r('aa'),
    (e: unknown) => e instanceof KaruError && e.code === 'INVALID' && (e.details.candidates as string[]).length === 2,
  );
});

test('field paths print as people write them', () => {
  assert.equal(formatPath(['updates', 0, 'taskStates', 'web', 'state']), 'updates[0].taskStates.web.state');
  assert.equal(formatPath([]), '');
});
