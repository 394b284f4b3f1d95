import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRecord, decodeWatchedRecord, encodeRecord } from './codec.js';
import { keys } from './state.js';
import { aJob, anAlloc, aStatus } from './testing.js';
import type { AllocId } from '../core/ids.js';

const A = 'alloc_1' as AllocId;

describe('record codec', () => {
  it('stores an allocation without its id and defaults, and gives back exactly what was written', () => {
    const plain = anAlloc('alloc_1', { createdAt: 5, modifiedAt: 5 });
    const text = encodeRecord(keys.alloc(A), plain);
    assert.ok(text.length < JSON.stringify(plain).length * 0.8, text);
    for (const field of ['"id"', 'desiredDescription', 'rescheduleTimes', 'ports', 'modifiedAt']) assert.ok(!text.includes(field), `${field} in ${text}`);
    assert.deepEqual(decodeRecord(keys.alloc(A), text), plain);
    assert.equal(Object.keys(decodeRecord(keys.alloc(A), text) as object)[0], 'id', 'id first, as the API shows it');

    const full = anAlloc('alloc_1', {
      createdAt: 5,
      modifiedAt: 9,
      desiredStatus: 'stop',
      desiredDescription: 'node lost',
      ports: [{ task: 'main', label: 'http', host: 8080, to: 80 }],
      rescheduleTimes: [1, 2],
      previousAllocId: 'alloc_0' as AllocId,
    });
    assert.deepEqual(decodeRecord(keys.alloc(A), encodeRecord(keys.alloc(A), full)), full);
  });

  it('reads values written with every field (before this encoding)', () => {
    const a = anAlloc('alloc_1');
    assert.deepEqual(decodeRecord(keys.alloc(A), JSON.stringify(a)), a);
    const s = aStatus('alloc_1');
    assert.deepEqual(decodeRecord(keys.allocStatus(A), JSON.stringify(s)), s);
  });

  it('stores a status without its id, and other records as plain JSON', () => {
    for (const s of [aStatus('alloc_1'), aStatus('alloc_1', { clientDescription: '' })]) {
      const text = encodeRecord(keys.allocStatus(A), s);
      assert.ok(!text.includes('"id"'), text);
      assert.deepEqual(decodeRecord(keys.allocStatus(A), text), s);
    }
    const job = aJob();
    assert.equal(encodeRecord(keys.job('default', 'web'), job), JSON.stringify(job));
  });

  it('hands the watch path the record this process just wrote, once; every other reader parses', () => {
    const written = aStatus('alloc_1', { clientDescription: 'fresh' });
    const text = encodeRecord(keys.allocStatus(A), written);
    assert.notEqual(decodeRecord(keys.allocStatus(A), text), written, 'a plain read never gets the writer\'s object');
    assert.equal(decodeWatchedRecord(keys.allocStatus(A), text), written);
    const again = decodeWatchedRecord(keys.allocStatus(A), text);
    assert.notEqual(again, written, 'only once');
    assert.deepEqual(again, written);
    // A text this process never wrote (a cold load) is parsed, with the id put back.
    const stored = encodeRecord(keys.alloc(A), anAlloc('alloc_1'));
    decodeWatchedRecord(keys.alloc(A), stored);
    assert.deepEqual(decodeWatchedRecord(keys.alloc(A), stored), anAlloc('alloc_1'));
  });
});
