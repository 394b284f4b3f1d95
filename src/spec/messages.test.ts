import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { show, suggest, unknownFieldMessage } from './messages.js';

describe('suggest', () => {
  const fields = ['name', 'image', 'command', 'args', 'env', 'resources', 'ports', 'killTimeout'];

  it('finds near misspellings', () => {
    assert.equal(suggest('imagee', fields), 'image');
    assert.equal(suggest('imgae', fields), 'image');
    assert.equal(suggest('resource', fields), 'resources');
    assert.equal(suggest('comand', fields), 'command');
  });

  it('ignores case, underscores and dashes', () => {
    assert.equal(suggest('kill_timeout', fields), 'killTimeout');
    assert.equal(suggest('KILL-TIMEOUT', fields), 'killTimeout');
  });

  it('suggests nothing for a word that is far from all', () => {
    assert.equal(suggest('volumes', fields), undefined);
    assert.equal(suggest('x', fields), undefined);
  });

  it('builds the unknown-field message with and without a suggestion', () => {
    assert.equal(unknownFieldMessage('nam', ['name', 'count']), "unknown field 'nam' (allowed: name, count) — did you mean 'name'?");
    assert.equal(unknownFieldMessage('zzz', ['name', 'count']), "unknown field 'zzz' (allowed: name, count)");
  });
});

describe('show', () => {
  it('names values as a message should', () => {
    assert.equal(show('x'), "'x'");
    assert.equal(show(-1), '-1');
    assert.equal(show(null), 'null (an empty value)');
    assert.equal(show([]), 'an empty list');
    assert.equal(show([1]), 'a list');
    assert.equal(show({}), 'a map');
  });
});
