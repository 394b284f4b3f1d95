import { StringDecoder } from 'node:string_decoder';
import type { LogLine } from '../driver.js';

// RFC 3339 with nanoseconds, as Docker prefixes each message when asked for timestamps.
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

/** Docker gives nanoseconds; Date.parse wants at most milliseconds. */
function parseTime(ts: string): number | undefined {
  const ms = Date.parse(ts.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(ms) ? undefined : ms;
}

class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private time: number | undefined;

  constructor(readonly stream: LogLine['stream']) {}

  push(bytes: Buffer, timestamps: boolean, out: LogLine[]): void {
    let text = this.decoder.write(bytes);
    if (timestamps) {
      // One frame is one message, prefixed once; continuations of a long line carry their own.
      const m = TIMESTAMP.exec(text);
      if (m) {
        text = text.slice(m[0].length);
        if (this.partial === '') this.time = parseTime(m[1]!);
      }
    }
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop()!;
    for (const line of parts) this.emit(line, out);
  }

  flush(out: LogLine[]): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.emit(rest, out);
  }

  private emit(raw: string, out: LogLine[]): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    out.push(this.time === undefined ? { stream: this.stream, line } : { stream: this.stream, line, time: this.time });
  }
}

/**
 * Turns Docker's multiplexed log stream (8-byte frame headers: stream type, 3 zero bytes,
 * big-endian payload length) into lines per stream. A line may span frames and a frame
 * may hold several lines; UTF-8 split across frames is reassembled.
 */
export async function* demuxLogLines(chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>, timestamps: boolean): AsyncGenerator<LogLine> {
  const splitters = { stdout: new LineSplitter('stdout'), stderr: new LineSplitter('stderr') };
  let buf = Buffer.alloc(0);
  let raw = false; // a TTY container's log is not multiplexed
  const out: LogLine[] = [];
  for await (const chunk of chunks) {
    buf = Buffer.concat([buf, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    for (;;) {
      if (raw) {
        splitters.stdout.push(buf, timestamps, out);
        buf = Buffer.alloc(0);
        break;
      }
      if (buf.length < 8) break;
      const type = buf[0]!;
      if (type > 2 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0) {
        raw = true;
        continue;
      }
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const payload = buf.subarray(8, 8 + size);
      buf = buf.subarray(8 + size);
      (type === 2 ? splitters.stderr : splitters.stdout).push(payload, timestamps, out);
    }
    yield* out.splice(0);
  }
  if (buf.length > 0) splitters.stdout.push(buf, timestamps, out);
  splitters.stdout.flush(out);
  splitters.stderr.flush(out);
  yield* out.splice(0);
}
