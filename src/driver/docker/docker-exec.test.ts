import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TailBuffer } from './docker-exec.js';

describe('TailBuffer', () => {
  it('keeps everything below the limit, in order', () => {
    const t = new TailBuffer(10);
    t.push(Buffer.from('abc'));
    t.push(Buffer.from('def'));
    assert.equal(t.text(), 'abcdef');
  });

  it('keeps only the last `limit` bytes, across and within chunks', () => {
    const t = new TailBuffer(5);
    for (const c of ['0123', '4567', '89']) t.push(Buffer.from(c));
    assert.equal(t.text(), '56789');
    const big = new TailBuffer(4);
    big.push(Buffer.from('x'.repeat(100) + 'tail'));
    assert.equal(big.text(), 'tail');
  });

  it('drops a character cut in two at the start', () => {
    const t = new TailBuffer(4);
    t.push(Buffer.from('é-ok', 'utf8')); // é is 2 bytes: the first one falls off
    assert.equal(t.text(), '-ok');
  });
});
