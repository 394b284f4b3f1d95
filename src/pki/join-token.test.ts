import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isKaruError } from '../core/errors.js';
import { formatJoinToken, newJoinToken, parseJoinToken, secretsEqual } from './join-token.js';

const fp = 'ab'.repeat(32);

test('a join token round-trips through its text form', () => {
  const t = newJoinToken(fp);
  const text = formatJoinToken(t);
  assert.match(text, /^karu1\.[0-9a-f]+\.[A-Za-z0-9_-]+\.[0-9a-f]{64}$/);
  assert.deepEqual(parseJoinToken(text), t);
  assert.deepEqual(parseJoinToken(`  ${text}\n`), t);
  assert.notEqual(newJoinToken(fp).secret, t.secret);
});

test('parseJoinToken names what is wrong with a tampered or truncated token', () => {
  const text = formatJoinToken(newJoinToken(fp));
  const cases: [string, RegExp][] = [
    ['hello', /does not start with 'karu1\.'/],
    [text.split('.').slice(0, 3).join('.'), /3 dot-separated parts instead of 4/],
    [text + '.x', /5 dot-separated parts/],
    [text.slice(0, -1), /CA fingerprint/],
    [text.replace(/\.[^.]+\.([^.]+)$/, '.short.$1'), /secret/],
    [text.replace(/^karu1\.[^.]+/, 'karu1.XYZ'), /id/],
  ];
  for (const [bad, why] of cases) {
    assert.throws(() => parseJoinToken(bad), (e) => isKaruError(e) && e.code === 'INVALID' && why.test(e.message) && /karu1\.<id>\.<secret>\.<ca-sha256>/.test(e.message), bad);
  }
});

test('secretsEqual compares in constant time whatever the lengths', () => {
  assert.ok(secretsEqual('abc', 'abc'));
  assert.equal(secretsEqual('abc', 'abd'), false);
  assert.equal(secretsEqual('abc', 'abcd'), false);
  assert.equal(secretsEqual('abc', ''), false);
});
