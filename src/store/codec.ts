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
  if (key.startsWith(prefixes.allocs)) return JSON.stringify(packAlloc(value as Allocation));
  if (key.startsWith(prefixes.allocStatus)) return JSON.stringify(packStatus(value as AllocStatus));
  return JSON.stringify(value);
}

/** The record at `key` from its stored text (throws what JSON.parse throws). */
export function decodeRecord(key: string, text: string): unknown {
  const v = JSON.parse(text) as Record<string, unknown>;
  if (key.startsWith(prefixes.allocs)) return unpackAlloc(key.slice(prefixes.allocs.length) as AllocId, v);
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

function unpackAlloc(id: AllocId, v: Record<string, unknown>): Allocation {
  for (const f of ALLOC_SHARED) if (f in v) v[f] = intern(v[f]);
  const a = v as Partial<Allocation>;
  return {
    id,
    ...(a as Omit<Allocation, 'id'>),
    ports: a.ports ?? [],
    desiredDescription: a.desiredDescription ?? '',
    rescheduleTimes: a.rescheduleTimes ?? [],
    modifiedAt: a.modifiedAt ?? a.createdAt!,
  };
}

function packStatus(s: AllocStatus): Partial<AllocStatus> {
  const { id: _id, ...out }: Partial<AllocStatus> = { ...s };
  if (out.clientDescription === '') delete out.clientDescription;
  return out;
}

function unpackStatus(id: AllocId, v: Record<string, unknown>): AllocStatus {
  for (const f of STATUS_SHARED) if (f in v) v[f] = intern(v[f]);
  const s = v as Partial<AllocStatus>;
  return { id, ...(s as Omit<AllocStatus, 'id'>), clientDescription: s.clientDescription ?? '' };
}
