import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LogLine } from '../driver.js';
import { demuxLogLines } from './log-frames.js';

function frame(stream: 1 | 2, text: string | Buffer): Buffer {
  const payload = typeof text === 'string' ? Buffer.from(text) : text;
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(payload.length, 4);
  return Buffer.concat([head, payload]);
}

async function lines(chunks: Buffer[], timestamps = false): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of demuxLogLines(chunks, timestamps)) out.push(l);
  return out;
}

describe('demuxLogLines', () => {
  it('splits frames into lines per stream', async () => {
    const got = await lines([Buffer.concat([frame(1, 'a\nb\n'), frame(2, 'err\n'), frame(1, 'c\n')])]);
    assert.deepEqual(got, [
      { stream: 'stdout', line: 'a' },
      { stream: 'stdout', line: 'b' },
      { stream: 'stderr', line: 'err' },
      { stream: 'stdout', line: 'c' },
    ]);
  });

  it('reassembles headers, lines and UTF-8 characters split across chunks', async () => {
    const all = Buffer.concat([frame(1, 'hé'), frame(1, 'llo\nlast')]);
    const chunks = [all.subarray(0, 3), all.subarray(3, 9), all.subarray(9, 10), all.subarray(10)];
    assert.deepEqual(await lines(chunks), [
      { stream: 'stdout', line: 'héllo' },
      { stream: 'stdout', line: 'last' },
    ]);
  });

  it('strips and parses Docker timestamps', async () => {
    const got = await lines([frame(1, '2024-05-01T10:00:00.123456789Z hello\n')], true);
    assert.deepEqual(got, [{ stream: 'stdout', line: 'hello', time: Date.parse('2024-05-01T10:00:00.123Z') }]);
  });

  it('passes a TTY (unmultiplexed) log through as stdout', async () => {
    assert.deepEqual(await lines([Buffer.from('plain text\nmore\n')]), [
      { stream: 'stdout', line: 'plain text' },
      { stream: 'stdout', line: 'more' },
    ]);
  });
});
