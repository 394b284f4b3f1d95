import type { Allocation, AllocStatus } from '../core/alloc.js';
import type { AllocId } from '../core/ids.js';
import { prefixes } from './state.js';

/**
 * How records are stored: JSON, except that allocations and their statuses (a million of
 * each at scale, issue 5) leave out what the key already says and what is at its default:
 * the id (it is the key's last part), an empty `desiredDescription`/`clientDescription`,
 * empty `ports`/`rescheduleTimes`, and `modifiedAt` equal to `createdAt`. About a third
 * fewer bytes per allocation in the table and in the change log, and less to parse on a
 * cold start. Decoding puts every field back, so readers never see the difference; values
 * written before this encoding (with every field) decode the same.
 */
export function encodeRecord(key: string, value: unknown): string {
  if (key.startsWith(prefixes.allocs)) return remember(JSON.stringify(packAlloc(value as Allocation)), value);
  if (key.startsWith(prefixes.allocStatus)) return remember(JSON.stringify(packStatus(value as AllocStatus)), value);
  return JSON.stringify(value);
}

/**
 * Allocations and statuses this process encoded lately, by their text. The leader's read
 * model decodes every write it watches, and nearly all of them were written by this very
 * process a moment before: handing back the written record skips a parse per allocation
 * per change (5 % of the server's CPU while placing a million). Only the watch path asks
 * (`decodeWatchedRecord`), and only once per text: other readers always get a fresh parse,
 * so nobody else ever holds the writer's object. Bounded: starts over past RECENT_LIMIT
 * (texts nobody watched, e.g. with no read model open).
 */
const recent = new Map<string, unknown>();
const RECENT_LIMIT = 50_000;

function remember(text: string, value: unknown): string {
  if (recent.size >= RECENT_LIMIT) recent.clear();
  recent.set(text, value);
  return text;
}

/**
 * As `decodeRecord`, for the read model following the store's watch: the record itself
 * when this process just encoded that text (the read model freezes it: writers hand a
 * record to the store and never change it after), else the text parsed.
 */
export function decodeWatchedRecord(key: string, text: string): unknown {
  // A cold load decodes a million texts while `recent` is empty: don't hash them for nothing.
  const written = recent.size === 0 ? undefined : recent.get(text);
  if (written === undefined) {
    // The read model builds its own view of an allocation (id first): fill the parsed object in place, no copy.
    if (key.startsWith(prefixes.allocs)) return unpackAlloc(key.slice(prefixes.allocs.length) as AllocId, JSON.parse(text) as Record<string, unknown>, true);
    return decodeRecord(key, text);
  }
  recent.delete(text);
  return written;
}

/** The record at `key` from its stored text (throws what JSON.parse throws). */
export function decodeRecord(key: string, text: string): unknown {
  const v = JSON.parse(text) as Record<string, unknown>;
  if (key.startsWith(prefixes.allocs)) return unpackAlloc(key.slice(prefixes.allocs.length) as AllocId, v, false);
  if (key.startsWith(prefixes.allocStatus)) return unpackStatus(key.slice(prefixes.allocStatus.length) as AllocId, v);
  return v;
}

function packAlloc(a: Allocation): Partial<Allocation> {
  const { id: _id, ...out }: Partial<Allocation> = { ...a };
  if (out.desiredDescription === '') delete out.desiredDescription;
  if (out.ports?.length === 0) delete out.ports;
  if (out.rescheduleTimes?.length === 0) delete out.rescheduleTimes;
  if (out.modifiedAt === out.createdAt) delete out.modifiedAt;
  return out;
}

/**
 * One string per distinct value of the fields a million allocations repeat (node, job,
 * evaluation…): JSON.parse makes a fresh copy each time, ~300 bytes per allocation at
 * 1M, which the read model would otherwise keep, and the GC trace, forever. Bounded: the
 * pool starts over when it grows past POOL_LIMIT (evaluation ids keep coming).
 */
const pool = new Map<string, string>();
const POOL_LIMIT = 200_000;

function intern<T>(s: T): T {
  if (typeof s !== 'string') return s;
  const found = pool.get(s);
  if (found !== undefined) return found as T;
  if (pool.size >= POOL_LIMIT) pool.clear();
  pool.set(s, s);
  return s;
}

const ALLOC_SHARED = ['namespace', 'jobName', 'group', 'nodeId', 'nodeName', 'evalId', 'desiredStatus', 'desiredDescription'] as const;
const STATUS_SHARED = ['nodeId', 'clientStatus', 'clientDescription'] as const;

/** Left out when empty, put back as one shared frozen array: no empty array per allocation in the heap. */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/**
 * Puts back what packAlloc left out. `inPlace`: on the parsed object itself (one object
 * less per decode; `id` then comes last, which the read model's views put first again),
 * else a copy with `id` first, as the API shows it.
 */
function unpackAlloc(id: AllocId, v: Record<string, unknown>, inPlace: boolean): Allocation {
  for (const f of ALLOC_SHARED) if (f in v) v[f] = intern(v[f]);
  const a = v as Partial<Allocation>;
  if (!inPlace) {
    return {
      id,
      ...(a as Omit<Allocation, 'id'>),
      ports: a.ports ?? NONE,
      desiredDescription: a.desiredDescription ?? '',
      rescheduleTimes: a.rescheduleTimes ?? NONE,
      modifiedAt: a.modifiedAt ?? a.createdAt!,
    };
  }
  a.id = id;
  a.ports ??= NONE;
  a.desiredDescription ??= '';
  a.rescheduleTimes ??= NONE;
  a.modifiedAt ??= a.createdAt!;
  return a as Allocation;
}

function packStatus(s: AllocStatus): Partial<AllocStatus> {
  const { id: _id, ...out }: Partial<AllocStatus> = { ...s };
  if (out.clientDescription === '') delete out.clientDescription;
  return out;
}

function unpackStatus(id: AllocId, v: Record<string, unknown>): AllocStatus {
  for (const f of STATUS_SHARED) if (f in v) v[f] = intern(v[f]);
  const st = v as Partial<AllocStatus>;
  st.id = id;
  st.clientDescription ??= '';
  return st as AllocStatus;
}
