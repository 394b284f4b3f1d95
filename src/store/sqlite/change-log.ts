import type { WatchEvent } from '../store.js';

/**
 * How the change log stores one revision: every event of the write in one TEXT value, so a
 * 1,000-key plan appends one row (sequential overflow pages) instead of 1,000 B-tree rows.
 *
 * Compact form: `{headLength}:{head}{body}`. The head has one entry per event, `;`-ended:
 * the type (`p` put, `d` delete) and the lengths of key, value and previous value, comma-
 * separated, a missing value or previous value left empty (`p5,3,;` is a create). The body
 * is the strings themselves, back to back. Lengths are in UTF-16 code units, which survive
 * SQLite's UTF-8 round trip only for well-formed strings; a batch holding a lone surrogate
 * is stored as a JSON array of `[type, key, value, prevValue]` instead (JSON escapes them).
 */
export function encodeEvents(events: readonly WatchEvent[]): string {
  let head = '';
  let body = '';
  for (const e of events) {
    head += `${e.type === 'put' ? 'p' : 'd'}${e.key.length},${e.value === undefined ? '' : e.value.length},${e.prevValue === undefined ? '' : e.prevValue.length};`;
    body += e.key;
    if (e.value !== undefined) body += e.value;
    if (e.prevValue !== undefined) body += e.prevValue;
  }
  if (!isWellFormed(body)) return JSON.stringify(events.map((e) => [e.type, e.key, e.value ?? null, e.prevValue ?? null]));
  return `${head.length}:${head}${body}`;
}

/** The events of one revision, in write order; with `prefix`, only keys under it. */
export function decodeEvents(revision: number, text: string, prefix = ''): WatchEvent[] {
  if (text.startsWith('[')) return decodeJson(revision, text, prefix);
  const colon = text.indexOf(':');
  const headEnd = colon + 1 + Number(text.slice(0, colon));
  const events: WatchEvent[] = [];
  let pos = headEnd;
  let entry = colon + 1;
  while (entry < headEnd) {
    const end = text.indexOf(';', entry);
    const c1 = text.indexOf(',', entry);
    const c2 = text.indexOf(',', c1 + 1);
    const keyLength = Number(text.slice(entry + 1, c1));
    const valueLength = c2 === c1 + 1 ? -1 : Number(text.slice(c1 + 1, c2));
    const prevLength = end === c2 + 1 ? -1 : Number(text.slice(c2 + 1, end));
    const key = text.slice(pos, (pos += keyLength));
    const valueAt = pos;
    if (valueLength >= 0) pos += valueLength;
    const prevAt = pos;
    if (prevLength >= 0) pos += prevLength;
    if (prefix === '' || key.startsWith(prefix)) {
      const e: WatchEvent = { type: text[entry] === 'p' ? 'put' : 'delete', key, revision };
      if (valueLength >= 0) e.value = text.slice(valueAt, valueAt + valueLength);
      if (prevLength >= 0) e.prevValue = text.slice(prevAt, prevAt + prevLength);
      events.push(e);
    }
    entry = end + 1;
  }
  return events;
}

function decodeJson(revision: number, text: string, prefix: string): WatchEvent[] {
  const events: WatchEvent[] = [];
  for (const [type, key, value, prevValue] of JSON.parse(text) as [WatchEvent['type'], string, string | null, string | null][]) {
    if (prefix !== '' && !key.startsWith(prefix)) continue;
    const e: WatchEvent = { type, key, revision };
    if (value !== null) e.value = value;
    if (prevValue !== null) e.prevValue = prevValue;
    events.push(e);
  }
  return events;
}

/** String.prototype.isWellFormed (Node 20; not in the ES2023 lib the project compiles against). */
function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}
