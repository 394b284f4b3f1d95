import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { WatchEvent } from '../store.js';
import { decodeEvents, encodeEvents } from './change-log.js';

/** What SQLite hands back for a TEXT value, as the store stores the log. */
function throughSqlite(text: string): string {
  const db = new Database(':memory:');
  try {
    return (db.prepare('SELECT ? AS v').get(text) as { v: string }).v;
  } finally {
    db.close();
  }
}

describe('change log encoding', () => {
  const events: WatchEvent[] = [
    { type: 'put', key: '/a/1', value: '{"x":1}', revision: 7 },
    { type: 'put', key: '/a/2', value: '', revision: 7, prevValue: 'was; 1,2:3' },
    { type: 'delete', key: '/b/héllo ✓ 𝄞', revision: 7, prevValue: 'x\u0000y' },
    { type: 'put', key: '/a/3', value: '𝄞'.repeat(100), revision: 7, prevValue: '' },
  ];

  it('round-trips every field of every event through SQLite, in order', () => {
    const text = encodeEvents(events);
    assert.match(text, /^\d+:/, 'the compact form');
    assert.deepEqual(decodeEvents(7, throughSqlite(text)), events);
  });

  it('decodes only the keys under a prefix when asked', () => {
    const text = throughSqlite(encodeEvents(events));
    assert.deepEqual(decodeEvents(7, text, '/a/').map((e) => e.key), ['/a/1', '/a/2', '/a/3']);
    assert.deepEqual(decodeEvents(7, text, '/b/'), [events[2]]);
    assert.deepEqual(decodeEvents(7, text, '/c/'), []);
  });

  it('stores a batch holding a lone surrogate as JSON, which keeps it and every other event exact', () => {
    const odd: WatchEvent[] = [{ type: 'put', key: '/k/\uD800', value: 'v\uDC00', revision: 3 }, ...events.map((e) => ({ ...e, revision: 3 }))];
    const text = encodeEvents(odd);
    assert.ok(text.startsWith('['));
    assert.deepEqual(decodeEvents(3, throughSqlite(text)), odd);
  });
});
